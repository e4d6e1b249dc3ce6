//! A loopback proxy in front of moto that holds chosen requests until the test lets them
//! through. Holding one of the daemon's reads pins its pass at a known point, so that a file
//! edit or an out-of-band change lands there and not at some moment the test can only guess.
//!
//! Requests are read whole (head and `Content-Length` body) on the way in and passed on
//! unchanged; answers are copied back byte for byte. Each client connection gets its own
//! upstream connection, so holding one request stalls only the call that made it.

use std::io::{self, BufRead, BufReader, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::{Arc, Condvar, Mutex};
use std::thread;
use std::time::{Duration, Instant};

type Matcher = dyn Fn(&str) -> bool + Send + Sync;

pub struct Gate {
    pub endpoint: String,
    shared: Arc<Shared>,
}

struct Shared {
    state: Mutex<State>,
    changed: Condvar,
    matches: Box<Matcher>,
}

#[derive(Default)]
struct State {
    /// While closed, each matching request takes the next ticket and waits for it to be let
    /// through.
    closed: bool,
    /// Arrival of each ticket, in order: ticket n is `arrived[n - 1]`.
    arrived: Vec<Instant>,
    /// Tickets up to this one may go on.
    let_through: usize,
}

impl Gate {
    /// Listens on a free loopback port and forwards to `upstream` (`http://127.0.0.1:PORT`).
    /// `matches` sees each request's head and its form-decoded body.
    pub fn start(upstream: &str, matches: impl Fn(&str) -> bool + Send + Sync + 'static) -> Gate {
        let upstream: SocketAddr = upstream
            .strip_prefix("http://")
            .expect("an http:// endpoint")
            .parse()
            .expect("a socket address");
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the gate");
        let endpoint = format!("http://{}", listener.local_addr().unwrap());
        let shared = Arc::new(Shared {
            state: Mutex::new(State::default()),
            changed: Condvar::new(),
            matches: Box::new(matches),
        });
        {
            let shared = Arc::clone(&shared);
            // Lives as long as the test binary: the daemons that use it are gone by then.
            thread::spawn(move || {
                for client in listener.incoming().map_while(Result::ok) {
                    let shared = Arc::clone(&shared);
                    thread::spawn(move || {
                        let _ = relay(client, upstream, &shared);
                    });
                }
            });
        }
        Gate { endpoint, shared }
    }

    /// From now on matching requests are held.
    pub fn close(&self) {
        let mut state = self.shared.state.lock().unwrap();
        state.closed = true;
        state.arrived.clear();
        state.let_through = 0;
    }

    /// Waits until `n` matching requests have arrived since `close`; the arrival of the n-th.
    pub fn wait_held(&self, n: usize, timeout: Duration) -> Instant {
        let deadline = Instant::now() + timeout;
        let mut state = self.shared.state.lock().unwrap();
        while state.arrived.len() < n {
            let left = deadline.saturating_duration_since(Instant::now());
            assert!(
                !left.is_zero(),
                "the gate saw {} matching request(s) within {timeout:?}, expected {n}",
                state.arrived.len()
            );
            state = self.shared.changed.wait_timeout(state, left).unwrap().0;
        }
        state.arrived[n - 1]
    }

    /// Lets the first `n` held requests go on; later ones are still held.
    pub fn let_through(&self, n: usize) {
        self.shared.state.lock().unwrap().let_through = n;
        self.shared.changed.notify_all();
    }

    /// Lets everything through, now and from now on.
    pub fn open(&self) {
        self.shared.state.lock().unwrap().closed = false;
        self.shared.changed.notify_all();
    }
}

impl Shared {
    /// Returns once `request` may reach moto.
    fn pass(&self, request: &str) {
        let mut state = self.state.lock().unwrap();
        if !state.closed || !(self.matches)(request) {
            return;
        }
        state.arrived.push(Instant::now());
        let ticket = state.arrived.len();
        self.changed.notify_all();
        while state.closed && state.let_through < ticket {
            state = self.changed.wait(state).unwrap();
        }
    }
}

fn relay(client: TcpStream, upstream: SocketAddr, shared: &Shared) -> io::Result<()> {
    let mut server = TcpStream::connect(upstream)?;
    let mut answers = server.try_clone()?;
    let mut client_out = client.try_clone()?;
    thread::spawn(move || {
        let _ = io::copy(&mut answers, &mut client_out);
        let _ = client_out.shutdown(Shutdown::Write);
    });
    let mut requests = BufReader::new(client);
    while let Some(request) = read_request(&mut requests)? {
        shared.pass(&describe(&request));
        server.write_all(&request)?;
    }
    server.shutdown(Shutdown::Write)
}

/// One HTTP/1.1 request, head and body, as sent; `None` at a clean end of the connection.
fn read_request(from: &mut impl BufRead) -> io::Result<Option<Vec<u8>>> {
    let mut request = Vec::new();
    loop {
        if from.read_until(b'\n', &mut request)? == 0 {
            return if request.is_empty() {
                Ok(None)
            } else {
                Err(io::ErrorKind::UnexpectedEof.into())
            };
        }
        if request.ends_with(b"\r\n\r\n") {
            break;
        }
    }
    let head = String::from_utf8_lossy(&request).to_ascii_lowercase();
    if head.contains("transfer-encoding: chunked") {
        return Err(io::Error::other(
            "the gate reads Content-Length bodies only; the SDK sent a chunked request",
        ));
    }
    let length = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .map_or(Ok(0), |v| v.trim().parse::<usize>())
        .map_err(io::Error::other)?;
    let start = request.len();
    request.resize(start + length, 0);
    from.read_exact(&mut request[start..])?;
    Ok(Some(request))
}

/// The request as the matcher sees it: the head, then the body with form encoding undone (the
/// query protocol sends `TargetGroupArn=arn%3Aaws%3A...`).
fn describe(request: &[u8]) -> String {
    let mut bytes = request.iter().copied();
    let mut decoded = Vec::with_capacity(request.len());
    while let Some(b) = bytes.next() {
        match b {
            b'%' => {
                let hex: Vec<u8> = bytes.by_ref().take(2).collect();
                match std::str::from_utf8(&hex)
                    .ok()
                    .and_then(|h| u8::from_str_radix(h, 16).ok())
                {
                    Some(v) => decoded.push(v),
                    None => {
                        decoded.push(b'%');
                        decoded.extend(hex);
                    }
                }
            }
            b'+' => decoded.push(b' '),
            b => decoded.push(b),
        }
    }
    String::from_utf8_lossy(&decoded).into_owned()
}
