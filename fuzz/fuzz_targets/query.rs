//! The request-target/query parser (`src/query.rs`) and the router on arbitrary bytes.
//! Properties: `testkit::props::check_query`.
#![no_main]

use testkit::props as checks;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    checks::check_query(data);
    checks::check_reject(data);
});
