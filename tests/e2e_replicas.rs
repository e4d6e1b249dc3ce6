//! Two real `switchyard run` processes on one desired-state file, with leader election on a
//! DynamoDB lease in moto's server (docs/high-availability.md). Each replica signs with its own
//! access key, and a recording proxy in front of moto logs who sent which request when: the tests
//! count each process's mutations there and assert on the world as moto reports it.
//!
//! Short lease settings (leaseDuration 3s, renewInterval 1s) keep each scenario to seconds;
//! every wait is a bounded poll.

mod e2e_support;

use std::time::{Duration, Instant};

use e2e_support::*;

const TABLE: &str = "switchyard-leases";
const LEASE_DURATION: Duration = Duration::from_secs(3);
const RENEW_INTERVAL: Duration = Duration::from_secs(1);
/// How often the tests look at a replica's gauge: the resolution of the takeover times.
const POLL: Duration = Duration::from_millis(20);
/// The requests that change the world (the lease's own calls aside).
const MUTATIONS: [&str; 6] = [
    "UpdateAutoScalingGroup",
    "AttachLoadBalancerTargetGroups",
    "CreateOrUpdateTags",
    "DeleteTags",
    "ModifyListener",
    "PutParameter",
];

async fn create_lease_table(w: &World) {
    use aws_sdk_dynamodb::types::{
        AttributeDefinition, BillingMode, KeySchemaElement, KeyType, ScalarAttributeType,
    };
    let created = w
        .dynamodb()
        .create_table()
        .table_name(TABLE)
        .attribute_definitions(
            AttributeDefinition::builder()
                .attribute_name("leaseName")
                .attribute_type(ScalarAttributeType::S)
                .build()
                .unwrap(),
        )
        .key_schema(
            KeySchemaElement::builder()
                .attribute_name("leaseName")
                .key_type(KeyType::Hash)
                .build()
                .unwrap(),
        )
        .billing_mode(BillingMode::PayPerRequest)
        .send()
        .await;
    if let Err(e) = created {
        // Tests share moto: another test may have created it first.
        let in_use = e
            .as_service_error()
            .is_some_and(|e| e.is_resource_in_use_exception());
        assert!(in_use, "create-table: {e:?}");
    }
}

/// A one-runner world whose file elects a leader (lease named after the test), with both
/// replicas' AWS traffic going through `proxy`.
async fn setup(prefix: &str) -> (World, Recorder) {
    let mut w = world(prefix, 1).await;
    create_lease_table(&w).await;
    let proxy = Recorder::start(moto_port());
    w.endpoint = proxy.endpoint.clone();
    w.settings.controller_extra = format!(
        "  leaderElection:
    dynamodb: {{ table: {TABLE}, region: {REGION}, endpointUrl: {} }}
    leaseName: {prefix}
    leaseDuration: {}s
    renewInterval: {}s
",
        proxy.endpoint,
        LEASE_DURATION.as_secs(),
        RENEW_INTERVAL.as_secs()
    );
    w.write_config(&Desired {
        active: "blue",
        revision: None,
    });
    (w, proxy)
}

fn replica(w: &World, name: &str) -> Daemon {
    w.daemon_with(&[("AWS_ACCESS_KEY_ID", name), ("SWITCHYARD_REPLICA_ID", name)])
}

fn gauge(d: &Daemon, name: &str) -> f64 {
    d.metrics()
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{name} ")))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no {name} in /metrics"))
}

fn leads(d: &Daemon) -> bool {
    gauge(d, "switchyard_leader") == 1.0
}

/// Polls until `d` leads; the moment it was first seen leading.
fn wait_leader(d: &Daemon, within: Duration) -> Instant {
    let deadline = Instant::now() + within;
    loop {
        if leads(d) {
            return Instant::now();
        }
        assert!(
            Instant::now() < deadline,
            "no leadership within {within:?}\n--- log\n{}",
            d.log()
        );
        std::thread::sleep(POLL);
    }
}

