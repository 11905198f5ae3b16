//! Do the logging floor and ours write the same lines? Field for field, in the same order,
//! with the same values wherever the value does not depend on the moment or the connection.

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::Path;

/// The first `Hello World requested` line and the first access line for `GET /` of a log.
pub type Pair = (String, String);

/// One pair from each server.
pub struct Samples {
    pub floor: Pair,
    pub ours: Pair,
}

/// Values that differ from run to run: replaced by a placeholder before comparing.
const VARYING: [&str; 4] = ["timestamp", "duration_ms", "remote_addr", "request_id"];

pub fn first_pair(log: &Path) -> Option<Pair> {
    let f = File::open(log).ok()?;
    let (mut hello, mut access) = (None, None);
    for line in BufReader::new(f)
        .lines()
        .map_while(Result::ok)
        .take(100_000)
    {
        if hello.is_none() && line.contains(r#""message":"Hello World requested""#) {
            hello = Some(line);
        } else if access.is_none()
            && line.contains(r#""logger":"access""#)
            && line.contains(r#""path":"/","#)
        {
            access = Some(line);
        }
        if hello.is_some() && access.is_some() {
            break;
        }
    }
    Some((hello?, access?))
}

/// `line` with the values of [`VARYING`] keys replaced by their shape: `"timestamp":"T32"`
/// (a string of 32 characters), `"duration_ms":N` (a number). Every other byte is kept.
pub fn normalize(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut rest = line;
    while let Some((key, at)) = VARYING
        .iter()
        .filter_map(|k| rest.find(&format!("\"{k}\":")).map(|i| (*k, i)))
        .min_by_key(|&(_, i)| i)
    {
        let start = at + key.len() + 3;
        out.push_str(&rest[..start]);
        let value = &rest[start..];
        let len = if let Some(s) = value.strip_prefix('"') {
            // A string: up to the first quote not escaped (our values have no escapes).
            let end = s.find('"').map_or(s.len(), |e| e + 2);
            out.push_str(&format!("\"S{}\"", end - 2));
            end
        } else {
            let end = value.find([',', '}']).unwrap_or(value.len());
            out.push('N');
            end
        };
        rest = &value[len..];
    }
    out.push_str(rest);
    out
}

/// Whether both pairs normalize to the same bytes; the normalized lines for the report.
pub fn compare(s: &Samples) -> (bool, String) {
    let floor = (normalize(&s.floor.0), normalize(&s.floor.1));
    let ours = (normalize(&s.ours.0), normalize(&s.ours.1));
    let same = floor == ours;
    let text = if same {
        format!("{}\n{}", ours.0, ours.1)
    } else {
        format!(
            "ours:\n{}\n{}\nfloor:\n{}\n{}",
            ours.0, ours.1, floor.0, floor.1
        )
    };
    (same, text)
}
