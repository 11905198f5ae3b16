use super::*;

#[test]
fn every_route_resolves_from_its_template() {
    for r in Route::all() {
        if r != Route::UNMATCHED {
            assert_eq!(resolve(r.template()), r);
        }
    }
    assert_eq!(Route::all().count(), ROUTES.len() + 1);
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
        assert_eq!(resolve(p), Route::UNMATCHED, "{p:?}");
    }
}

#[test]
fn templates_match_one_segment() {
    assert!(template_matches("/status/{code}", "/status/418"));
    assert!(!template_matches("/status/{code}", "/status/"));
    assert!(!template_matches("/status/{code}", "/status/4/1"));
    assert!(!template_matches("/status/{code}", "/status"));
    assert!(!template_matches("/status/{code}", "/statuses/1"));
}

#[test]
fn head_goes_with_get_only() {
    let (get, post) = (Methods::GET, Methods::POST);
    assert!(get.accepts(&Method::HEAD) && get.accepts(&Method::GET));
    assert!(!get.accepts(&Method::POST));
    assert!(post.accepts(&Method::POST) && !post.accepts(&Method::GET));
    assert!(!post.accepts(&Method::HEAD));
    assert_eq!(
        (post.allow(), get.allow()),
        ("POST".into(), "GET, HEAD".into())
    );
    assert!(Methods::ANY.accepts(&Method::from_bytes(b"BREW").unwrap()));
}

#[test]
fn unusual_methods_share_one_label() {
    let m = Method::from_bytes(b"BREW").unwrap();
    assert_eq!(METHODS[method_index(&m)], "OTHER");
    assert_eq!(METHODS[method_index(&Method::PATCH)], "PATCH");
}

fn read(rel: &str) -> String {
    let path = format!("{}/{rel}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// Methods of a row as the documents name them: HEAD is implied by GET (OpenAPI lists GET).
fn documented_methods(d: &RouteDef, with_head: bool) -> Vec<String> {
    METHODS[..METHODS.len() - 1]
        .iter()
        .filter(|m| {
            d.methods
                .accepts(&Method::from_bytes(m.as_bytes()).unwrap())
        })
        .filter(|m| with_head || **m != "HEAD")
        .map(|m| m.to_string())
        .collect()
}

/// `src/assets/openapi.json` documents exactly the table's paths, each with its methods.
#[test]
fn openapi_document_matches_the_route_table() {
    let doc: serde_json::Value = serde_json::from_str(&read("src/assets/openapi.json")).unwrap();
    let paths = doc["paths"].as_object().expect("paths object");
    let mut documented: Vec<(String, Vec<String>)> = paths
        .iter()
        .map(|(p, ops)| {
            let ops = ops.as_object().expect("path item object");
            let mut m: Vec<String> = METHODS[..METHODS.len() - 1]
                .iter()
                .filter(|m| **m != "HEAD" && ops.contains_key(&m.to_ascii_lowercase()))
                .map(|m| m.to_string())
                .collect();
            m.sort();
            (p.clone(), m)
        })
        .collect();
    documented.sort();
    let mut table: Vec<(String, Vec<String>)> = ROUTES
        .iter()
        .map(|d| {
            let mut m = documented_methods(d, false);
            m.sort();
            (d.path.to_owned(), m)
        })
        .collect();
    table.sort();
    assert_eq!(documented, table);
}

/// The README's `## Routes` table (`| Path | Methods | Answers |`, cells like `` `/slow` ``
/// and `` `GET`, `HEAD` ``) lists exactly the table's routes with their methods.
#[test]
fn readme_routes_table_matches_the_route_table() {
    let readme = read("README.md");
    let section = readme
        .split("\n## Routes")
        .nth(1)
        .expect("README.md has a `## Routes` section");
    let section = section.split("\n## ").next().unwrap_or_default();
    let rows = crate::config::tests::markdown_table(section, "| Path | Methods | Answers |");
    let mut documented: Vec<(String, Vec<String>)> = rows
        .iter()
        .map(|r| {
            assert_eq!(r.len(), 3, "3 cells: {r:?}");
            let path = r[0].strip_prefix('`').and_then(|p| p.strip_suffix('`'));
            let path = path.unwrap_or_else(|| panic!("path in backticks: {r:?}"));
            let methods = r[1]
                .split(',')
                .map(|m| {
                    let m = m.trim();
                    let m = m.strip_prefix('`').and_then(|m| m.strip_suffix('`'));
                    m.unwrap_or_else(|| panic!("methods in backticks: {r:?}"))
                        .to_owned()
                })
                .collect();
            (path.to_owned(), methods)
        })
        .collect();
    documented.sort();
    let mut table: Vec<_> = ROUTES
        .iter()
        .map(|d| (d.path.to_owned(), documented_methods(d, true)))
        .collect();
    table.sort();
    assert_eq!(documented, table);
}
