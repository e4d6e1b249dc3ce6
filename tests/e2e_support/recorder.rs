//! A recording proxy in front of moto: every request is logged with the moment it arrived, the
//! access key that signed it (each replica gets its own) and the AWS operation, then passed
//! on. The tests count a process's mutations from here, not from the process's own report.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::Instant;

/// One request as it arrived.
#[derive(Debug, Clone)]
pub struct Seen {
    pub at: Instant,
    /// The access key id in the signature.
    pub key: String,
    /// `PutParameter`, `UpdateItem`, `ModifyListener`, ...
    pub operation: String,
}

pub struct Recorder {
    pub endpoint: String,
    log: Arc<Mutex<Vec<Seen>>>,
}

impl Recorder {
    /// Listens on a free loopback port; requests go on to `127.0.0.1:upstream`.
    pub fn start(upstream: u16) -> Recorder {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the proxy");
        let endpoint = format!("http://{}", listener.local_addr().unwrap());
        let log = Arc::new(Mutex::new(Vec::new()));
        let shared = Arc::clone(&log);
        std::thread::spawn(move || {
            for client in listener.incoming().map_while(Result::ok) {
                let log = Arc::clone(&shared);
                std::thread::spawn(move || {
                    let _ = serve(client, upstream, &log);
                });
            }
        });
        Recorder { endpoint, log }
    }

    pub fn seen(&self) -> Vec<Seen> {
        self.log.lock().unwrap().clone()
    }
}

/// One request (head and body) off the connection; `None` at its end.
fn read_request(
    reader: &mut BufReader<TcpStream>,
) -> std::io::Result<Option<(Vec<String>, Vec<u8>)>> {
    let mut lines = Vec::new();
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 {
            return Ok(None);
        }
        let line = line.trim_end_matches(['\r', '\n']).to_owned();
        if line.is_empty() {
            break;
        }
        lines.push(line);
    }
    let length = header(&lines, "content-length")
        .and_then(|v| v.parse::<usize>().ok())
        .unwrap_or(0);
    let mut body = vec![0; length];
    reader.read_exact(&mut body)?;
    Ok(Some((lines, body)))
}

fn header<'a>(lines: &'a [String], name: &str) -> Option<&'a str> {
    lines.iter().skip(1).find_map(|l| {
        let (k, v) = l.split_once(':')?;
        k.trim().eq_ignore_ascii_case(name).then(|| v.trim())
    })
}

fn operation(lines: &[String], body: &[u8]) -> String {
    if let Some(target) = header(lines, "x-amz-target") {
        return target.rsplit('.').next().unwrap_or(target).to_owned();
    }
    String::from_utf8_lossy(body)
        .split('&')
        .find_map(|kv| kv.strip_prefix("Action="))
        .unwrap_or("?")
        .to_owned()
}

fn access_key(lines: &[String]) -> String {
    header(lines, "authorization")
        .and_then(|a| a.split("Credential=").nth(1))
        .and_then(|c| c.split('/').next())
        .unwrap_or("?")
        .to_owned()
}

fn serve(client: TcpStream, upstream: u16, log: &Mutex<Vec<Seen>>) -> std::io::Result<()> {
    let mut reader = BufReader::new(client.try_clone()?);
    let mut client = client;
    while let Some((lines, body)) = read_request(&mut reader)? {
        log.lock().unwrap().push(Seen {
            at: Instant::now(),
            key: access_key(&lines),
            operation: operation(&lines, &body),
        });
        // One upstream connection per request, closed by moto after its answer: the answer
        // then ends where the upstream connection does.
        let mut moto = TcpStream::connect(("127.0.0.1", upstream))?;
        let mut head = String::new();
        for line in &lines {
            let name = line.split(':').next().unwrap_or_default();
            if !name.eq_ignore_ascii_case("connection") {
                head.push_str(line);
                head.push_str("\r\n");
            }
        }
        head.push_str("Connection: close\r\n\r\n");
        moto.write_all(head.as_bytes())?;
        moto.write_all(&body)?;
        let mut answer = Vec::new();
        moto.read_to_end(&mut answer)?;
        client.write_all(&answer)?;
        let text = String::from_utf8_lossy(&answer);
        let answer_head = text
            .split("\r\n\r\n")
            .next()
            .unwrap_or_default()
            .to_ascii_lowercase();
        if !answer_head.contains("content-length:") && !answer_head.contains("chunked") {
            // Delimited by the end of the connection: end the client's too.
            return Ok(());
        }
    }
    Ok(())
}
