//! The documentation assets: `src/assets/openapi.json` and the `/docs` explorer page.
//!
//! # Contents
//! - `openapi_*`: the document is valid JSON, parses as OpenAPI 3.1 with `oas3`, passes our strict
//!   structural check ([`strict`]), documents exactly the contract's routes, and its examples
//!   match its own schemas ([`schema`]).
//! - `served_*`: a running server serves both assets with the right content types, and its live
//!   answers match the documented schemas.
//! - `docs_page_*`: headless Chromium loads `/docs`, which lists every route and, driven through
//!   its `#try=` deep link, presses "Try it" on `GET /` and `GET /slow?seconds=0` and shows the
//!   answers; plus static checks (size, no external references).
//!
//! # Which server
//! [`start_binary`] runs the built `hello-world` binary on an ephemeral port (the assets are
//! served with the `{{APP_VERSION}}` placeholder substituted once).
//!
//! # Why `--dump-dom` rather than a CDP client
//! The page supports `#try=<operationId>[:name=value&…],…`, which fills in the parameters and
//! presses the real "Try it" button of each listed route, in order, through the same code a click
//! runs. So `chromium --dump-dom --virtual-time-budget` (which waits for pending fetches before
//! taking virtual time forward) is enough to drive it, and the test needs no CDP client crate
//! (`headless_chrome` brings ~100 crates and a WebSocket stack to compile on a 2-core CI).

use std::collections::{BTreeMap, BTreeSet};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use serde_json::Value;

/// The assets, exactly as the server embeds them.
const OPENAPI: &str = include_str!("../../src/assets/openapi.json");
const DOCS_HTML: &str = include_str!("../../src/assets/docs.html");
/// The placeholder in `info.version` that the server replaces with APP_VERSION once at startup.
const VERSION_PLACEHOLDER: &str = "{{APP_VERSION}}";
/// Budget for docs.html (issue 2: "≤ 30 KB of HTML+JS embedded in the binary").
const DOCS_HTML_MAX_BYTES: usize = 30 * 1024;

/// The APP_VERSION given to the server under test, to see that it is substituted.
const TEST_APP_VERSION: &str = "7.7.7-docs-ui";

/// Every route of the contract (team/contract.md), as (method, path).
const CONTRACT_ROUTES: &[(&str, &str)] = &[
    ("GET", "/"),
    ("GET", "/health/live"),
    ("GET", "/health/ready"),
    ("POST", "/admin/toggle-ready"),
    ("GET", "/slow"),
    ("GET", "/info"),
    ("GET", "/metrics"),
    ("GET", "/openapi.json"),
    ("GET", "/docs"),
    ("GET", "/internal/prestop"),
    // The Part 3 lab (docs/experiments.md).
    ("GET", "/status/{code}"),
    ("GET", "/echo"),
    ("POST", "/echo"),
    ("PUT", "/echo"),
    ("PATCH", "/echo"),
    ("DELETE", "/echo"),
    ("POST", "/admin/toggle-live"),
    ("POST", "/admin/crash"),
    ("GET", "/admin/fault"),
    ("POST", "/admin/fault"),
    ("POST", "/admin/stress/cpu"),
    ("POST", "/admin/stress/memory"),
    ("DELETE", "/admin/stress/memory"),
    ("POST", "/grpc.health.v1.Health/Check"),
    ("POST", "/grpc.health.v1.Health/Watch"),
];

const CHROMIUM: &str = "/usr/bin/chromium";

fn openapi() -> Value {
    serde_json::from_str(OPENAPI).expect("src/assets/openapi.json is not valid JSON")
}

fn contract_routes() -> BTreeSet<(String, String)> {
    CONTRACT_ROUTES
        .iter()
        .map(|(m, p)| (m.to_string(), p.to_string()))
        .collect()
}

/// Walks `doc` along a local `$ref` such as `#/components/schemas/Hello`.
fn resolve_ref<'a>(doc: &'a Value, reference: &str) -> Option<&'a Value> {
    let pointer = reference.strip_prefix('#')?;
    doc.pointer(pointer)
}

/// Follows `$ref`s until a non-reference object.
fn deref<'a>(doc: &'a Value, mut v: &'a Value) -> &'a Value {
    for _ in 0..16 {
        match v.get("$ref").and_then(Value::as_str) {
            Some(r) => v = resolve_ref(doc, r).unwrap_or_else(|| panic!("unresolved $ref {r}")),
            None => return v,
        }
    }
    panic!("$ref chain too long")
}

// ---------------------------------------------------------------------------------------------
// OpenAPI document
// ---------------------------------------------------------------------------------------------

/// The document is JSON, carries the version placeholder exactly once (in `info.version`), and
/// parses as OpenAPI 3.1 with `oas3`, before and after the server's substitution.
#[test]
fn openapi_parses_as_openapi_3_1() {
    let doc = openapi();
    assert_eq!(OPENAPI.matches(VERSION_PLACEHOLDER).count(), 1);
    assert_eq!(doc["info"]["version"], VERSION_PLACEHOLDER);
    for text in [
        OPENAPI.to_string(),
        OPENAPI.replace(VERSION_PLACEHOLDER, "1.0.0"),
    ] {
        let spec = oas3::from_json(&text).expect("oas3 rejects the document");
        let version = spec
            .validate_version()
            .expect("not an OpenAPI 3.1.x document");
        assert_eq!((version.major, version.minor), (3, 1));
    }
}

/// `oas3` resolves every reference the operations use: parameters, responses, their headers and
/// schemas, and the security schemes they name.
#[test]
fn openapi_references_resolve_with_oas3() {
    let spec = oas3::from_json(OPENAPI).unwrap();
    let schemes = &spec
        .components
        .as_ref()
        .expect("components")
        .security_schemes;
    for (path, method, op) in spec.operations() {
        let name = format!("{method} {path}");
        for p in &op.parameters {
            let p = p
                .resolve(&spec)
                .unwrap_or_else(|e| panic!("{name}: parameter: {e}"));
            if let Some(s) = &p.schema {
                s.resolve(&spec)
                    .unwrap_or_else(|e| panic!("{name}: {}: {e}", p.name));
            }
        }
        let responses = op
            .responses
            .as_ref()
            .unwrap_or_else(|| panic!("{name}: no responses"));
        for (code, r) in responses {
            let r = r
                .resolve(&spec)
                .unwrap_or_else(|e| panic!("{name} {code}: {e}"));
            for (mt, media) in &r.content {
                if let Some(s) = &media.schema {
                    s.resolve(&spec)
                        .unwrap_or_else(|e| panic!("{name} {code} {mt}: {e}"));
                }
            }
        }
        for req in &op.security {
            for scheme in req.0.keys() {
                let s = schemes
                    .get(scheme)
                    .unwrap_or_else(|| panic!("{name}: {scheme}?"));
                s.resolve(&spec)
                    .unwrap_or_else(|e| panic!("{name}: {scheme}: {e}"));
            }
        }
    }
}

