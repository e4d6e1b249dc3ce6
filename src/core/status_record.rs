//! The SSM status record: the runbook's JSON object, parsed strictly and written back with every
//! key we do not own preserved in place.

use chrono::{DateTime, SecondsFormat, SubsecRound, Utc};
use serde_json::{Map, Value};
use thiserror::Error;

use super::shard::Shard;

const ACTIVE: &str = "active_shard";
const TS: &str = "deployment_ts";
const DEPLOYED: &str = "deployed_shards";

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct StatusRecord {
    pub active_shard: Option<Shard>,
    pub deployment_ts: Option<DateTime<Utc>>,
    /// Kept in the record's own order; never holds a duplicate.
    pub deployed_shards: Vec<Shard>,
    /// The whole object as read, so that keys other than ours survive every write unchanged.
    extra: Map<String, Value>,
}

#[derive(Debug, Clone, Error, PartialEq, Eq)]
#[error("status record is malformed: {0}")]
pub struct RecordError(pub String);

impl StatusRecord {
    /// Parses the parameter's value. An empty object means nothing has been deployed yet.
    pub fn parse(text: &str) -> Result<StatusRecord, RecordError> {
        let value: Value =
            serde_json::from_str(text).map_err(|e| RecordError(format!("not valid JSON ({e})")))?;
        let Value::Object(object) = value else {
            return Err(RecordError(format!(
                "expected a JSON object, found {}",
                kind_of(&value)
            )));
        };
        let active_shard = match object.get(ACTIVE) {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) => Some(
                s.parse::<Shard>()
                    .map_err(|e| RecordError(format!("{ACTIVE}: {e}")))?,
            ),
            Some(other) => {
                return Err(RecordError(format!(
                    "{ACTIVE}: expected \"blue\" or \"green\", found {}",
                    kind_of(other)
                )));
            }
        };
        let deployment_ts = match object.get(TS) {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) => Some(
                DateTime::parse_from_rfc3339(s)
                    .map_err(|e| RecordError(format!("{TS}: {s:?} is not RFC 3339 ({e})")))?
                    .with_timezone(&Utc),
            ),
            Some(other) => {
                return Err(RecordError(format!(
                    "{TS}: expected an RFC 3339 string, found {}",
                    kind_of(other)
                )));
            }
        };
        let deployed_shards = match object.get(DEPLOYED) {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::Array(items)) => {
                let mut shards = Vec::with_capacity(items.len());
                for item in items {
                    let Value::String(s) = item else {
                        return Err(RecordError(format!(
                            "{DEPLOYED}: expected shard names, found {}",
                            kind_of(item)
                        )));
                    };
                    let shard = s
                        .parse::<Shard>()
                        .map_err(|e| RecordError(format!("{DEPLOYED}: {e}")))?;
                    if shards.contains(&shard) {
                        return Err(RecordError(format!("{DEPLOYED}: {shard} is listed twice")));
                    }
                    shards.push(shard);
                }
                shards
            }
            Some(other) => {
                return Err(RecordError(format!(
                    "{DEPLOYED}: expected an array, found {}",
                    kind_of(other)
                )));
            }
        };
        Ok(StatusRecord {
            active_shard,
            deployment_ts,
            deployed_shards,
            extra: object,
        })
    }

    pub fn is_deployed(&self, shard: Shard) -> bool {
        self.deployed_shards.contains(&shard)
    }

    /// The record after a completed provision of `shard`: active, stamped `now`, and deployed.
    pub fn with_active(&self, shard: Shard, now: DateTime<Utc>) -> StatusRecord {
        let mut next = self.with_deployed(shard);
        next.active_shard = Some(shard);
        // Whole seconds, as the runbook writes it.
        next.deployment_ts = Some(now.trunc_subsecs(0));
        next
    }

    pub fn with_deployed(&self, shard: Shard) -> StatusRecord {
        let mut next = self.clone();
        if !next.deployed_shards.contains(&shard) {
            next.deployed_shards.push(shard);
        }
        next
    }

    pub fn without_deployed(&self, shard: Shard) -> StatusRecord {
        let mut next = self.clone();
        next.deployed_shards.retain(|s| *s != shard);
        next
    }

    /// Compact JSON in the runbook's format; keys we do not own keep their place and value.
    pub fn to_json(&self) -> String {
        let mut object = self.extra.clone();
        set_or_remove(
            &mut object,
            ACTIVE,
            self.active_shard.map(|s| Value::String(s.to_string())),
        );
        set_or_remove(
            &mut object,
            TS,
            self.deployment_ts
                .map(|t| Value::String(t.to_rfc3339_opts(SecondsFormat::AutoSi, true))),
        );
        let deployed =
            (!self.deployed_shards.is_empty() || object.contains_key(DEPLOYED)).then(|| {
                Value::Array(
                    self.deployed_shards
                        .iter()
                        .map(|s| Value::String(s.to_string()))
                        .collect(),
                )
            });
        set_or_remove(&mut object, DEPLOYED, deployed);
        Value::Object(object).to_string()
    }
}

