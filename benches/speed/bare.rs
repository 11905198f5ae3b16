//! The speed bench's baselines: a bare hyper hello-world, built by the bench itself with the
//! same release profile as `hello-world` (`cargo build --release --example bare_hyper`).
//!
//! It is what hyper's own hello example is, made comparable to our server: the same runtime
//! flavour rule (current-thread when one CPU is available, `WORKERS` overrides), `TCP_NODELAY`,
//! the same system calls per request (one `recv`, and one `write` of head and body together:
//! hyper's flatten strategy, `writev(false)`, which ours uses too and which alone is worth 3-5%
//! to either server), and a JSON body of the same size with `content-type` and
//! `content-length`. No metrics, no
//! routing, no timeouts, no drain: the floor our server is measured against.
//!
//! Two baselines in one binary, so that they differ in nothing else:
//! - quiet (default): no logging at all;
//! - `BARE_LOG=1`: the logging floor ([`floor`]): our two lines per request, formatted into a
//!   buffer of the request's own thread and written when it is full.
//!
//! Like `hello-world` it binds `HOST:PORT` (default `127.0.0.1:0`) and prints one JSON line with
//! the bound address, `{"event":"listening","addr":"…"}`, which the bench waits for.

mod floor;

use std::convert::Infallible;
use std::io::Write;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::header::{self, HeaderValue};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response, Version};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

/// Same bytes as our `GET /` with the default `GREETING` and `APP_VERSION`.
const BODY: &[u8] = br#"{"message":"Hello World","version":"1.0.0"}"#;

fn answer() -> Response<Full<Bytes>> {
    let mut rsp = Response::new(Full::new(Bytes::from_static(BODY)));
    let h = rsp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    h.insert(header::CONTENT_LENGTH, HeaderValue::from(BODY.len()));
    rsp
}

async fn hello(_: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    Ok(answer())
}

/// [`hello`] with the two log lines of the logging floor.
fn hello_logged(req: &Request<Incoming>, peer: &str) -> Response<Full<Bytes>> {
    let start = Instant::now();
    floor::hello();
    let rsp = answer();
    let version = match req.version() {
        Version::HTTP_10 => "HTTP/1.0",
        Version::HTTP_2 => "HTTP/2",
        _ => "HTTP/1.1",
    };
    let uri = req.uri();
    floor::access(&floor::Request {
        method: req.method().as_str(),
        target: uri
            .path_and_query()
            .map_or_else(|| uri.path(), |pq| pq.as_str()),
        version,
        status: rsp.status().as_u16(),
        duration_us: start.elapsed().as_micros() as u64,
        bytes: BODY.len() as u64,
        remote_addr: peer,
        user_agent: req
            .headers()
            .get(header::USER_AGENT)
            .map_or(b"", |v| v.as_bytes()),
    });
    rsp
}

fn main() {
    let workers = std::env::var("WORKERS")
        .ok()
        .and_then(|w| w.parse::<usize>().ok())
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    let logged = std::env::var("BARE_LOG").is_ok_and(|v| v == "1");
    let mut builder = if workers == 1 {
        tokio::runtime::Builder::new_current_thread()
    } else {
        let mut b = tokio::runtime::Builder::new_multi_thread();
        b.worker_threads(workers);
        b
    };
    let runtime = builder.enable_all().build().expect("building the runtime");
    runtime.block_on(async {
        let host = std::env::var("HOST").unwrap_or_else(|_| "127.0.0.1".into());
        let port = std::env::var("PORT").unwrap_or_else(|_| "0".into());
        let addr: SocketAddr = format!("{host}:{port}").parse().expect("HOST:PORT");
        let listener = TcpListener::bind(addr).await.expect("binding");
        let bound = listener.local_addr().expect("local address");
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, r#"{{"event":"listening","addr":"{bound}"}}"#);
        let _ = out.flush();
        drop(out);
        loop {
            let Ok((stream, peer)) = listener.accept().await else {
                continue;
            };
            let _ = stream.set_nodelay(true);
            let io = TokioIo::new(stream);
            tokio::spawn(async move {
                let mut conn = http1::Builder::new();
                // As ours (module docs): the ratios measure our work, not a transport choice.
                conn.writev(false);
                if logged {
                    // Formatted once per connection, as ours does.
                    let peer: Arc<str> = peer.to_string().into();
                    let service = service_fn(move |req| {
                        let rsp = hello_logged(&req, &peer);
                        async move { Ok::<_, Infallible>(rsp) }
                    });
                    let _ = conn.serve_connection(io, service).await;
                } else {
                    let _ = conn.serve_connection(io, service_fn(hello)).await;
                }
            });
        }
    });
}
