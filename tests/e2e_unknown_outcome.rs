//! End to end: a mutation whose answer is lost is not sent again (docs/how-it-decides.md and
//! docs/operations.md). The real
//! `switchyard` binary talks to moto's server through a loopback proxy that holds the answer to
//! one chosen call past the SDK's attempt timeout: moto has applied the call, switchyard does not
//! know. The tests read moto itself (the SDK, straight to moto) and the proxy's log, never
//! switchyard's report: the call reached moto exactly once, the controller's next request was an
//! observation, and the deployment still completed.

mod e2e_support;

use std::time::Duration;

use e2e_support::proxy::{Forwarded, Held, Proxy};
use e2e_support::{Daemon, Desired, World, record_json, world};
use serde_json::{Value, json};

const DEPLOY: Duration = Duration::from_secs(90);
/// Shortened so that a held answer costs the test seconds rather than the default 10 s.
const ATTEMPT_TIMEOUT: &str = "2s";
const ATTEMPT: Duration = Duration::from_secs(2);

fn green() -> Desired {
    Desired {
        active: "green",
        revision: Some("2"),
    }
}

/// A blue-to-green deployment through a proxy that holds the first answer to `operation`.
async fn deploy_holding(prefix: &str, operation: &str) -> (World, Proxy, Daemon) {
    let mut w = world(prefix, 1).await;
    let proxy = Proxy::start(&w.endpoint, Some(operation));
    // Only switchyard goes through the proxy; the test's own reads go straight to moto.
    w.endpoint = proxy.endpoint.clone();
    w.write_config(&green());
    let daemon = w.daemon_with(&[("SWITCHYARD_AWS_ATTEMPT_TIMEOUT", ATTEMPT_TIMEOUT)]);
    (w, proxy, daemon)
}

