//! `controller.leaderElection` (docs/high-availability.md): the keys as written, and their
//! validation.

use std::time::Duration;

use schemars::JsonSchema;
use serde::Deserialize;
use serde_saphyr::Spanned;

use super::error::ConfigProblem;
use super::raw::HumanDuration;
use super::{AwsSettings, CloudKind};
use crate::cloud::budget::DEFAULT_DYNAMODB;
use crate::lease::{DEFAULT_LEASE_NAME, LeaseSettings, Timing};

pub const DEFAULT_LEASE_DURATION: Duration = Duration::from_secs(15);
pub const DEFAULT_RENEW_INTERVAL: Duration = Duration::from_secs(5);
/// A holder that misses one renewal must still have a renew interval of lease left for the
/// mutation in flight: leaseDuration >= 3 x renewInterval.
pub const RENEWALS_PER_LEASE: u32 = 3;

/// Leader election: any number of replicas run, one holds the lease in a DynamoDB table and
/// mutates; the others observe and take over when it is not renewed.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RawLeaderElection {
    /// The DynamoDB table that holds the lease items.
    pub dynamodb: RawLeaseTable,
    /// One lease per set of runners (per desired-state file): several switchyards on
    /// disjoint runner sets each use their own.
    #[schemars(with = "Option<String>", extend("default" = DEFAULT_LEASE_NAME))]
    pub lease_name: Option<Spanned<String>>,
    /// How long a lease lasts without renewal; a standby takes over after seeing it unrenewed
    /// this long. At least 3 x renewInterval.
    #[schemars(with = "Option<HumanDuration>", extend("default" = "15s"))]
    pub lease_duration: Option<Spanned<HumanDuration>>,
    /// How often the holder renews the lease (and a standby looks at it).
    #[schemars(with = "Option<HumanDuration>", extend("default" = "5s"))]
    pub renew_interval: Option<Spanned<HumanDuration>>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RawLeaseTable {
    /// Table name; its key is the string attribute `leaseName`.
    #[schemars(with = "String")]
    pub table: Spanned<String>,
    /// Defaults to controller.aws.region.
    #[schemars(with = "Option<String>")]
    pub region: Option<Spanned<String>>,
    /// A local DynamoDB-compatible endpoint, for tests.
    #[schemars(with = "Option<String>")]
    pub endpoint_url: Option<Spanned<String>>,
}

fn line_of<T>(s: &Spanned<T>) -> Option<usize> {
    let line = s.referenced.line() as usize;
    (line > 0).then_some(line)
}

const AT: &str = "controller.leaderElection";

