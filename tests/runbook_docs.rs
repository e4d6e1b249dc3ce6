//! docs/runbook.md and the halts' runbook steps in src/core/runbook.rs say the same: every halt
//! reason has its anchored section, and each step the log line carries is quoted word for word
//! in the section of its reason.

use std::collections::HashMap;
use std::path::Path;

use switchyard::core::halt::HaltReason;
use switchyard::core::runbook::STEPS;

/// The runbook's `## Reason` sections, by heading, with their text.
fn sections() -> HashMap<String, String> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/runbook.md");
    let text = std::fs::read_to_string(&path).expect("read docs/runbook.md");
    let mut sections = HashMap::new();
    let mut current: Option<(String, String)> = None;
    for line in text.lines() {
        if let Some(heading) = line.strip_prefix("## ") {
            sections.extend(current.take());
            current = Some((heading.trim().to_string(), String::new()));
        } else if let Some((_, body)) = current.as_mut() {
            body.push_str(line);
            body.push('\n');
        }
    }
    sections.extend(current);
    sections
}

/// The quoted text of a section: its `>` lines, joined, whitespace collapsed.
fn quotes(body: &str) -> String {
    let quoted: Vec<&str> = body
        .lines()
        .map(str::trim_start)
        .map(|l| l.strip_prefix('>').map(str::trim).unwrap_or("\u{0}"))
        .collect();
    normalise(&quoted.join(" "))
}

fn normalise(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[test]
fn every_halt_reason_has_an_anchored_runbook_section() {
    let sections = sections();
    for reason in HaltReason::ALL {
        assert!(
            sections.contains_key(reason.as_str()),
            "docs/runbook.md has no `## {reason}` section (the alerts link to \
             runbook.md#{})",
            reason.as_str().to_lowercase()
        );
    }
}

#[test]
fn every_runbook_step_is_quoted_word_for_word_under_its_reason() {
    let sections = sections();
    for (reason, step) in STEPS {
        let body = sections
            .get(reason.as_str())
            .unwrap_or_else(|| panic!("docs/runbook.md has no `## {reason}` section"));
        assert!(
            quotes(body).contains(&normalise(step)),
            "docs/runbook.md, `## {reason}`: the runbook step of src/core/runbook.rs is not \
             quoted (as `> ` lines) word for word:\n{step}"
        );
    }
}

#[test]
fn every_halt_reason_has_a_runbook_step() {
    for reason in HaltReason::ALL {
        assert!(
            STEPS.iter().any(|(r, _)| *r == reason),
            "no runbook step for {reason} in src/core/runbook.rs STEPS"
        );
    }
}
