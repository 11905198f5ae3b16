//! The documentation assets: `src/assets/openapi.json` and the `/docs` explorer page.
//!
//! # Contents
//! - `openapi_*`: the document is valid JSON, parses as OpenAPI 3.1 with `oas3` (required
//!   fields, enums, every reference an operation uses), passes the strict check ([`strict`]: no
//!   unknown key anywhere, declared and used cross-references), documents exactly the contract's
//!   routes, and its examples match its own schemas ([`schema`], the `jsonschema` crate).
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

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use serde_json::{json, Value};
use testkit::http1::http;

/// The assets, exactly as the server embeds them.
const OPENAPI: &str = include_str!("../../src/assets/openapi.json");
const DOCS_HTML: &str = include_str!("../../src/assets/docs.html");
/// The placeholder in `info.version` that the server replaces with APP_VERSION once at startup.
const VERSION_PLACEHOLDER: &str = "{{APP_VERSION}}";
/// Budget for docs.html (at most 30 KB of HTML+JS embedded in the binary).
const DOCS_HTML_MAX_BYTES: usize = 30 * 1024;

/// The APP_VERSION given to the server under test, to see that it is substituted.
const TEST_APP_VERSION: &str = "7.7.7-docs-ui";

/// Every route the service serves, as (method, path).
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

/// The strict rules for the document, as a JSON Schema (2020-12) over it: the fixed fields of
/// every OpenAPI object we use. Checked with the `jsonschema` crate.
const STRICT_RULES: &str = include_str!("openapi-strict.schema.json");

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

/// The strict check: no unknown key anywhere (typos are errors), required fields, valid status
/// codes and media types, unique operationIds, declared tags and schemes, resolvable and used
/// components.
#[test]
fn openapi_passes_strict_structural_check() {
    let errors = strict::check(&openapi());
    assert!(
        errors.is_empty(),
        "OpenAPI problems:\n  {}",
        errors.join("\n  ")
    );
}

/// The strict check catches the mistakes it is there for, each where it is.
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
    let errors = strict::check(&doc);
    for (at, needle) in [
        ("/paths/~1/get/responses/200", "descripton"),
        ("/paths/~1slow/get/parameters/0/in", "\"body\""),
        ("/paths/~1info/get", "duplicate operationId `getRoot`"),
        ("/paths/~1metrics/get/responses", "2000"),
        ("/components/schemas/Hello/properties/message", "typ"),
        (
            "/components/responses/NotFound/content/application~1json/schema",
            "unresolved $ref #/components/schemas/Nope",
        ),
    ] {
        assert!(
            errors
                .iter()
                .any(|e| e.starts_with(&format!("{at}: ")) && e.contains(needle)),
            "expected {needle:?} at {at} in:\n  {}",
            errors.join("\n  ")
        );
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
    assert_eq!(example["detail"][0]["loc"], json!(["query", "seconds"]));
    let item = deref(&doc, &invalid["content"]["application/json"]["schema"])["properties"]
        ["detail"]["items"]
        .clone();
    assert_eq!(item["required"], json!(["type", "loc", "msg", "input"]));

    let toggle = op("post", "/admin/toggle-ready");
    assert_eq!(
        toggle["security"],
        json!([{}, {"adminToken": []}]),
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
        let (status, head, body) = http(server.addr(), send, target, &[]);
        let at = format!("{send} {target}");
        let status = status.to_string();
        assert!(
            code.split('|').any(|c| c == status),
            "{at}: {status} {body}"
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
        let ct = header(&head, "content-type");
        assert!(
            ct.starts_with(media_type.as_str()),
            "{at}: content-type {ct:?}, documented {media_type}"
        );
        let body: Value =
            serde_json::from_str(&body).unwrap_or_else(|e| panic!("{at}: {e}: {body}"));
        errors.extend(schema::validate(&doc, &media["schema"], &body, &at));
        if code == "405" {
            assert!(!header(&head, "allow").is_empty(), "{at}: no Allow header");
        }
        if code == "422" {
            assert_eq!(
                body["detail"][0]["loc"],
                json!(["query", "seconds"]),
                "{at}"
            );
        }
    }
    let (status, _, body) = http(server.addr(), "GET", "/no-such-route", &[]);
    assert_eq!(status, 404);
    let not_found = deref(&doc, &doc["components"]["responses"]["NotFound"]);
    let body: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(body, not_found["content"]["application/json"]["example"]);
    assert!(
        errors.is_empty(),
        "answers that contradict the document:\n  {}",
        errors.join("\n  ")
    );
}

/// The schema check is not a rubber stamp: the live `GET /` answer passes its documented schema
/// (reached through the response's `$ref`), and fails a deliberately wrong one (a property of the
/// wrong type, a required property it lacks), and a tampered answer fails the right one.
#[test]
fn served_answer_fails_a_schema_it_does_not_match() {
    let server = start_binary();
    let (status, _, body) = http(server.addr(), "GET", "/", &[]);
    assert_eq!(status, 200);
    let answer: Value = serde_json::from_str(&body).unwrap();
    let doc = openapi();
    let media = |doc: &Value| {
        deref(doc, &doc["paths"]["/"]["get"]["responses"]["200"])["content"]["application/json"]
            ["schema"]
            .clone()
    };
    assert_eq!(
        schema::validate(&doc, &media(&doc), &answer, "GET /"),
        [] as [String; 0]
    );

    let mut wrong = doc.clone();
    let hello = &mut wrong["components"]["schemas"]["Hello"];
    hello["properties"]["message"]["type"] = "integer".into();
    hello["required"]
        .as_array_mut()
        .unwrap()
        .push("no_such_field".into());
    let errors = schema::validate(&wrong, &media(&wrong), &answer, "GET /");
    assert!(
        errors
            .iter()
            .any(|e| e.contains("/message") && e.contains("integer")),
        "{errors:?}"
    );
    assert!(
        errors.iter().any(|e| e.contains("no_such_field")),
        "{errors:?}"
    );

    let mut tampered = answer.clone();
    tampered["message"] = json!(42);
    assert!(!schema::validate(&doc, &media(&doc), &tampered, "GET /").is_empty());
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
    let dom = chromium_dump_dom(server.addr(), "/docs#try=getRoot,getSlow:seconds=0");
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
    let dom = chromium_dump_dom(server.addr(), "/docs#try=getSlow:seconds=abc");
    assert_eq!(
        attr(&dom, "body", "data-autorun").as_deref(),
        Some("done"),
        "tries did not finish:\n{dom}"
    );
    let slow = tried(&dom, "getSlow");
    assert_eq!(slow.url, "GET /slow?seconds=abc");
    assert!(slow.status.starts_with("422"), "{slow:?}");
    let body: Value = serde_json::from_str(&slow.body).unwrap();
    assert_eq!(body["detail"][0]["loc"], json!(["query", "seconds"]));
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
         package `chromium` (apt-get install chromium), or run scripts/test, which installs it"
    );
    let profile = TempDir::new("chromium-profile");
    let mut cmd = Command::new(CHROMIUM);
    cmd.args([
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
    .arg(format!("http://{addr}{target}"));
    let out = testkit::run::run_command(&mut cmd, Duration::from_secs(90));
    assert_eq!(out.code, 0, "chromium failed; stderr:\n{}", out.stderr);
    assert!(
        out.stdout.contains("</html>"),
        "chromium printed no DOM; stderr:\n{}",
        out.stderr
    );
    out.stdout
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
/// every stdout line is read and checked (so the server never blocks on a full pipe), and it is
/// stopped on drop.
fn start_binary() -> testkit::Server {
    let env = [("APP_VERSION", TEST_APP_VERSION), ("ACCESS_LOG", "false")];
    testkit::start(crate::BIN, &env)
}

/// The value of header `name` in a lower-cased head (empty if absent).
fn header<'a>(head: &'a str, name: &str) -> &'a str {
    head.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(':'))
        .map_or("", str::trim)
}