/// The settings, or the problems found (every one, each with its key path).
pub fn resolve(
    raw: &RawLeaderElection,
    cloud: CloudKind,
    aws: Option<&AwsSettings>,
    problems: &mut Vec<ConfigProblem>,
) -> Option<LeaseSettings> {
    let before = problems.len();
    let mut problem = |key: &str, line: Option<usize>, message: String| {
        problems.push(ConfigProblem::new(format!("{AT}{key}"), line, message));
    };
    let table_line = line_of(&raw.dynamodb.table);
    if cloud != CloudKind::Aws {
        problem(
            "",
            table_line,
            "requires `cloud: aws`: a simulated world lives inside one process, so replicas \
             would not share it"
                .to_owned(),
        );
    }
    let table = raw.dynamodb.table.value.trim().to_owned();
    let valid_table = (3..=255).contains(&table.len())
        && table
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'));
    if !valid_table {
        problem(
            ".dynamodb.table",
            table_line,
            format!(
                "{table:?} is not a DynamoDB table name: 3 to 255 letters, digits, '_', '-' or '.'"
            ),
        );
    }
    let region = match &raw.dynamodb.region {
        Some(r) if r.value.trim().is_empty() => {
            problem(
                ".dynamodb.region",
                line_of(r),
                "must not be empty".to_owned(),
            );
            String::new()
        }
        Some(r) => r.value.trim().to_owned(),
        None => aws.map(|a| a.region.clone()).unwrap_or_default(),
    };
    let endpoint_url = raw.dynamodb.endpoint_url.as_ref().map(|url| {
        let text = url.value.trim();
        if !(text.starts_with("http://") || text.starts_with("https://"))
            || text.len() <= "https://".len()
        {
            problem(
                ".dynamodb.endpointUrl",
                line_of(url),
                format!("{text:?} is not an http:// or https:// URL"),
            );
        }
        text.to_owned()
    });
    let lease_name = match &raw.lease_name {
        None => DEFAULT_LEASE_NAME.to_owned(),
        Some(name) => {
            let text = name.value.trim();
            if text.is_empty() || text.len() > 255 || text.chars().any(char::is_whitespace) {
                problem(
                    ".leaseName",
                    line_of(name),
                    format!("{text:?} must be 1 to 255 characters without whitespace"),
                );
            }
            text.to_owned()
        }
    };
    let mut duration =
        |key: &str, raw: &Option<Spanned<HumanDuration>>, default: Duration| match raw {
            None => (default, None),
            Some(d) if d.value.0.is_zero() => {
                problem(key, line_of(d), "must be longer than zero".to_owned());
                (default, line_of(d))
            }
            Some(d) => (d.value.0, line_of(d)),
        };
    let (lease_duration, duration_line) = duration(
        ".leaseDuration",
        &raw.lease_duration,
        DEFAULT_LEASE_DURATION,
    );
    let (renew_interval, renew_line) = duration(
        ".renewInterval",
        &raw.renew_interval,
        DEFAULT_RENEW_INTERVAL,
    );
    if lease_duration < renew_interval * RENEWALS_PER_LEASE {
        problem(
            ".leaseDuration",
            duration_line.or(renew_line),
            format!(
                "{} is shorter than {RENEWALS_PER_LEASE} x renewInterval ({}): a holder that \
                 misses one renewal must still have leaseDuration - 2 x renewInterval left for \
                 the mutation in flight",
                humantime::format_duration(lease_duration),
                humantime::format_duration(renew_interval * RENEWALS_PER_LEASE),
            ),
        );
    }
    (problems.len() == before).then_some(LeaseSettings {
        table,
        region,
        endpoint_url,
        lease_name,
        timing: Timing {
            lease_duration,
            renew_interval,
        },
        max_requests_per_second: aws
            .map_or(DEFAULT_DYNAMODB, |a| a.max_requests_per_second.dynamodb),
    })
}

#[cfg(test)]
mod tests {
    use std::path::Path;
    use std::time::Duration;

    use crate::config::{Config, ConfigProblem, parse, restart_only_change};
    use crate::lease::{LeaseSettings, Timing};

    fn file(leader_election: &str) -> String {
        let mut text = "controller:
  cloud: aws
  aws:
    region: eu-west-1
    expectedAccountId: \"123456789012\"
"
        .to_owned();
        if !leader_election.is_empty() {
            text.push_str("  leaderElection:\n");
            for line in leader_election.lines().filter(|l| !l.trim().is_empty()) {
                text.push_str("    ");
                text.push_str(line);
                text.push('\n');
            }
        }
        text
    }

    fn ok(text: &str) -> Config {
        parse(text, Path::new("test.yaml")).unwrap_or_else(|e| panic!("{e}\n---\n{text}"))
    }

    fn problems(text: &str) -> Vec<ConfigProblem> {
        parse(text, Path::new("test.yaml"))
            .err()
            .unwrap_or_else(|| panic!("expected problems in:\n{text}"))
            .problems
    }