impl serde::Serialize for StatusRecord {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let value: Value =
            serde_json::from_str(&self.to_json()).map_err(serde::ser::Error::custom)?;
        value.serialize(serializer)
    }
}

fn set_or_remove(object: &mut Map<String, Value>, key: &str, value: Option<Value>) {
    match value {
        Some(v) => {
            object.insert(key.to_string(), v);
        }
        None => {
            object.remove(key);
        }
    }
}

fn kind_of(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runbook_example_round_trips_exactly() {
        let text = r#"{"active_shard":"blue","deployment_ts":"2026-03-10T19:19:53Z","deployed_shards":["blue"]}"#;
        let record = StatusRecord::parse(text).unwrap();
        assert_eq!(record.active_shard, Some(Shard::Blue));
        assert_eq!(record.deployed_shards, vec![Shard::Blue]);
        assert_eq!(record.to_json(), text);
    }

    #[test]
    fn empty_object_means_nothing_deployed() {
        let record = StatusRecord::parse("{}").unwrap();
        assert_eq!(record, StatusRecord::default());
        assert_eq!(record.to_json(), "{}");
    }

    #[test]
    fn unknown_keys_survive_a_write_in_place() {
        let text = r#"{"owner":"team-a","active_shard":"blue","deployment_ts":"2026-03-10T19:19:53Z","deployed_shards":["blue"],"ticket":7}"#;
        let now = DateTime::parse_from_rfc3339("2026-11-22T10:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let next = StatusRecord::parse(text)
            .unwrap()
            .with_active(Shard::Green, now);
        assert_eq!(
            next.to_json(),
            r#"{"owner":"team-a","active_shard":"green","deployment_ts":"2026-11-22T10:00:00Z","deployed_shards":["blue","green"],"ticket":7}"#
        );
    }

    #[test]
    fn malformed_records_are_rejected_with_the_reason() {
        for (text, needle) in [
            ("[]", "expected a JSON object"),
            ("not json", "not valid JSON"),
            (r#"{"active_shard":"purple"}"#, "active_shard"),
            (r#"{"active_shard":3}"#, "active_shard"),
            (r#"{"deployed_shards":["blue","blue"]}"#, "listed twice"),
            (r#"{"deployed_shards":["red"]}"#, "deployed_shards"),
            (r#"{"deployed_shards":"blue"}"#, "expected an array"),
            (r#"{"deployment_ts":"yesterday"}"#, "RFC 3339"),
        ] {
            let err = StatusRecord::parse(text).unwrap_err();
            assert!(err.0.contains(needle), "{text}: {err}");
        }
    }

    #[test]
    fn dropping_a_shard_keeps_the_timestamp() {
        let text = r#"{"active_shard":"green","deployment_ts":"2026-03-10T19:19:53Z","deployed_shards":["blue","green"]}"#;
        let next = StatusRecord::parse(text)
            .unwrap()
            .without_deployed(Shard::Blue);
        assert_eq!(
            next.to_json(),
            r#"{"active_shard":"green","deployment_ts":"2026-03-10T19:19:53Z","deployed_shards":["green"]}"#
        );
    }
}