// ---------------------------------------------------------------------------------------------
// Checkers
// ---------------------------------------------------------------------------------------------

/// A value against a schema of the document, with the `jsonschema` crate (an OpenAPI 3.1 schema
/// object is JSON Schema 2020-12). The schema is wrapped in a root that carries the document's
/// `components`, so its `#/components/schemas/…` references resolve exactly as in the document.
mod schema {
    use super::*;

    /// Every way `v` contradicts `schema`, as `{at}{instance path}: {reason}`.
    pub fn validate(doc: &Value, schema: &Value, v: &Value, at: &str) -> Vec<String> {
        let root = json!({
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "components": doc["components"],
            "allOf": [schema],
        });
        match jsonschema::draft202012::new(&root) {
            Ok(validator) => validator
                .iter_errors(v)
                .map(|e| format!("{at}{}: {e}", e.instance_path()))
                .collect(),
            Err(e) => vec![format!("{at}: the schema does not compile: {e}")],
        }
    }
}

/// The strict check of the document: [`STRICT_RULES`] (the fixed fields of each object, with
/// the `jsonschema` crate) plus the cross-references a schema cannot express. Every problem
/// is reported as `{JSON pointer}: {reason}`.
mod strict {
    use super::*;

    const METHODS: &[&str] = &[
        "get", "put", "post", "delete", "options", "head", "patch", "trace",
    ];

    pub fn check(doc: &Value) -> Vec<String> {
        let rules: Value = serde_json::from_str(STRICT_RULES).expect("the rules are JSON");
        let rules = jsonschema::draft202012::new(&rules).expect("the rules are a valid schema");
        let mut errors: Vec<String> = rules
            .iter_errors(doc)
            .map(|e| format!("{}: {e}", e.instance_path()))
            .collect();
        references(doc, "", doc, &mut errors);
        operations(doc, &mut errors);
        errors
    }

