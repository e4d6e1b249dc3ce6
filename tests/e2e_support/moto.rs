//! moto's server on a free loopback port: installed into `e2e/.venv` by `e2e/moto.sh` when it
//! is missing, one server per test binary, stopped when the binary exits however it exits.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

pub struct Moto {
    pub endpoint: String,
    pub port: u16,
    /// The venv's python, with boto3, for building worlds.
    pub python: PathBuf,
    /// Held open for the life of the test binary: when it closes, the wrapper stops moto.
    _lifeline: Mutex<ChildStdin>,
    _wrapper: Mutex<Child>,
}

pub fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Starts moto. `account`: the account it acts in (`MOTO_ACCOUNT_ID`); `None` lets moto derive
/// it from the access key, so that a role session assumed into another account acts there.
pub fn start(account: Option<&str>) -> Moto {
    let out = Command::new("bash")
        .arg(repo().join("e2e/moto.sh"))
        .stderr(Stdio::inherit())
        .output()
        .expect("run e2e/moto.sh");
    assert!(out.status.success(), "e2e/moto.sh failed");
    let bin = PathBuf::from(String::from_utf8(out.stdout).unwrap().trim());
    let port = free_port();
    let log = std::env::temp_dir().join(format!("switchyard-moto-{port}.log"));
    // The wrapper kills moto once its stdin reaches EOF, which happens when the test binary
    // exits.
    let mut command = Command::new("bash");
    command
        .arg("-c")
        .arg(r#""$0" -H 127.0.0.1 -p "$1" >"$2" 2>&1 & pid=$!; read -r _; kill "$pid""#)
        .arg(bin.join("moto_server"))
        .arg(port.to_string())
        .arg(&log)
        .stdin(Stdio::piped());
    match account {
        Some(account) => command.env("MOTO_ACCOUNT_ID", account),
        None => command.env_remove("MOTO_ACCOUNT_ID"),
    };
    let mut wrapper = command.spawn().expect("start moto_server");
    let lifeline = wrapper.stdin.take().unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while http("127.0.0.1", port, "GET", "/moto-api/data.json").is_err() {
        assert!(
            Instant::now() < deadline,
            "moto did not start; see {}",
            log.display()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    Moto {
        endpoint: format!("http://127.0.0.1:{port}"),
        port,
        python: bin.join("python"),
        _lifeline: Mutex::new(lifeline),
        _wrapper: Mutex::new(wrapper),
    }
}

/// One plain HTTP/1.1 request; the body of a 200 answer.
pub fn http(host: &str, port: u16, method: &str, path: &str) -> std::io::Result<String> {
    let mut stream = TcpStream::connect((host, port))?;
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: {host}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    )?;
    let mut response = String::new();
    stream.read_to_string(&mut response)?;
    if !response.starts_with("HTTP/1.1 200") {
        return Err(std::io::Error::other(response));
    }
    let body = response.split_once("\r\n\r\n").map_or("", |(_, b)| b);
    Ok(body.to_string())
}
