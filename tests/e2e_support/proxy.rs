//! A TCP proxy on loopback in front of moto's server. It forwards every HTTP/1.1 request as it
//! came (each on a fresh upstream connection) and records it, in order, by AWS operation name.
//! It can hold the answer to the first call of one chosen operation: moto has received and
//! applied that request, but the client hears nothing until it gives up (closes the
//! connection) or `MAX_HOLD` passes. That is the "lost answer" of a mutation: applied, outcome
//! unknown to the caller.
//!
//! The proxy runs on its own thread and runtime, so that a test blocking its own thread (waiting
//! for a child process) never stalls it.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// A held answer is let go after this even if the client still waits: it bounds a test whose
/// client never gives up.
pub const MAX_HOLD: Duration = Duration::from_secs(30);

/// One request the proxy forwarded to moto.
#[derive(Debug, Clone)]
pub struct Forwarded {
    /// The AWS operation: from `X-Amz-Target` (JSON protocols) or the form's `Action` (query).
    pub operation: String,
    /// When the whole request had arrived, since the proxy started.
    pub at: Duration,
    pub body: String,
}

impl Forwarded {
    /// Reads change nothing: every AWS read of ours is a Get* or a Describe*.
    pub fn is_read(&self) -> bool {
        self.operation.starts_with("Get") || self.operation.starts_with("Describe")
    }
}

/// The answer the proxy held.
#[derive(Debug, Clone)]
pub struct Held {
    /// Its request's index in the log.
    pub index: usize,
    pub operation: String,
    /// From the moment moto's answer was in hand until the client closed the connection (or
    /// `MAX_HOLD`).
    pub held_for: Duration,
    /// The client closed the connection; false when `MAX_HOLD` ran out first.
    pub client_gave_up: bool,
    /// When the hold ended, since the proxy started.
    pub ended_at: Duration,
}

#[derive(Default)]
struct State {
    log: Vec<Forwarded>,
    held: Vec<Held>,
    /// The operation whose first answer is still to be held.
    hold: Option<String>,
}

