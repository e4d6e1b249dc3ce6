//! How a runner's status reads in a terminal; `plan` and `status` show the same thing.

use std::fmt::Write as _;

use switchyard::telemetry::{ConditionValue, LeadershipStatus, RunnerStatus, StatusDocument};

use super::table::{Table, yes_no};

/// Events shown per runner in the table view (the JSON has all of them).
const EVENTS_SHOWN: usize = 5;

pub fn document(doc: &StatusDocument) -> String {
    let mut out = doc.leadership.as_ref().map(leadership).unwrap_or_default();
    if doc.runners.is_empty() {
        out.push_str("no runners\n");
        return out;
    }
    for (i, runner) in doc.runners.iter().enumerate() {
        if i > 0 {
            out.push('\n');
        }
        out.push_str(&self::runner(runner));
    }
    out
}

/// Which replica answered and which one leads (a daemon's `/api/v1/status`).
pub fn leadership(l: &LeadershipStatus) -> String {
    match &l.lease {
        None => format!(
            "replica {} ({}; no leader election: the only writer)\n\n",
            l.replica, l.role
        ),
        Some(lease) => format!(
            "replica {} ({}); leader: {} (lease {lease})\n\n",
            l.replica,
            l.role,
            l.leader.as_deref().unwrap_or("none")
        ),
    }
}

pub fn runner(r: &RunnerStatus) -> String {
    let mut out = String::new();
    let desired = match &r.desired_revision {
        Some(rev) => format!("{} (revision {rev})", r.desired_shard),
        None => r.desired_shard.to_string(),
    };
    let active = r.active_shard.map_or("-".to_owned(), |s| s.to_string());
    let _ = writeln!(
        out,
        "runner {}: desired {desired}, active {active}, phase {}{}",
        r.name,
        r.phase,
        if r.paused { " (paused)" } else { "" }
    );
    if r.shards.is_empty() {
        out.push_str("  shards: not judged (the observation could not be read)\n");
    } else {
        let mut table = Table::new([
            "SHARD", "HEALTHY", "ACTIVE", "DEPLOYED", "SERVING", "TARGETS", "CAPACITY", "REVISION",
            "ROW",
        ]);
        for s in &r.shards {
            table.row([
                s.shard.to_string(),
                yes_no(s.healthy).to_owned(),
                yes_no(s.active).to_owned(),
                yes_no(s.deployed).to_owned(),
                yes_no(s.serving).to_owned(),
                format!("{}/{}", s.healthy_targets, s.required),
                s.desired_capacity.to_string(),
                s.revision.clone().unwrap_or_else(|| "-".to_owned()),
                format!("{}: {}", s.class, s.meaning),
            ]);
        }
        out.push_str(&table.render("  "));
    }
    if let Some(halt) = &r.halted {
        let _ = writeln!(out, "  HALTED {}: {}", halt.reason, halt.message);
        let _ = writeln!(out, "    runbook: {}", halt.runbook);
        if let Some(repair) = &halt.repair {
            let _ = writeln!(out, "    repair:  {repair}");
        }
    }
    let holding: Vec<String> = r
        .conditions
        .iter()
        .filter(|c| c.status == ConditionValue::True)
        .map(|c| {
            if c.reason.is_empty() {
                c.kind.to_string()
            } else {
                format!("{} ({})", c.kind, c.reason)
            }
        })
        .collect();
    let _ = writeln!(
        out,
        "  conditions: {}",
        if holding.is_empty() {
            "none".to_owned()
        } else {
            holding.join(", ")
        }
    );
    let _ = writeln!(out, "  next: {}", r.next);
    let skip = r.events.len().saturating_sub(EVENTS_SHOWN);
    for e in &r.events[skip..] {
        let _ = writeln!(
            out,
            "  event {} {:?} {}: {}",
            e.time.format("%Y-%m-%dT%H:%M:%SZ"),
            e.kind,
            e.reason,
            e.message
        );
    }
    out
}
