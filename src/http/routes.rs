//! The route table: one row per route — path, methods, whether it needs the admin token,
//! when it exists, and its handler (answered at once, or waiting). The table drives
//! [`resolve`], the `Allow` header, the metrics' `route` label, and the tests that hold
//! `src/assets/openapi.json` and the README's routes table to the same routes.
//!
//! Adding a route is a row here, a handler in [`super::handlers`] and its OpenAPI entry.
//! A path segment written `{name}` matches any one non-empty segment (`/status/{code}`).
//! Metrics use the route *template*, never the raw path, so label cardinality stays bounded
//! whatever clients send.

use hyper::{Method, Uri};

use hyper::body::Incoming;
use hyper::Request;

use super::handlers::{self as h, BoxFuture};
use super::lab;
use super::{App, Body};
use crate::config::Config;

/// How a route answers.
pub(crate) enum Answer {
    /// Without suspending: no allocation, no state machine.
    Now(fn(&App, &Uri) -> hyper::Response<Body>),
    /// After waiting (a timer, the drain): a boxed future, bounded by `REQUEST_TIMEOUT_SECONDS`.
    Waits(fn(App, Uri) -> BoxFuture),
    /// With the whole request (method, headers, body stream): `/echo`, gRPC, the experiments
    /// with two methods. Bounded by `REQUEST_TIMEOUT_SECONDS` like `Waits`.
    Request(fn(App, Request<Incoming>) -> BoxFuture),
}

/// One route.
pub(crate) struct RouteDef {
    pub path: &'static str,
    pub methods: Methods,
    /// Needs `Authorization: Bearer <ADMIN_TOKEN>` when a token is set: every route that
    /// changes state (the preStop endpoint starts an irreversible drain).
    pub admin: bool,
    /// Whether the route exists with this configuration (404 otherwise, before anything else).
    pub enabled: fn(&Config) -> bool,
    /// An application route: injected faults (`/admin/fault`, `FAULT_*`) hit it. Probes,
    /// metrics, docs, admin and gRPC health never are.
    pub faults: bool,
    pub answer: Answer,
}

impl RouteDef {
    /// Whether the route waits (and so runs under the request timeout).
    pub fn waits(&self) -> bool {
        matches!(self.answer, Answer::Waits(_) | Answer::Request(_))
    }
}

use Answer::{Now, Request as Whole, Waits};

/// The liveness path, also the default target of `hello-world healthcheck`.
pub(crate) const LIVENESS: &str = "/health/live";

/// Every route. Order matters only for templates with `{…}` segments: the first match wins.
#[rustfmt::skip]
pub(crate) static ROUTES: &[RouteDef] = &[
    RouteDef { path: "/", methods: Methods::GET, admin: false, enabled: always, faults: true, answer: Now(h::root) },
    RouteDef { path: "/health/live", methods: Methods::GET, admin: false, enabled: always, faults: false, answer: Now(h::live) },
    RouteDef { path: "/health/ready", methods: Methods::GET, admin: false, enabled: always, faults: false, answer: Now(h::ready) },
    RouteDef { path: "/admin/toggle-ready", methods: Methods::POST, admin: true, enabled: always, faults: false, answer: Now(h::toggle_ready) },
    RouteDef { path: "/slow", methods: Methods::GET, admin: false, enabled: always, faults: true, answer: Waits(h::slow) },
    RouteDef { path: "/info", methods: Methods::GET, admin: false, enabled: always, faults: true, answer: Now(h::info) },
    RouteDef { path: "/metrics", methods: Methods::GET, admin: false, enabled: always, faults: false, answer: Now(h::metrics) },
    RouteDef { path: "/openapi.json", methods: Methods::GET, admin: false, enabled: always, faults: false, answer: Now(h::openapi) },
    RouteDef { path: "/docs", methods: Methods::GET, admin: false, enabled: always, faults: false, answer: Now(h::docs) },
    RouteDef { path: "/internal/prestop", methods: Methods::GET, admin: true, enabled: |c| c.prestop_endpoint, faults: false, answer: Waits(h::prestop) },
    // The Part 3 lab (docs/experiments.md): read-only test routes, always on ...
    RouteDef { path: "/status/{code}", methods: Methods::GET, admin: false, enabled: always, faults: true, answer: Now(lab::status) },
    RouteDef { path: "/echo", methods: Methods::ECHO, admin: false, enabled: always, faults: true, answer: Whole(lab::echo) },
    // ... the experiments, behind the token and EXPERIMENTS ...
    RouteDef { path: "/admin/toggle-live", methods: Methods::POST, admin: true, enabled: experiments, faults: false, answer: Now(lab::toggle_live) },
    RouteDef { path: "/admin/crash", methods: Methods::POST, admin: true, enabled: experiments, faults: false, answer: Now(lab::crash) },
    RouteDef { path: "/admin/fault", methods: Methods::GET_POST, admin: true, enabled: experiments, faults: false, answer: Whole(lab::fault) },
    RouteDef { path: "/admin/stress/cpu", methods: Methods::POST, admin: true, enabled: experiments, faults: false, answer: Now(lab::stress_cpu) },
    RouteDef { path: "/admin/stress/memory", methods: Methods::POST_DELETE, admin: true, enabled: experiments, faults: false, answer: Whole(lab::stress_memory) },
    // ... and gRPC health on the h2c path.
    RouteDef { path: crate::grpc::CHECK_PATH, methods: Methods::POST, admin: false, enabled: always, faults: false, answer: Whole(lab::grpc_check) },
    RouteDef { path: crate::grpc::WATCH_PATH, methods: Methods::POST, admin: false, enabled: always, faults: false, answer: Whole(lab::grpc_watch) },
];
/// The routes that take the admin token and exist with `config`.
pub(crate) fn admin_paths(config: &Config) -> Vec<&'static str> {
    let admin = ROUTES.iter().filter(|r| r.admin && (r.enabled)(config));
    admin.map(|r| r.path).collect()
}

