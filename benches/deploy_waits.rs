//! Deployments that take exactly their waits: the time from the file edit to `Converged`, divided
//! by the time the deployment is made to wait (grace + stability + post-switch + drain +
//! termination). Goal: at most 1.02. Results are kept in BENCHMARKS.md.
//!
//! Two clocks:
//! - simulated: the controller's own loop (`Controller::run`) on tokio's paused clock, with the
//!   simulated cloud reading the same clock. The clock stands still while the controller works
//!   and jumps to the next timer once every task waits, so the figure shows when the loop chooses
//!   to look, not how long its passes take. One runner with short waits, one with the defaults'
//!   waits, and 1,000 runners with the defaults' waits, deploying at once.
//! - real time: the release binary (`switchyard run`, `controller.cloud: simulated`) with short
//!   waits, its file edited on disk; `Converged` is read from its JSON log as the lines arrive.
//!   One runner, and 1,000 runners.
//!
//! `SWITCHYARD_BENCH_SIMULATED=0` or `SWITCHYARD_BENCH_REALTIME=0` skips that part.

mod common;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use switchyard::clock::{Clock, TokioClock};
use switchyard::cloud::sim::SimCloud;
use switchyard::config::{self, Config};
use switchyard::controller::Controller;
use switchyard::telemetry::{Health, Metrics, StatusBoard};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use common::world_yaml;

const ARN: &str = "arn:aws:elasticloadbalancing:us-east-1:123456789012";

/// The waits of one case; `termination` is the simulated cloud's `terminationTime`.
#[derive(Clone, Copy)]
struct Waits {
    name: &'static str,
    grace: u64,
    stability: u64,
    post_switch: u64,
    drain: u64,
    termination: u64,
    /// `controller.transitionInterval`: the cadence of looks within a wait, and at the cloud's
    /// own work (booting, terminating), whose end the controller cannot know.
    transition: u64,
    /// The simulated cloud's `bootTime` (its default, 5 s): shorter than the grace period, so that
    /// a loop that configures the shard promptly does not wait for booting.
    boot: u64,
}

impl Waits {
    const SHORT: Waits = Waits {
        name: "short waits (6 s grace, 6 s stability, 4 s post-switch, 4 s drain, 1 s termination; transitionInterval 2 s)",
        grace: 6,
        stability: 6,
        post_switch: 4,
        drain: 4,
        termination: 1,
        transition: 2,
        boot: 5,
    };
    /// The same with a `transitionInterval` no longer than the termination.
    const SHORT_1S: Waits = Waits {
        name: "short waits, transitionInterval 1 s",
        transition: 1,
        ..Waits::SHORT
    };
    /// The file's defaults; termination as the simulated cloud models it by default.
    const DEFAULTS: Waits = Waits {
        name: "the defaults' waits (60 s grace, 120 s stability, 30 s post-switch, 60 s drain, 2 s termination; transitionInterval 2 s)",
        grace: 60,
        stability: 120,
        post_switch: 30,
        drain: 60,
        termination: 2,
        transition: 2,
        boot: 5,
    };

    fn mandated(&self) -> f64 {
        (self.grace + self.stability + self.post_switch + self.drain + self.termination) as f64
    }
}

/// The desired-state file: `runners` runners, all wanting `shard` on `revision`, their worlds
/// converged on blue (revision 1).
fn file(waits: &Waits, runners: usize, shard: &str, revision: &str, listen: &str) -> String {
    let mut text = format!(
        "controller:\n  cloud: simulated\n  listen: {listen}\n  syncInterval: 30s\n  transitionInterval: {}s\n  simulated:\n    bootTime: {}s\n    terminationTime: {}s\n    world:\n",
        waits.transition, waits.boot, waits.termination
    );
    text.push_str(&world_yaml(runners, "capacity: 2, revision: \"1\""));
    text.push_str(&format!(
        "defaults:\n  capacity: 2\n  healthCheckGracePeriod: {}s\n  stabilityDuration: {}s\n  postSwitchCheck: {}s\n  drainDelay: {}s\n  progressDeadline: 15m\nrunners:\n",
        waits.grace, waits.stability, waits.post_switch, waits.drain
    ));
    for i in 0..runners {
        text.push_str(&format!(
            "  - name: runner-{i}\n    activeShard: {shard}\n    revision: \"{revision}\"\n    listenerArn: {ARN}:listener/app/lb-{i}/1\n    shards:\n      blue: {{ autoScalingGroup: runner-{i}-blue, targetGroupArn: {ARN}:targetgroup/runner-{i}-blue/1 }}\n      green: {{ autoScalingGroup: runner-{i}-green, targetGroupArn: {ARN}:targetgroup/runner-{i}-green/2 }}\n"
        ));
    }
    text
}

