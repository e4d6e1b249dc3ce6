//! The binary's exit codes and what it prints (docs/commands.md), on fixtures over the simulated
//! cloud. Each run of the binary builds its simulated world afresh from the file.

use std::io::Write;
use std::process::{Command, Output, Stdio};

fn fixture(name: &str) -> String {
    format!(
        "{}/tests/fixtures/cli-{name}.yaml",
        env!("CARGO_MANIFEST_DIR")
    )
}

fn switchyard(args: &[&str], config: &str) -> Output {
    Command::new(env!("CARGO_BIN_EXE_switchyard"))
        .args(args)
        .args(["--config", config])
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .output()
        .expect("the binary runs")
}

fn code(out: &Output) -> i32 {
    out.status.code().expect("exited with a code")
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[test]
fn validate_names_the_bad_key_and_exits_1() {
    let out = switchyard(&["validate"], &fixture("invalid"));
    assert_eq!(code(&out), 1, "{}", text(&out));
    assert!(text(&out).contains("controller.colour"), "{}", text(&out));
}

#[test]
fn validate_accepts_a_good_file() {
    let out = switchyard(&["validate"], &fixture("converged"));
    assert_eq!(code(&out), 0, "{}", text(&out));
}

#[test]
fn a_missing_file_is_an_error() {
    let out = switchyard(&["plan"], "/nonexistent/switchyard.yaml");
    assert_eq!(code(&out), 1, "{}", text(&out));
}

#[test]
fn a_usage_error_is_1_not_2() {
    let out = switchyard(&["plan", "--no-such-flag"], &fixture("converged"));
    assert_eq!(code(&out), 1, "{}", text(&out));
}

#[test]
fn schema_prints_json() {
    let out = switchyard(&["schema"], &fixture("converged"));
    assert_eq!(code(&out), 0);
    let schema: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(schema.get("properties").is_some() || schema.get("$defs").is_some());
}

#[test]
fn plan_exit_codes() {
    for (name, expected) in [
        ("converged", 0),
        ("pending", 2),
        ("failed", 2),
        ("halted", 3),
    ] {
        let out = switchyard(&["plan"], &fixture(name));
        assert_eq!(code(&out), expected, "{name}: {}", text(&out));
    }
}

#[test]
fn plan_names_the_halt_and_its_repair() {
    let out = switchyard(&["plan"], &fixture("halted"));
    assert_eq!(code(&out), 3);
    let text = text(&out);
    assert!(text.contains("InactiveShardHealthyNotDeployed"), "{text}");
    assert!(
        text.contains("switchyard repair mark-deployed --runner runner-a --shard green"),
        "{text}"
    );
}

#[test]
fn plan_as_json_carries_the_step() {
    let out = switchyard(&["plan", "-o", "json"], &fixture("pending"));
    assert_eq!(code(&out), 2);
    let plan: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(plan[0]["runner"], "runner-a");
    assert!(plan[0]["step"]["WriteMark"].is_object(), "{plan:#}");
}

#[test]
fn a_wrong_account_exits_4_naming_both() {
    for args in [&["plan"][..], &["status"], &["run", "--once"]] {
        let out = switchyard(args, &fixture("wrong-account"));
        assert_eq!(code(&out), 4, "{args:?}: {}", text(&out));
        let text = text(&out);
        assert!(
            text.contains("210987654321") && text.contains("123456789012"),
            "{text}"
        );
    }
}

#[test]
fn status_shows_shards_and_json() {
    let out = switchyard(&["status"], &fixture("pending"));
    assert_eq!(code(&out), 0, "{}", text(&out));
    assert!(text(&out).contains("desired green (revision 2), active blue"));
    let out = switchyard(
        &["status", "-o", "json", "--runner", "runner-a"],
        &fixture("pending"),
    );
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["runners"][0]["shards"].as_array().unwrap().len(), 2);
    let out = switchyard(&["status", "--runner", "nobody"], &fixture("pending"));
    assert_eq!(code(&out), 1);
}

#[test]
fn run_once_takes_one_step_and_exits_0() {
    let out = switchyard(&["run", "--once"], &fixture("pending"));
    assert_eq!(code(&out), 0, "{}", text(&out));
    assert!(text(&out).contains("runner-a"));
}

#[test]
fn repair_writes_a_healthy_shard_with_yes() {
    let out = switchyard(
        &[
            "repair",
            "mark-deployed",
            "--runner",
            "runner-a",
            "--shard",
            "green",
            "--yes",
        ],
        &fixture("halted"),
    );
    assert_eq!(code(&out), 0, "{}", text(&out));
    let text = text(&out);
    for needle in [
        "account:   123456789012",
        "runner:    runner-a",
        "\"deployed_shards\":[\"blue\",\"green\"]",
        "version 2",
    ] {
        assert!(text.contains(needle), "{needle} missing from {text}");
    }
}

