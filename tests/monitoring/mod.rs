//! What the alerting tests share: where the shipped rules, their promtool tests, the dashboard
//! and the alert docs live; promtool; the dashboard's queries made concrete; and, for the end to
//! end test, Debian's Prometheus and Alertmanager on loopback with a webhook receiver.

#![allow(dead_code)] // each test binary uses its own part

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;

pub const RULES: &str = "charts/switchyard/files/switchyard.rules.yaml";
pub const RULES_TESTS: &str = "deploy/prometheus/switchyard.rules.test.yaml";
pub const DASHBOARD: &str = "charts/switchyard/files/switchyard-dashboard.json";
pub const ALERT_DOCS: &str = "docs/alerts.md";
/// Where every `runbook_url` points (docs/alerts.md says how to point it elsewhere).
pub const RUNBOOK_BASE: &str = "https://github.com/switchyard/switchyard/blob/main/docs/alerts.md";

pub fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

pub fn read(relative: &str) -> String {
    let path = repo().join(relative);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
}

pub fn yaml(relative: &str) -> Value {
    serde_saphyr::from_str(&read(relative)).unwrap_or_else(|e| panic!("{relative}: {e}"))
}

/// One alerting rule of the shipped rules file.
#[derive(Debug, Clone)]
pub struct Alert {
    pub name: String,
    pub expr: String,
    /// As written (`1m`), `None` when the rule has no `for:`.
    pub for_: Option<String>,
    pub labels: serde_json::Map<String, Value>,
    pub annotations: serde_json::Map<String, Value>,
}

pub fn alerts() -> Vec<Alert> {
    let rules = yaml(RULES);
    let mut alerts = Vec::new();
    for group in rules["groups"].as_array().expect("groups") {
        for rule in group["rules"].as_array().expect("rules") {
            let Some(name) = rule["alert"].as_str() else {
                continue;
            };
            let text = |key: &str| rule[key].as_str().map(str::to_string);
            let map = |key: &str| rule[key].as_object().cloned().unwrap_or_default();
            alerts.push(Alert {
                name: name.to_string(),
                expr: text("expr").unwrap_or_else(|| panic!("{name}: no expr")),
                for_: text("for"),
                labels: map("labels"),
                annotations: map("annotations"),
            });
        }
    }
    alerts
}

/// A program from Debian's `prometheus` or `prometheus-alertmanager` package.
pub fn tool(name: &str) -> PathBuf {
    std::env::var_os("PATH")
        .iter()
        .flat_map(std::env::split_paths)
        .map(|dir| dir.join(name))
        .find(|path| path.is_file())
        .unwrap_or_else(|| {
            panic!(
                "{name} is not on PATH: install Debian's prometheus and prometheus-alertmanager \
                 packages (apt-get install prometheus prometheus-alertmanager; .ci/run does)"
            )
        })
}

/// Runs promtool with `stdin` fed in; its output, whatever the exit code.
pub fn promtool(args: &[&str], stdin: &str) -> Output {
    let mut child = Command::new(tool("promtool"))
        .args(args)
        .current_dir(repo())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start promtool");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .expect("write to promtool");
    child.wait_with_output().expect("run promtool")
}

