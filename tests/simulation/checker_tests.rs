//! The harness's own rules, each with a case that breaks it and one that does not: what the
//! controller does is fed to the checker by hand, on worlds built in the simulated cloud.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use switchyard::clock::Clock;
use switchyard::cloud::sim::{ManualClock, SimCloud, WorldSnapshot};
use switchyard::cloud::{Applied, CloudError};
use switchyard::config::{self, Config};
use switchyard::core::{Mark, RecordWrite, RunnerSpec, Shard, StatusRecord, Step};

use super::checker::Checker;
use super::history::Latency;
use super::oracle::MARK_TAG;

const FILE: &str = r#"
controller:
  cloud: simulated
  simulated:
    world:
      r0:
        record: '{"active_shard":"blue","deployment_ts":"2026-11-22T09:00:00Z","deployed_shards":["blue"]}'
        serving: blue
        shards:
          blue: { capacity: 2, revision: "1" }
          green: { capacity: 2, revision: "2" }
runners:
  - name: r0
    activeShard: green
    revision: "2"
    capacity: 2
    drainDelay: 10s
    listenerArn: arn:aws:elasticloadbalancing:us-east-1:123456789012:listener/app/lb/1
    shards:
      blue: { autoScalingGroup: r0-blue, targetGroupArn: arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/r0-blue/1 }
      green: { autoScalingGroup: r0-green, targetGroupArn: arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/r0-green/2 }
"#;

struct Bench {
    clock: ManualClock,
    sim: SimCloud,
    config: Config,
    spec: RunnerSpec,
    checker: Checker,
}

impl Bench {
    fn new() -> Bench {
        let config = config::parse(FILE, Path::new("checker.yaml")).expect("a valid file");
        let start: DateTime<Utc> = "2026-11-22T10:00:00Z".parse().expect("a time");
        let clock = ManualClock::starting_at(start);
        let sim = SimCloud::new(
            &config.controller.simulated,
            &config.runners,
            Arc::new(clock.clone()),
        );
        let now = {
            let clock = clock.clone();
            Box::new(move || clock.now())
        };
        let checker = Checker::new(
            false,
            false,
            Arc::new(config.clone()),
            Latency::None,
            1,
            false,
            now,
            start,
        );
        let spec = config.runners[0].clone();
        let mut checker = checker;
        assert_eq!(checker.controller_starts(), 1);
        Bench {
            clock,
            sim,
            config,
            spec,
            checker,
        }
    }

    fn asg(&self, shard: Shard) -> String {
        self.spec.shards[shard].auto_scaling_group.clone()
    }

    fn mark_green(&self, id: &str) {
        let text = format!(
            r#"{{"id":"{id}","shard":"green","revision":"2","capacity":2,"started":"2026-11-22T10:00:00Z","state":"provisioning"}}"#
        );
        self.sim.set_tag(&self.asg(Shard::Green), MARK_TAG, &text);
    }

    fn listener_on(&self, shard: Shard) {
        let tg = self.spec.shards[shard].target_group_arn.clone();
        self.sim.set_listener_targets(&self.spec.listener, &[&tg]);
    }

    /// The controller incarnation observes the runner, with the spec it holds.
    fn observe(&mut self, incarnation: u32, spec: &RunnerSpec) {
        let world = Arc::new(self.sim.snapshot());
        self.checker.on_observe(incarnation, &[spec], &world);
    }

    /// The controller sends `step`, then `land` makes it land (changing the world) and the
    /// checker sees the cloud's answer.
    fn act(
        &mut self,
        incarnation: u32,
        step: &Step,
        land: impl FnOnce(&SimCloud),
        answer: Result<Applied, CloudError>,
    ) {
        let spec = self.spec.clone();
        let (sent, _) = self.checker.on_send(incarnation, &spec, step);
        let pre: WorldSnapshot = self.sim.snapshot();
        land(&self.sim);
        let post = self.sim.snapshot();
        self.checker
            .on_land(incarnation, &spec, step, &sent, &pre, &post, &answer);
    }

    /// The first rule broken, whether or not it awaits the fixes.
    fn rule(&self) -> Option<String> {
        let first = self
            .checker
            .ignored
            .first()
            .or(self.checker.failure.as_ref());
        first.map(|f| {
            f.trim_start_matches('[')
                .split(']')
                .next()
                .unwrap_or_default()
                .to_owned()
        })
    }
}

/// A controller's WriteMark for green; what the checker reads is the tag the landing leaves.
fn write_mark() -> Step {
    let with = r#"{"id":"x","shard":"green","revision":"2","capacity":2,"started":"2026-11-22T10:00:00Z","state":"provisioning"}"#;
    let without = r#"{"id":"x","shard":"green","revision":"2","started":"2026-11-22T10:00:00Z","state":"provisioning"}"#;
    let mark = Mark::parse(with)
        .or_else(|_| Mark::parse(without))
        .expect("the core reads a mark of the contract's format");
    Step::WriteMark {
        shard: Shard::Green,
        mark,
    }
}

