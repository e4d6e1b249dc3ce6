//! The oracle's own readings, one case per branch that decides a halt or a shard's health:
//! the situations of the issue "never make things worse", built in the simulated world.

use std::path::Path;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use switchyard::cloud::sim::{ManualClock, SimCloud};
use switchyard::config;
use switchyard::core::{RunnerSpec, Shard};

use super::oracle::{AttemptCapacities, MARK_TAG, RunnerView};

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
runners:
  - name: r0
    activeShard: green
    revision: "2"
    capacity: 2
    minHealthyPercent: 100
    listenerArn: arn:aws:elasticloadbalancing:us-east-1:123456789012:listener/app/lb/1
    shards:
      blue: { autoScalingGroup: r0-blue, targetGroupArn: arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/r0-blue/1 }
      green: { autoScalingGroup: r0-green, targetGroupArn: arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/r0-green/2 }
"#;

fn mark(shard: &str, revision: &str, state: &str, capacity: Option<u32>) -> String {
    let capacity = capacity
        .map(|c| format!(r#""capacity":{c},"#))
        .unwrap_or_default();
    format!(
        r#"{{"id":"m-{shard}-{revision}","shard":"{shard}","revision":"{revision}",{capacity}"started":"2026-11-22T10:00:00Z","state":"{state}"}}"#
    )
}

struct World {
    sim: SimCloud,
    spec: RunnerSpec,
}

impl World {
    /// Blue live (active, deployed, serving, 2 of 2 healthy); the file wants green on "2".
    fn new() -> World {
        let parsed = config::parse(FILE, Path::new("oracle.yaml")).expect("a valid file");
        let start: DateTime<Utc> = "2026-11-22T10:00:00Z".parse().expect("a time");
        let clock = Arc::new(ManualClock::starting_at(start));
        let sim = SimCloud::new(&parsed.controller.simulated, &parsed.runners, clock);
        World {
            sim,
            spec: parsed.runners[0].clone(),
        }
    }

    fn asg(&self, shard: Shard) -> String {
        self.spec.shards[shard].auto_scaling_group.clone()
    }

    fn tg(&self, shard: Shard) -> String {
        self.spec.shards[shard].target_group_arn.clone()
    }

    /// Green scaled to `capacity` by hand: its instances are still booting.
    fn green_booting(&self, capacity: u32) {
        self.sim
            .set_desired_capacity(&self.asg(Shard::Green), capacity);
    }

    fn listener_on(&self, shards: &[Shard]) {
        let tgs: Vec<String> = shards.iter().map(|s| self.tg(*s)).collect();
        let tgs: Vec<&str> = tgs.iter().map(String::as_str).collect();
        self.sim.set_listener_targets(&self.spec.listener, &tgs);
    }

    fn view(&self, attempts: &AttemptCapacities) -> RunnerView {
        RunnerView::of(&self.sim.snapshot(), &self.spec, attempts)
    }

    fn must_halt(&self) -> Option<(&'static str, String)> {
        self.view(&AttemptCapacities::new())
            .must_halt(&self.spec)
            .map(|h| (h.rule, h.why))
    }
}

/// Blue live, and green in service at `capacity` on `green_revision` from the start.
fn with_green(capacity: u32, green_revision: &str) -> World {
    let file = FILE.replace(
        r#"          blue: { capacity: 2, revision: "1" }"#,
        &format!(
            "          blue: {{ capacity: 2, revision: \"1\" }}\n          green: {{ capacity: {capacity}, revision: \"{green_revision}\" }}"
        ),
    );
    let parsed = config::parse(&file, Path::new("oracle.yaml")).expect("a valid file");
    let start: DateTime<Utc> = "2026-11-22T10:00:00Z".parse().expect("a time");
    let clock = Arc::new(ManualClock::starting_at(start));
    let sim = SimCloud::new(&parsed.controller.simulated, &parsed.runners, clock);
    World {
        sim,
        spec: parsed.runners[0].clone(),
    }
}

#[test]
fn the_live_world_needs_no_halt() {
    let w = World::new();
    let v = w.view(&AttemptCapacities::new());
    assert!(v.shards[Shard::Blue].healthy);
    assert!(!v.shards[Shard::Green].healthy, "capacity 0 is unhealthy");
    assert_eq!(v.serving, Some(Shard::Blue));
    assert!(w.must_halt().is_none());
    // Capacity asked for but not yet in service is no healthy shard either.
    w.green_booting(2);
    assert!(!w.view(&AttemptCapacities::new()).shards[Shard::Green].healthy);
}

#[test]
fn a_wiped_record_with_a_live_shard_carrying_an_old_mark_halts() {
    // Issue point 1: blue deployed by switchyard keeps its provisioning mark; the record is
    // wiped; the file names green.
    let w = World::new();
    w.sim.set_tag(
        &w.asg(Shard::Blue),
        MARK_TAG,
        &mark("blue", "1", "provisioning", Some(2)),
    );
    w.sim.put_parameter(&w.spec.status_parameter, "{}");
    let (rule, why) = w.must_halt().expect("a halt");
    assert_eq!(rule, "inv5-traffic", "{why}");
    assert!(
        why.starts_with("InactiveShardHealthyNotDeployed: blue"),
        "{why}"
    );
    // Deleted rather than wiped: the same.
    w.sim.delete_parameter(&w.spec.status_parameter);
    assert_eq!(w.must_halt().map(|h| h.0), Some("inv5-traffic"));
}

#[test]
fn a_serving_shard_is_explained_by_the_in_flight_mark_of_the_desired_state_only() {
    let mut w = World::new();
    w.spec.active_shard = Shard::Blue;
    w.spec.revision = Some("1".into());
    w.sim.set_tag(
        &w.asg(Shard::Blue),
        MARK_TAG,
        &mark("blue", "1", "provisioning", Some(2)),
    );
    w.sim.put_parameter(&w.spec.status_parameter, "{}");
    // The crash between Switching and Recording: our own attempt, listener already on it.
    assert!(w.must_halt().is_none());
    // Another revision's mark explains nothing once the shard takes traffic...
    w.spec.revision = Some("2".into());
    assert_eq!(w.must_halt().map(|h| h.0), Some("inv5-traffic"));
    // ...nor beside the other shard (a weighted forward edited by hand)...
    w.listener_on(&[Shard::Blue, Shard::Green]);
    assert_eq!(w.must_halt().map(|h| h.0), Some("inv5-traffic"));
    // ...but with no traffic it is an abandoned attempt of ours: scaled down, no halt.
    w.listener_on(&[Shard::Green]);
    assert!(w.must_halt().is_none());
    // A failed mark is not judged here.
    w.sim.set_tag(
        &w.asg(Shard::Blue),
        MARK_TAG,
        &mark("blue", "1", "failed", Some(2)),
    );
    w.listener_on(&[Shard::Blue]);
    assert!(w.must_halt().is_none());
}

#[test]
fn a_healthy_inactive_shard_without_a_readable_mark_halts() {
    let w = with_green(2, "2");
    let (rule, why) = w.must_halt().expect("green is nobody's");
    assert_eq!(rule, "inv5");
    assert!(why.contains("no readable mark"), "{why}");
    for garbage in [
        "{",
        &mark("blue", "2", "provisioning", Some(2)),
        "{\"id\":\"x\"}",
    ] {
        w.sim.set_tag(&w.asg(Shard::Green), MARK_TAG, garbage);
        assert_eq!(w.must_halt().map(|h| h.0), Some("inv5"), "{garbage}");
    }
    w.sim.set_tag(
        &w.asg(Shard::Green),
        MARK_TAG,
        &mark("green", "2", "provisioning", Some(2)),
    );
    assert!(w.must_halt().is_none(), "our own in-flight provision");
}

#[test]
fn required_of_an_in_flight_shard_comes_from_its_mark() {
    // Issue point 5: capacity 2, the in-flight shard scaled to 1 by hand: 1 of 1 is not
    // healthy, 1 of 2 is required.
    let w = with_green(1, "2");
    w.sim.set_tag(
        &w.asg(Shard::Green),
        MARK_TAG,
        &mark("green", "2", "provisioning", Some(2)),
    );
    let v = w.view(&AttemptCapacities::new());
    assert_eq!(
        (
            v.shards[Shard::Green].capacity,
            v.shards[Shard::Green].required
        ),
        (2, 2)
    );
    assert!(!v.shards[Shard::Green].healthy);
    // A mark without a capacity: the attempt's capacity as the harness saw it start.
    w.sim.set_tag(
        &w.asg(Shard::Green),
        MARK_TAG,
        &mark("green", "2", "provisioning", None),
    );
    let attempts = AttemptCapacities::from([("m-green-2".to_owned(), 2)]);
    assert!(!w.view(&attempts).shards[Shard::Green].healthy);
    assert!(w.view(&AttemptCapacities::new()).shards[Shard::Green].healthy);
    // Once the record names it deployed, the mark is history: the ASG's capacity counts.
    w.sim.put_parameter(
        &w.spec.status_parameter,
        r#"{"active_shard":"blue","deployed_shards":["blue","green"]}"#,
    );
    assert!(w.view(&attempts).shards[Shard::Green].healthy);
}

#[test]
fn traffic_off_the_active_shard_is_explained_by_a_mark_of_ours_going_back_to_it() {
    let w = with_green(2, "2");
    w.sim.set_tag(
        &w.asg(Shard::Green),
        MARK_TAG,
        &mark("green", "2", "provisioning", Some(2)),
    );
    w.listener_on(&[Shard::Green]);
    assert!(w.must_halt().is_none(), "switched, not yet recorded");
    // The desired state moved on after the switch: with blue recorded active, the controller
    // switches back (docs/how-it-decides.md) rather than halt.
    let mut moved = with_green(2, "2");
    moved.spec.revision = Some("3".into());
    moved.sim.set_tag(
        &moved.asg(Shard::Green),
        MARK_TAG,
        &mark("green", "2", "provisioning", Some(2)),
    );
    moved.listener_on(&[Shard::Green]);
    assert!(moved.must_halt().is_none());
    // With nothing recorded there is nothing to switch back to: the mark explains nothing
    // (blue, at capacity with no mark, is the first shard the halt names).
    moved.sim.put_parameter(&moved.spec.status_parameter, "{}");
    moved.sim.set_desired_capacity(&moved.asg(Shard::Blue), 0);
    let (rule, why) = moved.must_halt().expect("unexplained traffic");
    assert_eq!(rule, "inv5-traffic", "{why}");
    // Nor does a mark explain traffic beside the recorded shard (a hand-split listener).
    let w = with_green(2, "2");
    w.sim.set_tag(
        &w.asg(Shard::Green),
        MARK_TAG,
        &mark("green", "1", "failed", Some(2)),
    );
    w.listener_on(&[Shard::Blue, Shard::Green]);
    let (_, why) = w.must_halt().expect("a mismatch");
    assert!(why.starts_with("TrafficMismatch"), "{why}");
    // Nor a shard without a mark (here: green at capacity 0, the listener moved by hand).
    let w = World::new();
    w.listener_on(&[Shard::Green]);
    let (_, why) = w.must_halt().expect("a mismatch");
    assert!(why.starts_with("TrafficMismatch"), "{why}");
}

#[test]
fn a_target_group_detached_from_its_asg_has_no_healthy_targets() {
    let w = World::new();
    w.sim
        .detach_target_group(&w.asg(Shard::Blue), &w.tg(Shard::Blue));
    let v = w.view(&AttemptCapacities::new());
    assert!(!v.shards[Shard::Blue].tg_attached);
    assert_eq!(v.shards[Shard::Blue].healthy_targets, 0);
    assert!(
        w.must_halt()
            .is_some_and(|h| h.1.starts_with("ActiveShardUnhealthy"))
    );
}