fn always(_: &Config) -> bool {
    true
}

fn experiments(c: &Config) -> bool {
    c.lab.enabled
}

/// Request methods as a bounded metrics label: the common ones by name, the rest as `OTHER`.
pub(crate) const METHODS: [&str; 8] = [
    "GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "OTHER",
];

pub(crate) fn method_index(m: &Method) -> usize {
    match *m {
        Method::GET => 0,
        Method::HEAD => 1,
        Method::POST => 2,
        Method::PUT => 3,
        Method::DELETE => 4,
        Method::PATCH => 5,
        Method::OPTIONS => 6,
        _ => 7,
    }
}

/// A set of methods, one bit per [`METHODS`] entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Methods(u8);

impl Methods {
    /// GET, and HEAD with it (answered like GET, without the body).
    pub const GET: Methods = Methods(0b11);
    pub const POST: Methods = Methods(0b100);
    /// GET (and HEAD) and POST: a state shown and changed at one path.
    pub const GET_POST: Methods = Methods(0b111);
    pub const POST_DELETE: Methods = Methods(0b1_0100);
    /// Every method, unusual ones (`OTHER`) included.
    #[allow(dead_code)]
    pub const ANY: Methods = Methods(0xff);
    /// `/echo`: GET (and HEAD), POST, PUT, DELETE, PATCH.
    pub const ECHO: Methods = Methods(0b11_1111);

    pub fn accepts(self, m: &Method) -> bool {
        self.0 & (1 << method_index(m)) != 0
    }

    /// The names, as the `Allow` header of a 405 lists them.
    pub fn allow(self) -> String {
        let named = METHODS.iter().take(METHODS.len() - 1).enumerate();
        let names: Vec<&str> = named
            .filter(|(i, _)| self.0 & (1 << i) != 0)
            .map(|(_, m)| *m)
            .collect();
        names.join(", ")
    }
}

/// A resolved route: an index into [`ROUTES`], or [`Route::UNMATCHED`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Route(u8);

impl Route {
    /// Any path that matches no route (answered 404); its label is `unmatched`.
    pub const UNMATCHED: Route = Route(ROUTES.len() as u8);

    /// Every route, [`Route::UNMATCHED`] last.
    pub fn all() -> impl Iterator<Item = Route> {
        (0..=ROUTES.len() as u8).map(Route)
    }

    /// The `route` label: the path template, or `unmatched`.
    pub fn template(self) -> &'static str {
        self.def().map_or("unmatched", |d| d.path)
    }

    pub(crate) fn def(self) -> Option<&'static RouteDef> {
        ROUTES.get(usize::from(self.0))
    }

    pub(crate) fn index(self) -> usize {
        usize::from(self.0)
    }
}

/// Matches the path (without query) against the table. Percent-encoded variants such as
/// `/health%2Flive` or a trailing slash are different paths and answer 404.
pub fn resolve(path: &str) -> Route {
    for (i, r) in ROUTES.iter().enumerate() {
        if r.path == path || (r.path.contains('{') && template_matches(r.path, path)) {
            return Route(i as u8);
        }
    }
    Route::UNMATCHED
}

fn template_matches(template: &str, path: &str) -> bool {
    let mut t = template.split('/');
    let mut p = path.split('/');
    loop {
        match (t.next(), p.next()) {
            (None, None) => return true,
            (Some(ts), Some(ps)) if ts.starts_with('{') && ts.ends_with('}') => {
                if ps.is_empty() {
                    return false;
                }
            }
            (Some(ts), Some(ps)) if ts == ps => {}
            _ => return false,
        }
    }
}

#[cfg(test)]
#[path = "routes_tests.rs"]
mod tests;