    /// Every `$ref` resolves; every `required` name of a schema is one of its properties;
    /// every declared component is referenced (a component nothing points at is dead).
    fn references(doc: &Value, at: &str, v: &Value, errors: &mut Vec<String>) {
        match v {
            Value::Object(o) => {
                if let Some(r) = o.get("$ref").and_then(Value::as_str) {
                    if resolve_ref(doc, r).is_none() {
                        errors.push(format!("{at}: unresolved $ref {r}"));
                    }
                }
                if let (Some(req), Some(props)) =
                    (v["required"].as_array(), v["properties"].as_object())
                {
                    for r in req
                        .iter()
                        .filter(|r| !props.contains_key(r.as_str().unwrap_or("")))
                    {
                        errors.push(format!("{at}: required {r} is not among the properties"));
                    }
                }
                for (k, sub) in o {
                    let key = k.replace('~', "~0").replace('/', "~1");
                    references(doc, &format!("{at}/{key}"), sub, errors);
                }
            }
            Value::Array(a) => {
                for (i, sub) in a.iter().enumerate() {
                    references(doc, &format!("{at}/{i}"), sub, errors);
                }
            }
            _ => {}
        }
        if at.is_empty() {
            let text = v.to_string();
            for kind in ["schemas", "responses", "parameters"] {
                for name in v["components"][kind]
                    .as_object()
                    .into_iter()
                    .flatten()
                    .map(|(k, _)| k)
                {
                    let r = format!("#/components/{kind}/{name}");
                    if !text.contains(&format!("\"$ref\":\"{r}\"")) {
                        errors.push(format!(
                            "/components/{kind}/{name}: declared but never referenced"
                        ));
                    }
                }
            }
        }
    }

    /// Unique operationIds and tags; declared tags and security schemes; path parameters that
    /// match the path template, each once; at least one 2xx answer.
    fn operations(doc: &Value, errors: &mut Vec<String>) {
        let mut tags = BTreeSet::new();
        for (i, t) in doc["tags"].as_array().into_iter().flatten().enumerate() {
            if !tags.insert(t["name"].as_str().unwrap_or("")) {
                errors.push(format!("/tags/{i}: duplicate tag"));
            }
        }
        let schemes = &doc["components"]["securitySchemes"];
        let mut op_ids = BTreeSet::new();
        for (path, item) in doc["paths"].as_object().into_iter().flatten() {
            let template: BTreeSet<&str> = path
                .split('{')
                .skip(1)
                .filter_map(|s| Some(s.split_once('}')?.0))
                .collect();
            for (m, op) in item.as_object().into_iter().flatten() {
                if !METHODS.contains(&m.as_str()) {
                    continue;
                }
                let at = format!("/paths/{}/{m}", path.replace('~', "~0").replace('/', "~1"));
                if let Some(id) = op["operationId"].as_str() {
                    if !op_ids.insert(id) {
                        errors.push(format!("{at}: duplicate operationId `{id}`"));
                    }
                }
                for t in op["tags"].as_array().into_iter().flatten() {
                    if !tags.contains(t.as_str().unwrap_or("")) {
                        errors.push(format!("{at}: tag {t} is not declared in `tags`"));
                    }
                }
                for req in op["security"].as_array().into_iter().flatten() {
                    for name in req.as_object().into_iter().flatten().map(|(k, _)| k) {
                        if schemes.get(name).is_none() {
                            errors.push(format!("{at}: security scheme `{name}` is not declared"));
                        }
                    }
                }
                let mut seen = BTreeSet::new();
                let mut in_path = BTreeSet::new();
                for p in op["parameters"].as_array().into_iter().flatten() {
                    let p = deref(doc, p);
                    let (name, location) = (
                        p["name"].as_str().unwrap_or(""),
                        p["in"].as_str().unwrap_or(""),
                    );
                    if !seen.insert((name, location)) {
                        errors.push(format!("{at}: duplicate parameter {name} in {location}"));
                    }
                    if location == "path" {
                        in_path.insert(name);
                    }
                }
                if in_path != template {
                    errors.push(format!(
                        "{at}: path parameters {in_path:?} do not match the template"
                    ));
                }
                let responses = op["responses"].as_object().into_iter().flatten();
                if !responses.map(|(c, _)| c).any(|c| c.starts_with('2')) {
                    errors.push(format!("{at}: no 2xx response"));
                }
            }
        }
    }
}

/// `GET /openapi.json` is the embedded document with APP_VERSION substituted (escaped: a
/// version with a quote keeps it JSON), as `application/json`; `GET /docs` is the embedded page,
/// as HTML. In process, through the `serve_with` seam.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn served_assets_carry_the_version_and_have_the_right_types() {
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
        let placeholder = format!("\"{VERSION_PLACEHOLDER}\"");
        let escaped = serde_json::to_string(version).unwrap();
        let embedded: Value =
            serde_json::from_str(&OPENAPI.replace(&placeholder, &escaped)).unwrap();
        assert_eq!(doc, embedded, "the embedded document, otherwise unchanged");
        let r = srv.get("/docs").await;
        assert_eq!(r.status, 200);
        assert!(r.header("content-type").starts_with("text/html"));
        assert_framing(&r, "docs");
        assert!(
            r.text().to_ascii_lowercase().contains("<html")
                || r.text().starts_with("<!doctype html")
        );
        assert_eq!(r.text(), DOCS_HTML);
        srv.stop().await;
    })
    .await;
}