fn parse(text: &str) -> Config {
    config::parse(text, Path::new("deploy-waits.yaml")).expect("the bench's file is valid")
}

struct Outcome {
    /// Edit to the last runner's `Converged`, seconds.
    last: f64,
    /// Edit to `Converged`, averaged over the runners, seconds.
    mean: f64,
    calls: u64,
}

fn print(clock: &str, waits: &Waits, runners: usize, outcome: &Outcome) {
    let mandated = waits.mandated();
    println!(
        "  {clock}, {runners} runner{}, {}: edit -> Converged {:.2} s (last runner), {:.2} s (mean) for {mandated:.0} s of waits: ratio {:.3} (last), {:.3} (mean){}",
        if runners == 1 { "" } else { "s" },
        waits.name,
        outcome.last,
        outcome.mean,
        outcome.last / mandated,
        outcome.mean / mandated,
        if outcome.calls > 0 {
            format!(
                "; {} cloud calls, {:.1} per runner",
                outcome.calls,
                outcome.calls as f64 / runners as f64
            )
        } else {
            String::new()
        }
    );
}

/// The controller's loop on tokio's paused clock.
fn simulated(waits: &Waits, runners: usize) -> Outcome {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .start_paused(true)
        .build()
        .expect("a runtime");
    runtime.block_on(async {
        let start: DateTime<Utc> = "2026-11-24T00:00:00Z".parse().unwrap();
        let clock: Arc<dyn Clock> = Arc::new(TokioClock::starting_at(start));
        let before = parse(&file(waits, runners, "blue", "1", "127.0.0.1:0"));
        let after = parse(&file(waits, runners, "green", "2", "127.0.0.1:0"));
        let sim = SimCloud::new(
            &before.controller.simulated,
            &before.runners,
            Arc::clone(&clock),
        );
        let board = StatusBoard::new();
        let before = Arc::new(before);
        let controller = Controller::new(
            Arc::new(sim.clone()),
            Arc::clone(&clock),
            Arc::new(Metrics::new("bench")),
            board.clone(),
            Health::with_clock(before.controller.sync_interval, Arc::clone(&clock)),
            Arc::clone(&before),
        );
        let (tx, rx) = watch::channel(before);
        let cancel = CancellationToken::new();
        let task = tokio::spawn(controller.run(rx, cancel.clone()));
        // At rest first, so that the edit finds the loop between passes, as a daemon would be.
        tokio::time::sleep(Duration::from_secs(7)).await;
        sim.reset_calls();
        let edited = clock.now();
        tx.send(Arc::new(after)).expect("the loop listens");
        let names: Vec<String> = (0..runners).map(|i| format!("runner-{i}")).collect();
        let limit = Duration::from_secs_f64(waits.mandated() * 3.0);
        let converged_at = loop {
            tokio::time::sleep(Duration::from_secs(1)).await;
            let times: Option<Vec<DateTime<Utc>>> = names
                .iter()
                .map(|name| converged_since(&board, name, edited))
                .collect();
            if let Some(times) = times {
                break times;
            }
            assert!(
                clock.now() - edited < chrono::Duration::from_std(limit).unwrap(),
                "not converged within {limit:?} of simulated time"
            );
        };
        cancel.cancel();
        task.await.expect("the loop stops");
        let secs = |t: &DateTime<Utc>| (*t - edited).num_microseconds().unwrap() as f64 / 1e6;
        Outcome {
            last: converged_at.iter().map(secs).fold(0.0, f64::max),
            mean: converged_at.iter().map(secs).sum::<f64>() / runners as f64,
            calls: sim.calls().values().sum(),
        }
    })
}

/// When the runner reached `Converged` after `edited` (its status board event), if it has.
fn converged_since(
    board: &StatusBoard,
    name: &str,
    edited: DateTime<Utc>,
) -> Option<DateTime<Utc>> {
    let status = board.runner(name)?;
    if status.phase != "Converged" {
        return None;
    }
    status
        .events
        .iter()
        .rev()
        .find(|e| e.reason == "PhaseChanged" && e.message.ends_with("-> Converged"))
        .map(|e| e.time)
        .filter(|t| *t > edited)
}

