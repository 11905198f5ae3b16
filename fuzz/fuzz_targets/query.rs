//! The request-target/query parser (`src/query.rs`) and the router on arbitrary bytes.
//! Properties: `tests/props/checks.rs::check_query`.
#![no_main]

#[path = "../../tests/props/checks.rs"]
mod checks;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    checks::check_query(data);
    checks::check_reject(data);
});
