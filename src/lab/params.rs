//! Validation of every experiment parameter, pure, with errors in FastAPI's 422 shape (the
//! shape `/slow` uses): `{"detail":[{"type","loc","msg","input"[,"ctx"]}]}`, one item per bad
//! parameter, named and worded as pydantic names and words them. (The experiment *variables*
//! are parsed in `config::lab`.)

use std::time::Duration;

use crate::json::{self, Obj};
use crate::query;

/// One rejected parameter.
#[derive(Debug, Clone, PartialEq)]
pub struct Item {
    pub kind: &'static str,
    /// `("query", "mib")`, `("path", "code")`.
    pub loc: (&'static str, &'static str),
    pub msg: String,
    /// `None` renders as `null` (a missing parameter).
    pub input: Option<String>,
    /// A pre-rendered `ctx` object.
    pub ctx: Option<String>,
}

/// A 422 body: every rejected parameter of a request.
#[derive(Debug, Clone, PartialEq)]
pub struct Detail(pub Vec<Item>);

impl Detail {
    pub fn to_json(&self) -> String {
        let items: Vec<String> = self.0.iter().map(item_json).collect();
        format!("{{\"detail\":[{}]}}", items.join(","))
    }
}

fn item_json(i: &Item) -> String {
    let mut loc = String::from("[");
    json::push_str(&mut loc, i.loc.0);
    loc.push(',');
    json::push_str(&mut loc, i.loc.1);
    loc.push(']');
    let mut o = Obj::new()
        .str("type", i.kind)
        .raw("loc", &loc)
        .str("msg", &i.msg);
    o = match &i.input {
        Some(input) => o.str("input", input),
        None => o.raw("input", "null"),
    };
    if let Some(ctx) = &i.ctx {
        o = o.raw("ctx", ctx);
    }
    o.finish()
}

/// An integer in `min..=max`, by pydantic's rules: optional sign, ASCII digits.
pub fn bounded(
    loc: (&'static str, &'static str),
    raw: &str,
    min: u64,
    max: u64,
) -> Result<u64, Item> {
    let item = |kind, msg: String, ctx: Option<String>| Item {
        kind,
        loc,
        msg,
        input: Some(raw.to_owned()),
        ctx,
    };
    let (negative, digits) = match raw.as_bytes().first() {
        Some(b'-') => (true, &raw[1..]),
        Some(b'+') => (false, &raw[1..]),
        _ => (false, raw),
    };
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        let msg = "Input should be a valid integer, unable to parse string as an integer";
        return Err(item("int_parsing", msg.to_owned(), None));
    }
    let zero = digits.bytes().all(|b| b == b'0');
    let value = if negative && !zero {
        None
    } else {
        Some(digits.parse::<u64>().unwrap_or(u64::MAX))
    };
    match value {
        Some(v) if v > max => Err(item(
            "less_than_equal",
            format!("Input should be less than or equal to {max}"),
            Some(format!("{{\"le\":{max}}}")),
        )),
        Some(v) if v >= min => Ok(v),
        _ => Err(item(
            "greater_than_equal",
            format!("Input should be greater than or equal to {min}"),
            Some(format!("{{\"ge\":{min}}}")),
        )),
    }
}

fn missing(name: &'static str) -> Item {
    Item {
        kind: "missing",
        loc: ("query", name),
        msg: "Field required".to_owned(),
        input: None,
        ctx: None,
    }
}

/// The decoded value of query parameter `name` (last one wins, as in [`query`]).
fn value(q: Option<&str>, name: &str) -> Option<String> {
    query::last_value(q, name).map(|v| String::from_utf8_lossy(&v).into_owned())
}

fn int_or(
    q: Option<&str>,
    name: &'static str,
    default: u64,
    min: u64,
    max: u64,
) -> Result<u64, Item> {
    value(q, name).map_or(Ok(default), |v| bounded(("query", name), &v, min, max))
}

/// `GET /status/{code}`: the path segment, percent-decoded, 200–599.
pub fn status_code(segment: &str) -> Result<u16, Detail> {
    let raw = String::from_utf8_lossy(&percent_decode(segment)).into_owned();
    bounded(("path", "code"), &raw, 200, 599)
        .map(|c| c as u16)
        .map_err(|e| Detail(vec![e]))
}

/// Path percent-decoding (`+` stays `+`, unlike a query).
fn percent_decode(s: &str) -> Vec<u8> {
    query::decode(&s.replace('+', "%2B"))
}

/// `POST /admin/crash?code=N`: 1–125 (126+ mean "not executable", "not found", signals).
pub fn crash_code(q: Option<&str>) -> Result<u8, Detail> {
    int_or(q, "code", 1, 1, 125)
        .map(|c| c as u8)
        .map_err(|e| Detail(vec![e]))
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FaultMode {
    Off,
    Error,
}

impl FaultMode {
    pub fn as_str(self) -> &'static str {
        match self {
            FaultMode::Off => "off",
            FaultMode::Error => "error",
        }
    }
}

/// `POST /admin/fault?mode=off|error` (required).
pub fn fault_mode(q: Option<&str>) -> Result<FaultMode, Detail> {
    match value(q, "mode").as_deref() {
        Some("off") => Ok(FaultMode::Off),
        Some("error") => Ok(FaultMode::Error),
        None => Err(Detail(vec![missing("mode")])),
        Some(other) => Err(Detail(vec![Item {
            kind: "literal_error",
            loc: ("query", "mode"),
            msg: "Input should be 'off' or 'error'".to_owned(),
            input: Some(other.to_owned()),
            ctx: Some(r#"{"expected":"'off' or 'error'"}"#.to_owned()),
        }])),
    }
}

pub const CPU_MAX_SECONDS: u64 = 300;
pub const CPU_MAX_THREADS: u64 = 64;

/// `POST /admin/stress/cpu?seconds=S&threads=T`: S 1–300 (default 30), T 1–64 (default 1).
pub fn cpu(q: Option<&str>) -> Result<(Duration, usize), Detail> {
    let seconds = int_or(q, "seconds", 30, 1, CPU_MAX_SECONDS);
    let threads = int_or(q, "threads", 1, 1, CPU_MAX_THREADS);
    match (seconds, threads) {
        (Ok(s), Ok(t)) => Ok((Duration::from_secs(s), t as usize)),
        (s, t) => Err(Detail(s.err().into_iter().chain(t.err()).collect())),
    }
}

/// `POST /admin/stress/memory?mib=M` (required): at least 1, at most what the cap leaves.
pub fn memory_mib(q: Option<&str>, remaining: u64) -> Result<u64, Detail> {
    let Some(raw) = value(q, "mib") else {
        return Err(Detail(vec![missing("mib")]));
    };
    bounded(("query", "mib"), &raw, 1, remaining).map_err(|mut e| {
        if e.kind == "less_than_equal" {
            e.msg
                .push_str(" (STRESS_MAX_MIB less the MiB already held)");
        }
        Detail(vec![e])
    })
}

#[cfg(test)]
mod tests;
