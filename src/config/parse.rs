//! YAML text to `RawFile`, with hard limits: the file is operator input that a reload reads
//! while the controller runs, so no input may panic, hang or exhaust memory.

use serde::Deserialize;
use serde_saphyr::budget::{BudgetBreach, EnforcingPolicy, check_yaml_budget};
use serde_saphyr::granit_parser::ErrorKind;
use serde_saphyr::{Budget, MessageFormatter, Options, UserMessageFormatter};

use super::error::ConfigProblem;
use super::raw::RawFile;

/// Refuse larger files outright. A runner entry is about 500 bytes and one replica is built for
/// 10,000 runners (about 5 MiB), so this leaves threefold room while bounding what a read costs.
pub const MAX_FILE_BYTES: usize = 16 * 1024 * 1024;

/// Deepest nesting of mappings and sequences. The schema itself needs 5 levels.
pub const MAX_DEPTH: usize = 32;

/// Alias replay cap: anchors are handy for sharing a block between runners, but a
/// "billion laughs" file expands exponentially through them.
pub const MAX_REPLAYED_EVENTS: usize = 100_000;

fn budget() -> Budget {
    let mut budget = Budget::default();
    budget.max_reader_input_bytes = Some(MAX_FILE_BYTES);
    budget.max_depth = MAX_DEPTH;
    budget.flow_nesting_limit = MAX_DEPTH;
    budget.max_documents = 1;
    budget.max_events = 4_000_000;
    budget.max_nodes = 2_000_000;
    budget.max_total_scalar_bytes = MAX_FILE_BYTES;
    budget.max_aliases = 10_000;
    budget.max_recorded_anchor_events = MAX_REPLAYED_EVENTS;
    budget.max_recorded_anchor_bytes = MAX_FILE_BYTES;
    budget
}

fn options() -> Options {
    let mut options = Options::default();
    options.budget = Some(budget());
    options.alias_limits.max_total_replayed_events = MAX_REPLAYED_EVENTS;
    options.alias_limits.max_replay_stack_depth = MAX_DEPTH;
    // Problems are reported one per line; a rendered snippet would break that format.
    options.with_snippet = false;
    options
}

pub fn parse_raw(text: &str) -> Result<RawFile, ConfigProblem> {
    if text.len() > MAX_FILE_BYTES {
        return Err(ConfigProblem::new(
            "",
            None,
            format!(
                "file is {} bytes, larger than the limit of {MAX_FILE_BYTES} bytes",
                text.len()
            ),
        ));
    }
    // The whole stream is checked against the budget before any of it is deserialized: the typed
    // deserializer stops at the first misplaced node, so hostile structure that it never reaches
    // would otherwise go unreported, or be reported as a confusing type error.
    // A syntax error is left for the deserializer, which reports it with its key path.
    match check_yaml_budget(text, budget(), EnforcingPolicy::AllContent) {
        Ok(report) => {
            if let Some(breach) = report.breached {
                return Err(ConfigProblem::new(
                    "",
                    None,
                    format!("refused: {}", describe(&breach)),
                ));
            }
        }
        // The scanner enforces the flow nesting limit itself, as a syntax error.
        Err(e) if matches!(e.kind(), ErrorKind::RecursionLimitExceeded) => {
            return Err(ConfigProblem::new(
                "",
                Some(e.marker().line()),
                format!("refused: nested more than {MAX_DEPTH} levels deep"),
            ));
        }
        Err(_) => {}
    }
    let mut key_path: Option<serde_path_to_error::Path> = None;
    let result = serde_saphyr::with_deserializer_from_str_with_options(text, options(), |de| {
        let mut track = serde_path_to_error::Track::new();
        let tracked = serde_path_to_error::Deserializer::new(de, &mut track);
        RawFile::deserialize(tracked).inspect_err(|_| key_path = Some(track.path()))
    });
    result.map_err(|err| {
        let err = err.without_snippet();
        let line = err
            .location()
            .map(|loc| loc.line() as usize)
            .filter(|&line| line > 0);
        let message = UserMessageFormatter.format_message(err).into_owned();
        ConfigProblem::new(
            key_path.map(|p| display_path(&p)).unwrap_or_default(),
            line,
            tidy(&message),
        )
    })
}

fn describe(breach: &BudgetBreach) -> String {
    match breach {
        BudgetBreach::Depth { .. } => {
            format!("nested more than {MAX_DEPTH} levels deep")
        }
        BudgetBreach::Aliases { aliases } => {
            format!("{aliases} aliases is too many (a YAML alias bomb?)")
        }
        BudgetBreach::AliasAnchorRatio { aliases, anchors } => {
            format!("{aliases} aliases to {anchors} anchors is too many (a YAML alias bomb?)")
        }
        BudgetBreach::RecordedAnchorEvents { .. } | BudgetBreach::RecordedAnchorBytes { .. } => {
            "anchors hold too much content (a YAML alias bomb?)".to_owned()
        }
        BudgetBreach::Events { events } => format!("more than {events} YAML events"),
        BudgetBreach::Nodes { nodes } => format!("more than {nodes} YAML nodes"),
        BudgetBreach::Documents { .. } => "more than one YAML document".to_owned(),
        BudgetBreach::ScalarBytes { .. } | BudgetBreach::InputBytes { .. } => {
            format!("more than {MAX_FILE_BYTES} bytes of content")
        }
        other => format!("over the parser's limits ({other:?})"),
    }
}

/// The tracked path, without the `value` segments that `Spanned` wrappers add.
fn display_path(path: &serde_path_to_error::Path) -> String {
    use serde_path_to_error::Segment;
    let mut out = String::new();
    for segment in path.iter() {
        match segment {
            Segment::Seq { index } => out.push_str(&format!("[{index}]")),
            Segment::Map { key } if key == "value" => {}
            Segment::Map { key } | Segment::Enum { variant: key } => {
                if !out.is_empty() {
                    out.push('.');
                }
                out.push_str(key);
            }
            Segment::Unknown => {}
        }
    }
    out
}

/// serde quotes names with backticks, which read as noise in a log line or a terminal; and a
/// choice of two reads better as "a or b" than as "one of a, b".
fn tidy(message: &str) -> String {
    if message.matches('`').count() % 2 == 1 {
        return message.to_owned();
    }
    let mut out = String::with_capacity(message.len());
    for (i, part) in message.split('`').enumerate() {
        if i % 2 == 1 {
            out.push_str(&format!("{part:?}"));
        } else {
            out.push_str(part);
        }
    }
    if let Some((head, choices)) = out.split_once(", expected one of ")
        && let Some((a, b)) = choices.split_once(", ")
        && !b.contains(", ")
    {
        return format!("{head}, expected {a} or {b}");
    }
    out
}
