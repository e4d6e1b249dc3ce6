//! The durable mark: one tag on a shard's ASG that tells a restarted controller its own in-flight
//! provision apart from somebody else's healthy shard.

use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};
use thiserror::Error;

use super::shard::Shard;

pub const MARK_TAG: &str = "switchyard/deployment";
/// ASG tag values are limited to 256 characters.
pub const MARK_MAX_LEN: usize = 256;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MarkState {
    Provisioning,
    Failed,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Mark {
    pub id: String,
    pub shard: Shard,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revision: Option<String>,
    /// The min/desired/max this attempt provisions. `required` for the shard while the attempt
    /// is in flight comes from here, not from whatever the ASG says now: a shard scaled down
    /// out of band is short of its attempt's capacity, not healthy at a smaller size. Absent
    /// only on marks written before the field existed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub capacity: Option<u32>,
    #[serde(with = "rfc3339_seconds")]
    pub started: DateTime<Utc>,
    pub state: MarkState,
}

#[derive(Debug, Clone, Error, PartialEq, Eq)]
#[error("mark tag {MARK_TAG} is unreadable: {0}")]
pub struct MarkError(pub String);

impl Mark {
    pub fn parse(text: &str) -> Result<Mark, MarkError> {
        serde_json::from_str(text).map_err(|e| MarkError(e.to_string()))
    }

    /// Compact JSON. Fails rather than write a tag AWS would reject.
    pub fn to_tag_value(&self) -> Result<String, MarkError> {
        let text = serde_json::to_string(self).map_err(|e| MarkError(e.to_string()))?;
        if text.len() > MARK_MAX_LEN {
            return Err(MarkError(format!(
                "{} characters, more than the {MARK_MAX_LEN} a tag may hold",
                text.len()
            )));
        }
        Ok(text)
    }

    /// Whether this mark is the deployment of exactly this shard and revision.
    pub fn is_for(&self, shard: Shard, revision: Option<&str>) -> bool {
        self.shard == shard && self.revision.as_deref() == revision
    }

    pub fn failed(&self) -> Mark {
        Mark {
            state: MarkState::Failed,
            ..self.clone()
        }
    }
}

mod rfc3339_seconds {
    use super::*;
    use serde::{Deserializer, Serializer};

    pub fn serialize<S: Serializer>(t: &DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&t.to_rfc3339_opts(SecondsFormat::Secs, true))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<DateTime<Utc>, D::Error> {
        let text = String::deserialize(d)?;
        DateTime::parse_from_rfc3339(&text)
            .map(|t| t.with_timezone(&Utc))
            .map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spec_example_round_trips() {
        let text = r#"{"id":"d-1","shard":"green","revision":"42","capacity":2,"started":"2026-11-22T10:00:00Z","state":"provisioning"}"#;
        let mark = Mark::parse(text).unwrap();
        assert_eq!(mark.state, MarkState::Provisioning);
        assert_eq!(mark.capacity, Some(2));
        assert!(mark.is_for(Shard::Green, Some("42")));
        assert!(!mark.is_for(Shard::Green, Some("43")));
        assert!(!mark.is_for(Shard::Green, None));
        assert_eq!(mark.to_tag_value().unwrap(), text);
    }

    #[test]
    fn an_oversized_mark_is_refused() {
        let mark = Mark {
            id: "x".repeat(300),
            shard: Shard::Blue,
            revision: None,
            capacity: Some(2),
            started: Utc::now(),
            state: MarkState::Failed,
        };
        assert!(mark.to_tag_value().unwrap_err().0.contains("256"));
    }

    #[test]
    fn a_mark_written_before_capacity_existed_still_reads() {
        let text =
            r#"{"id":"d-1","shard":"green","started":"2026-11-22T10:00:00Z","state":"failed"}"#;
        assert_eq!(Mark::parse(text).unwrap().capacity, None);
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        assert!(Mark::parse("{").is_err());
        assert!(Mark::parse(r#"{"id":"a","shard":"red"}"#).is_err());
    }
}
