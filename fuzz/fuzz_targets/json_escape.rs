//! The JSON string escaper (`src/json.rs`) and the log record formatter on arbitrary bytes.
//! Properties: `testkit::props::check_json_escape` (output parses and round-trips).
#![no_main]

use testkit::props as checks;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    checks::check_json_escape(data);
});