/// Our own strict check: no unknown keys anywhere (typos are errors), required fields, unique
/// operationIds, valid status codes, declared tags and schemes, resolvable and used components.
#[test]
fn openapi_passes_strict_structural_check() {
    let errors = strict::check(&openapi());
    assert!(
        errors.is_empty(),
        "OpenAPI problems:\n  {}",
        errors.join("\n  ")
    );
}

/// The strict check itself catches the mistakes it is there for.
#[test]
fn strict_check_rejects_broken_documents() {
    let mut doc = openapi();
    doc["paths"]["/"]["get"]["responses"]["200"]["descripton"] = "typo".into();
    doc["paths"]["/slow"]["get"]["parameters"][0]["in"] = "body".into();
    doc["paths"]["/info"]["get"]["operationId"] = "getRoot".into();
    doc["paths"]["/metrics"]["get"]["responses"]["2000"] =
        doc["paths"]["/"]["get"]["responses"]["200"].clone();
    doc["components"]["schemas"]["Hello"]["properties"]["message"]["typ"] = "string".into();
    doc["components"]["responses"]["NotFound"]["content"]["application/json"]["schema"]["$ref"] =
        "#/components/schemas/Nope".into();
    let errors = strict::check(&doc).join("\n");
    for needle in [
        "unknown key `descripton`",
        "`in` must be one of",
        "duplicate operationId `getRoot`",
        "bad status code `2000`",
        "unknown key `typ`",
        "unresolved $ref #/components/schemas/Nope",
    ] {
        assert!(errors.contains(needle), "expected {needle:?} in:\n{errors}");
    }
}

/// Exactly the contract's routes, each with exactly its method.
#[test]
fn openapi_documents_every_contract_route() {
    let spec = oas3::from_json(OPENAPI).unwrap();
    let documented: BTreeSet<(String, String)> = spec
        .operations()
        .map(|(path, method, _)| (method.as_str().to_string(), path))
        .collect();
    assert_eq!(documented, contract_routes());
}

/// The details the contract fixes: /slow's parameter and 422 shape, the admin token and its
/// 401/409, /info's fields, content types, error shapes, the preStop switch.
#[test]
fn openapi_documents_the_contract_details() {
    let doc = openapi();
    let op = |m: &str, p: &str| doc["paths"][p][m].clone();
    let resp = |m: &str, p: &str, code: &str| deref(&doc, &op(m, p)["responses"][code]).clone();

    let seconds = &op("get", "/slow")["parameters"][0];
    assert_eq!(seconds["name"], "seconds");
    assert_eq!(seconds["in"], "query");
    assert_eq!(seconds["required"], false);
    assert_eq!(seconds["schema"]["type"], "integer");
    assert_eq!(seconds["schema"]["minimum"], 0);
    assert_eq!(seconds["schema"]["default"], 5);
    let invalid = resp("get", "/slow", "422");
    let example = &invalid["content"]["application/json"]["example"];
    assert_eq!(
        example["detail"][0]["loc"],
        serde_json::json!(["query", "seconds"])
    );
    let item = deref(&doc, &invalid["content"]["application/json"]["schema"])["properties"]
        ["detail"]["items"]
        .clone();
    assert_eq!(
        item["required"],
        serde_json::json!(["type", "loc", "msg", "input"])
    );

    let toggle = op("post", "/admin/toggle-ready");
    assert_eq!(
        toggle["security"],
        serde_json::json!([{}, {"adminToken": []}]),
        "bearer must be optional"
    );
    let scheme = &doc["components"]["securitySchemes"]["adminToken"];
    assert_eq!(
        (scheme["type"].as_str(), scheme["scheme"].as_str()),
        (Some("http"), Some("bearer"))
    );
    for code in ["200", "401", "409"] {
        assert!(
            toggle["responses"].get(code).is_some(),
            "toggle-ready lacks {code}"
        );
    }

    let info = deref(
        &doc,
        &resp("get", "/info", "200")["content"]["application/json"]["schema"],
    )
    .clone();
    assert_eq!(
        info["required"],
        serde_json::json!([
            "app_env",
            "app_version",
            "log_level",
            "pod_name",
            "experiments"
        ])
    );
    for optional in ["pod_namespace", "node_name"] {
        assert!(
            info["properties"].get(optional).is_some(),
            "/info lacks {optional}"
        );
    }

    let content_type = |p: &str| -> Vec<String> {
        let r = resp("get", p, "200");
        r["content"].as_object().unwrap().keys().cloned().collect()
    };
    assert_eq!(content_type("/metrics"), ["text/plain; version=0.0.4"]);
    assert_eq!(content_type("/docs"), ["text/html"]);
    assert_eq!(content_type("/openapi.json"), ["application/json"]);
    assert_eq!(content_type("/"), ["application/json"]);

    let responses = &doc["components"]["responses"];
    for (name, detail) in [
        ("NotFound", "Not Found"),
        ("MethodNotAllowed", "Method Not Allowed"),
        ("PayloadTooLarge", "Request body too large"),
    ] {
        assert_eq!(
            responses[name]["content"]["application/json"]["example"]["detail"],
            detail
        );
    }
    assert!(responses["MethodNotAllowed"]["headers"]
        .get("Allow")
        .is_some());
    for (method, path) in CONTRACT_ROUTES {
        let r = &op(&method.to_lowercase(), path)["responses"];
        for code in ["405", "413"] {
            assert!(r.get(code).is_some(), "{method} {path} lacks {code}");
        }
    }

    let prestop = op("get", "/internal/prestop");
    assert!(prestop["description"]
        .as_str()
        .unwrap()
        .contains("PRESTOP_ENDPOINT=true"));
    assert_eq!(prestop["parameters"][0]["name"], "seconds");
    assert!(prestop["responses"].get("404").is_some());
}

