//! The service's answers, driven with in-memory requests (the wire itself is tested against
//! the binary with a real gRPC client in the integration tests).

use std::sync::atomic::{AtomicBool, Ordering};

use http_body_util::Full;
use hyper::body::Bytes;
use hyper::header::HeaderMap;

use super::*;

struct Fake {
    ready: AtomicBool,
    live: AtomicBool,
    closing: AtomicBool,
    tx: watch::Sender<()>,
}

impl Fake {
    fn new() -> Arc<Fake> {
        Arc::new(Fake {
            ready: AtomicBool::new(true),
            live: AtomicBool::new(true),
            closing: AtomicBool::new(false),
            tx: watch::Sender::new(()),
        })
    }
}

impl Health for Fake {
    fn ready(&self) -> bool {
        self.ready.load(Ordering::SeqCst)
    }
    fn live(&self) -> bool {
        self.live.load(Ordering::SeqCst)
    }
    fn closing(&self) -> bool {
        self.closing.load(Ordering::SeqCst)
    }
    fn changes(&self) -> watch::Receiver<()> {
        self.tx.subscribe()
    }
}

fn request(service: &str, content_type: &str) -> Request<Full<Bytes>> {
    let mut msg = vec![0x0a, service.len() as u8];
    msg.extend_from_slice(service.as_bytes());
    raw(frame::encode(&msg), content_type)
}

fn raw(body: Bytes, content_type: &str) -> Request<Full<Bytes>> {
    Request::builder()
        .method("POST")
        .version(Version::HTTP_2)
        .header("content-type", content_type)
        .body(Full::new(body))
        .unwrap()
}

async fn check(h: &Arc<Fake>, service: &str) -> (Bytes, HeaderMap, HeaderMap) {
    let rsp = call(
        h.clone(),
        Method::Check,
        request(service, "application/grpc"),
    )
    .await;
    let headers = rsp.headers().clone();
    let (data, trailers) = body::collect(rsp.into_body()).await;
    (data, headers, trailers.unwrap_or_default())
}

#[tokio::test]
async fn check_maps_services_to_readiness_and_liveness() {
    let h = Fake::new();
    for service in ["", "hello-world", "liveness"] {
        let (data, headers, trailers) = check(&h, service).await;
        assert_eq!(headers["content-type"], "application/grpc");
        assert_eq!(&data[..], b"\x00\x00\x00\x00\x02\x08\x01", "{service:?}");
        assert_eq!(trailers["grpc-status"], "0");
    }
    h.ready.store(false, Ordering::SeqCst);
    assert_eq!(&check(&h, "").await.0[5..], b"\x08\x02");
    assert_eq!(&check(&h, "hello-world").await.0[5..], b"\x08\x02");
    assert_eq!(&check(&h, "liveness").await.0[5..], b"\x08\x01");
    h.live.store(false, Ordering::SeqCst);
    assert_eq!(&check(&h, "liveness").await.0[5..], b"\x08\x02");
}

/// An unknown service is a trailers-only NOT_FOUND: status in the headers, no DATA.
#[tokio::test]
async fn unknown_service_is_trailers_only_not_found() {
    let (data, headers, trailers) = check(&Fake::new(), "payments").await;
    assert!(data.is_empty() && trailers.is_empty());
    assert_eq!(headers["grpc-status"], "5");
    assert_eq!(headers["grpc-message"], "unknown service: \"payments\"");
    assert_eq!(headers["content-type"], "application/grpc");
}

#[tokio::test]
async fn framing_errors_get_grpc_statuses() {
    let h = Fake::new();
    let cases: [(&[u8], &str, &str); 5] = [
        (b"", "application/grpc", "13"),
        (b"\x01\x00\x00\x00\x00", "application/grpc", "12"),
        (b"\x00\x00\x01\x00\x00", "application/grpc+proto", "8"),
        (b"\x00\x00\x00\x00\x01\x08", "application/grpc", "13"),
        (b"\x00\x00\x00\x00\x00", "application/grpc+json", "12"),
    ];
    for (body, ct, code) in cases {
        let rsp = call(h.clone(), Method::Check, raw(Bytes::from_static(body), ct)).await;
        assert_eq!(rsp.headers()["grpc-status"], code, "{body:?} {ct}");
        assert!(rsp.body().is_end_stream(), "trailers-only: {body:?}");
    }
}

#[test]
fn only_grpc_over_http2_passes_the_precheck() {
    let ok = request("", "application/grpc");
    assert!(precheck(&ok).is_ok());
    assert!(precheck(&request("", "application/grpc+proto")).is_ok());
    assert!(precheck(&request("", "application/grpc; charset=utf-8")).is_ok());
    let e = precheck(&request("", "application/json")).unwrap_err();
    assert_eq!(e.status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    let e = precheck(&request("", "application/grpcx")).unwrap_err();
    assert_eq!(e.status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    let mut h1 = request("", "application/grpc");
    *h1.version_mut() = Version::HTTP_11;
    assert_eq!(precheck(&h1).unwrap_err().status, StatusCode::BAD_REQUEST);
}

#[test]
fn unknown_methods_are_unimplemented() {
    let rsp = unimplemented("/grpc.health.v1.Health/List");
    assert_eq!(rsp.headers()["grpc-status"], "12");
    assert_eq!(
        rsp.headers()["grpc-message"],
        "unknown method /grpc.health.v1.Health/List"
    );
}

/// Watch: current status first, a message per change, NOT_SERVING from the drain on, then
/// UNAVAILABLE when the server closes; an unknown service streams SERVICE_UNKNOWN.
#[tokio::test]
async fn watch_follows_readiness_through_a_drain() {
    let h = Fake::new();
    let rsp = call(h.clone(), Method::Watch, request("", "application/grpc")).await;
    let mut body = rsp.into_body();
    let f = next(&mut body).await;
    assert_eq!(&f.into_data().unwrap()[5..], b"\x08\x01");
    h.ready.store(false, Ordering::SeqCst); // the drain begins
    h.tx.send_replace(());
    let f = next(&mut body).await;
    assert_eq!(&f.into_data().unwrap()[5..], b"\x08\x02");
    h.closing.store(true, Ordering::SeqCst);
    h.tx.send_replace(());
    let f = next(&mut body).await;
    assert_eq!(f.into_trailers().unwrap()["grpc-status"], "14");

    h.closing.store(false, Ordering::SeqCst);
    let rsp = call(
        h.clone(),
        Method::Watch,
        request("nope", "application/grpc"),
    )
    .await;
    let mut body = rsp.into_body();
    let f = next(&mut body).await;
    assert_eq!(&f.into_data().unwrap()[5..], b"\x08\x03");
}

#[test]
fn targets() {
    assert_eq!(target(""), Some(Target::Readiness));
    assert_eq!(target("hello-world"), Some(Target::Readiness));
    assert_eq!(target("liveness"), Some(Target::Liveness));
    assert_eq!(target("Liveness"), None);
    assert_eq!(target("grpc.health.v1.Health"), None);
}

/// The next frame of a body, within 2 s.
async fn next(b: &mut GrpcBody) -> hyper::body::Frame<Bytes> {
    let f = tokio::time::timeout(std::time::Duration::from_secs(2), b.frame());
    f.await
        .expect("a frame within 2 s")
        .expect("not the end")
        .expect("infallible")
}