#[test]
fn repair_refuses_what_the_guard_refuses() {
    // green is healthy but not serving: it cannot be recorded active.
    let out = switchyard(
        &[
            "repair",
            "mark-deployed",
            "--runner",
            "runner-a",
            "--shard",
            "green",
            "--active",
            "--yes",
        ],
        &fixture("halted"),
    );
    assert_eq!(code(&out), 1, "{}", text(&out));
    assert!(text(&out).contains("refused"));
    // green is not healthy at all.
    let out = switchyard(
        &[
            "repair",
            "mark-deployed",
            "--runner",
            "runner-a",
            "--shard",
            "green",
            "--yes",
        ],
        &fixture("converged"),
    );
    assert_eq!(code(&out), 1, "{}", text(&out));
}

#[test]
fn repair_asks_for_confirmation() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_switchyard"))
        .args([
            "repair",
            "mark-deployed",
            "--runner",
            "runner-a",
            "--shard",
            "green",
        ])
        .args(["--config", &fixture("halted")])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(b"no\n").unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(code(&out), 1);
    let text = text(&out);
    assert!(
        text.contains("Type yes to write") && text.contains("not written"),
        "{text}"
    );
}

#[test]
fn retry_clears_a_failed_mark_or_says_there_is_nothing() {
    let out = switchyard(&["retry", "--runner", "runner-a"], &fixture("failed"));
    assert_eq!(code(&out), 0, "{}", text(&out));
    assert!(text(&out).contains("cleared the failed mark"));
    let out = switchyard(&["retry", "--runner", "runner-a"], &fixture("converged"));
    assert_eq!(code(&out), 0, "{}", text(&out));
    assert!(text(&out).contains("nothing to retry"));
}

#[test]
fn plan_on_the_demo_exits_3_naming_the_halt() {
    let demo = format!("{}/config/demo.yaml", env!("CARGO_MANIFEST_DIR"));
    let out = switchyard(&["plan"], &demo);
    assert_eq!(code(&out), 3, "{}", text(&out));
    assert!(
        text(&out).contains("InactiveShardHealthyNotDeployed"),
        "{}",
        text(&out)
    );
}

/// The demo without its halted runner: the other two have changes pending.
#[test]
fn plan_on_the_demo_without_the_halted_runner_exits_2() {
    let demo = std::fs::read_to_string(format!("{}/config/demo.yaml", env!("CARGO_MANIFEST_DIR")))
        .unwrap();
    let cut = demo
        .find("  - name: runner-c")
        .expect("runner-c in the demo");
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("demo-ab.yaml");
    // runner-c's world entry stays: the simulated world may describe more than the file names.
    std::fs::write(&path, &demo[..cut]).unwrap();
    let out = switchyard(&["plan"], path.to_str().unwrap());
    assert_eq!(code(&out), 2, "{}", text(&out));
    assert!(
        !text(&out).contains("InactiveShardHealthyNotDeployed"),
        "{}",
        text(&out)
    );
}

#[test]
fn validate_rejects_a_purple_shard_naming_the_key() {
    let demo = std::fs::read_to_string(format!("{}/config/demo.yaml", env!("CARGO_MANIFEST_DIR")))
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("purple.yaml");
    std::fs::write(
        &path,
        demo.replacen("activeShard: green", "activeShard: purple", 1),
    )
    .unwrap();
    let out = switchyard(&["validate"], path.to_str().unwrap());
    assert_eq!(code(&out), 1, "{}", text(&out));
    assert!(
        text(&out).contains("runners[0].activeShard"),
        "{}",
        text(&out)
    );
    assert!(text(&out).contains("purple"), "{}", text(&out));
}

/// Bad input in the world rather than the file: a garbled status record. `plan` halts (3) and
/// names it, `status` reports it (0), `repair` refuses to overwrite it (1), and no command
/// panics on it.
#[test]
fn a_garbled_record_halts_plan_is_shown_by_status_and_refused_by_repair() {
    let dir = tempfile::tempdir().unwrap();
    for garbled in [
        r#"{"active_shard": "blue", "#,
        r#"{"active_shard":"purple","deployed_shards":["purple"]}"#,
        r#"[1,2,3]"#,
    ] {
        let file = std::fs::read_to_string(fixture("converged"))
            .unwrap()
            .replace(
                r#"record: '{"active_shard":"blue","deployment_ts":"2026-01-01T00:00:00Z","deployed_shards":["blue"]}'"#,
                &format!("record: '{garbled}'"),
            );
        assert!(file.contains(garbled));
        let path = dir.path().join("garbled.yaml");
        std::fs::write(&path, file).unwrap();
        let path = path.to_str().unwrap();

        let plan = switchyard(&["plan"], path);
        assert_eq!(code(&plan), 3, "{garbled}: {}", text(&plan));
        assert!(
            text(&plan).contains("StatusRecordMalformed"),
            "{}",
            text(&plan)
        );
        let status = switchyard(&["status"], path);
        assert_eq!(code(&status), 0, "{garbled}: {}", text(&status));
        assert!(
            text(&status).contains("StatusRecordMalformed"),
            "{}",
            text(&status)
        );
        let repair = switchyard(
            &[
                "repair",
                "mark-deployed",
                "--runner",
                "runner-a",
                "--shard",
                "blue",
                "--active",
                "--yes",
            ],
            path,
        );
        assert_eq!(code(&repair), 1, "{garbled}: {}", text(&repair));
        for out in [&plan, &status, &repair] {
            assert!(!text(out).contains("panicked"), "{}", text(out));
        }
    }
}