/// Every example in the document is valid against the schema beside it.
#[test]
fn openapi_examples_match_their_schemas() {
    let doc = openapi();
    let mut errors = Vec::new();
    let mut checked = 0;
    let mut visit = |at: String, media: &Value| {
        if let (Some(example), Some(s)) = (media.get("example"), media.get("schema")) {
            checked += 1;
            errors.extend(schema::validate(&doc, s, example, &at));
        }
    };
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            for p in op["parameters"].as_array().into_iter().flatten() {
                visit(format!("{method} {path} parameter"), p);
            }
            for (code, r) in op["responses"].as_object().unwrap() {
                let r = deref(&doc, r);
                for (mt, media) in r["content"].as_object().into_iter().flatten() {
                    visit(format!("{method} {path} {code} {mt}"), media);
                }
            }
        }
    }
    assert!(checked >= 10, "only {checked} examples checked");
    assert!(
        errors.is_empty(),
        "examples that contradict their schema:\n  {}",
        errors.join("\n  ")
    );
}

// ---------------------------------------------------------------------------------------------
// Served by a running server
// ---------------------------------------------------------------------------------------------

/// `GET /openapi.json` is the embedded document with APP_VERSION substituted, as JSON;
/// `GET /docs` is the embedded page, as HTML.
#[test]
fn served_assets_have_the_right_types_and_bodies() {
    let server = start_binary();
    let spec = http(server.addr, "GET", "/openapi.json");
    assert_eq!(spec.status, 200);
    assert!(
        spec.header("content-type").starts_with("application/json"),
        "{:?}",
        spec.headers
    );
    let served: Value = serde_json::from_str(&spec.body).expect("served /openapi.json is not JSON");
    assert_eq!(served["info"]["version"], TEST_APP_VERSION);
    assert_eq!(
        served,
        serde_json::from_str::<Value>(&OPENAPI.replace(VERSION_PLACEHOLDER, TEST_APP_VERSION))
            .unwrap()
    );

    let page = http(server.addr, "GET", "/docs");
    assert_eq!(page.status, 200);
    assert!(
        page.header("content-type").starts_with("text/html"),
        "{:?}",
        page.headers
    );
    assert_eq!(page.body, DOCS_HTML);
}

/// What the server answers matches what the document says it answers (status, content type and
/// body schema), for the routes that are safe to call in a test.
#[test]
fn served_answers_match_the_document() {
    let server = start_binary();
    let doc = openapi();
    let cases = [
        ("GET", "/", "/", "200"),
        ("GET", "/health/live", "/health/live", "200"),
        // 200, or 503 if readiness is not up yet right after `listening`: both are documented.
        ("GET", "/health/ready", "/health/ready", "200|503"),
        ("GET", "/slow", "/slow?seconds=0", "200"),
        ("GET", "/slow", "/slow?seconds=abc", "422"),
        ("GET", "/slow", "/slow?seconds=-1", "422"),
        ("GET", "/info", "/info", "200"),
        ("GET", "/", "/", "405"),
    ];
    let mut errors = Vec::new();
    for (method, path, target, code) in cases {
        // 405 is provoked with a method the route does not have.
        let send = if code == "405" { "DELETE" } else { method };
        let answer = http(server.addr, send, target);
        let at = format!("{send} {target}");
        let status = answer.status.to_string();
        assert!(
            code.split('|').any(|c| c == status),
            "{at}: {status} {}",
            answer.body
        );
        let code = status.as_str();
        let documented = deref(
            &doc,
            &doc["paths"][path][method.to_lowercase()]["responses"][code],
        );
        let (media_type, media) = documented["content"]
            .as_object()
            .unwrap()
            .iter()
            .next()
            .unwrap();
        let ct = answer.header("content-type");
        assert!(
            ct.starts_with(media_type.as_str()),
            "{at}: content-type {ct:?}, documented {media_type}"
        );
        let body: Value = serde_json::from_str(&answer.body)
            .unwrap_or_else(|e| panic!("{at}: {e}: {}", answer.body));
        errors.extend(schema::validate(&doc, &media["schema"], &body, &at));
        if code == "405" {
            assert!(!answer.header("allow").is_empty(), "{at}: no Allow header");
        }
        if code == "422" {
            assert_eq!(
                body["detail"][0]["loc"],
                serde_json::json!(["query", "seconds"]),
                "{at}"
            );
        }
    }
    let missing = http(server.addr, "GET", "/no-such-route");
    assert_eq!(missing.status, 404);
    let not_found = deref(&doc, &doc["components"]["responses"]["NotFound"]);
    let body: Value = serde_json::from_str(&missing.body).unwrap();
    assert_eq!(body, not_found["content"]["application/json"]["example"]);
    assert!(
        errors.is_empty(),
        "answers that contradict the document:\n  {}",
        errors.join("\n  ")
    );
}

// ---------------------------------------------------------------------------------------------
// The explorer page
// ---------------------------------------------------------------------------------------------

/// The page fits the budget.
#[test]
fn docs_page_fits_in_30_kb() {
    assert!(
        DOCS_HTML.len() <= DOCS_HTML_MAX_BYTES,
        "docs.html is {} bytes, over the {DOCS_HTML_MAX_BYTES}-byte budget",
        DOCS_HTML.len()
    );
}

/// Nothing in the page can reach another host: no URL with a scheme, no external script, style or
/// image, and a Content-Security-Policy that allows the page's own origin only.
#[test]
fn docs_page_is_self_contained() {
    let lower = DOCS_HTML.to_lowercase();
    for needle in [
        "://",
        " src=",
        "<iframe",
        "<object",
        "<embed",
        "<link rel=\"stylesheet",
    ] {
        assert!(!lower.contains(needle), "docs.html contains {needle:?}");
    }
    let style = &lower[lower.find("<style>").unwrap()..lower.find("</style>").unwrap()];
    for needle in ["url(", "@import", "@font-face"] {
        assert!(
            !style.contains(needle),
            "the stylesheet contains {needle:?}"
        );
    }
    // The only <link> is the empty inline favicon (it stops the browser asking for /favicon.ico).
    assert_eq!(lower.matches("<link").count(), 1);
    assert!(lower.contains("<link rel=\"icon\" href=\"data:,\">"));
    assert!(DOCS_HTML.contains("default-src 'none'"));
    assert!(DOCS_HTML.contains("connect-src 'self'"));
}