async fn converged_on_green(daemon: &Daemon, proxy: &Proxy) {
    let deadline = std::time::Instant::now() + DEPLOY;
    loop {
        let status = daemon.status().await;
        let r = status.runners.first();
        if let Some(r) = r
            && r.phase == "Converged"
            && r.active_shard.map(|s| s.to_string()).as_deref() == Some("green")
        {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "not converged on green: {r:#?}\n--- proxy log\n{}\n--- daemon log\n{}",
            proxy.describe(),
            daemon.log()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The one held answer: switchyard gave up on it after one attempt timeout.
fn the_hold(proxy: &Proxy, operation: &str) -> (Held, Forwarded) {
    let held = proxy.held();
    assert_eq!(held.len(), 1, "{}", proxy.describe());
    let held = held[0].clone();
    assert_eq!(held.operation, operation);
    assert!(
        held.client_gave_up,
        "switchyard waited past the proxy's limit\n{}",
        proxy.describe()
    );
    let request = proxy.log()[held.index].clone();
    // From the request's arrival to the closed connection: one attempt, not three.
    let waited = held.ended_at - request.at;
    eprintln!(
        "{operation}: answer held {:.3}s; switchyard closed the connection {:.3}s after sending",
        held.held_for.as_secs_f64(),
        waited.as_secs_f64()
    );
    assert!(
        waited >= ATTEMPT - Duration::from_millis(100) && waited < ATTEMPT * 2,
        "gave up after {waited:?}\n{}",
        proxy.describe()
    );
    (held, request)
}

/// After the held call: nothing until switchyard gave up, then an observation (reads only,
/// including `must_read`) before any further mutation.
fn observed_before_mutating_again(proxy: &Proxy, held: &Held, must_read: &[&str]) {
    let log = proxy.log();
    let after = &log[held.index + 1..];
    assert!(
        after.iter().all(|f| f.at >= held.ended_at),
        "a request went out while the held call was pending\n{}",
        proxy.describe()
    );
    let until_mutation: Vec<&Forwarded> = after.iter().take_while(|f| f.is_read()).collect();
    assert!(
        !until_mutation.is_empty(),
        "the next request after the timeout was {:?}, not an observation\n{}",
        after.first().map(|f| &f.operation),
        proxy.describe()
    );
    for op in must_read {
        assert!(
            until_mutation.iter().any(|f| f.operation == *op),
            "no {op} before the next mutation\n{}",
            proxy.describe()
        );
    }
}

fn count(proxy: &Proxy, operation: &str) -> usize {
    proxy
        .log()
        .iter()
        .filter(|f| f.operation == operation)
        .count()
}

/// moto's world after a finished deployment onto green.
async fn assert_deployed_on_green(w: &World) -> Value {
    let r = w.runner();
    let after = w.snapshot().await;
    assert_eq!(after.listener, vec![r.green_tg.clone()], "traffic on green");
    assert_eq!(after.green.capacity, (2, 2, 2));
    assert_eq!(after.green.instances.len(), 2);
    assert_eq!(after.green.template_version.as_deref(), Some("2"));
    assert_eq!(after.blue.capacity.1, 0, "blue scaled to 0");
    assert!(
        after.blue.instances.is_empty(),
        "blue has no instances left"
    );
    let record = record_json(&after);
    assert_eq!(record["active_shard"], "green");
    assert_eq!(record["deployed_shards"], json!(["green"]));
    record
}

#[tokio::test(flavor = "multi_thread")]
async fn a_switch_whose_answer_is_lost_reaches_aws_once() {
    let (w, proxy, daemon) = deploy_holding("lost-switch", "ModifyListener").await;
    converged_on_green(&daemon, &proxy).await;
    eprintln!("--- proxy log\n{}", proxy.describe());

    let (held, request) = the_hold(&proxy, "ModifyListener");
    assert!(
        request.body.contains(&urlencoded(&w.runner().green_tg)),
        "the held call switched to green: {}",
        request.body
    );
    assert_eq!(count(&proxy, "ModifyListener"), 1, "{}", proxy.describe());
    observed_before_mutating_again(
        &proxy,
        &held,
        &["DescribeListeners", "DescribeAutoScalingGroups"],
    );
    assert_deployed_on_green(&w).await;
    assert_eq!(daemon.stop(), Some(0));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_record_write_whose_answer_is_lost_lands_once() {
    let (w, proxy, daemon) = deploy_holding("lost-record", "PutParameter").await;
    let parameter = w.runner().parameter.clone();
    let before = w.snapshot().await.record.expect("the world has a record").1;
    converged_on_green(&daemon, &proxy).await;
    eprintln!("--- proxy log\n{}", proxy.describe());

    let (held, request) = the_hold(&proxy, "PutParameter");
    observed_before_mutating_again(&proxy, &held, &["GetParameters"]);
    // Two writes were sent, each once: activate green, then clean up; moto's history has
    // exactly those two versions, the held one first.
    assert_eq!(count(&proxy, "PutParameter"), 2, "{}", proxy.describe());
    let sent: Value = serde_json::from_str(&request.body).unwrap();
    let history = w
        .ssm()
        .get_parameter_history()
        .name(&parameter)
        .send()
        .await
        .expect("GetParameterHistory");
    let versions: Vec<(i64, String)> = history
        .parameters()
        .iter()
        .map(|p| (p.version(), p.value().unwrap_or_default().to_string()))
        .filter(|(v, _)| *v > before)
        .collect();
    assert_eq!(
        versions.iter().map(|(v, _)| *v).collect::<Vec<_>>(),
        vec![before + 1, before + 2],
        "{versions:?}"
    );
    assert_eq!(versions[0].1, sent["Value"].as_str().unwrap());
    let activated: Value = serde_json::from_str(&versions[0].1).unwrap();
    assert_eq!(activated["active_shard"], "green");
    assert_eq!(activated["deployed_shards"], json!(["blue", "green"]));
    let record = assert_deployed_on_green(&w).await;
    assert_eq!(record["deployment_ts"], activated["deployment_ts"]);
    assert_eq!(w.snapshot().await.record.unwrap().1, before + 2);
    assert_eq!(daemon.stop(), Some(0));
}

/// How an ARN appears in a query-protocol form body.
fn urlencoded(text: &str) -> String {
    text.replace(':', "%3A").replace('/', "%2F")
}
