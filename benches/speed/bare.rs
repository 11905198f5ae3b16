//! The speed bench's baseline: a bare hyper hello-world, built by the bench itself with the same
//! release profile as `hello-world` (`cargo build --release --example bare_hyper`).
//!
//! It is what hyper's own hello example is, made comparable to our server: the same runtime
//! flavour rule (current-thread when one CPU is available, `WORKERS` overrides), `TCP_NODELAY`,
//! and a JSON body of the same size with `content-type` and `content-length`. No logging, no
//! metrics, no routing, no timeouts, no drain: the floor our server is measured against.
//!
//! Like `hello-world` it binds `HOST:PORT` (default `127.0.0.1:0`) and prints one JSON line with
//! the bound address, `{"event":"listening","addr":"…"}`, which the bench waits for.

use std::convert::Infallible;
use std::io::Write;
use std::net::SocketAddr;

use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::header::{self, HeaderValue};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

/// Same bytes as our `GET /` with the default `GREETING` and `APP_VERSION`.
const BODY: &[u8] = br#"{"message":"Hello World","version":"1.0.0"}"#;

async fn hello(_: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    let mut rsp = Response::new(Full::new(Bytes::from_static(BODY)));
    let h = rsp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    h.insert(header::CONTENT_LENGTH, HeaderValue::from(BODY.len()));
    Ok(rsp)
}

fn main() {
    let workers = std::env::var("WORKERS")
        .ok()
        .and_then(|w| w.parse::<usize>().ok())
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
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
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            let _ = stream.set_nodelay(true);
            tokio::spawn(async move {
                let _ = http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service_fn(hello))
                    .await;
            });
        }
    });
}
