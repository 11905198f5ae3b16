//! Hostile and broken clients, plus a handle on the real binary. Shared by the suite's
//! `limits` module and the soak bench (`benches/soak`).
//! Every wait here is bounded.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// The real `hello-world` binary, started with `PORT=0` on loopback; its stdout is read by a
/// thread that checks every line is one JSON object.
pub struct Server {
    pub child: Child,
    pub addr: SocketAddr,
    pub lines: Arc<Mutex<Vec<String>>>,
    /// Lines that were not a JSON object (must stay 0).
    pub invalid: Arc<AtomicU64>,
    /// Every line read, kept or not.
    pub total: Arc<AtomicU64>,
    pub reader: Option<std::thread::JoinHandle<()>>,
}

impl Server {
    pub fn start(bin: &str, env: &[(&str, &str)]) -> Server {
        Server::start_keeping(bin, env, usize::MAX)
    }

    /// Like [`Server::start`], keeping at most about `keep` recent lines in memory (a soak
    /// produces millions; each is still checked).
    pub fn start_keeping(bin: &str, env: &[(&str, &str)], keep: usize) -> Server {
        let mut cmd = Command::new(bin);
        cmd.env_clear()
            .env("PORT", "0")
            .env("HOST", "127.0.0.1")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().expect("spawn hello-world");
        let stdout = child.stdout.take().expect("stdout piped");
        let lines = Arc::new(Mutex::new(Vec::new()));
        let invalid = Arc::new(AtomicU64::new(0));
        let total = Arc::new(AtomicU64::new(0));
        let (tx, rx) = mpsc::channel();
        let reader = {
            let lines = Arc::clone(&lines);
            let invalid = Arc::clone(&invalid);
            let total = Arc::clone(&total);
            std::thread::spawn(move || {
                let mut tx = Some(tx);
                for line in BufReader::new(stdout).lines() {
                    let Ok(line) = line else {
                        invalid.fetch_add(1, Ordering::Relaxed);
                        continue;
                    };
                    match serde_json::from_str::<serde_json::Value>(&line) {
                        Ok(v) if v.is_object() => {
                            if v["event"] == "listening" {
                                if let Some(tx) = tx.take() {
                                    let _ = tx.send(v["addr"].as_str().unwrap_or("").to_owned());
                                }
                            }
                        }
                        _ => {
                            invalid.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                    total.fetch_add(1, Ordering::Relaxed);
                    let mut kept = lines.lock().unwrap();
                    if kept.len() >= keep {
                        let half = kept.len() / 2;
                        kept.drain(..half.max(1));
                    }
                    kept.push(line);
                }
            })
        };
        let addr = match rx.recv_timeout(Duration::from_secs(20)) {
            Ok(a) => a.parse().expect("listening addr"),
            Err(_) => {
                let _ = child.kill();
                let out = lines.lock().unwrap().join("\n");
                panic!("hello-world did not log `listening` within 20 s; stdout:\n{out}");
            }
        };
        Server {
            child,
            addr,
            lines,
            invalid,
            total,
            reader: Some(reader),
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Resident set size in KiB, from /proc.
    pub fn rss_kib(&self) -> u64 {
        rss_kib(self.pid())
    }

    pub fn fds(&self) -> usize {
        std::fs::read_dir(format!("/proc/{}/fd", self.pid())).map_or(0, |d| d.count())
    }

    /// SIGTERM, then wait (bounded) for the exit; returns the exit code.
    pub fn stop(&mut self, within: Duration) -> Option<i32> {
        let _ = Command::new("kill")
            .args(["-TERM", &self.pid().to_string()])
            .status();
        let end = Instant::now() + within;
        loop {
            if let Ok(Some(st)) = self.child.try_wait() {
                if let Some(r) = self.reader.take() {
                    let _ = r.join();
                }
                return st.code();
            }
            if Instant::now() > end {
                let _ = self.child.kill();
                let _ = self.child.wait();
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn log_text(&self) -> String {
        self.lines.lock().unwrap().join("\n")
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

pub fn rss_kib(pid: u32) -> u64 {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    s.lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

/// Writes `bytes`, then reads until EOF or `within`; returns what was read.
pub async fn raw(addr: SocketAddr, bytes: &[u8], within: Duration) -> Vec<u8> {
    let mut out = Vec::new();
    let _ = tokio::time::timeout(within, async {
        let mut s = TcpStream::connect(addr).await.ok()?;
        // The server may answer (and close) before it has read everything: ignore write errors.
        let _ = s.write_all(bytes).await;
        let mut buf = [0u8; 16384];
        loop {
            match s.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => out.extend_from_slice(&buf[..n]),
            }
        }
        Some(())
    })
    .await;
    out
}

/// A parsed HTTP/1 answer: status, lower-cased head, body.
pub struct Answer {
    pub status: u16,
    pub head: String,
    pub body: Vec<u8>,
}

impl Answer {
    pub fn parse(raw: &[u8]) -> Option<Answer> {
        let end = raw.windows(4).position(|w| w == b"\r\n\r\n")?;
        let head = String::from_utf8_lossy(&raw[..end]).to_ascii_lowercase();
        let status = head.get(9..12)?.parse().ok()?;
        Some(Answer {
            status,
            head,
            body: raw[end + 4..].to_vec(),
        })
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "body is not JSON ({e}): {:?}\nhead: {}",
                String::from_utf8_lossy(&self.body),
                self.head
            )
        })
    }

    pub fn is_json(&self) -> bool {
        self.head.contains("content-type: application/json")
            && serde_json::from_slice::<serde_json::Value>(&self.body).is_ok()
    }
}

/// One `Connection: close` request; the parsed answer, or `None` if the connection ended
/// without one.
pub async fn request(addr: SocketAddr, head: &str, within: Duration) -> Option<Answer> {
    let r = raw(addr, head.as_bytes(), within).await;
    Answer::parse(&r)
}

pub async fn get(addr: SocketAddr, target: &str) -> Option<Answer> {
    request(
        addr,
        &format!("GET {target} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n"),
        Duration::from_secs(10),
    )
    .await
}

/// Connects and sends nothing; how long until the server closes (None: still open at `max`).
pub async fn silent(addr: SocketAddr, max: Duration) -> Option<Duration> {
    let start = Instant::now();
    let mut s = TcpStream::connect(addr).await.ok()?;
    let mut buf = [0u8; 64];
    match tokio::time::timeout(max, s.read(&mut buf)).await {
        Ok(_) => Some(start.elapsed()),
        Err(_) => None,
    }
}

/// Sends a request head one byte every `every`, never finishing; how long until the server
/// cuts the connection (None: still open at `max`).
pub async fn trickle(addr: SocketAddr, every: Duration, max: Duration) -> Option<Duration> {
    let start = Instant::now();
    let s = TcpStream::connect(addr).await.ok()?;
    let (mut rd, mut wr) = s.into_split();
    let head = b"GET / HTTP/1.1\r\nHost: t\r\nX-Slow: ".to_vec();
    let writer = async move {
        let mut i = 0usize;
        loop {
            let b = head.get(i).copied().unwrap_or(b'a');
            if wr.write_all(&[b]).await.is_err() {
                // Broken pipe: the server has gone; the reader sees it too.
                std::future::pending::<()>().await;
            }
            i += 1;
            tokio::time::sleep(every).await;
        }
    };
    let reader = async move {
        let mut buf = [0u8; 1024];
        loop {
            match rd.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {} // an answer (408, say) is fine; the close is what counts
            }
        }
    };
    tokio::select! {
        () = reader => Some(start.elapsed()),
        () = writer => None,
        () = tokio::time::sleep(max) => None,
    }
}

/// HTTP/2 prior-knowledge client connection (h2 crate).
pub async fn h2_connect(
    addr: SocketAddr,
) -> Result<h2::client::SendRequest<bytes::Bytes>, Box<dyn std::error::Error + Send + Sync>> {
    let tcp = TcpStream::connect(addr).await?;
    let (client, conn) = h2::client::Builder::new()
        .max_concurrent_reset_streams(1000)
        .handshake::<_, bytes::Bytes>(tcp)
        .await?;
    tokio::spawn(async move {
        let _ = conn.await;
    });
    Ok(client)
}

/// One h2 GET; status and body.
pub async fn h2_get(
    client: h2::client::SendRequest<bytes::Bytes>,
    uri: &str,
    headers: &[(&str, String)],
) -> Result<(u16, Vec<u8>), Box<dyn std::error::Error + Send + Sync>> {
    let mut client = client.ready().await?;
    let mut req = http::Request::get(uri);
    for (k, v) in headers {
        req = req.header(*k, v.as_str());
    }
    let (resp, _) = client.send_request(req.body(())?, true)?;
    let resp = resp.await?;
    let status = resp.status().as_u16();
    let mut body = resp.into_body();
    let mut out = Vec::new();
    while let Some(chunk) = body.data().await {
        let chunk = chunk?;
        let _ = body.flow_control().release_capacity(chunk.len());
        out.extend_from_slice(&chunk);
    }
    Ok((status, out))
}

/// What a rapid-reset flood achieved.
#[derive(Debug, Default, Clone, Copy)]
pub struct Flood {
    pub resets: u64,
    pub connections: u64,
}

/// CVE-2023-44487 "rapid reset": HEADERS for `target` immediately followed by RST_STREAM,
/// `n` times or until `budget` runs out, reconnecting whenever the server sends the connection
/// away (GOAWAY). `pause_every`/`pause` throttle it (the soak uses that; tests go flat out).
pub async fn rapid_reset(
    addr: SocketAddr,
    target: &str,
    n: u64,
    budget: Duration,
    pause_every: u64,
    pause: Duration,
) -> Flood {
    let end = Instant::now() + budget;
    let uri = format!("http://{addr}{target}");
    let mut f = Flood::default();
    'outer: while f.resets < n && Instant::now() < end {
        let Ok(Ok(mut client)) =
            tokio::time::timeout(Duration::from_secs(2), h2_connect(addr)).await
        else {
            tokio::time::sleep(Duration::from_millis(20)).await;
            continue;
        };
        f.connections += 1;
        while f.resets < n && Instant::now() < end {
            client = match tokio::time::timeout(Duration::from_secs(2), client.ready()).await {
                Ok(Ok(c)) => c,
                _ => continue 'outer,
            };
            let req = http::Request::get(uri.as_str()).body(()).expect("request");
            match client.send_request(req, true) {
                Ok((_resp, mut stream)) => {
                    stream.send_reset(h2::Reason::CANCEL);
                    f.resets += 1;
                }
                Err(_) => continue 'outer,
            }
            if pause_every > 0 && f.resets % pause_every == 0 {
                tokio::time::sleep(pause).await;
            }
        }
    }
    f
}
