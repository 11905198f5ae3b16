//! The route table: a pure function from a request path to a [`Route`], plus which methods
//! each route takes. Metrics use the route *template*, never the raw path, so label
//! cardinality stays bounded whatever clients send.

use hyper::Method;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Route {
    Root,
    Live,
    Ready,
    ToggleReady,
    Slow,
    Info,
    Metrics,
    OpenApi,
    Docs,
    PreStop,
    /// Any path that matches no route (answered 404).
    Unmatched,
}

impl Route {
    pub const ALL: [Route; 11] = [
        Route::Root,
        Route::Live,
        Route::Ready,
        Route::ToggleReady,
        Route::Slow,
        Route::Info,
        Route::Metrics,
        Route::OpenApi,
        Route::Docs,
        Route::PreStop,
        Route::Unmatched,
    ];
    pub const COUNT: usize = Route::ALL.len();

    /// The `route` label and the path template.
    pub fn template(self) -> &'static str {
        match self {
            Route::Root => "/",
            Route::Live => "/health/live",
            Route::Ready => "/health/ready",
            Route::ToggleReady => "/admin/toggle-ready",
            Route::Slow => "/slow",
            Route::Info => "/info",
            Route::Metrics => "/metrics",
            Route::OpenApi => "/openapi.json",
            Route::Docs => "/docs",
            Route::PreStop => "/internal/prestop",
            Route::Unmatched => "unmatched",
        }
    }

    pub fn index(self) -> usize {
        self as usize
    }

    /// The one method a route is written for; HEAD is implied for GET routes.
    pub fn method(self) -> Option<Method> {
        match self {
            Route::ToggleReady => Some(Method::POST),
            Route::Unmatched => None,
            _ => Some(Method::GET),
        }
    }

    /// Value of the `Allow` header in a 405 answer.
    pub fn allow_header(self) -> &'static str {
        match self.method() {
            Some(Method::POST) => "POST",
            _ => "GET, HEAD",
        }
    }

    /// Whether `method` may be served by this route.
    pub fn accepts(self, method: &Method) -> bool {
        match self.method() {
            Some(Method::GET) => method == Method::GET || method == Method::HEAD,
            Some(m) => *method == m,
            None => false,
        }
    }
}

/// Exact-match routing on the decoded-free path (no query). Percent-encoded variants such as
/// `/health%2Flive` or a trailing slash are different paths and answer 404.
pub fn resolve(path: &str) -> Route {
    match path {
        "/" => Route::Root,
        "/health/live" => Route::Live,
        "/health/ready" => Route::Ready,
        "/admin/toggle-ready" => Route::ToggleReady,
        "/slow" => Route::Slow,
        "/info" => Route::Info,
        "/metrics" => Route::Metrics,
        "/openapi.json" => Route::OpenApi,
        "/docs" => Route::Docs,
        "/internal/prestop" => Route::PreStop,
        _ => Route::Unmatched,
    }
}

/// Request methods as a bounded metrics label: the common ones by name, the rest as `OTHER`.
pub const METHODS: [&str; 8] = [
    "GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "OTHER",
];

pub fn method_index(m: &Method) -> usize {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_route_resolves_from_its_template() {
        for r in Route::ALL {
            if r != Route::Unmatched {
                assert_eq!(resolve(r.template()), r);
            }
            assert_eq!(Route::ALL[r.index()], r);
        }
    }

    #[test]
    fn near_misses_are_unmatched() {
        for p in [
            "",
            "/health",
            "/health/live/",
            "/health%2Flive",
            "//",
            "/slow/",
            "/INFO",
            "/docs/x",
            "/./info",
            "/%00",
        ] {
            assert_eq!(resolve(p), Route::Unmatched, "{p:?}");
        }
    }

    #[test]
    fn head_goes_with_get_only() {
        assert!(Route::Root.accepts(&Method::HEAD));
        assert!(Route::Root.accepts(&Method::GET));
        assert!(!Route::Root.accepts(&Method::POST));
        assert!(Route::ToggleReady.accepts(&Method::POST));
        assert!(!Route::ToggleReady.accepts(&Method::GET));
        assert!(!Route::ToggleReady.accepts(&Method::HEAD));
        assert_eq!(Route::ToggleReady.allow_header(), "POST");
        assert_eq!(Route::Slow.allow_header(), "GET, HEAD");
    }

    #[test]
    fn unusual_methods_share_one_label() {
        let m = Method::from_bytes(b"BREW").unwrap();
        assert_eq!(METHODS[method_index(&m)], "OTHER");
        assert_eq!(METHODS[method_index(&Method::PATCH)], "PATCH");
    }
}
