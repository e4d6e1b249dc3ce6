//! Bad input to the parsers of what the world holds: the status record (SSM) and the durable
//! mark (an ASG tag). Anyone can write either, so no text may panic, and every refusal says
//! what is wrong.

use proptest::prelude::*;

use super::mark::Mark;
use super::status_record::StatusRecord;

/// JSON-shaped text: the keys the record and the mark know, with values of every kind.
fn jsonish() -> impl Strategy<Value = String> {
    let key = prop_oneof![
        Just("active_shard"),
        Just("deployment_ts"),
        Just("deployed_shards"),
        Just("id"),
        Just("shard"),
        Just("revision"),
        Just("started"),
        Just("state"),
        Just("other"),
    ];
    let value = prop_oneof![
        Just("\"blue\"".to_owned()),
        Just("\"green\"".to_owned()),
        Just("\"purple\"".to_owned()),
        Just("null".to_owned()),
        Just("\"2026-11-22T10:00:00Z\"".to_owned()),
        Just("\"provisioning\"".to_owned()),
        Just("\"failed\"".to_owned()),
        Just("[\"blue\",\"blue\"]".to_owned()),
        Just("[\"green\",\"blue\"]".to_owned()),
        Just("[1]".to_owned()),
        Just("{}".to_owned()),
        Just("1e999".to_owned()),
        "[a-z0-9 ]{0,8}".prop_map(|s| format!("\"{s}\"")),
    ];
    proptest::collection::vec((key, value), 0..6).prop_map(|pairs| {
        let body: Vec<String> = pairs
            .into_iter()
            .map(|(k, v)| format!("\"{k}\":{v}"))
            .collect();
        format!("{{{}}}", body.join(","))
    })
}

proptest! {
    #[test]
    fn any_text_parses_or_is_refused_with_a_reason(text in any::<String>()) {
        if let Err(e) = StatusRecord::parse(&text) {
            prop_assert!(!e.0.is_empty());
        }
        if let Err(e) = Mark::parse(&text) {
            prop_assert!(!e.0.is_empty());
        }
    }

    #[test]
    fn a_record_that_parses_writes_back_what_it_read(text in jsonish()) {
        match StatusRecord::parse(&text) {
            Ok(record) => {
                // What the controller writes, it can read; other keys survive the round trip.
                let written = record.to_json();
                let again = StatusRecord::parse(&written).expect("our own output parses");
                prop_assert_eq!(again.active_shard, record.active_shard);
                prop_assert_eq!(again.deployment_ts, record.deployment_ts);
                prop_assert_eq!(&again.deployed_shards, &record.deployed_shards);
                prop_assert_eq!(again.to_json(), written);
            }
            Err(e) => prop_assert!(e.to_string().contains("malformed"), "{}", e),
        }
    }

    #[test]
    fn a_mark_that_parses_fits_in_a_tag_and_round_trips(text in jsonish()) {
        if let Ok(mark) = Mark::parse(&text)
            && let Ok(value) = mark.to_tag_value()
        {
            prop_assert!(value.len() <= 256);
            prop_assert_eq!(Mark::parse(&value).expect("our own tag parses"), mark);
        }
    }
}

#[test]
fn hostile_records_are_refused_quickly() {
    let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    let wide = format!("{{\"other\":\"{}\"}}", "x".repeat(4 << 20));
    assert!(
        StatusRecord::parse(&deep).is_err(),
        "nesting past serde_json's limit"
    );
    assert!(Mark::parse(&deep).is_err());
    // A huge but well-formed record is the runbook's format with an extra key: kept, not lost.
    let record = StatusRecord::parse(&wide).expect("an extra key is preserved");
    assert!(record.to_json().len() > 4 << 20);
}
