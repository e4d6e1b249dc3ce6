//! End to end: "never make things worse" with the real binary against moto's server, in the
//! situations where an operator found that it did (a wiped record behind a live shard, a crash
//! loop, a repair confirmed after the world moved, an out-of-band scale-down after the switch, a
//! file edit in the middle of a pass, a change of mind after the switch). Every assertion reads
//! the world through the AWS APIs; switchyard's own status and metrics serve only to pace the
//! test, never as evidence.

mod e2e_support;

use std::time::{Duration, Instant};

use e2e_support::{
    AsgState, Daemon, Desired, Gate, MARK_TAG, Snapshot, World, keep_unhealthy, record_json,
    stdout, world,
};
use tokio_util::sync::CancellationToken;

fn desired(active: &'static str) -> Desired {
    Desired {
        active,
        revision: None,
    }
}

/// Reads the world every 50 ms until `done` holds; fails at `timeout` with the last snapshot
/// and the daemon's log.
async fn wait_world(
    w: &World,
    daemon: &Daemon,
    what: &str,
    timeout: Duration,
    mut done: impl FnMut(&Snapshot) -> bool,
) -> Snapshot {
    let deadline = Instant::now() + timeout;
    loop {
        let now = w.snapshot().await;
        if done(&now) {
            return now;
        }
        assert!(
            Instant::now() < deadline,
            "timed out after {timeout:?} waiting for {what}; the world: {now:#?}\n\
             --- daemon log\n{}",
            daemon.log()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Green's retreat after it took traffic, as the world showed it: each instant is the first
/// reading that showed it, so each is up to one reading (about 50 ms) late.
struct Retreat {
    /// The listener back on blue alone.
    left_green: Instant,
    /// Green's desired capacity at 0.
    green_zero: Instant,
}

impl Retreat {
    /// Reads the world until `done` holds after the listener left green; `each` checks what
    /// must hold at every reading.
    async fn watch(
        w: &World,
        daemon: &Daemon,
        what: &str,
        mut each: impl FnMut(&Snapshot),
        done: impl Fn(&Snapshot) -> bool,
    ) -> Retreat {
        let blue = vec![w.runner().blue_tg.clone()];
        let (mut left_green, mut green_zero) = (None, None);
        wait_world(w, daemon, what, Duration::from_secs(40), |s| {
            each(s);
            let at = Instant::now();
            if left_green.is_none() && s.listener == blue {
                left_green = Some(at);
            }
            if green_zero.is_none() && s.green.capacity.1 == 0 {
                green_zero = Some(at);
            }
            left_green.is_some() && done(s)
        })
        .await;
        Retreat {
            left_green: left_green.unwrap(),
            green_zero: green_zero.expect("green was scaled to 0"),
        }
    }

    /// Invariant 4: green, which took traffic, is scaled to 0 only `drain` after the listener
    /// left it. Allows `slack` for the readings' lateness.
    fn assert_drained(&self, drain: Duration, slack: Duration) {
        assert!(
            self.green_zero >= self.left_green,
            "green was scaled to 0 {:?} before the listener left it",
            self.left_green - self.green_zero
        );
        let drained = self.green_zero - self.left_green;
        eprintln!("green scaled to 0 {drained:?} after the listener left it");
        assert!(
            drained + slack >= drain,
            "green was scaled to 0 {drained:?} after the listener left it; drainDelay is \
             {drain:?}"
        );
    }
}

/// A blue-to-green deployment run by a fresh daemon until the world shows the listener on
/// green: the start of `VerifyingAfterSwitch`. Returns the world, the daemon and the world as
/// it was before the deployment.
async fn switched_to_green(
    prefix: &str,
    post_switch: &'static str,
    drain: &'static str,
) -> (World, Daemon, Snapshot) {
    let mut w = world(prefix, 1).await;
    w.settings.post_switch = post_switch;
    w.settings.drain = drain;
    w.write_config(&desired("green"));
    let before = w.snapshot().await;
    let daemon = w.daemon();
    let green = vec![w.runner().green_tg.clone()];
    wait_world(
        &w,
        &daemon,
        "the switch to green",
        Duration::from_secs(60),
        |s| s.listener == green,
    )
    .await;
    (w, daemon, before)
}

/// Blue still in charge: serving alone, at its capacity, healthy, and the record (value and
/// version) as it was `before`.
fn assert_blue_in_charge(after: &Snapshot, before: &Snapshot, w: &World) {
    assert_eq!(
        after.listener,
        vec![w.runner().blue_tg.clone()],
        "blue serving"
    );
    assert_eq!(after.blue.capacity, (2, 2, 2), "blue's capacity untouched");
    assert!(
        after.blue.instances.iter().all(|(_, h)| h == "Healthy"),
        "blue healthy: {:?}",
        after.blue.instances
    );
    assert_eq!(
        after.record, before.record,
        "blue still active: record value and version unchanged"
    );
}

fn mark_state(s: &Snapshot, shard: &str) -> Option<String> {
    let asg = if shard == "blue" { &s.blue } else { &s.green };
    asg.mark()
        .map(|m| m["state"].as_str().unwrap_or_default().to_string())
}

/// Issue point 1 (docs/how-it-decides.md row yes/no/no, §5): blue was deployed by switchyard and
/// still carries the `provisioning` mark of that provision; the record is wiped to `{}` and the
/// file asks for green. Blue takes traffic and nothing explains it but history: halt
/// `InactiveShardHealthyNotDeployed` and mutate nothing, pass after pass.
async fn wiped_record_behind_a_marked_live_shard(prefix: &str, mark: &str) {
    let w = world(prefix, 1).await;
    let r = w.runner().clone();
    w.put_tag(&r.blue_asg, MARK_TAG, mark).await;
    w.put_record("{}").await;
    w.write_config(&desired("green"));
    let before = w.snapshot().await;
    assert_eq!(
        before.listener,
        vec![r.blue_tg.clone()],
        "blue takes traffic"
    );
    assert_eq!(before.blue.capacity, (2, 2, 2));

    let plan = w.switchyard(&["plan"]);
    assert_eq!(plan.status.code(), Some(3), "plan exits 3: halted");
    assert!(
        stdout(&plan).contains("InactiveShardHealthyNotDeployed"),
        "plan names the halt"
    );
    for pass in 1..=2 {
        let once = w.switchyard(&["run", "--once"]);
        assert_eq!(once.status.code(), Some(0));
        assert_eq!(
            w.snapshot().await,
            before,
            "run --once (pass {pass}) mutated a runner whose live shard nothing explains"
        );
    }
    let daemon = w.daemon();
    // Several passes: a provision of green would come in the first, the switch and the scale
    // down of blue in the next ones.
    daemon.wait_observations(6.0).await;
    let log = daemon.log();
    assert_eq!(daemon.stop(), Some(0));
    let after = w.snapshot().await;
    assert_eq!(
        after, before,
        "the daemon mutated the world (expected: listener on blue, blue at 2, green at 0 \
         without a mark, record `{{}}`)\n--- daemon log\n{log}"
    );
    assert_eq!(after.record.as_ref().unwrap().0, "{}");
    assert_eq!(after.green.capacity, (0, 0, 0), "green not provisioned");
    assert!(after.green.mark().is_none(), "no mark written on green");
}

#[tokio::test(flavor = "multi_thread")]
async fn wiped_record_with_a_live_shard_keeping_its_provision_mark_halts() {
    wiped_record_behind_a_marked_live_shard(
        "s-wipe",
        r#"{"id":"d-old-1","shard":"blue","revision":"1","capacity":2,"started":"2026-03-10T19:10:00Z","state":"provisioning"}"#,
    )
    .await;
}

/// The same with a mark as switchyard wrote it before marks carried the attempt's capacity,
/// and for a file without a revision: the form a long-deployed blue actually carries.
#[tokio::test(flavor = "multi_thread")]
async fn wiped_record_with_a_live_shard_keeping_a_mark_without_capacity_halts() {
    wiped_record_behind_a_marked_live_shard(
        "s-wipe-old",
        r#"{"id":"d-old-2","shard":"blue","started":"2026-03-10T19:10:00Z","state":"provisioning"}"#,
    )
    .await;
}

/// Adds the id of `asg`'s mark to `ids` if it is new there; whether it was.
fn note_mark_id(asg: &AsgState, ids: &mut Vec<String>) -> bool {
    let Some(id) = asg
        .mark()
        .and_then(|m| m["id"].as_str().map(str::to_string))
    else {
        return false;
    };
    let new = !ids.contains(&id);
    if new {
        ids.push(id);
    }
    new
}

/// Issue point 2 (docs/how-it-decides.md durable deadline, invariant 6): a revision that never
/// becomes healthy, `progressDeadline: 6s`, and a daemon killed (SIGKILL) 4.5 s into the attempt
/// and started again 3 s later, three times. A crash loop must not become a deploy loop: one
/// attempt, one mark id, failed once its deadline has passed, green back at 0, blue serving.
#[tokio::test(flavor = "multi_thread")]
async fn a_crash_looping_daemon_makes_one_attempt_of_a_bad_revision() {
    let mut w = world("s-crash", 1).await;
    let r = w.runner().clone();
    w.settings.grace = "2s";
    w.settings.progress_deadline = "6s";
    w.write_config(&Desired {
        active: "green",
        revision: Some("2"),
    });
    let before = w.snapshot().await;
    let stop = CancellationToken::new();
    let poisoner = keep_unhealthy(&w, r.green_asg.clone(), stop.clone());
    // Every mark id green has carried, read every 20-50 ms throughout.
    let mut ids: Vec<String> = Vec::new();

    for crash in 1..=3 {
        let daemon = w.daemon();
        let started = Instant::now();
        // 4.5 s into the attempt: counted from a new mark's appearance when this daemon opens
        // one, else from the daemon's start.
        let mut kill_at = started + Duration::from_millis(4500);
        let mut new_attempt = false;
        while Instant::now() < kill_at {
            if note_mark_id(&w.asg_state(&r.green_asg).await, &mut ids) && !new_attempt {
                new_attempt = true;
                kill_at = Instant::now() + Duration::from_millis(4500);
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert!(
            crash > 1 || new_attempt,
            "the first daemon never started the attempt\n{}",
            daemon.log()
        );
        daemon.kill();
        eprintln!(
            "crash {crash}: killed {:?} after start; mark ids so far: {ids:?}",
            started.elapsed()
        );
        let restart_at = Instant::now() + Duration::from_secs(3);
        while Instant::now() < restart_at {
            note_mark_id(&w.asg_state(&r.green_asg).await, &mut ids);
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    let daemon = w.daemon();
    wait_world(
        &w,
        &daemon,
        "the attempt to fail (mark failed, green at 0)",
        Duration::from_secs(30),
        |s| {
            note_mark_id(&s.green, &mut ids);
            mark_state(s, "green").as_deref() == Some("failed") && s.green.capacity.1 == 0
        },
    )
    .await;
    // More passes: a loop would open another attempt in one of them.
    daemon.wait_observations(4.0).await;
    let log = daemon.log();
    assert_eq!(daemon.stop(), Some(0));
    stop.cancel();
    poisoner.await.unwrap();
    let after = w.snapshot().await;
    note_mark_id(&after.green, &mut ids);

    assert_eq!(
        ids.len(),
        1,
        "restarts opened new attempts of the same bad revision: mark ids {ids:?}\n\
         --- last daemon log\n{log}"
    );
    let mark = after.green.mark().expect("the failed mark stays");
    assert_eq!(mark["state"], "failed");
    assert_eq!(mark["revision"], "2");
    assert_eq!(after.green.capacity.0, 0, "green's min at 0");
    assert_eq!(after.green.capacity.1, 0, "green's desired at 0");
    assert_blue_in_charge(&after, &before, &w);
}

/// Issue point 3 (docs/commands.md): `repair mark-deployed` without `--yes`; while the operator
/// reads the prompt, green is scaled to 0. The guard runs again on the observation taken after the
/// confirmation: `yes` is refused (exit 1) and the record keeps its value and version.
#[tokio::test(flavor = "multi_thread")]
async fn repair_confirmed_after_the_shard_went_away_writes_nothing() {
    let w = world("s-repair", 1).await;
    let r = w.runner().clone();
    // Green deployed by hand: healthy, not deployed, no mark. The repair is legitimate now.
    w.set_capacity(&r.green_asg, 2).await;
    w.write_config(&desired("green"));
    let repair = w.repair_awaiting_confirmation("green");
    assert!(repair.shown.contains("green"), "{}", repair.shown);

    w.set_capacity(&r.green_asg, 0).await;
    let before = w.snapshot().await;
    assert_eq!(before.green.capacity, (0, 0, 0));
    let out = repair.answer("yes");
    let said = String::from_utf8_lossy(&out.stderr);
    let after = w.snapshot().await;
    assert_eq!(
        after.record, before.record,
        "repair wrote the record after green went to 0 (value and version must stay)\n{said}"
    );
    assert_eq!(out.status.code(), Some(1), "refused: exit 1\n{said}");
    assert_eq!(after, before, "repair mutated nothing else either");
}

/// Issue point 5 (docs/how-it-decides.md `required`, §5): with `capacity: 2`, green scaled out of
/// band to 1 during the post-switch check is short of its attempt's capacity, whatever its ASG now
/// says: never recorded active; the listener goes back to blue and the attempt fails. Green took
/// traffic, so it is scaled to 0 only `drainDelay` after the listener left it (invariant 4).
#[tokio::test(flavor = "multi_thread")]
async fn a_new_shard_scaled_down_after_the_switch_is_never_recorded_active() {
    let (w, daemon, before) = switched_to_green("s-half", "5s", "2s").await;
    let r = w.runner().clone();
    w.set_capacity(&r.green_asg, 1).await;

    let retreat = Retreat::watch(
        &w,
        &daemon,
        "the rollback (listener on blue, green at 0, its mark failed)",
        |s| {
            let record = record_json(s);
            assert_eq!(
                record["active_shard"],
                "blue",
                "green recorded active at half its capacity: {record}\n--- daemon log\n{}",
                daemon.log()
            );
        },
        |s| s.green.capacity.1 == 0 && mark_state(s, "green").as_deref() == Some("failed"),
    )
    .await;
    daemon.wait_observations(3.0).await;
    assert_eq!(daemon.stop(), Some(0));
    let after = w.snapshot().await;
    assert_blue_in_charge(&after, &before, &w);
    assert_eq!(after.green.capacity.0, 0, "green's min at 0");
    assert_eq!(after.green.capacity.1, 0, "green's desired at 0");
    assert_eq!(after.green.mark().unwrap()["state"], "failed");
    retreat.assert_drained(Duration::from_secs(2), Duration::from_millis(500));
}

/// Issue point 6 (docs/how-it-decides.md: every mutation is decided against the desired state in
/// force at the moment of the call). A proxy in front of moto holds the daemon's reads of green's
/// target health, which pins the pass at known points:
///
/// 1. a read of the stability wait is held until the stability window has run out, so the
///    pass it belongs to proposes the switch;
/// 2. that pass's fresh observation, the last thing before ModifyListener, is held in turn;
/// 3. while it is held, `paused: true` is saved and the daemon reloads it;
/// 4. the read is released: nothing may be mutated from then on.
///
/// The edit thus lands after the step was decided on the first observation and before the
/// call, with only the fresh observation's answer in between.
#[tokio::test(flavor = "multi_thread")]
async fn pausing_in_the_middle_of_a_pass_stops_its_pending_step() {
    let mut w = world("s-pause", 1).await;
    let r = w.runner().clone();
    w.settings.transition_interval = "1s";
    w.settings.grace = "1s";
    w.settings.stability = "4s";
    let green_tg = r.green_tg.clone();
    let gate = Gate::start(&w.endpoint, move |request| {
        request.contains("Action=DescribeTargetHealth") && request.contains(&green_tg)
    });
    w.endpoint = gate.endpoint.clone();
    w.write_config(&desired("green"));
    let daemon = w.daemon();
    // Pacing only: green is provisioned and its healthy streak has begun, four seconds before
    // the switch falls due.
    daemon
        .wait_for("the stability wait", Duration::from_secs(30), |s| {
            s.phase == "WaitingForStability"
        })
        .await;
    gate.close();
    gate.wait_held(1, Duration::from_secs(5));
    assert_eq!(
        w.snapshot().await.listener,
        vec![r.blue_tg.clone()],
        "the switch came before the stability wait was held; the timing is off"
    );
    // The stability window runs out while the pass waits on its observation.
    tokio::time::sleep(Duration::from_millis(4000 + 700)).await;
    let released = Instant::now();
    gate.let_through(1);
    let fresh = gate.wait_held(2, Duration::from_secs(5));
    assert!(
        fresh.duration_since(released) < Duration::from_millis(500),
        "the next read of green's health came {:?} after the release: a new pass (transition \
         interval 1s), not the fresh observation before the switch; the timing is off",
        fresh.duration_since(released)
    );
    assert_eq!(
        w.snapshot().await.listener,
        vec![r.blue_tg.clone()],
        "the switch did not wait for the held fresh observation; the timing is off"
    );

    let reloads = |d: &Daemon| d.metric("switchyard_config_reloads_total{outcome=\"success\"");
    let reloaded = reloads(&daemon);
    w.write_config_paused(&desired("green"));
    let deadline = Instant::now() + Duration::from_secs(5);
    while reloads(&daemon) <= reloaded {
        assert!(
            Instant::now() < deadline,
            "the daemon did not reload the file"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let before = w.snapshot().await;
    assert_eq!(
        before.listener,
        vec![r.blue_tg.clone()],
        "switched before the held fresh observation was released\n--- daemon log\n{}",
        daemon.log()
    );
    gate.open();

    // The held pass finishes, then a few paused passes.
    daemon.wait_observations(3.0).await;
    let log = daemon.log();
    assert_eq!(daemon.stop(), Some(0));
    let after = w.snapshot().await;
    assert_eq!(
        after, before,
        "mutated after `paused: true` was in force\n--- daemon log\n{log}"
    );
}

/// docs/how-it-decides.md: a change of the desired state during `VerifyingAfterSwitch` no longer
/// halts. The listener goes back to blue (healthy), green is scaled to 0 no sooner than
/// `drainDelay` after the listener left it, green's mark is deleted once green holds nothing, and
/// the record still names blue, at the same version.
#[tokio::test(flavor = "multi_thread")]
async fn changing_back_after_the_switch_abandons_the_attempt_cleanly() {
    let (w, daemon, before) = switched_to_green("s-abandon", "8s", "3s").await;
    let r = w.runner().clone();
    w.write_config(&desired("blue"));

    let retreat = Retreat::watch(
        &w,
        &daemon,
        "the abandon (listener on blue, green at 0 and empty, its mark deleted)",
        |s| {
            assert_eq!(
                s.record,
                before.record,
                "the record changed during an abandoned attempt\n--- daemon log\n{}",
                daemon.log()
            );
        },
        |s| s.green.capacity.1 == 0 && s.green.instances.is_empty() && s.green.mark().is_none(),
    )
    .await;
    daemon.wait_observations(3.0).await;
    let metrics = daemon.metrics();
    assert_eq!(daemon.stop(), Some(0));
    let after = w.snapshot().await;
    assert_blue_in_charge(&after, &before, &w);
    // Scaling down sets min and desired to 0 (docs/how-it-decides.md); the max is left as it was.
    assert_eq!(after.green.capacity.0, 0, "green's min at 0");
    assert_eq!(after.green.capacity.1, 0, "green's desired at 0");
    assert!(after.green.instances.is_empty(), "green holds nothing");
    assert!(after.green.mark().is_none(), "green's mark deleted");
    retreat.assert_drained(Duration::from_secs(3), Duration::from_millis(500));
    // Secondary to the world above: the attempt is counted as abandoned.
    assert!(
        metrics.contains(&format!(
            "switchyard_deployments_total{{runner=\"{}\",outcome=\"abandoned\"}} 1",
            r.name
        )),
        "{metrics}"
    );
}
