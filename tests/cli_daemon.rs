//! `switchyard run`: the daemon serves its status, and SIGTERM ends it with exit 0.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

use switchyard::telemetry::fetch_status;

#[tokio::test]
async fn the_daemon_serves_status_and_stops_on_sigterm() {
    let config = format!(
        "{}/tests/fixtures/cli-pending.yaml",
        env!("CARGO_MANIFEST_DIR")
    );
    let mut child = Command::new(env!("CARGO_BIN_EXE_switchyard"))
        .args(["run", "--log-format", "json", "--config", &config])
        .env("RUST_LOG", "info")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // The bound address (the fixture listens on port 0) is in the "listening" log line.
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let address = lines
        .by_ref()
        .map_while(Result::ok)
        .find_map(|line| {
            let event: serde_json::Value = serde_json::from_str(&line).ok()?;
            (event["message"] == "listening")
                .then(|| event["address"].as_str().map(str::to_owned))?
        })
        .expect("the daemon logs where it listens");
    let base = format!("http://{address}");
    let mut doc = None;
    for _ in 0..50 {
        if let Ok(d) = fetch_status(&base).await
            && !d.runners.is_empty()
        {
            doc = Some(d);
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let doc = doc.expect("the daemon reports its runners");
    assert_eq!(doc.runners[0].name, "runner-a");

    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    // Drain stderr so that the daemon never blocks on a full pipe while stopping.
    std::thread::spawn(move || lines.for_each(drop));
    let exit = child.wait().unwrap();
    assert_eq!(exit.code(), Some(0));
}
