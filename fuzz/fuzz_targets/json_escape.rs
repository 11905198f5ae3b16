//! The JSON string escaper (`src/json.rs`) and the log record formatter on arbitrary bytes.
//! Properties: `tests/props/checks.rs::check_json_escape` (output parses and round-trips).
#![no_main]

#[path = "../../tests/props/checks.rs"]
mod checks;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    checks::check_json_escape(data);
});