/// The release binary in real time: start it at rest, edit its file, read its log.
fn real_time(waits: &Waits, runners: usize) -> Option<Outcome> {
    let binary = env!("CARGO_BIN_EXE_switchyard");
    let dir = tempfile::tempdir().expect("a temporary directory");
    let port = TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let listen = format!("127.0.0.1:{port}");
    let path = dir.path().join("switchyard.yaml");
    std::fs::write(&path, file(waits, runners, "blue", "1", &listen)).expect("write the file");
    let mut child = Command::new(binary)
        .args(["run", "--log-format", "json", "--config"])
        .arg(&path)
        .env("RUST_LOG", "info")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start switchyard run");
    let stderr = child.stderr.take().expect("stderr is piped");
    let (lines_tx, lines) = mpsc::channel::<(Instant, String)>();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if lines_tx.send((Instant::now(), line)).is_err() {
                break;
            }
        }
    });
    let outcome = drive(&mut child, &listen, &path, waits, runners, &lines);
    let _ = child.kill();
    let _ = child.wait();
    outcome
}

fn drive(
    child: &mut Child,
    listen: &str,
    path: &Path,
    waits: &Waits,
    runners: usize,
    lines: &mpsc::Receiver<(Instant, String)>,
) -> Option<Outcome> {
    let ready = Instant::now();
    while !http_ok(listen, "/readyz") {
        if ready.elapsed() > Duration::from_secs(60) || child.try_wait().ok().flatten().is_some() {
            eprintln!("  switchyard run did not become ready on {listen}");
            return None;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    // Let the first pass (all runners at rest) finish before the edit.
    std::thread::sleep(Duration::from_secs(3));
    while lines.try_recv().is_ok() {}
    let staged = path.with_extension("yaml.new");
    std::fs::write(&staged, file(waits, runners, "green", "2", listen)).expect("write the edit");
    let edited = Instant::now();
    std::fs::rename(&staged, path).expect("replace the file");
    let mut converged: BTreeMap<String, Instant> = BTreeMap::new();
    let limit = Duration::from_secs_f64(waits.mandated() * 3.0 + 30.0);
    while converged.len() < runners {
        let Ok((at, line)) = lines.recv_timeout(limit.saturating_sub(edited.elapsed())) else {
            eprintln!(
                "  only {} of {runners} runners converged within {limit:?}",
                converged.len()
            );
            return None;
        };
        let Ok(entry) = serde_json::from_str::<serde_json::Value>(&line) else {
            continue;
        };
        let field = |k: &str| entry.get(k).and_then(|v| v.as_str()).unwrap_or_default();
        if field("message") == "phase changed" && field("to") == "Converged" {
            converged.insert(field("runner").to_owned(), at);
        }
    }
    let secs = |t: &Instant| t.duration_since(edited).as_secs_f64();
    Some(Outcome {
        last: converged.values().map(secs).fold(0.0, f64::max),
        mean: converged.values().map(secs).sum::<f64>() / runners as f64,
        calls: 0,
    })
}

/// A GET on loopback answered 200.
fn http_ok(listen: &str, path: &str) -> bool {
    let Ok(mut stream) = TcpStream::connect(listen) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
    if write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {listen}\r\nConnection: close\r\n\r\n"
    )
    .is_err()
    {
        return false;
    }
    let mut answer = String::new();
    let _ = stream.read_to_string(&mut answer);
    answer.starts_with("HTTP/1.1 200")
}

fn main() {
    println!("deployments and their waits (goal: edit -> Converged / waits <= 1.02)");
    let skip = |part: &str| std::env::var(part).as_deref() == Ok("0");
    // `cargo bench` passes --bench; `cargo test --all-targets` (make test) runs this without it,
    // in a debug build: one simulated deployment only shows that it still runs.
    let full = std::env::args().any(|a| a == "--bench");
    let cases = [
        (Waits::SHORT, 1),
        (Waits::SHORT_1S, 1),
        (Waits::DEFAULTS, 1),
        (Waits::DEFAULTS, 1_000),
    ];
    for (waits, runners) in cases.into_iter().take(if full { cases.len() } else { 1 }) {
        if skip("SWITCHYARD_BENCH_SIMULATED") {
            break;
        }
        let outcome = simulated(&waits, runners);
        print("simulated clock", &waits, runners, &outcome);
    }
    if !full {
        println!("  (a short run; `cargo bench --bench deploy_waits` runs every case)");
        return;
    }
    if skip("SWITCHYARD_BENCH_REALTIME") {
        return;
    }
    for runners in [1, 1_000] {
        match real_time(&Waits::SHORT, runners) {
            Some(outcome) => print(
                "real time, release binary",
                &Waits::SHORT,
                runners,
                &outcome,
            ),
            None => println!("  real time, {runners} runners: no figure (see above)"),
        }
    }
}
