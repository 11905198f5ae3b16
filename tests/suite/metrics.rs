//! `/metrics` as Prometheus scrapes it: parsed by an independent text-format parser
//! (`prometheus-parse`), request counters per route/method/status, route labels bounded (every
//! unknown path shares one label). In-process ([`crate::inproc`]).

use std::collections::HashMap;

use http_body_util::BodyExt;
use hyper::Method;
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

use hello_world::Route;

use crate::inproc::{bounded, req, send, Proto, TestServer};

pub async fn scrape(srv: &TestServer) -> prometheus_parse::Scrape {
    let r = srv.get("/metrics").await;
    assert_eq!(r.status, 200);
    assert_eq!(
        r.header("content-type"),
        "text/plain; version=0.0.4; charset=utf-8"
    );
    parse_metrics(&r.text())
}

/// Parses with `prometheus-parse`, and first checks that the parser understood every line:
/// it silently ignores lines it cannot read, which would hide a malformed exposition.
fn parse_metrics(text: &str) -> prometheus_parse::Scrape {
    use prometheus_parse::LineInfo;
    assert!(text.ends_with('\n'), "the exposition ends with a newline");
    let mut typed = HashMap::new();
    for line in text.lines() {
        match LineInfo::parse(line) {
            LineInfo::Ignored | LineInfo::Empty => panic!("unparseable metrics line: {line:?}"),
            LineInfo::Type {
                metric_name,
                metric_alias,
                ..
            } => {
                let family = metric_alias.unwrap_or(metric_name);
                assert!(
                    typed.insert(family.clone(), ()).is_none(),
                    "TYPE twice: {family}"
                );
            }
            LineInfo::Sample {
                metric_name, value, ..
            } => {
                let family = ["_bucket", "_sum", "_count"]
                    .iter()
                    .find_map(|s| metric_name.strip_suffix(s))
                    .filter(|f| typed.contains_key(*f))
                    .unwrap_or(metric_name);
                assert!(typed.contains_key(family), "sample before its TYPE: {line}");
                assert!(
                    value.parse::<f64>().is_ok() || value == "+Inf",
                    "bad value: {line}"
                );
            }
            LineInfo::Doc { .. } => {}
        }
    }
    prometheus_parse::Scrape::parse(text.lines().map(|l| Ok(l.to_owned()))).unwrap()
}

/// The value of the sample `name` whose labels include `labels` (0 when there is none).
pub fn metric(s: &prometheus_parse::Scrape, name: &str, labels: &[(&str, &str)]) -> f64 {
    use prometheus_parse::Value as V;
    let mut found = s
        .samples
        .iter()
        .filter(|x| x.metric == name && labels.iter().all(|(k, v)| x.labels.get(k) == Some(*v)));
    let Some(sample) = found.next() else {
        return 0.0;
    };
    match &sample.value {
        V::Counter(v) | V::Gauge(v) | V::Untyped(v) => *v,
        V::Histogram(b) => b.iter().map(|c| c.count).fold(0.0, f64::max),
        V::Summary(_) => panic!("no summaries here"),
    }
}

/// `/metrics` parses with a real Prometheus parser, has every documented family with the
/// right type, and counts requests by method, route template and status.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_parse_and_count_requests() {
    bounded(20, async {
        let srv = TestServer::start(&[("APP_VERSION", "3.1.4")]).await;
        for _ in 0..3 {
            srv.get("/").await;
        }
        send(srv.addr, Proto::H2, req(Method::HEAD, "/info")).await;
        send(srv.addr, Proto::H1, req(Method::POST, "/")).await;
        srv.get("/slow?seconds=x").await;
        let s = scrape(&srv).await;
        for (family, kind) in [
            ("http_requests_total", "counter"),
            ("http_request_duration_seconds", "histogram"),
            ("http_requests_in_flight", "gauge"),
            ("http_connections_open", "gauge"),
            ("http_connections_total", "counter"),
            ("http_handler_panics_total", "counter"),
            ("app_ready", "gauge"),
            ("app_shutting_down", "gauge"),
            ("app_build_info", "gauge"),
            ("process_start_time_seconds", "gauge"),
            ("log_lines_dropped_total", "counter"),
        ] {
            assert!(s.docs.contains_key(family), "HELP for {family}");
            let r = srv.get("/metrics").await.text();
            assert!(
                r.contains(&format!("# TYPE {family} {kind}\n")),
                "TYPE {family} {kind}"
            );
        }
        let req_total = |m, r, st| {
            metric(
                &s,
                "http_requests_total",
                &[("method", m), ("route", r), ("status", st)],
            )
        };
        assert_eq!(req_total("GET", "/", "200"), 3.0);
        assert_eq!(req_total("HEAD", "/info", "200"), 1.0);
        assert_eq!(req_total("POST", "/", "405"), 1.0);
        assert_eq!(req_total("GET", "/slow", "422"), 1.0);
        assert_eq!(
            metric(&s, "http_request_duration_seconds", &[("route", "/")]),
            4.0,
            "+Inf bucket of / (3 GET + the 405 POST)"
        );
        assert_eq!(
            metric(&s, "http_request_duration_seconds_count", &[("route", "/")]),
            4.0
        );
        assert_eq!(metric(&s, "app_build_info", &[("version", "3.1.4")]), 1.0);
        assert_eq!(metric(&s, "app_ready", &[]), 1.0);
        assert_eq!(metric(&s, "app_shutting_down", &[]), 0.0);
        // The scrape itself is in flight while it renders.
        assert_eq!(metric(&s, "http_requests_in_flight", &[]), 1.0);
        assert!(metric(&s, "http_connections_total", &[]) >= 7.0);
        let start = metric(&s, "process_start_time_seconds", &[]);
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs_f64();
        assert!(start > now - 60.0 && start <= now + 1.0, "{start} vs {now}");
        srv.stop().await;
    })
    .await;
}

/// Route labels stay bounded: 100 random paths all count under `route="unmatched"`, and no
/// label value anywhere is a raw path.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_paths_share_one_route_label() {
    bounded(30, async {
        let srv = TestServer::start(&[]).await;
        // One keep-alive connection; a cheap xorshift makes the paths differ run to run.
        let io = TokioIo::new(TcpStream::connect(srv.addr).await.unwrap());
        let (mut tx, conn) = hyper::client::conn::http1::handshake(io).await.unwrap();
        tokio::spawn(conn);
        let mut x = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos() as u64
            | 1;
        for i in 0..100 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let path = format!("/r{i}/{x:x}?q={x}");
            tx.ready().await.unwrap();
            let rsp = tx.send_request(req(Method::GET, &path)).await.unwrap();
            assert_eq!(rsp.status(), 404);
            rsp.into_body().collect().await.unwrap();
        }
        let s = scrape(&srv).await;
        // The labels are the templates, a `{name}` segment written `:name`.
        let templates: Vec<String> = Route::all()
            .map(|r| r.template().replace('{', ":").replace('}', ""))
            .collect();
        for sample in &s.samples {
            if let Some(route) = sample.labels.get("route") {
                assert!(
                    templates.iter().any(|t| t == route),
                    "unbounded label {route:?}"
                );
            }
        }
        assert_eq!(
            metric(
                &s,
                "http_requests_total",
                &[("method", "GET"), ("route", "unmatched"), ("status", "404")]
            ),
            100.0
        );
        srv.stop().await;
    })
    .await;
}