/// Headless Chromium renders every route of the document, and "Try it" on `GET /` and on
/// `GET /slow?seconds=0` shows status, headers and body of the real answers.
#[test]
fn docs_page_lists_every_route_and_tries_them_in_chromium() {
    let server = start_binary();
    let dom = chromium_dump_dom(server.addr, "/docs#try=getRoot,getSlow:seconds=0");
    assert_eq!(
        attr(&dom, "body", "data-state").as_deref(),
        Some("ready"),
        "page did not load:\n{dom}"
    );
    assert_eq!(
        attr(&dom, "body", "data-autorun").as_deref(),
        Some("done"),
        "tries did not finish:\n{dom}"
    );

    let listed: BTreeSet<(String, String)> = op_sections(&dom)
        .iter()
        .map(|tag| {
            (
                tag_attr(tag, "data-method").unwrap(),
                tag_attr(tag, "data-path").unwrap(),
            )
        })
        .collect();
    assert_eq!(listed, contract_routes(), "routes listed by the page");
    // Every parameter of the document has an input, and the admin route a token field.
    assert!(dom.contains(r#"id="op-getSlow-p-seconds""#));
    assert!(dom.contains(r#"id="op-preStop-p-seconds""#));
    assert!(dom.contains(r#"id="op-toggleReady-token" type="password""#));

    let root = tried(&dom, "getRoot");
    assert_eq!(root.url, "GET /");
    assert!(root.status.starts_with("200"), "{root:?}");
    assert!(
        root.headers.contains("content-type: application/json"),
        "{root:?}"
    );
    let body: Value = serde_json::from_str(&root.body).expect("GET / body shown is not JSON");
    assert!(
        body["message"].is_string() && body["version"] == TEST_APP_VERSION,
        "{body}"
    );

    let slow = tried(&dom, "getSlow");
    assert_eq!(slow.url, "GET /slow?seconds=0");
    assert!(slow.status.starts_with("200"), "{slow:?}");
    let body: Value = serde_json::from_str(&slow.body).expect("GET /slow body shown is not JSON");
    assert_eq!(
        (
            body["requested_seconds"].as_u64(),
            body["actual_seconds"].as_u64()
        ),
        (Some(0), Some(0))
    );
}

/// An error answer is shown as it came: a bad `seconds` gives the 422 body with its `loc`.
#[test]
fn docs_page_shows_error_answers_in_chromium() {
    let server = start_binary();
    let dom = chromium_dump_dom(server.addr, "/docs#try=getSlow:seconds=abc");
    assert_eq!(
        attr(&dom, "body", "data-autorun").as_deref(),
        Some("done"),
        "tries did not finish:\n{dom}"
    );
    let slow = tried(&dom, "getSlow");
    assert_eq!(slow.url, "GET /slow?seconds=abc");
    assert!(slow.status.starts_with("422"), "{slow:?}");
    let body: Value = serde_json::from_str(&slow.body).unwrap();
    assert_eq!(
        body["detail"][0]["loc"],
        serde_json::json!(["query", "seconds"])
    );
}

/// What one "Try it" put on the page.
#[derive(Debug)]
struct Tried {
    url: String,
    status: String,
    headers: String,
    body: String,
}

fn tried(dom: &str, op: &str) -> Tried {
    let section = op_sections(dom)
        .into_iter()
        .find(|t| tag_attr(t, "data-op-id").as_deref() == Some(op));
    let section = section.unwrap_or_else(|| panic!("no section for {op}"));
    assert_eq!(
        tag_attr(section, "data-state").as_deref(),
        Some("done"),
        "{op} was not tried:\n{dom}"
    );
    let part = |role: &str| {
        text_by_id(dom, &format!("op-{op}-{role}")).unwrap_or_else(|| panic!("no {role} for {op}"))
    };
    Tried {
        url: part("url"),
        status: part("status"),
        headers: part("headers"),
        body: part("body"),
    }
}

/// Start tags of the page's route sections (`<section class="op" data-op-id=… …>`).
fn op_sections(dom: &str) -> Vec<&str> {
    dom.match_indices("<section")
        .map(|(i, _)| &dom[i..i + dom[i..].find('>').unwrap() + 1])
        .filter(|tag| tag.contains("data-op-id="))
        .collect()
}

/// The value of `name` in the first start tag `<tag …>` of the DOM.
fn attr(dom: &str, tag: &str, name: &str) -> Option<String> {
    let start = dom.find(&format!("<{tag}"))?;
    tag_attr(&dom[start..start + dom[start..].find('>')? + 1], name)
}

fn tag_attr(tag: &str, name: &str) -> Option<String> {
    let key = format!(" {name}=\"");
    let start = tag.find(&key)? + key.len();
    Some(unescape(&tag[start..start + tag[start..].find('"')?]))
}

/// Text of the element with this id (our result elements hold text only).
fn text_by_id(dom: &str, id: &str) -> Option<String> {
    let at = dom.find(&format!(" id=\"{id}\""))?;
    let start = at + dom[at..].find('>')? + 1;
    Some(unescape(&dom[start..start + dom[start..].find("</")?]))
}

fn unescape(s: &str) -> String {
    s.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&nbsp;", "\u{a0}")
        .replace("&amp;", "&")
}

/// Loads `target` from the server in headless Chromium and returns the DOM after the page's
/// scripts and fetches have finished (virtual time only advances when no fetch is pending).
fn chromium_dump_dom(addr: SocketAddr, target: &str) -> String {
    assert!(
        Path::new(CHROMIUM).exists(),
        "{CHROMIUM} not found: the /docs browser test needs headless Chromium. Install the Debian \
         package `chromium` (apt-get install chromium), or run ../shared/tooling/setup-env.sh"
    );
    let profile = TempDir::new("chromium-profile");
    let child = Command::new(CHROMIUM)
        .args([
            "--headless",
            "--no-sandbox", // we run as root in CI; Chromium refuses to start sandboxed as root
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            // Without these Chromium keeps trying to reach the internet, which this machine refuses.
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-dev-shm-usage",
        ])
        .arg(format!("--user-data-dir={}", profile.0.display()))
        .arg("--virtual-time-budget=20000")
        .arg("--dump-dom")
        .arg(format!("http://{addr}{target}"))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| {
            panic!("cannot start {CHROMIUM}: {e}; install the Debian package `chromium`")
        });
    let (status, stdout, stderr) = wait_with_timeout(child, Duration::from_secs(90));
    assert!(status, "chromium failed; stderr:\n{stderr}");
    assert!(
        stdout.contains("</html>"),
        "chromium printed no DOM; stderr:\n{stderr}"
    );
    stdout
}

/// Waits for the child, killing it (our own child, by its handle) after `limit`.
fn wait_with_timeout(mut child: Child, limit: Duration) -> (bool, String, String) {
    let mut out = child.stdout.take().unwrap();
    let mut err = child.stderr.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut s = String::new();
        out.read_to_string(&mut s).ok();
        s
    });
    let err_reader = std::thread::spawn(move || {
        let mut s = String::new();
        err.read_to_string(&mut s).ok();
        s
    });
    let deadline = Instant::now() + limit;
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            child.kill().ok();
            child.wait().ok();
            panic!("chromium did not finish within {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    (
        status.success(),
        reader.join().unwrap(),
        err_reader.join().unwrap(),
    )
}

/// A directory removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(what: &str) -> TempDir {
        static N: AtomicUsize = AtomicUsize::new(0);
        let n = N.fetch_add(1, Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!(
            "hello-world-docs-ui-{what}-{}-{n}",
            std::process::id()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        std::fs::remove_dir_all(&self.0).ok();
    }
}

// ---------------------------------------------------------------------------------------------
// The server under test
// ---------------------------------------------------------------------------------------------

/// Runs the `hello-world` binary on an ephemeral port and waits for its `listening` log event;
/// every stdout line is read (so the server never blocks on a full pipe) and stopped on drop.
fn start_binary() -> testkit::abuse::Server {
    let env = [("APP_VERSION", TEST_APP_VERSION), ("ACCESS_LOG", "false")];
    testkit::abuse::Server::start(crate::BIN, &env)
}

/// One HTTP/1.1 answer.
struct Answer {
    status: u16,
    headers: Vec<(String, String)>,
    body: String,
}

impl Answer {
    fn header(&self, name: &str) -> &str {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map_or("", |(_, v)| v.as_str())
    }
}

/// A minimal HTTP/1.1 client: one request per connection, body read to EOF.
fn http(addr: SocketAddr, method: &str, target: &str) -> Answer {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(
        s,
        "{method} {target} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).unwrap();
    let raw = String::from_utf8(raw).expect("answer is not UTF-8");
    let (head, body) = raw.split_once("\r\n\r\n").expect("no end of head");
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .unwrap()
        .split(' ')
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect();
    Answer {
        status,
        headers,
        body: body.to_string(),
    }
}

// ---------------------------------------------------------------------------------------------
// Checkers
// ---------------------------------------------------------------------------------------------

/// A small JSON Schema validator for the keywords our document uses (type, const, enum,
/// required, properties, additionalProperties, items, minItems, minimum, maximum, $ref). An
/// unsupported keyword is reported, so the validator cannot silently accept what it ignores.
mod schema {
    use super::*;

    const SUPPORTED: &[&str] = &[
        "$ref",
        "type",
        "const",
        "enum",
        "required",
        "properties",
        "additionalProperties",
        "items",
        "minItems",
        "minimum",
        "maximum",
        "default",
        "description",
        "title",
        "example",
        "examples",
    ];

    pub fn validate(doc: &Value, schema: &Value, v: &Value, at: &str) -> Vec<String> {
        let mut errors = Vec::new();
        check(doc, schema, v, at, &mut errors);
        errors
    }

    fn type_ok(t: &str, v: &Value) -> bool {
        match t {
            "object" => v.is_object(),
            "array" => v.is_array(),
            "string" => v.is_string(),
            "boolean" => v.is_boolean(),
            "null" => v.is_null(),
            "number" => v.is_number(),
            "integer" => v.is_i64() || v.is_u64(),
            _ => false,
        }
    }

    fn check(doc: &Value, schema: &Value, v: &Value, at: &str, errors: &mut Vec<String>) {
        let s = deref(doc, schema);
        let Some(obj) = s.as_object() else {
            return errors.push(format!("{at}: schema is not an object"));
        };
        for key in obj.keys() {
            if !SUPPORTED.contains(&key.as_str()) {
                errors.push(format!("{at}: validator does not support `{key}`"));
            }
        }
        match &s["type"] {
            Value::String(t) if !type_ok(t, v) => errors.push(format!("{at}: {v} is not {t}")),
            Value::Array(ts) if !ts.iter().any(|t| type_ok(t.as_str().unwrap_or(""), v)) => {
                errors.push(format!("{at}: {v} is none of {}", s["type"]))
            }
            _ => {}
        }
        if let Some(c) = s.get("const") {
            if c != v {
                errors.push(format!("{at}: {v} is not {c}"));
            }
        }
        if let Some(e) = s["enum"].as_array() {
            if !e.contains(v) {
                errors.push(format!("{at}: {v} not in {}", s["enum"]));
            }
        }
        if let (Some(min), Some(n)) = (s["minimum"].as_f64(), v.as_f64()) {
            if n < min {
                errors.push(format!("{at}: {n} < minimum {min}"));
            }
        }
        if let (Some(max), Some(n)) = (s["maximum"].as_f64(), v.as_f64()) {
            if n > max {
                errors.push(format!("{at}: {n} > maximum {max}"));
            }
        }
        if let Some(o) = v.as_object() {
            for r in s["required"].as_array().into_iter().flatten() {
                if !o.contains_key(r.as_str().unwrap_or("")) {
                    errors.push(format!(
                        "{at}: missing required `{}`",
                        r.as_str().unwrap_or("?")
                    ));
                }
            }
            let props = s["properties"].as_object();
            for (k, val) in o {
                match props.and_then(|p| p.get(k)) {
                    Some(ps) => check(doc, ps, val, &format!("{at}.{k}"), errors),
                    None if s["additionalProperties"] == false => {
                        errors.push(format!("{at}: unexpected property `{k}`"))
                    }
                    None => {}
                }
            }
        }
        if let Some(a) = v.as_array() {
            if let Some(min) = s["minItems"].as_u64() {
                if (a.len() as u64) < min {
                    errors.push(format!("{at}: fewer than {min} items"));
                }
            }
            if let Some(items) = s.get("items") {
                for (i, item) in a.iter().enumerate() {
                    check(doc, items, item, &format!("{at}[{i}]"), errors);
                }
            }
        }
    }
}

/// A strict structural check of an OpenAPI 3.1 document: the fixed fields of each object of the
/// specification (anything else must be an `x-` extension), the required ones, and the
/// cross-references between them. Collects every problem instead of stopping at the first.
mod strict {
    use super::*;

    const ROOT: &[&str] = &[
        "openapi",
        "info",
        "jsonSchemaDialect",
        "servers",
        "paths",
        "webhooks",
        "components",
        "security",
        "tags",
        "externalDocs",
    ];
    const INFO: &[&str] = &[
        "title",
        "summary",
        "description",
        "termsOfService",
        "contact",
        "license",
        "version",
    ];
    const LICENSE: &[&str] = &["name", "identifier", "url"];
    const SERVER: &[&str] = &["url", "description", "variables"];
    const TAG: &[&str] = &["name", "description", "externalDocs"];
    const METHODS: &[&str] = &[
        "get", "put", "post", "delete", "options", "head", "patch", "trace",
    ];
    const PATH_ITEM: &[&str] = &["$ref", "summary", "description", "servers", "parameters"];
    const OPERATION: &[&str] = &[
        "tags",
        "summary",
        "description",
        "externalDocs",
        "operationId",
        "parameters",
        "requestBody",
        "responses",
        "callbacks",
        "deprecated",
        "security",
        "servers",
    ];
    const PARAMETER: &[&str] = &[
        "name",
        "in",
        "description",
        "required",
        "deprecated",
        "allowEmptyValue",
        "style",
        "explode",
        "allowReserved",
        "schema",
        "example",
        "examples",
        "content",
    ];
    const RESPONSE: &[&str] = &["description", "headers", "content", "links"];
    const HEADER: &[&str] = &[
        "description",
        "required",
        "deprecated",
        "style",
        "explode",
        "schema",
        "example",
        "examples",
        "content",
    ];
    const MEDIA_TYPE: &[&str] = &["schema", "example", "examples", "encoding"];
    const REFERENCE: &[&str] = &["$ref", "summary", "description"];
    const COMPONENTS: &[&str] = &[
        "schemas",
        "responses",
        "parameters",
        "examples",
        "requestBodies",
        "headers",
        "securitySchemes",
        "links",
        "callbacks",
        "pathItems",
    ];
    const SECURITY_SCHEME: &[&str] = &[
        "type",
        "description",
        "name",
        "in",
        "scheme",
        "bearerFormat",
        "flows",
        "openIdConnectUrl",
    ];
    /// JSON Schema 2020-12 keywords plus the OpenAPI 3.1 additions.
    const SCHEMA: &[&str] = &[
        "$ref",
        "$id",
        "$schema",
        "$defs",
        "$comment",
        "$anchor",
        "$dynamicRef",
        "$dynamicAnchor",
        "type",
        "enum",
        "const",
        "multipleOf",
        "maximum",
        "exclusiveMaximum",
        "minimum",
        "exclusiveMinimum",
        "maxLength",
        "minLength",
        "pattern",
        "items",
        "prefixItems",
        "contains",
        "maxItems",
        "minItems",
        "uniqueItems",
        "maxContains",
        "minContains",
        "maxProperties",
        "minProperties",
        "required",
        "properties",
        "patternProperties",
        "additionalProperties",
        "propertyNames",
        "dependentRequired",
        "dependentSchemas",
        "allOf",
        "anyOf",
        "oneOf",
        "not",
        "if",
        "then",
        "else",
        "unevaluatedItems",
        "unevaluatedProperties",
        "title",
        "description",
        "default",
        "deprecated",
        "readOnly",
        "writeOnly",
        "examples",
        "format",
        "contentMediaType",
        "contentEncoding",
        "contentSchema",
        "discriminator",
        "xml",
        "externalDocs",
        "example",
    ];
    const JSON_TYPES: &[&str] = &[
        "null", "boolean", "object", "array", "number", "integer", "string",
    ];

    struct Checker<'a> {
        doc: &'a Value,
        errors: Vec<String>,
        /// `$ref` targets seen, to report components nothing uses.
        used: BTreeSet<String>,
    }

    pub fn check(doc: &Value) -> Vec<String> {
        let mut c = Checker {
            doc,
            errors: Vec::new(),
            used: BTreeSet::new(),
        };
        c.root();
        c.errors
    }

    impl<'a> Checker<'a> {
        fn err(&mut self, msg: String) {
            self.errors.push(msg);
        }

        /// Checks `v` is an object whose keys are in `allowed` (or `x-…`) and has `required`.
        fn keys<'v>(
            &mut self,
            at: &str,
            v: &'v Value,
            allowed: &[&str],
            required: &[&str],
        ) -> Option<&'v serde_json::Map<String, Value>> {
            let Some(o) = v.as_object() else {
                self.err(format!("{at}: expected an object"));
                return None;
            };
            for k in o.keys() {
                if !allowed.contains(&k.as_str()) && !k.starts_with("x-") {
                    self.err(format!("{at}: unknown key `{k}`"));
                }
            }
            for r in required {
                if !o.contains_key(*r) {
                    self.err(format!("{at}: missing `{r}`"));
                }
            }
            Some(o)
        }

        fn string(&mut self, at: &str, v: &Value, key: &str) {
            if let Some(x) = v.get(key) {
                if !x.is_string() {
                    self.err(format!("{at}.{key}: expected a string"));
                }
            }
        }

        /// Resolves a `$ref` that must point into `#/components/<kind>/`.
        fn reference<'v>(&mut self, at: &str, v: &'v Value, kind: &str) -> Option<&'v Value>
        where
            'a: 'v,
        {
            self.keys(at, v, REFERENCE, &["$ref"]);
            let r = v["$ref"].as_str().unwrap_or("");
            self.used.insert(r.to_string());
            if !r.starts_with(&format!("#/components/{kind}/")) {
                self.err(format!(
                    "{at}: $ref {r} should point into #/components/{kind}/"
                ));
            }
            let target = resolve_ref(self.doc, r);
            if target.is_none() {
                self.err(format!("{at}: unresolved $ref {r}"));
            }
            target
        }

        fn root(&mut self) {
            let doc = self.doc;
            self.keys("root", doc, ROOT, &["openapi", "info", "paths"]);
            let version = doc["openapi"].as_str().unwrap_or("");
            if !version.starts_with("3.1.") || version["3.1.".len()..].parse::<u32>().is_err() {
                self.err(format!("openapi: {version:?} is not 3.1.x"));
            }
            if let Some(info) = self.keys("info", &doc["info"], INFO, &["title", "version"]) {
                for k in ["title", "version", "summary", "description"] {
                    self.string("info", &doc["info"], k);
                }
                if info.contains_key("license") {
                    self.keys("info.license", &doc["info"]["license"], LICENSE, &["name"]);
                }
            }
            for (i, s) in doc["servers"].as_array().into_iter().flatten().enumerate() {
                self.keys(&format!("servers[{i}]"), s, SERVER, &["url"]);
            }
            let mut tags = BTreeSet::new();
            for (i, t) in doc["tags"].as_array().into_iter().flatten().enumerate() {
                self.keys(&format!("tags[{i}]"), t, TAG, &["name"]);
                if !tags.insert(t["name"].as_str().unwrap_or("").to_string()) {
                    self.err(format!("tags[{i}]: duplicate tag"));
                }
            }
            let schemes: BTreeSet<String> = doc["components"]["securitySchemes"]
                .as_object()
                .into_iter()
                .flatten()
                .map(|(k, _)| k.clone())
                .collect();
            let mut op_ids = BTreeSet::new();
            for (path, item) in doc["paths"].as_object().into_iter().flatten() {
                if !path.starts_with('/') {
                    self.err(format!("paths: `{path}` does not start with /"));
                }
                let mut allowed = PATH_ITEM.to_vec();
                allowed.extend(METHODS);
                self.keys(path, item, &allowed, &[]);
                let template: BTreeSet<String> = path
                    .split('{')
                    .skip(1)
                    .filter_map(|s| s.split_once('}'))
                    .map(|(n, _)| n.to_string())
                    .collect();
                for m in METHODS {
                    let Some(op) = item.get(*m) else { continue };
                    let at = format!("{} {path}", m.to_uppercase());
                    self.operation(&at, op, &template, &tags, &schemes, &mut op_ids);
                }
            }
            self.components();
        }

        fn operation(
            &mut self,
            at: &str,
            op: &Value,
            template: &BTreeSet<String>,
            tags: &BTreeSet<String>,
            schemes: &BTreeSet<String>,
            op_ids: &mut BTreeSet<String>,
        ) {
            self.keys(at, op, OPERATION, &["responses", "operationId", "summary"]);
            for k in ["summary", "description", "operationId"] {
                self.string(at, op, k);
            }
            if let Some(id) = op["operationId"].as_str() {
                if !op_ids.insert(id.to_string()) {
                    self.err(format!("{at}: duplicate operationId `{id}`"));
                }
            }
            for t in op["tags"].as_array().into_iter().flatten() {
                if !tags.contains(t.as_str().unwrap_or("")) {
                    self.err(format!("{at}: tag {t} is not declared in `tags`"));
                }
            }
            for req in op["security"].as_array().into_iter().flatten() {
                for name in req.as_object().into_iter().flatten().map(|(k, _)| k) {
                    if !schemes.contains(name) {
                        self.err(format!("{at}: security scheme `{name}` is not declared"));
                    }
                }
            }
            let mut seen = BTreeSet::new();
            let mut path_params = BTreeSet::new();
            for (i, p) in op["parameters"]
                .as_array()
                .into_iter()
                .flatten()
                .enumerate()
            {
                let pat = format!("{at} parameters[{i}]");
                let p = if p.get("$ref").is_some() {
                    match self.reference(&pat, p, "parameters") {
                        Some(t) => t,
                        None => continue,
                    }
                } else {
                    p
                };
                self.parameter(&pat, p);
                let (name, location) = (
                    p["name"].as_str().unwrap_or(""),
                    p["in"].as_str().unwrap_or(""),
                );
                if !seen.insert((name, location)) {
                    self.err(format!("{pat}: duplicate parameter {name} in {location}"));
                }
                if location == "path" {
                    path_params.insert(name.to_string());
                }
            }
            if &path_params != template {
                self.err(format!(
                    "{at}: path parameters {path_params:?} do not match the template {template:?}"
                ));
            }
            let Some(responses) = op["responses"].as_object() else {
                return self.err(format!("{at}: responses must be an object"));
            };
            if !responses.keys().any(|c| c.starts_with('2')) {
                self.err(format!("{at}: no 2xx response"));
            }
            for (code, r) in responses {
                let valid = code == "default"
                    || (code.len() == 3
                        && matches!(code.as_bytes()[0], b'1'..=b'5')
                        && (code[1..].bytes().all(|b| b.is_ascii_digit()) || &code[1..] == "XX"));
                if !valid {
                    self.err(format!("{at}: bad status code `{code}`"));
                }
                let rat = format!("{at} {code}");
                if r.get("$ref").is_some() {
                    self.reference(&rat, r, "responses");
                } else {
                    self.response(&rat, r);
                }
            }
        }

        fn parameter(&mut self, at: &str, p: &Value) {
            self.keys(at, p, PARAMETER, &["name", "in"]);
            let location = p["in"].as_str().unwrap_or("");
            if !["query", "header", "path", "cookie"].contains(&location) {
                self.err(format!(
                    "{at}: `in` must be one of query, header, path, cookie (got {location:?})"
                ));
            }
            if location == "path" && p["required"] != true {
                self.err(format!("{at}: a path parameter must be required"));
            }
            if location == "header"
                && ["accept", "content-type", "authorization"]
                    .contains(&p["name"].as_str().unwrap_or("").to_lowercase().as_str())
            {
                self.err(format!(
                    "{at}: header {} is ignored by OpenAPI; use a security scheme",
                    p["name"]
                ));
            }
            if p.get("schema").is_some() == p.get("content").is_some() {
                self.err(format!("{at}: exactly one of `schema` and `content`"));
            }
            if let Some(s) = p.get("schema") {
                self.schema(&format!("{at}.schema"), s);
                if let Some(ex) = p.get("example") {
                    for e in schema::validate(self.doc, s, ex, &format!("{at}.example")) {
                        self.err(e);
                    }
                }
            }
        }

        fn response(&mut self, at: &str, r: &Value) {
            self.keys(at, r, RESPONSE, &["description"]);
            self.string(at, r, "description");
            for (name, h) in r["headers"].as_object().into_iter().flatten() {
                let hat = format!("{at} header {name}");
                self.keys(&hat, h, HEADER, &[]);
                if let Some(s) = h.get("schema") {
                    self.schema(&hat, s);
                }
            }
            for (mt, media) in r["content"].as_object().into_iter().flatten() {
                let mat = format!("{at} {mt}");
                let essence = mt.split(';').next().unwrap_or("").trim();
                let parts: Vec<&str> = essence.split('/').collect();
                if parts.len() != 2 || parts.iter().any(|p| p.is_empty() || p.contains(' ')) {
                    self.err(format!("{mat}: not a media type"));
                }
                self.keys(&mat, media, MEDIA_TYPE, &["schema"]);
                if let Some(s) = media.get("schema") {
                    self.schema(&mat, s);
                }
            }
        }

        fn schema(&mut self, at: &str, s: &Value) {
            if s.is_boolean() {
                return;
            }
            if s.get("$ref").is_some() {
                self.used
                    .insert(s["$ref"].as_str().unwrap_or("").to_string());
                if resolve_ref(self.doc, s["$ref"].as_str().unwrap_or("")).is_none() {
                    self.err(format!(
                        "{at}: unresolved $ref {}",
                        s["$ref"].as_str().unwrap_or("")
                    ));
                }
            }
            let Some(o) = self.keys(at, s, SCHEMA, &[]) else {
                return;
            };
            let types: Vec<&Value> = match &s["type"] {
                Value::Null => vec![],
                Value::Array(a) => a.iter().collect(),
                t => vec![t],
            };
            for t in types {
                if !JSON_TYPES.contains(&t.as_str().unwrap_or("")) {
                    self.err(format!("{at}: bad type {t}"));
                }
            }
            if let (Some(req), Some(props)) =
                (s["required"].as_array(), s["properties"].as_object())
            {
                for r in req {
                    if !props.contains_key(r.as_str().unwrap_or("")) {
                        self.err(format!("{at}: required {r} is not among the properties"));
                    }
                }
            }
            for (k, sub) in s["properties"].as_object().into_iter().flatten() {
                self.schema(&format!("{at}.{k}"), sub);
            }
            for k in [
                "items",
                "additionalProperties",
                "not",
                "if",
                "then",
                "else",
                "contains",
            ] {
                if let Some(sub) = o.get(k) {
                    self.schema(&format!("{at}/{k}"), sub);
                }
            }
            for k in ["allOf", "anyOf", "oneOf", "prefixItems"] {
                for (i, sub) in s[k].as_array().into_iter().flatten().enumerate() {
                    self.schema(&format!("{at}/{k}[{i}]"), sub);
                }
            }
        }

        fn components(&mut self) {
            let doc = self.doc;
            let Some(c) = self.keys("components", &doc["components"], COMPONENTS, &[]) else {
                return;
            };
            for (name, s) in c
                .get("schemas")
                .and_then(Value::as_object)
                .into_iter()
                .flatten()
            {
                self.schema(&format!("components.schemas.{name}"), s);
            }
            for (name, r) in c
                .get("responses")
                .and_then(Value::as_object)
                .into_iter()
                .flatten()
            {
                self.response(&format!("components.responses.{name}"), r);
            }
            for (name, s) in c
                .get("securitySchemes")
                .and_then(Value::as_object)
                .into_iter()
                .flatten()
            {
                let at = format!("components.securitySchemes.{name}");
                self.keys(&at, s, SECURITY_SCHEME, &["type"]);
                match s["type"].as_str().unwrap_or("") {
                    "http" if s["scheme"].is_string() => {}
                    "http" => self.err(format!("{at}: http scheme needs `scheme`")),
                    "apiKey" | "mutualTLS" | "oauth2" | "openIdConnect" => {}
                    t => self.err(format!("{at}: bad type {t:?}")),
                }
            }
            // Everything declared is used: a component nothing points at is dead documentation.
            let mut declared = BTreeMap::new();
            for kind in ["schemas", "responses", "parameters"] {
                for name in c
                    .get(kind)
                    .and_then(Value::as_object)
                    .into_iter()
                    .flatten()
                    .map(|(k, _)| k)
                {
                    declared.insert(format!("#/components/{kind}/{name}"), ());
                }
            }
            for r in declared.keys() {
                if !self.used.contains(r) {
                    self.errors
                        .push(format!("{r}: declared but never referenced"));
                }
            }
        }
    }
}

/// `/openapi.json` is JSON carrying the running APP_VERSION (escaped); `/docs` is HTML.
/// (In process, through the `serve_with` seam; the document itself is checked above.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openapi_carries_the_version_and_docs_is_html() {
    use crate::inproc::{assert_framing, bounded, TestServer};
    bounded(20, async {
        let version = "4.5.6-rc.1+\"quoted\"";
        let srv = TestServer::start(&[("APP_VERSION", version)]).await;
        let r = srv.get("/openapi.json").await;
        assert_eq!(r.status, 200);
        assert_eq!(r.header("content-type"), "application/json");
        assert_framing(&r, "openapi");
        let doc = r.json();
        assert_eq!(doc["info"]["version"], version);
        assert!(doc["openapi"].as_str().unwrap().starts_with("3.1"));
        let r = srv.get("/docs").await;
        assert_eq!(r.status, 200);
        assert!(r.header("content-type").starts_with("text/html"));
        assert_framing(&r, "docs");
        assert!(
            r.text().to_ascii_lowercase().contains("<html")
                || r.text().starts_with("<!doctype html")
        );
        srv.stop().await;
    })
    .await;
}
