//! The two text formats of `/metrics`. prometheus-client writes only OpenMetrics, which
//! Prometheus asks for by name; everything else that reads `/metrics` (curl, `promtool check
//! metrics`, older agents) expects the classic Prometheus text format 0.0.4, as client_golang's
//! handler serves it when OpenMetrics is not requested.
//!
//! For what switchyard exports the formats differ only in their metadata: a counter family is
//! named without `_total` in OpenMetrics and with it in 0.0.4; OpenMetrics has `# UNIT` lines,
//! calls untyped families `unknown`, and ends with `# EOF`. Samples are the same lines in both.
//! (`promtool check metrics` on the daemon's output, in the alerting end-to-end test, keeps this
//! honest as families are added.)

pub const OPENMETRICS_CONTENT_TYPE: &str =
    "application/openmetrics-text; version=1.0.0; charset=utf-8";
pub const TEXT_CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Whether a request's `Accept` header asks for OpenMetrics.
pub fn wants_openmetrics(accept: Option<&str>) -> bool {
    accept.is_some_and(|accept| {
        accept.split(',').any(|range| {
            let mut params = range.split(';').map(str::trim);
            let media = params.next().unwrap_or_default();
            // `q=0` means "not acceptable" (RFC 9110 §12.4.2).
            media.eq_ignore_ascii_case("application/openmetrics-text")
                && !params.any(|p| p.replace(' ', "").eq_ignore_ascii_case("q=0"))
        })
    })
}

/// Rewrites prometheus-client's OpenMetrics exposition in the Prometheus text format 0.0.4.
pub fn openmetrics_to_text(openmetrics: &str) -> String {
    let mut counters = std::collections::HashSet::new();
    for line in openmetrics.lines() {
        if let Some(rest) = line.strip_prefix("# TYPE ")
            && let Some((name, "counter")) = rest.split_once(' ')
        {
            counters.insert(name);
        }
    }
    let mut out = String::with_capacity(openmetrics.len());
    for line in openmetrics.lines() {
        if line == "# EOF" || line.starts_with("# UNIT ") {
            continue;
        }
        let metadata = line
            .strip_prefix("# HELP ")
            .map(|rest| ("HELP", rest))
            .or_else(|| line.strip_prefix("# TYPE ").map(|rest| ("TYPE", rest)));
        match metadata {
            Some((kind, rest)) => {
                let (name, text) = rest.split_once(' ').unwrap_or((rest, ""));
                let suffix = if counters.contains(name) {
                    "_total"
                } else {
                    ""
                };
                let text = if kind == "TYPE" && text == "unknown" {
                    "untyped"
                } else {
                    text
                };
                out.push_str(&format!("# {kind} {name}{suffix} {text}\n"));
            }
            None => {
                out.push_str(line);
                out.push('\n');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_are_named_with_total_and_openmetrics_only_lines_go() {
        let openmetrics = "# HELP app_requests Requests by outcome.\n\
                           # TYPE app_requests counter\n\
                           app_requests_total{outcome=\"ok\"} 3\n\
                           # HELP app_latency_seconds Latency.\n\
                           # TYPE app_latency_seconds histogram\n\
                           # UNIT app_latency_seconds seconds\n\
                           app_latency_seconds_sum 0.5\n\
                           app_latency_seconds_count 1\n\
                           app_latency_seconds_bucket{le=\"+Inf\"} 1\n\
                           # HELP app_up Up.\n\
                           # TYPE app_up gauge\n\
                           app_up 1\n\
                           # HELP app_thing Thing.\n\
                           # TYPE app_thing unknown\n\
                           app_thing 2\n\
                           # EOF\n";
        assert_eq!(
            openmetrics_to_text(openmetrics),
            "# HELP app_requests_total Requests by outcome.\n\
             # TYPE app_requests_total counter\n\
             app_requests_total{outcome=\"ok\"} 3\n\
             # HELP app_latency_seconds Latency.\n\
             # TYPE app_latency_seconds histogram\n\
             app_latency_seconds_sum 0.5\n\
             app_latency_seconds_count 1\n\
             app_latency_seconds_bucket{le=\"+Inf\"} 1\n\
             # HELP app_up Up.\n\
             # TYPE app_up gauge\n\
             app_up 1\n\
             # HELP app_thing Thing.\n\
             # TYPE app_thing untyped\n\
             app_thing 2\n"
        );
    }

    #[test]
    fn openmetrics_only_when_asked_for() {
        // What Prometheus 2.x sends.
        assert!(wants_openmetrics(Some(
            "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1"
        )));
        assert!(wants_openmetrics(Some(
            "Application/OpenMetrics-Text; version=1.0.0"
        )));
        for accept in [
            None,
            Some("*/*"),
            Some("text/plain;version=0.0.4"),
            Some("application/openmetrics-text; q=0, text/plain"),
        ] {
            assert!(!wants_openmetrics(accept), "{accept:?}");
        }
    }
}
