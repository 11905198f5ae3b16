//! When the server ends a connection itself, against the real binary: answers after which the
//! server closes say `Connection: close` (checked with Python's keep-alive `http.client`), and
//! the send timeout cuts a client that stops reading.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The binary on 127.0.0.1, a free port; killed when dropped.
struct Server {
    child: Child,
    addr: SocketAddr,
}

impl Server {
    fn start(env: &[(&str, &str)]) -> Server {
        let mut cmd = Command::new(crate::BIN);
        cmd.env_clear()
            .env("HOST", "127.0.0.1")
            .env("PORT", "0")
            .env("ACCESS_LOG", "false")
            .stdout(Stdio::piped())
            .stderr(Stdio::null());
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().expect("spawn the binary");
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let end = Instant::now() + Duration::from_secs(20);
        let addr = loop {
            assert!(Instant::now() < end, "no `listening` line in time");
            let line = lines.next().expect("stdout open").expect("utf-8 line");
            let v: serde_json::Value = serde_json::from_str(&line).expect("JSON log line");
            if v["event"] == "listening" {
                break v["addr"].as_str().unwrap().parse().unwrap();
            }
        };
        // Keep reading so the server never blocks on a full pipe.
        std::thread::spawn(move || lines.for_each(drop));
        Server { child, addr }
    }

    /// `http_connections_open` scraped on a connection of its own (which it counts).
    fn connections_open(&self) -> f64 {
        let mut s = TcpStream::connect(self.addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        s.write_all(b"GET /metrics HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")
            .unwrap();
        let mut text = String::new();
        s.read_to_string(&mut text).unwrap();
        text.lines()
            .find_map(|l| l.strip_prefix("http_connections_open ")?.parse().ok())
            .expect("http_connections_open in /metrics")
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs a Python 3 script with the server's port as `sys.argv[1]`; returns its stdout.
fn python(script: &str, addr: SocketAddr) -> String {
    let out = Command::new("python3")
        .arg("-c")
        .arg(script)
        .arg(addr.port().to_string())
        .output()
        .expect("python3 runs");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "python failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

/// A 413 for a chunked body over `MAX_BODY_BYTES` — on `POST /admin/toggle-ready` with the
/// token and on `GET /` — says `Connection: close`, so a keep-alive client (Python's
/// `http.client`) opens a new connection for its next request instead of failing with
/// `RemoteDisconnected` on the one the server closed. Likewise an answer given before a
/// declared body was read (404, 405, 401, a declared 413).
#[test]
fn answers_before_the_body_is_read_say_connection_close() {
    let srv = Server::start(&[("ADMIN_TOKEN", "s3cret-token"), ("MAX_BODY_BYTES", "1024")]);
    let script = r#"
import http.client, sys
c = http.client.HTTPConnection("127.0.0.1", int(sys.argv[1]), timeout=10)
def chunks():
    for _ in range(64):
        yield b"x" * 1024
auth = {"Authorization": "Bearer s3cret-token"}
cases = [
    ("POST", "/admin/toggle-ready", chunks, auth, 413),
    ("GET", "/", chunks, {}, 413),
    ("GET", "/", lambda: b"x" * 4096, {}, 413),
    ("POST", "/", lambda: b"x" * 10, {}, 405),
    ("POST", "/nope", lambda: b"x" * 10, {}, 404),
    ("POST", "/admin/toggle-ready", lambda: b"x" * 10, {}, 401),
]
for method, path, body, headers, want in cases:
    b = body()
    h = dict(headers)
    if not isinstance(b, bytes):
        h["Transfer-Encoding"] = "chunked"
    c.request(method, path, body=b, headers=h, encode_chunked=not isinstance(b, bytes))
    r = c.getresponse()
    r.read()
    print(method, path, r.status, r.getheader("connection"))
    assert r.status == want, (path, r.status)
    # The same client, next request: must work whatever the server did with the connection.
    c.request("GET", "/health/live")
    r = c.getresponse()
    assert r.status == 200 and r.read() == b'{"status":"ok"}'
print("ok")
"#;
    let out = python(script, srv.addr);
    for line in out.lines().filter(|l| l.contains('/')) {
        assert!(line.ends_with(" close"), "no Connection: close on {line}");
    }
    assert!(out.ends_with("ok\n"), "{out}");
}

/// Pipelines requests for `/openapi.json` and never reads the answers: once the socket
/// buffers are full the server's writes make no progress, and `SEND_TIMEOUT_SECONDS` later
/// the connection is gone. With a one-hour send timeout the same client still holds its
/// connection (the control: this is what happened before the timeout existed).
#[test]
fn a_client_that_stops_reading_is_cut_after_the_send_timeout() {
    let stalled = |timeout: &str| -> (Server, TcpStream) {
        let srv = Server::start(&[("SEND_TIMEOUT_SECONDS", timeout)]);
        let mut c = TcpStream::connect(srv.addr).unwrap();
        c.set_write_timeout(Some(Duration::from_secs(2))).unwrap();
        // ~2,000 answers of ~20 KB: far beyond what loopback socket buffers hold.
        let req = b"GET /openapi.json HTTP/1.1\r\nhost: x\r\n\r\n".repeat(2000);
        let _ = c.write_all(&req); // may block once the server stops reading: fine
        (srv, c)
    };
    let (srv, mut client) = stalled("0.5");
    let end = Instant::now() + Duration::from_secs(10);
    while srv.connections_open() > 1.0 {
        assert!(Instant::now() < end, "the stalled connection was never cut");
        std::thread::sleep(Duration::from_millis(100));
    }
    // The client finds the connection ended (EOF or reset) once it reads what was sent.
    client
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let mut buf = vec![0u8; 1 << 16];
    let ended = loop {
        match client.read(&mut buf) {
            Ok(0) => break true,
            Ok(_) => continue,
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => break true,
            Err(e) => panic!("the connection should have ended: {e}"),
        }
    };
    assert!(ended);

    let (srv, _client) = stalled("3600");
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(
        srv.connections_open(),
        2.0,
        "control: the stalled connection stays"
    );
}
