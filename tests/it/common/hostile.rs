//! [`HostileServer`]: an HTTP server that does what a real provider might do wrong, on
//! 127.0.0.1:0. Unlike the sandbox it answers with any status, headers and body, streams bodies
//! larger than memory, or stops half-way through one.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

/// One request as the server saw it.
#[derive(Debug, Clone)]
pub struct Seen {
    pub target: String,
    pub headers: String,
    pub body: String,
}

/// How to answer one request.
pub enum Answer {
    /// A whole JSON answer with extra headers.
    Json {
        status: u16,
        headers: Vec<(&'static str, String)>,
        body: String,
    },
    /// `200` with a `Content-Length` of `bytes` and that many bytes of a JSON string, streamed.
    Huge { bytes: u64 },
    /// `200` that announces `declared` bytes, sends `sent`, then holds the connection open.
    Stalled { declared: u64, sent: &'static str },
}

impl Answer {
    pub fn json(status: u16, body: impl Into<String>) -> Answer {
        Answer::Json {
            status,
            headers: Vec::new(),
            body: body.into(),
        }
    }
}

type Respond = dyn Fn(&Seen) -> Answer + Send + Sync;

pub struct HostileServer {
    pub url: String,
    seen: Arc<Mutex<Vec<Seen>>>,
    _accept: JoinHandle<()>,
}

impl HostileServer {
    pub fn start(respond: impl Fn(&Seen) -> Answer + Send + Sync + 'static) -> HostileServer {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let url = format!("http://{}", listener.local_addr().unwrap());
        let seen = Arc::new(Mutex::new(Vec::new()));
        let respond: Arc<Respond> = Arc::new(respond);
        let accept = {
            let seen = Arc::clone(&seen);
            std::thread::spawn(move || {
                for stream in listener.incoming() {
                    let Ok(stream) = stream else { return };
                    let (seen, respond) = (Arc::clone(&seen), Arc::clone(&respond));
                    std::thread::spawn(move || serve(stream, &seen, &*respond));
                }
            })
        };
        HostileServer {
            url,
            seen,
            _accept: accept,
        }
    }

    /// Every request so far, in arrival order.
    pub fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }
}

/// Requests on one connection (keep-alive), until the client closes it.
fn serve(stream: TcpStream, seen: &Mutex<Vec<Seen>>, respond: &Respond) {
    let mut reader = BufReader::new(stream.try_clone().expect("clone stream"));
    let mut out = stream;
    loop {
        let mut request_line = String::new();
        if reader.read_line(&mut request_line).unwrap_or(0) == 0 {
            return;
        }
        let target = request_line
            .split_whitespace()
            .nth(1)
            .unwrap_or("/")
            .to_string();
        let (mut headers, mut length) = (String::new(), 0usize);
        loop {
            let mut line = String::new();
            if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                break;
            }
            if let Some(value) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                length = value.trim().parse().unwrap_or(0);
            }
            headers.push_str(&line);
        }
        let mut body = vec![0; length];
        if reader.read_exact(&mut body).is_err() {
            return;
        }
        let request = Seen {
            target,
            headers,
            body: String::from_utf8_lossy(&body).into_owned(),
        };
        seen.lock().unwrap().push(request.clone());
        let written = match respond(&request) {
            Answer::Json {
                status,
                headers,
                body,
            } => {
                let extra: String = headers
                    .iter()
                    .map(|(name, value)| format!("{name}: {value}\r\n"))
                    .collect();
                write!(
                    out,
                    "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\n{extra}\r\n{body}",
                    body.len()
                )
            }
            Answer::Huge { bytes } => stream_huge(&mut out, bytes),
            Answer::Stalled { declared, sent } => {
                let _ = write!(
                    out,
                    "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {declared}\r\n\r\n{sent}"
                );
                let _ = out.flush();
                // Hold the connection until the client gives up on it.
                let mut rest = Vec::new();
                let _ = reader.read_to_end(&mut rest);
                return;
            }
        };
        if written.is_err() {
            return;
        }
    }
}

fn stream_huge(out: &mut TcpStream, bytes: u64) -> std::io::Result<()> {
    write!(
        out,
        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {bytes}\r\n\r\n"
    )?;
    out.set_write_timeout(Some(Duration::from_secs(10)))?;
    let chunk = vec![b' '; 64 * 1024];
    let mut left = bytes;
    while left > 0 {
        let n = left.min(chunk.len() as u64) as usize;
        out.write_all(&chunk[..n])?;
        left -= n as u64;
    }
    Ok(())
}