fn readyz(d: &Daemon) -> String {
    // A 503 (not ready yet) comes back as the error, with its body.
    http("127.0.0.1", d.port, "GET", "/readyz").unwrap_or_else(|e| e.to_string())
}

fn mutations<'a>(seen: &'a [Seen], key: Option<&str>) -> Vec<&'a Seen> {
    seen.iter()
        .filter(|s| MUTATIONS.contains(&s.operation.as_str()))
        .filter(|s| key.is_none_or(|k| s.key == k))
        .collect()
}

fn count(seen: &[&Seen], operation: &str) -> usize {
    seen.iter().filter(|s| s.operation == operation).count()
}

/// Polls the world (through moto directly, not the proxy) until green is active, deployed
/// alone and serving, and blue is scaled to zero (green's mark stays, as history).
async fn wait_green(w: &World, within: Duration) -> Snapshot {
    let r = w.runner().clone();
    let deadline = Instant::now() + within;
    loop {
        let s = w.snapshot().await;
        let record = s.record.as_ref().map(|_| record_json(&s));
        let done = record.as_ref().is_some_and(|rec| {
            rec["active_shard"] == "green" && rec["deployed_shards"] == serde_json::json!(["green"])
        }) && s.listener == vec![r.green_tg.clone()]
            && (s.blue.capacity.0, s.blue.capacity.1) == (0, 0)
            && s.green.capacity.1 == 2;
        if done {
            return s;
        }
        assert!(
            Instant::now() < deadline,
            "green not deployed within {within:?}: {s:#?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Polls until the green shard carries the deployment's mark: the deployment is under way.
async fn wait_mid_deployment(w: &World) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while w.snapshot().await.green.mark().is_none() {
        assert!(Instant::now() < deadline, "the deployment never started");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn start_pair(w: &World) -> (Daemon, Daemon) {
    let a = replica(w, "replica-a");
    wait_leader(&a, Duration::from_secs(15));
    let b = replica(w, "replica-b");
    let deadline = Instant::now() + Duration::from_secs(15);
    while !readyz(&b).contains("role: standby") {
        assert!(Instant::now() < deadline, "b never became a ready standby");
        std::thread::sleep(POLL);
    }
    assert!(!leads(&b));
    (a, b)
}

/// The lease's calls per minute and per process, over `window` at rest.
fn lease_calls_per_minute(proxy: &Recorder, window: Duration) -> (f64, f64) {
    let from = Instant::now();
    std::thread::sleep(window);
    let to = Instant::now();
    let per_minute = |key: &str| {
        let n = proxy
            .seen()
            .iter()
            .filter(|s| s.at >= from && s.at < to && s.key == key)
            .filter(|s| ["GetItem", "PutItem", "UpdateItem"].contains(&s.operation.as_str()))
            .count();
        n as f64 * 60.0 / (to - from).as_secs_f64()
    };
    (per_minute("replica-a"), per_minute("replica-b"))
}

#[tokio::test(flavor = "multi_thread")]
async fn one_leader_alone_mutates_and_a_deployment_completes_once() {
    let (w, proxy) = setup("ha-one").await;
    let (a, b) = start_pair(&w);
    assert!(readyz(&a).contains("role: leader"), "{}", readyz(&a));

    let (leader, standby) = lease_calls_per_minute(&proxy, Duration::from_secs(6));
    println!(
        "lease calls per minute at renewInterval {RENEW_INTERVAL:?}: leader {leader:.0}, \
         standby {standby:.0}"
    );
    // One renewal per renew interval (leader); one read per 3/4 of it (standby).
    assert!(
        (40.0..=80.0).contains(&leader),
        "leader: {leader} calls per minute"
    );
    assert!(
        (60.0..=100.0).contains(&standby),
        "standby: {standby} calls per minute"
    );

    w.write_config(&Desired {
        active: "green",
        revision: None,
    });
    wait_green(&w, Duration::from_secs(60)).await;
    let seen = proxy.seen();
    let all = mutations(&seen, None);
    assert!(
        all.iter().all(|s| s.key == "replica-a"),
        "only the leader mutates: {all:#?}"
    );
    // Each step of the deployment once: mark, configure, switch, record (activate and clean
    // up), scale blue down.
    assert_eq!(count(&all, "CreateOrUpdateTags"), 1, "{all:#?}");
    assert_eq!(count(&all, "ModifyListener"), 1, "{all:#?}");
    assert_eq!(count(&all, "PutParameter"), 2, "{all:#?}");
    assert_eq!(count(&all, "UpdateAutoScalingGroup"), 2, "{all:#?}");

    assert_eq!(gauge(&a, "switchyard_leader_transitions_total"), 1.0);
    assert_eq!(gauge(&b, "switchyard_leader_transitions_total"), 0.0);
    let status = w.switchyard(&["status", "--server", &b.base]);
    assert!(
        stdout(&status).contains("replica replica-b (standby); leader: replica-a (lease ha-one)"),
        "{}",
        stdout(&status)
    );
    // The standby observed and reports the runner too.
    assert!(stdout(&status).contains("runner ha-one-r0: desired green, active green"));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_killed_leader_is_replaced_within_a_lease_and_a_renewal_and_nothing_repeats() {
    let (w, proxy) = setup("ha-kill").await;
    let (a, b) = start_pair(&w);
    w.write_config(&Desired {
        active: "green",
        revision: None,
    });
    wait_mid_deployment(&w).await;
    let killed = Instant::now();
    a.kill();
    let took_over = wait_leader(&b, LEASE_DURATION * 3) - killed;
    println!("SIGKILL: replica-b leads {took_over:?} after the kill");
    assert!(
        took_over <= LEASE_DURATION + RENEW_INTERVAL + POLL,
        "took {took_over:?}"
    );
    wait_green(&w, Duration::from_secs(60)).await;
    let status = b.status().await;
    assert!(
        status.runners[0].halted.is_none(),
        "{:#?}",
        status.runners[0]
    );
    let seen = proxy.seen();
    let all = mutations(&seen, None);
    assert!(
        !mutations(&seen, Some("replica-b")).is_empty(),
        "b finished the deployment"
    );
    // The new leader resumed the same attempt from the world: no step twice.
    assert_eq!(count(&all, "CreateOrUpdateTags"), 1, "{all:#?}");
    assert_eq!(count(&all, "ModifyListener"), 1, "{all:#?}");
    assert_eq!(count(&all, "PutParameter"), 2, "{all:#?}");
    assert_eq!(count(&all, "UpdateAutoScalingGroup"), 2, "{all:#?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_paused_leader_sends_nothing_after_it_wakes() {
    let (w, proxy) = setup("ha-pause").await;
    let (a, b) = start_pair(&w);
    w.write_config(&Desired {
        active: "green",
        revision: None,
    });
    wait_mid_deployment(&w).await;
    let stopped = Instant::now();
    a.signal("STOP");
    let took_over = wait_leader(&b, LEASE_DURATION * 3) - stopped;
    println!("SIGSTOP: replica-b leads {took_over:?} after the stop");
    assert!(
        took_over <= LEASE_DURATION + RENEW_INTERVAL + POLL,
        "took {took_over:?}"
    );
    // b goes on with the deployment while a sleeps...
    let deadline = Instant::now() + Duration::from_secs(30);
    while mutations(&proxy.seen(), Some("replica-b")).is_empty() {
        assert!(Instant::now() < deadline, "b never acted");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // ...and a wakes up in the middle of it.
    let woke = Instant::now();
    a.signal("CONT");
    wait_green(&w, Duration::from_secs(60)).await;
    let deadline = Instant::now() + Duration::from_secs(10);
    while leads(&a) || !readyz(&a).contains("role: standby") {
        assert!(Instant::now() < deadline, "a did not stand down");
        std::thread::sleep(POLL);
    }
    // Give a its chance to misbehave: several of its passes and renew intervals.
    tokio::time::sleep(RENEW_INTERVAL * 3).await;
    let seen = proxy.seen();
    let late: Vec<&Seen> = mutations(&seen, Some("replica-a"))
        .into_iter()
        .filter(|s| s.at >= woke)
        .collect();
    assert!(late.is_empty(), "a mutated after SIGCONT: {late:#?}");
    assert!(
        seen.iter().any(|s| s.key == "replica-a" && s.at >= woke),
        "a is alive (it reads the lease and observes)"
    );
    assert_eq!(gauge(&a, "switchyard_leader"), 0.0);
    let all = mutations(&seen, None);
    assert_eq!(count(&all, "ModifyListener"), 1, "{all:#?}");
    assert_eq!(count(&all, "CreateOrUpdateTags"), 1, "{all:#?}");
    assert!(b.status().await.runners[0].halted.is_none());
}

#[tokio::test(flavor = "multi_thread")]
async fn sigterm_hands_the_lease_over_within_one_renew_interval() {
    let (w, _proxy) = setup("ha-term").await;
    let (a, b) = start_pair(&w);
    let terminated = Instant::now();
    a.signal("TERM");
    let took_over = wait_leader(&b, LEASE_DURATION * 3) - terminated;
    println!("SIGTERM: replica-b leads {took_over:?} after the signal");
    assert!(took_over <= RENEW_INTERVAL + POLL, "took {took_over:?}");
    assert_eq!(a.wait_exit(Duration::from_secs(10)), Some(0));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_missing_lease_table_stops_run_naming_the_table_region_and_command() {
    let (mut w, _proxy) = setup("ha-notable").await;
    w.settings.controller_extra = w
        .settings
        .controller_extra
        .replace(TABLE, "no-such-lease-table");
    w.write_config(&Desired {
        active: "green",
        revision: None,
    });
    let out = w.switchyard(&["run"]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(err.contains("no-such-lease-table"), "{err}");
    assert!(err.contains("region us-east-1"), "{err}");
    assert!(
        err.contains(
            "aws dynamodb create-table --table-name no-such-lease-table \
             --attribute-definitions AttributeName=leaseName,AttributeType=S"
        ),
        "{err}"
    );
    // It never mutated: green was not provisioned.
    let s = w.snapshot().await;
    assert!(s.green.mark().is_none());
    assert_eq!(s.green.capacity.1, 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn repair_takes_the_lease_by_handover_while_the_replicas_run() {
    let (w, proxy) = setup("ha-repair").await;
    let (a, b) = start_pair(&w);
    let before = w.snapshot().await.record.unwrap().1;
    let started = Instant::now();
    // Blue is healthy, serving and recorded: marking it deployed again is a harmless write.
    let out = w.switchyard(&[
        "repair",
        "mark-deployed",
        "--runner",
        "ha-repair-r0",
        "--shard",
        "blue",
        "--yes",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(stderr(&out).contains("waiting for the lease ha-repair"));
    let took = started.elapsed();
    println!("repair with two replicas running took {took:?}");
    assert_eq!(w.snapshot().await.record.unwrap().1, before + 1);
    let seen = proxy.seen();
    let writes: Vec<&Seen> = mutations(&seen, None);
    assert_eq!(writes.len(), 1, "{writes:#?}");
    assert_eq!(
        writes[0].key, "testing",
        "the command wrote it, nobody else"
    );
    // The leader handed over (and stopped leading), and a replica leads again.
    assert!(gauge(&a, "switchyard_leader_transitions_total") >= 2.0);
    let deadline = Instant::now() + LEASE_DURATION * 2;
    while !(leads(&a) || leads(&b)) {
        assert!(Instant::now() < deadline, "nobody leads after the repair");
        std::thread::sleep(POLL);
    }
    assert!(took < LEASE_DURATION * 2, "the handover took {took:?}");
}