fn green_attempt_world() -> Bench {
    // Green at capacity with nothing on it: an attempt on it starts from a mark.
    let b = Bench::new();
    b.sim.set_desired_capacity(&b.asg(Shard::Green), 0);
    b.clock.advance(Duration::from_secs(5));
    b
}

#[test]
fn a_restarted_controller_that_opens_a_second_attempt_breaks_invariant_6() {
    let mut b = green_attempt_world();
    let spec = b.spec.clone();
    b.observe(1, &spec);
    b.act(1, &write_mark(), |s| {
        s.set_tag("r0-green", MARK_TAG, r#"{"id":"a","shard":"green","revision":"2","capacity":2,"started":"2026-11-22T10:00:05Z","state":"provisioning"}"#);
    }, Ok(Applied::Done));
    assert_eq!(b.rule(), None);
    // A new incarnation, same desired state: no new attempt allowed.
    let incarnation = b.checker.controller_starts();
    b.observe(incarnation, &spec);
    b.act(incarnation, &write_mark(), |s| {
        s.set_tag("r0-green", MARK_TAG, r#"{"id":"b","shard":"green","revision":"2","capacity":2,"started":"2026-11-22T10:03:00Z","state":"provisioning"}"#);
    }, Ok(Applied::Done));
    assert_eq!(b.rule().as_deref(), Some("inv6-restart"));
}

#[test]
fn a_change_of_the_desired_state_a_running_controller_saw_allows_a_new_attempt() {
    let mut b = green_attempt_world();
    let spec = b.spec.clone();
    b.observe(1, &spec);
    b.act(1, &write_mark(), |s| b_mark(s, "a"), Ok(Applied::Done));
    let mut away = spec.clone();
    away.revision = Some("4".into());
    b.observe(1, &away);
    b.observe(1, &spec);
    b.act(1, &write_mark(), |s| b_mark(s, "b"), Ok(Applied::Done));
    assert_eq!(b.rule(), None);
    // Without that change, the same controller may not either.
    b.act(1, &write_mark(), |s| b_mark(s, "c"), Ok(Applied::Done));
    assert_eq!(b.rule().as_deref(), Some("inv6"));
}

fn b_mark(sim: &SimCloud, id: &str) {
    sim.set_tag(
        "r0-green",
        MARK_TAG,
        &format!(r#"{{"id":"{id}","shard":"green","revision":"2","capacity":2,"started":"2026-11-22T10:00:05Z","state":"provisioning"}}"#),
    );
}

#[test]
fn a_shard_that_took_traffic_is_scaled_down_only_after_the_drain_delay() {
    for (wait, breaks) in [(2, true), (11, false)] {
        let mut b = Bench::new();
        b.mark_green("a");
        let spec = b.spec.clone();
        b.listener_on(Shard::Green);
        b.observe(1, &spec);
        // The listener leaves green by hand; the controller sees it leave.
        b.listener_on(Shard::Blue);
        let world = b.sim.snapshot();
        b.checker.world_moved(&world);
        b.clock.advance(Duration::from_secs(wait));
        b.observe(1, &spec);
        b.act(
            1,
            &Step::ScaleToZero {
                shard: Shard::Green,
            },
            |s| s.set_desired_capacity("r0-green", 0),
            Ok(Applied::Done),
        );
        assert_eq!(
            b.rule().as_deref(),
            breaks.then_some("drain"),
            "after {wait}s"
        );
    }
}

#[test]
fn traffic_no_controller_saw_starts_no_drain() {
    let mut b = Bench::new();
    b.mark_green("a");
    let spec = b.spec.clone();
    b.observe(1, &spec);
    // On green and off it again between two observations.
    b.listener_on(Shard::Green);
    let world = b.sim.snapshot();
    b.checker.world_moved(&world);
    b.listener_on(Shard::Blue);
    let world = b.sim.snapshot();
    b.checker.world_moved(&world);
    b.observe(1, &spec);
    b.act(
        1,
        &Step::ScaleToZero {
            shard: Shard::Green,
        },
        |s| s.set_desired_capacity("r0-green", 0),
        Ok(Applied::Done),
    );
    assert_eq!(b.rule(), None);
}

#[test]
fn a_step_of_a_desired_state_the_file_no_longer_holds_breaks_the_file_rule() {
    let mut b = green_attempt_world();
    let spec = b.spec.clone();
    b.observe(1, &spec);
    let mut file = b.config.clone();
    file.runners[0].revision = Some("4".into());
    b.checker.config = Arc::new(file);
    // Clean-ups any desired state would make are not the old desired state's.
    b.act(
        1,
        &Step::DeleteMark {
            shard: Shard::Green,
        },
        |_| {},
        Err(CloudError::Timeout {
            service: "autoscaling",
            operation: "DeleteTags",
        }),
    );
    assert_eq!(b.rule(), None);
    b.act(1, &write_mark(), |s| b_mark(s, "a"), Ok(Applied::Done));
    assert_eq!(b.rule().as_deref(), Some("file"));

    let mut b = green_attempt_world();
    b.observe(1, &spec);
    let mut file = b.config.clone();
    file.runners[0].paused = true;
    b.checker.config = Arc::new(file);
    let delete = Step::DeleteMark {
        shard: Shard::Green,
    };
    b.act(1, &delete, |_| {}, Ok(Applied::Done));
    assert_eq!(b.rule().as_deref(), Some("file"), "paused during the pass");
}

const RECORD: &str = "/switchyard/runner/r0/deployment_status";
const BLUE_RECORD: &str = r#"{"active_shard":"blue","deployed_shards":["blue"]}"#;

/// The clean-up write of green from record version 1.
fn clean_up_write() -> Step {
    Step::WriteRecord {
        record: StatusRecord::parse(BLUE_RECORD).expect("a record"),
        expected_version: Some(1),
        purpose: RecordWrite::CleanUp {
            shard: Shard::Green,
        },
    }
}

/// Green marked, observed, and a clean-up write that conflicts: someone else wrote version 2
/// just before ours (3).
fn conflicted() -> (Bench, RunnerSpec) {
    let mut b = Bench::new();
    b.mark_green("a");
    let spec = b.spec.clone();
    b.observe(1, &spec);
    b.act(
        1,
        &clean_up_write(),
        |s| {
            s.put_parameter(RECORD, "{}");
            s.put_parameter(RECORD, BLUE_RECORD);
        },
        Ok(Applied::RecordWritten {
            version: 3,
            read_back: Some(("ours".into(), 3)),
        }),
    );
    assert_eq!(b.rule(), None);
    (b, spec)
}

#[test]
fn a_conflict_learnt_from_a_write_holds_until_the_record_moves_on() {
    let (mut b, spec) = conflicted();
    let write = clean_up_write();
    b.observe(1, &spec);
    b.act(
        1,
        &Step::ScaleToZero {
            shard: Shard::Green,
        },
        |_| {},
        Ok(Applied::Done),
    );
    assert_eq!(b.rule().as_deref(), Some("inv5-sticky"));

    // Once somebody writes the record again (a repair), the halt has cleared.
    let mut b = Bench::new();
    b.mark_green("a");
    b.observe(1, &spec);
    b.act(
        1,
        &write,
        |s| {
            s.put_parameter(RECORD, "{}");
            s.put_parameter(RECORD, "[]");
        },
        Ok(Applied::RecordWritten {
            version: 2,
            read_back: Some(("[]".into(), 3)),
        }),
    );
    b.sim.put_parameter(RECORD, BLUE_RECORD);
    b.observe(1, &spec);
    b.act(
        1,
        &Step::ScaleToZero {
            shard: Shard::Green,
        },
        |_| {},
        Ok(Applied::Done),
    );
    assert_eq!(b.rule(), None);
}

#[test]
fn refusals_fail_a_seed_except_the_wrong_accounts() {
    let line = |invariant: &str, value: &str| {
        format!(
            "# TYPE switchyard_invariant_refusals counter\nswitchyard_invariant_refusals_total{{runner=\"r0\",invariant=\"{invariant}\"}} {value}\n"
        )
    };
    let mut b = Bench::new();
    b.checker
        .check_refusals(&line("healthy_traffic_target", "0"));
    assert_eq!(b.rule(), None);
    b.checker.wrong_account = true;
    b.checker.check_refusals(&line("expected_account", "3"));
    assert_eq!(b.rule(), None);
    b.checker
        .check_refusals(&line("healthy_traffic_target", "1"));
    assert_eq!(b.rule().as_deref(), Some("refusal"));
}

#[test]
fn a_hand_edit_between_the_observation_and_the_call_allows_the_attempt_that_answers_it() {
    let mut b = green_attempt_world();
    let spec = b.spec.clone();
    b.observe(1, &spec);
    // The record is edited by hand after the controller observed and before its mark lands: the
    // mark answers the world before the edit, the controller's next attempt answers the edit.
    b.checker.edited_by_hand("r0");
    b.act(1, &write_mark(), |s| b_mark(s, "a"), Ok(Applied::Done));
    b.observe(1, &spec);
    b.act(1, &write_mark(), |s| b_mark(s, "b"), Ok(Applied::Done));
    assert_eq!(b.rule(), None);
    // With no edit after that observation, a third attempt is a repeat.
    b.observe(1, &spec);
    b.act(1, &write_mark(), |s| b_mark(s, "c"), Ok(Applied::Done));
    assert_eq!(b.rule().as_deref(), Some("inv6"));
}

#[test]
fn a_conflict_ends_when_the_record_was_seen_moved_on_even_if_its_version_number_comes_back() {
    let scale = Step::ScaleToZero {
        shard: Shard::Green,
    };
    // Deleted by hand and seen gone; then written again until its version is 3 once more.
    let (mut b, spec) = conflicted();
    b.sim.delete_parameter(RECORD);
    b.observe(1, &spec);
    b.sim.put_parameter(RECORD, "{}");
    b.sim.put_parameter(RECORD, "{}");
    b.sim.put_parameter(RECORD, BLUE_RECORD);
    b.observe(1, &spec);
    b.act(1, &scale, |_| {}, Ok(Applied::Done));
    // Not seen gone, the same version number would still hold it (the test above).
    assert_eq!(b.rule(), None);
}
