//! [`ScriptedServer`]: provider answers the sandbox does not give, from a plain TCP listener.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use super::roster_at;

/// An HTTP server on 127.0.0.1:0 whose answers come from `answer(path_and_query, body)`, called
/// once per request in arrival order (one connection at a time, `Connection: close`).
///
/// A handler that panics stops the server, and dropping the server then fails the test (xh's
/// `Server` does the same): a broken script can never pass as "provider unreachable".
pub struct ScriptedServer {
    pub url: String,
    address: SocketAddr,
    requests: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl ScriptedServer {
    pub fn start(
        mut answer: impl FnMut(&str, &[u8]) -> (u16, String) + Send + 'static,
    ) -> ScriptedServer {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let address = listener.local_addr().unwrap();
        let requests = Arc::new(AtomicUsize::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let (requests, stop) = (Arc::clone(&requests), Arc::clone(&stop));
            std::thread::spawn(move || {
                for stream in listener.incoming() {
                    if stop.load(Ordering::SeqCst) {
                        break;
                    }
                    let Ok(stream) = stream else { continue };
                    let Some((target, body)) = read_request(&stream) else {
                        continue;
                    };
                    requests.fetch_add(1, Ordering::SeqCst);
                    let (status, body) = answer(&target, &body);
                    let response = format!(
                        "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                        body.len()
                    );
                    let _ = (&stream).write_all(response.as_bytes());
                }
            })
        };
        ScriptedServer {
            url: format!("http://{address}"),
            address,
            requests,
            stop,
            thread: Some(thread),
        }
    }

    /// A server that answers every request, whatever its path, with `status` and the JSON `body`.
    pub fn fixed(status: u16, body: &'static str) -> ScriptedServer {
        ScriptedServer::start(move |_, _| (status, body.to_string()))
    }

    /// How many requests it has answered (or was answering when its handler panicked).
    pub fn requests(&self) -> usize {
        self.requests.load(Ordering::SeqCst)
    }

    /// `roster ARGS` pointed at this server with the sandbox's default credentials.
    pub fn roster(&self, args: &[&str]) -> Command {
        roster_at(&self.url, args)
    }
}

/// Reads one request: its target (path and query) and its body. `None` for a connection that
/// closes without sending a request line.
fn read_request(stream: &TcpStream) -> Option<(String, Vec<u8>)> {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(30)));
    let mut reader = BufReader::new(stream);
    let mut request_line = String::new();
    if reader.read_line(&mut request_line).unwrap_or(0) == 0 {
        return None;
    }
    let target = request_line
        .split_whitespace()
        .nth(1)
        .unwrap_or("/")
        .to_string();
    let mut length = 0usize;
    let mut line = String::new();
    loop {
        line.clear();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            break;
        }
        let lower = line.to_ascii_lowercase();
        if let Some(value) = lower.strip_prefix("content-length:") {
            length = value.trim().parse().unwrap_or(0);
        }
        if line == "\r\n" || line == "\n" {
            break;
        }
    }
    let mut body = vec![0; length];
    let _ = reader.read_exact(&mut body);
    Some((target, body))
}

impl Drop for ScriptedServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wakes the accept loop; refused if the handler's panic already ended it.
        let _ = TcpStream::connect(self.address);
        let Some(thread) = self.thread.take() else {
            return;
        };
        if std::thread::panicking() {
            return; // the test is failing already; do not wait on a server it left mid-request
        }
        if let Err(panic) = thread.join() {
            let message = panic
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "a non-text panic".to_string());
            panic!("the scripted server's handler panicked: {message}");
        }
    }
}

#[test]
#[should_panic(expected = "the scripted server's handler panicked: a broken script")]
fn a_handler_that_panics_fails_the_test_that_dropped_the_server() {
    let server = ScriptedServer::start(|_, _| panic!("a broken script"));
    let mut stream = TcpStream::connect(server.address).unwrap();
    stream.write_all(b"GET / HTTP/1.1\r\n\r\n").unwrap();
    // The handler's panic ends the server thread, which closes the connection unanswered.
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer);
    assert!(answer.is_empty());
}