    #[test]
    fn the_spec_example_loads_as_written() {
        let config = ok(&file(
            "dynamodb: { table: switchyard-leases, region: us-east-1, endpointUrl: http://127.0.0.1:5000 }
leaseName: switchyard
leaseDuration: 15s
renewInterval: 5s",
        ));
        assert_eq!(
            config.controller.leader_election,
            Some(LeaseSettings {
                table: "switchyard-leases".into(),
                region: "us-east-1".into(),
                endpoint_url: Some("http://127.0.0.1:5000".into()),
                lease_name: "switchyard".into(),
                timing: Timing {
                    lease_duration: Duration::from_secs(15),
                    renew_interval: Duration::from_secs(5),
                },
                max_requests_per_second: 10,
            })
        );
    }

    #[test]
    fn only_the_table_is_required_and_the_region_follows_controller_aws() {
        let config = ok(&file("dynamodb: { table: leases }"));
        let le = config.controller.leader_election.unwrap();
        assert_eq!(
            (le.region.as_str(), le.lease_name.as_str()),
            ("eu-west-1", "switchyard")
        );
        assert_eq!(le.endpoint_url, None);
        assert_eq!(le.timing.lease_duration, Duration::from_secs(15));
        assert_eq!(le.timing.renew_interval, Duration::from_secs(5));
        assert_eq!(le.timing.mutation_timeout(), Duration::from_secs(5));
        assert_eq!(ok(&file("")).controller.leader_election, None);
    }

    #[test]
    fn every_problem_names_its_key_path_and_line() {
        let found = problems(&file(
            "dynamodb: { table: \"no spaces\", region: \" \", endpointUrl: ftp://x }
leaseName: \"a b\"
leaseDuration: 10s
renewInterval: 5s",
        ));
        let at = |path: &str| {
            found
                .iter()
                .find(|p| p.path == path)
                .unwrap_or_else(|| panic!("no problem at {path}: {found:#?}"))
        };
        assert!(
            at("controller.leaderElection.dynamodb.table")
                .message
                .contains("table name")
        );
        assert_eq!(at("controller.leaderElection.dynamodb.table").line, Some(7));
        assert!(
            at("controller.leaderElection.dynamodb.region")
                .message
                .contains("empty")
        );
        assert!(
            at("controller.leaderElection.dynamodb.endpointUrl")
                .message
                .contains("URL")
        );
        assert!(
            at("controller.leaderElection.leaseName")
                .message
                .contains("whitespace")
        );
        let short = at("controller.leaderElection.leaseDuration");
        assert_eq!(short.line, Some(9));
        assert!(
            short.message.contains("3 x renewInterval (15s)"),
            "{}",
            short.message
        );
        assert_eq!(found.len(), 5, "{found:#?}");
    }

    #[test]
    fn zero_durations_unknown_keys_and_the_simulated_cloud_are_refused() {
        let zero = problems(&file("dynamodb: { table: leases }\nrenewInterval: 0s"));
        assert!(
            zero.iter()
                .any(|p| p.path == "controller.leaderElection.renewInterval"
                    && p.message.contains("longer than zero")),
            "{zero:#?}"
        );
        let unknown = problems(&file(
            "dynamodb: { table: leases }\nleaseDurationSeconds: 15",
        ));
        assert!(
            unknown[0].message.contains("leaseDurationSeconds"),
            "{unknown:#?}"
        );
        let sim = problems(
            "controller:
  cloud: simulated
  leaderElection:
    dynamodb: { table: leases, region: us-east-1 }
",
        );
        assert_eq!(sim[0].path, "controller.leaderElection");
        assert!(sim[0].message.contains("cloud: aws"), "{sim:#?}");
    }

    #[test]
    fn changing_leader_election_needs_a_restart() {
        let old = ok(&file("dynamodb: { table: leases }"));
        let new = ok(&file("dynamodb: { table: leases }\nleaseName: other"));
        let why = restart_only_change(&old, &new).expect("a restart-only change");
        assert!(why.contains("controller.leaderElection"), "{why}");
        assert_eq!(restart_only_change(&old, &old), None);
    }
}
