//! Property tests over the input-facing pure functions, in the normal suite: proptest
//! drives the same checks as the cargo-fuzz targets (`testkit::props`), and the
//! committed fuzz corpus (`fuzz/corpus/`) is replayed through them. The coverage-guided fuzz
//! run itself needs nightly and cargo-fuzz and is a separate command: `fuzz/run.sh`.

use testkit::props as checks;

use std::path::Path;

use proptest::prelude::*;

fn replay(target: &str, check: fn(&[u8])) -> usize {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz/corpus")
        .join(target);
    let mut n = 0;
    for entry in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let path = entry.expect("corpus entry").path();
        let data = std::fs::read(&path).expect("corpus file");
        let r = std::panic::catch_unwind(|| check(&data));
        assert!(r.is_ok(), "corpus input {} fails", path.display());
        n += 1;
    }
    n
}

/// Every input of the committed fuzz corpus (`fuzz/corpus/`) passes the property checks.
#[test]
fn committed_corpus_replays_clean() {
    assert!(replay("query", checks::check_query) >= 10);
    assert!(replay("json_escape", checks::check_json_escape) >= 10);
}

/// Strings rich in what the escaper and the parser treat specially.
fn nasty() -> impl Strategy<Value = String> {
    proptest::collection::vec(
        prop_oneof![
            Just("\"".to_owned()),
            Just("\\".to_owned()),
            Just("%".to_owned()),
            Just("+".to_owned()),
            Just("&".to_owned()),
            Just("=".to_owned()),
            Just("%2".to_owned()),
            Just("%ff".to_owned()),
            Just("%00".to_owned()),
            Just("seconds".to_owned()),
            Just("\u{2028}".to_owned()),
            Just("\u{7f}".to_owned()),
            Just("-".to_owned()),
            Just(".".to_owned()),
            "[0-9]{1,25}",
            "[\\x00-\\x1f]",
            "\\PC{0,4}",
            any::<char>().prop_map(String::from),
        ],
        0..24,
    )
    .prop_map(|v| v.concat())
}

/// Generated cases per property: 2000 in the full suite; `PROPTEST_CASES` lowers it for the quick
/// subset (scripts/test --quick sets 200 and says so), where a debug build makes each case slow.
fn cases() -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2000)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(), ..ProptestConfig::default() })]

    /// The JSON escaper round-trips any bytes (lossy UTF-8) and emits no raw control character.
    #[test]
    fn escaper_round_trips_any_bytes(data in proptest::collection::vec(any::<u8>(), 0..256)) {
        checks::check_json_escape(&data);
    }

    /// The JSON escaper round-trips strings built from quotes, backslashes, controls and line
    /// separators.
    #[test]
    fn escaper_round_trips_nasty_strings(s in nasty()) {
        checks::check_json_escape(s.as_bytes());
    }

    /// The query parser and router never panic and keep their properties on any bytes.
    #[test]
    fn query_parser_holds_on_any_bytes(data in proptest::collection::vec(any::<u8>(), 0..256)) {
        checks::check_query(&data);
    }

    /// The query parser keeps its properties on queries built from `%`, `&`, `=`, `+` and odd
    /// characters.
    #[test]
    fn query_parser_holds_on_nasty_queries(s in nasty()) {
        checks::check_query(s.as_bytes());
    }

    /// Build a query from arbitrary (key, value) byte pairs, percent-encoded: the parser gives
    /// back the last value of each key exactly.
    #[test]
    fn encoded_pairs_round_trip(
        pairs in proptest::collection::vec(
            (prop_oneof![Just(b"seconds".to_vec()), proptest::collection::vec(any::<u8>(), 0..8)],
             proptest::collection::vec(any::<u8>(), 0..12)),
            0..8)
    ) {
        let q = pairs
            .iter()
            .map(|(k, v)| format!("{}={}", checks::encode(k), checks::encode(v)))
            .collect::<Vec<_>>()
            .join("&");
        for (k, _) in &pairs {
            let Ok(key) = std::str::from_utf8(k) else { continue };
            let want = pairs.iter().rev().find(|(k2, _)| k2 == k).map(|p| p.1.clone());
            prop_assert_eq!(hello_world::internals::query::last_value(Some(&q), key), want);
        }
        checks::check_query(q.as_bytes());
    }

    /// Integers of any length: canonical digits, capped, never a panic.
    #[test]
    fn integers_of_any_size(sign in prop_oneof![Just(""), Just("-"), Just("%2B"), Just("%2D")],
                            digits in "[0-9]{1,40}") {
        let q = format!("seconds={sign}{digits}");
        let r = hello_world::internals::query::int_param(Some(&q), "seconds");
        let canonical = digits.trim_start_matches('0');
        let negative = sign == "-" || sign == "%2D";
        match r {
            Ok(Some(n)) => {
                prop_assert!(!negative || canonical.is_empty());
                prop_assert_eq!(n.as_json(), if canonical.is_empty() { "0" } else { canonical });
                prop_assert!(n.capped(60) <= 60);
            }
            Ok(None) => prop_assert!(false, "the key is there"),
            Err(e) => {
                prop_assert!(negative && !canonical.is_empty(), "{:?}", e);
                prop_assert_eq!(e.kind, "greater_than_equal");
            }
        }
    }

    /// The bad-request rewriter never panics on any bytes.
    #[test]
    fn reject_rewrite_never_panics(data in proptest::collection::vec(any::<u8>(), 0..200)) {
        checks::check_reject(&data);
    }

    #[test]
    fn reject_rewrite_handles_hyper_like_heads(
        status in prop_oneof![Just("400 Bad Request"), Just("414 URI Too Long"),
                              Just("431 Request Header Fields Too Large")],
        headers in proptest::collection::vec("[a-z-]{1,12}: [ -~]{0,20}", 0..5),
        tail in proptest::collection::vec(any::<u8>(), 0..50),
    ) {
        let mut head = format!("HTTP/1.1 {status}\r\n");
        for h in &headers {
            head.push_str(h);
            head.push_str("\r\n");
        }
        head.push_str("\r\n");
        let mut buf = head.clone().into_bytes();
        buf.extend_from_slice(&tail);
        let has_type = headers.iter().any(|h| h.starts_with("content-type:"));
        let r = hello_world::internals::reject::rewrite(&buf, b"pod-1");
        prop_assert_eq!(r.is_some(), !has_type);
        if let Some((len, _, _)) = r {
            prop_assert_eq!(len, head.len());
        }
        checks::check_reject(&buf);
    }
}