pub struct Proxy {
    pub endpoint: String,
    state: Arc<Mutex<State>>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Proxy {
    /// Starts a proxy to `upstream` (`http://host:port`) that holds the answer to the first
    /// call of `hold`, if given.
    pub fn start(upstream: &str, hold: Option<&str>) -> Proxy {
        let upstream = upstream
            .strip_prefix("http://")
            .unwrap_or_else(|| panic!("{upstream} is not an http:// endpoint"))
            .to_string();
        let state = Arc::new(Mutex::new(State {
            hold: hold.map(str::to_string),
            ..State::default()
        }));
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind the proxy");
        listener.set_nonblocking(true).unwrap();
        let endpoint = format!("http://{}", listener.local_addr().unwrap());
        let (stop, stopped) = tokio::sync::oneshot::channel();
        let thread = {
            let state = Arc::clone(&state);
            std::thread::spawn(move || {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .unwrap();
                runtime.block_on(async move {
                    let listener = TcpListener::from_std(listener).unwrap();
                    let started = Instant::now();
                    tokio::select! {
                        _ = stopped => {}
                        _ = accept(listener, upstream, state, started) => {}
                    }
                });
            })
        };
        Proxy {
            endpoint,
            state,
            stop: Some(stop),
            thread: Some(thread),
        }
    }

    /// Every request forwarded so far, in the order they arrived.
    pub fn log(&self) -> Vec<Forwarded> {
        self.state.lock().unwrap().log.clone()
    }

    pub fn held(&self) -> Vec<Held> {
        self.state.lock().unwrap().held.clone()
    }

    /// The log as one line per request, for failure messages and the test's output.
    pub fn describe(&self) -> String {
        let state = self.state.lock().unwrap();
        let mut lines: Vec<String> = state
            .log
            .iter()
            .enumerate()
            .map(|(i, f)| format!("{i:>4} {:>9.3}s {}", f.at.as_secs_f64(), f.operation))
            .collect();
        for h in &state.held {
            lines.push(format!(
                "held #{} {} for {:.3}s (client gave up: {})",
                h.index,
                h.operation,
                h.held_for.as_secs_f64(),
                h.client_gave_up
            ));
        }
        lines.join("\n")
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

async fn accept(
    listener: TcpListener,
    upstream: String,
    state: Arc<Mutex<State>>,
    started: Instant,
) {
    loop {
        let Ok((client, _)) = listener.accept().await else {
            continue;
        };
        let (upstream, state) = (upstream.clone(), Arc::clone(&state));
        tokio::spawn(async move {
            if let Err(e) = serve(client, &upstream, &state, started).await {
                eprintln!("proxy: {e}");
            }
        });
    }
}

/// Serves one client connection, request after request (HTTP keep-alive).
async fn serve(
    mut client: TcpStream,
    upstream: &str,
    state: &Mutex<State>,
    started: Instant,
) -> std::io::Result<()> {
    let mut buffered = Vec::new();
    loop {
        let Some(request) = read_message(&mut client, &mut buffered, Kind::Request).await? else {
            return Ok(());
        };
        let operation = operation_of(&request);
        let (index, hold) = {
            let mut state = state.lock().unwrap();
            state.log.push(Forwarded {
                operation: operation.clone(),
                at: started.elapsed(),
                body: String::from_utf8_lossy(request.body()).into_owned(),
            });
            let hold = state.hold.as_deref() == Some(operation.as_str());
            if hold {
                state.hold = None;
            }
            (state.log.len() - 1, hold)
        };
        let mut moto = TcpStream::connect(upstream).await?;
        moto.write_all(&request.bytes).await?;
        let response = read_message(&mut moto, &mut Vec::new(), Kind::Response)
            .await?
            .ok_or_else(|| std::io::Error::other(format!("moto closed on {operation}")))?;
        if hold {
            let since = Instant::now();
            let client_gave_up = tokio::time::timeout(MAX_HOLD, closed(&mut client))
                .await
                .is_ok();
            state.lock().unwrap().held.push(Held {
                index,
                operation,
                held_for: since.elapsed(),
                client_gave_up,
                ended_at: started.elapsed(),
            });
            // Too late for a client that gave up; the write fails quietly then.
            let _ = client.write_all(&response.bytes).await;
            return Ok(());
        }
        client.write_all(&response.bytes).await?;
        if response.closes {
            return Ok(());
        }
    }
}

/// Resolves once the peer has closed its side (or the connection failed).
async fn closed(stream: &mut TcpStream) {
    let mut buf = [0u8; 1024];
    while let Ok(n) = stream.read(&mut buf).await {
        if n == 0 {
            return;
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Request,
    Response,
}

/// One HTTP/1.1 message as it was on the wire.
struct Message {
    bytes: Vec<u8>,
    head_len: usize,
    headers: Vec<(String, String)>,
    /// A response that ends with the connection (no length, or `Connection: close`).
    closes: bool,
}

impl Message {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    fn body(&self) -> &[u8] {
        &self.bytes[self.head_len..]
    }
}

/// Reads one message: the head, then a body framed by Content-Length or chunked encoding (or,
/// for a response with neither, by the end of the connection). `buffered` carries bytes read
/// past the message to the next call. `None` when the peer closed before a new message began.
async fn read_message<S: AsyncRead + Unpin>(
    stream: &mut S,
    buffered: &mut Vec<u8>,
    kind: Kind,
) -> std::io::Result<Option<Message>> {
    let mut bytes = std::mem::take(buffered);
    let head_len = loop {
        if let Some(i) = find(&bytes, b"\r\n\r\n") {
            break i + 4;
        }
        if fill(stream, &mut bytes).await? == 0 {
            if bytes.is_empty() {
                return Ok(None);
            }
            return Err(std::io::Error::other(format!(
                "{kind:?} ended inside its head: {:?}",
                String::from_utf8_lossy(&bytes)
            )));
        }
    };
    let head = String::from_utf8_lossy(&bytes[..head_len]).into_owned();
    let headers: Vec<(String, String)> = head
        .split("\r\n")
        .skip(1)
        .filter_map(|line| line.split_once(':'))
        .map(|(n, v)| (n.trim().to_string(), v.trim().to_string()))
        .collect();
    let mut message = Message {
        bytes,
        head_len,
        headers,
        closes: false,
    };
    let chunked = message
        .header("transfer-encoding")
        .is_some_and(|v| v.eq_ignore_ascii_case("chunked"));
    let length = message
        .header("content-length")
        .map(|v| v.parse::<usize>().expect("a numeric Content-Length"));
    message.closes = kind == Kind::Response
        && message
            .header("connection")
            .is_some_and(|v| v.eq_ignore_ascii_case("close"));
    let end = if let Some(length) = length {
        while message.bytes.len() < head_len + length {
            if fill(stream, &mut message.bytes).await? == 0 {
                return Err(std::io::Error::other(format!("{kind:?} body cut short")));
            }
        }
        head_len + length
    } else if chunked {
        loop {
            if let Some(end) = chunked_end(&message.bytes[head_len..]) {
                break head_len + end;
            }
            if fill(stream, &mut message.bytes).await? == 0 {
                return Err(std::io::Error::other(format!("{kind:?} chunks cut short")));
            }
        }
    } else if kind == Kind::Response && !head.starts_with("HTTP/1.1 204") {
        while fill(stream, &mut message.bytes).await? > 0 {}
        message.closes = true;
        message.bytes.len()
    } else {
        head_len
    };
    *buffered = message.bytes.split_off(end);
    Ok(Some(message))
}

async fn fill<S: AsyncRead + Unpin>(stream: &mut S, bytes: &mut Vec<u8>) -> std::io::Result<usize> {
    let mut buf = [0u8; 16 * 1024];
    let n = stream.read(&mut buf).await?;
    bytes.extend_from_slice(&buf[..n]);
    Ok(n)
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// Where a chunked body ends, once its last chunk (and the empty trailer) has arrived.
fn chunked_end(body: &[u8]) -> Option<usize> {
    let mut at = 0;
    loop {
        let line_end = at + find(&body[at..], b"\r\n")?;
        let size_text = String::from_utf8_lossy(&body[at..line_end]);
        let size = usize::from_str_radix(size_text.split(';').next()?.trim(), 16).ok()?;
        at = line_end + 2;
        if size == 0 {
            // No trailers from moto: the body ends with the empty line after the last chunk.
            return (body.len() >= at + 2).then_some(at + 2);
        }
        at += size + 2;
        if body.len() < at {
            return None;
        }
    }
}

/// The AWS operation a request calls.
fn operation_of(request: &Message) -> String {
    if let Some(target) = request.header("x-amz-target") {
        return target.rsplit('.').next().unwrap_or(target).to_string();
    }
    let body = String::from_utf8_lossy(request.body());
    body.split('&')
        .find_map(|field| field.strip_prefix("Action="))
        .map(str::to_string)
        .unwrap_or_else(|| format!("(unknown: {})", body.chars().take(80).collect::<String>()))
}
