//! The errors a new user meets first, as one readable line naming what and where: no AWS
//! credentials at all, and a listen address someone else holds.

use std::net::TcpListener;
use std::process::{Command, Output, Stdio};

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn plan_without_credentials_says_which_sources_were_tried_and_how_to_give_one() {
    let home =
        std::env::temp_dir().join(format!("switchyard-no-credentials-{}", std::process::id()));
    std::fs::create_dir_all(&home).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_switchyard"))
        .args([
            "plan",
            "--config",
            &format!("{ROOT}/config/switchyard.yaml"),
        ])
        // Nothing to find: no variables, an empty home, and no instance metadata (which would
        // also be the only call off this machine).
        .env_clear()
        .env("HOME", &home)
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("AWS_PROFILE", "ops")
        .stdin(Stdio::null())
        .output()
        .expect("the binary runs");
    std::fs::remove_dir_all(&home).ok();

    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert_eq!(
        err.trim_end().lines().count(),
        1,
        "one line, not a dump:\n{err}"
    );
    for needle in [
        "no AWS credentials found",
        "AWS_ACCESS_KEY_ID",
        "profile \"ops\"",
        "web identity",
        "instance metadata",
        "export AWS_PROFILE=",
    ] {
        assert!(err.contains(needle), "missing {needle:?} in:\n{err}");
    }
    for noise in ["CredentialsNotLoaded", "ProvideCredentials", "WARN"] {
        assert!(!err.contains(noise), "SDK noise {noise:?} in:\n{err}");
    }
}

#[test]
fn run_on_a_taken_address_names_the_address_and_the_key() {
    let taken = TcpListener::bind("127.0.0.1:0").unwrap();
    let address = taken.local_addr().unwrap().to_string();
    let fixture = std::fs::read_to_string(format!("{ROOT}/tests/fixtures/cli-converged.yaml"))
        .unwrap()
        .replace("listen: 127.0.0.1:0", &format!("listen: {address}"));
    assert!(
        fixture.contains(&address),
        "the fixture sets controller.listen"
    );
    let file = std::env::temp_dir().join(format!("switchyard-taken-{}.yaml", std::process::id()));
    std::fs::write(&file, fixture).unwrap();

    let out = Command::new(env!("CARGO_BIN_EXE_switchyard"))
        .args(["run", "--config"])
        .arg(&file)
        .env("RUST_LOG", "error")
        .stdin(Stdio::null())
        .output()
        .expect("the binary runs");
    std::fs::remove_file(&file).ok();
    drop(taken);

    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    let line = err
        .lines()
        .find(|l| l.starts_with("error: "))
        .unwrap_or_else(|| panic!("no error line in:\n{err}"));
    assert!(
        line.contains(&format!("cannot listen on {address}")),
        "{line}"
    );
    assert!(line.contains("controller.listen in"), "{line}");
    assert!(line.contains("ddress already in use"), "{line}");
}