pub fn printed(out: &Output) -> String {
    format!(
        "exit {:?}\n--- stdout\n{}--- stderr\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// One query of the dashboard, with Grafana's variables replaced so that Prometheus can run it.
#[derive(Debug, Clone)]
pub struct Query {
    /// Which panel and target (or variable) it comes from, for messages.
    pub place: String,
    pub expr: String,
}

/// What Grafana would put in place of its variables: every job and runner, rate windows of a
/// minute, and a dashboard range of an hour.
fn concrete(expr: &str) -> String {
    let expr = [
        ("$__rate_interval", "1m"),
        ("$__range", "1h"),
        ("$job", ".+"),
        ("$runner", ".+"),
    ]
    .iter()
    .fold(expr.to_string(), |e, (var, value)| e.replace(var, value));
    assert!(
        !expr.contains('$'),
        "a dashboard query uses a variable the checks do not know: {expr}"
    );
    expr
}

/// Every query of the dashboard: each panel's targets, and each query variable's series
/// selector (`label_values(<selector>, <label>)`).
pub fn dashboard_queries() -> Vec<Query> {
    let dashboard: Value = serde_json::from_str(&read(DASHBOARD)).expect("dashboard JSON");
    let mut queries = Vec::new();
    let mut panels: Vec<&Value> = dashboard["panels"]
        .as_array()
        .expect("panels")
        .iter()
        .collect();
    while let Some(panel) = panels.pop() {
        if let Some(nested) = panel["panels"].as_array() {
            panels.extend(nested);
        }
        if panel["type"] == "row" {
            continue;
        }
        let title = panel["title"].as_str().unwrap_or("(untitled)");
        let targets = panel["targets"].as_array();
        assert!(
            targets.is_some_and(|t| !t.is_empty()),
            "panel {title:?} has no query"
        );
        for target in targets.unwrap() {
            let expr = target["expr"]
                .as_str()
                .unwrap_or_else(|| panic!("panel {title:?}: a target without expr"));
            queries.push(Query {
                place: format!("panel {title:?} target {}", target["refId"]),
                expr: concrete(expr),
            });
        }
    }
    for variable in dashboard["templating"]["list"]
        .as_array()
        .expect("templating")
    {
        if variable["type"] != "query" {
            continue;
        }
        let query = variable["query"].as_str().expect("a variable's query");
        let selector = query
            .strip_prefix("label_values(")
            .and_then(|rest| rest.rsplit_once(','))
            .map(|(selector, _label)| selector.trim())
            .unwrap_or_else(|| panic!("variable query not of the form label_values(..): {query}"));
        queries.push(Query {
            place: format!("variable {}", variable["name"]),
            expr: concrete(selector),
        });
    }
    queries
}

/// The `switchyard_*` metric names that `text` (a PromQL expression or a rule file) mentions.
pub fn metric_names(text: &str) -> Vec<String> {
    let mut names = Vec::new();
    let mut rest = text;
    while let Some(at) = rest.find("switchyard_") {
        let before = rest[..at].chars().last();
        let tail = &rest[at..];
        let end = tail
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(tail.len());
        // Part of another word (a URL, a file name) is not a metric.
        if !before.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_' || c == '/' || c == '.') {
            names.push(tail[..end].to_string());
        }
        rest = &tail[end..];
    }
    names.sort();
    names.dedup();
    names
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// One GET on loopback: the status code and the body. HTTP/1.0, so that the answer comes
/// whole (never chunked) and the connection closes after it.
pub fn get(port: u16, path: &str) -> std::io::Result<(u16, String)> {
    let mut stream = TcpStream::connect(("127.0.0.1", port))?;
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    write!(stream, "GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")?;
    let mut response = Vec::new();
    stream.read_to_end(&mut response)?;
    let response = String::from_utf8_lossy(&response);
    let (head, body) = response.split_once("\r\n\r\n").unwrap_or((&response, ""));
    let code = head
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    Ok((code, body.to_string()))
}

pub fn percent_encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Polls `probe` every 100 ms until it gives a value, or fails naming `what` at `timeout`,
/// with `context` (logs, what was received) in the message.
pub async fn wait_until<T>(
    what: &str,
    timeout: Duration,
    mut probe: impl FnMut() -> Option<T>,
    context: impl Fn() -> String,
) -> T {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(value) = probe() {
            return value;
        }
        assert!(
            Instant::now() < deadline,
            "timed out after {timeout:?} waiting for {what}\n{}",
            context()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A server process run by a small shell wrapper that stops it when the wrapper's stdin
/// closes: when this value is dropped, and also when the test binary dies however it dies.
pub struct Service {
    name: String,
    lifeline: Option<ChildStdin>,
    wrapper: Child,
    pub log: PathBuf,
}

impl Service {
    pub fn start(name: &str, program: &Path, args: &[String], log: PathBuf) -> Service {
        let mut wrapper = Command::new("bash")
            .arg("-c")
            .arg(
                r#"log="$1"; shift; "$@" >"$log" 2>&1 & pid=$!
                   read -r _; kill "$pid" 2>/dev/null; wait "$pid""#,
            )
            .arg("wrapper")
            .arg(&log)
            .arg(program)
            .args(args)
            .stdin(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("start {name}: {e}"));
        let lifeline = wrapper.stdin.take();
        Service {
            name: name.to_string(),
            lifeline,
            wrapper,
            log,
        }
    }

    pub fn log(&self) -> String {
        format!(
            "--- {} log ({})\n{}",
            self.name,
            self.log.display(),
            std::fs::read_to_string(&self.log).unwrap_or_default()
        )
    }

    pub fn is_running(&mut self) -> bool {
        matches!(self.wrapper.try_wait(), Ok(None))
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        drop(self.lifeline.take());
        let deadline = Instant::now() + Duration::from_secs(20);
        while matches!(self.wrapper.try_wait(), Ok(None)) {
            if Instant::now() > deadline {
                let _ = self.wrapper.kill();
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

/// Writes `config` into `dir`, starts `program` (given the config's path and a free port) with
/// its log in `dir`, and waits until it answers `/-/ready`.
fn launch(
    dir: &Path,
    program: &str,
    config: String,
    args: impl FnOnce(&Path, u16) -> Vec<String>,
) -> (u16, Service) {
    let path = dir.join(format!("{program}.yml"));
    std::fs::write(&path, config).unwrap();
    let port = free_port();
    let mut service = Service::start(
        program,
        &tool(program),
        &args(&path, port),
        dir.join(format!("{program}.log")),
    );
    wait_ready(&mut service, port);
    (port, service)
}

fn wait_ready(service: &mut Service, port: u16) {
    let name = service.name.clone();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Ok((200, _)) = get(port, "/-/ready") {
            return;
        }
        assert!(
            service.is_running(),
            "{name} exited at start-up\n{}",
            service.log()
        );
        assert!(
            Instant::now() < deadline,
            "{name} not ready after 60 s\n{}",
            service.log()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Debian's Prometheus on a free loopback port, scraping one target as job `switchyard` every
/// second, evaluating `rules` every second and sending alerts to an Alertmanager.
pub struct Prometheus {
    pub port: u16,
    service: Service,
}

impl Prometheus {
    pub fn start(dir: &Path, rules: &Path, target: &str, alertmanager_port: u16) -> Prometheus {
        let config = format!(
            "global:
  scrape_interval: 1s
  evaluation_interval: 1s
alerting:
  alertmanagers:
    - static_configs:
        - targets: ['127.0.0.1:{alertmanager_port}']
rule_files:
  - {rules}
scrape_configs:
  - job_name: switchyard
    static_configs:
      - targets: ['{target}']
",
            rules = rules.display()
        );
        let data = dir.join("prometheus-data");
        let (port, service) = launch(dir, "prometheus", config, |config, port| {
            vec![
                format!("--config.file={}", config.display()),
                format!("--storage.tsdb.path={}", data.display()),
                format!("--web.listen-address=127.0.0.1:{port}"),
                // Firing alerts are re-sent every second, not every minute.
                "--rules.alert.resend-delay=1s".to_string(),
            ]
        });
        Prometheus { port, service }
    }

    pub fn log(&self) -> String {
        self.service.log()
    }

    fn api(&self, path: &str) -> Value {
        let (code, body) =
            get(self.port, path).unwrap_or_else(|e| panic!("Prometheus {path}: {e}"));
        let answer: Value = serde_json::from_str(&body)
            .unwrap_or_else(|e| panic!("Prometheus {path}: {e}: {body}"));
        assert!(
            code == 200 && answer["status"] == "success",
            "Prometheus {path}: {code} {body}"
        );
        answer["data"].clone()
    }

    /// An instant query's result vector (or scalar, as one element).
    pub fn query(&self, expr: &str) -> Vec<Value> {
        let data = self.api(&format!("/api/v1/query?query={}", percent_encode(expr)));
        match &data["result"] {
            Value::Array(series) => series.clone(),
            other => vec![other.clone()],
        }
    }

    /// The alerts Prometheus holds now, pending and firing.
    pub fn alerts(&self) -> Vec<Value> {
        self.api("/api/v1/alerts")["alerts"]
            .as_array()
            .cloned()
            .unwrap_or_default()
    }
}

/// Debian's Alertmanager on a free loopback port (no cluster port), sending every alert on its
/// own, at once and again on resolution, to one webhook.
pub struct Alertmanager {
    pub port: u16,
    service: Service,
}

impl Alertmanager {
    pub fn start(dir: &Path, webhook_port: u16) -> Alertmanager {
        let config = format!(
            "route:
  receiver: webhook
  group_by: ['...']
  group_wait: 1s
  group_interval: 1s
  repeat_interval: 1h
receivers:
  - name: webhook
    webhook_configs:
      - url: http://127.0.0.1:{webhook_port}/
        send_resolved: true
"
        );
        let data = dir.join("alertmanager-data");
        let (port, service) = launch(dir, "prometheus-alertmanager", config, |config, port| {
            vec![
                format!("--config.file={}", config.display()),
                format!("--storage.path={}", data.display()),
                format!("--web.listen-address=127.0.0.1:{port}"),
                // No gossip: nothing binds the default cluster port 9094.
                "--cluster.listen-address=".to_string(),
            ]
        });
        Alertmanager { port, service }
    }

    pub fn log(&self) -> String {
        self.service.log()
    }
}

/// One webhook call from Alertmanager, as received.
#[derive(Debug, Clone)]
pub struct Notification {
    pub at: Instant,
    pub body: Value,
}

impl Notification {
    pub fn alerts(&self) -> impl Iterator<Item = &Value> {
        self.body["alerts"].as_array().into_iter().flatten()
    }
}

/// The receiving end of Alertmanager's webhook: a loopback HTTP server that keeps every JSON body
/// it is sent, with the time it arrived.
pub struct Webhook {
    pub port: u16,
    received: Arc<Mutex<Vec<Notification>>>,
}

impl Webhook {
    pub fn start() -> Webhook {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let received = Arc::new(Mutex::new(Vec::new()));
        let sink = Arc::clone(&received);
        // Lives as long as the test binary; a call in progress at exit is of no interest.
        std::thread::spawn(move || {
            for stream in listener.incoming().map_while(Result::ok) {
                if let Some(body) = receive(stream) {
                    sink.lock().unwrap().push(Notification {
                        at: Instant::now(),
                        body,
                    });
                }
            }
        });
        Webhook { port, received }
    }

    pub fn received(&self) -> Vec<Notification> {
        self.received.lock().unwrap().clone()
    }
}

/// Reads one request and answers 200; its body as JSON, if it is JSON.
fn receive(stream: TcpStream) -> Option<Value> {
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .ok()?;
    let mut reader = BufReader::new(stream);
    let mut length = 0;
    loop {
        let mut line = String::new();
        reader.read_line(&mut line).ok()?;
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        if let Some((name, value)) = line.split_once(':')
            && name.eq_ignore_ascii_case("content-length")
        {
            length = value.trim().parse().ok()?;
        }
    }
    let mut body = vec![0; length];
    reader.read_exact(&mut body).ok()?;
    let mut stream = reader.into_inner();
    stream
        .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
        .ok()?;
    serde_json::from_slice(&body).ok()
}
