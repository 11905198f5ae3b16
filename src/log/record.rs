//! The log record: one JSON object per line, written by one function, [`write_line`].
//!
//! Every line has the tutorial's fields — `timestamp` (RFC 3339, UTC, microseconds), `level`,
//! `message`, `logger`, `pod` — followed by event fields (`event`, `elapsed_ms`, counts). Every
//! record shape goes through [`write_line`], generic over the shape's [`Body`]: a generic
//! record ([`write_record`]) writes its fields as they come, the access record ([`Access`])
//! its fixed fields with literal keys, so the per-request path skips the key escaper.

use std::time::SystemTime;

use super::time::{push_digits, Clock};
use super::value::{Level, Value};
use crate::json;

/// The part of a record that differs between record shapes: [`write_line`] is generic over
/// it, so each shape gets its own compiled copy of the one writer, with its fixed parts
/// folded in (for the access record: its field names as literals, no per-field dispatch).
pub(crate) trait Body {
    /// The message, escaped, without its quotes.
    fn message(&self, out: &mut String);
    /// The logger's name, as a JSON string.
    fn logger(&self, out: &mut String);
    /// The event fields, each as `,"key":value`.
    fn fields(&self, out: &mut String);
}

/// The one record writer: the envelope (timestamp, level, message, logger, pod), then the
/// event fields, then `}\n`.
pub(crate) fn write_line(
    out: &mut String,
    clock: &mut Clock,
    time: SystemTime,
    level: Level,
    pod: &str,
    body: &impl Body,
) {
    out.push_str(OPEN);
    clock.push(out, time);
    out.push_str(match level {
        Level::Debug => "\",\"level\":\"DEBUG\",\"message\":\"",
        Level::Info => "\",\"level\":\"INFO\",\"message\":\"",
        Level::Warning => "\",\"level\":\"WARNING\",\"message\":\"",
        Level::Error => "\",\"level\":\"ERROR\",\"message\":\"",
        Level::Critical => "\",\"level\":\"CRITICAL\",\"message\":\"",
    });
    body.message(out);
    out.push_str("\",\"logger\":");
    body.logger(out);
    out.push_str(",\"pod\":");
    json::push_str(out, pod);
    body.fields(out);
    out.push_str("}\n");
}

/// Every record starts so; the timestamp follows.
const OPEN: &str = "{\"timestamp\":\"";
/// Where a record's tail (everything after the timestamp) begins.
const TAIL_START: usize = OPEN.len() + "2026-02-26T10:00:00.000000+00:00".len();

/// A field's value. Inlined, so that a field whose variant is known where it is written (every
/// access field) compiles to the one arm it needs.
#[inline(always)]
fn push_value(out: &mut String, value: Value<'_>) {
    match value {
        Value::Str(s) => json::push_str(out, s),
        Value::Bytes(b) => json::push_bytes(out, b),
        Value::U64(n) => push_digits(out, n, 1),
        Value::F64(f) => json::push_f64(out, f),
        Value::Micros(us) => {
            push_digits(out, us / 1000, 1);
            out.push('.');
            push_digits(out, us % 1000, 3);
        }
        Value::Bool(b) => out.push_str(if b { "true" } else { "false" }),
    }
}

/// A record as the rest of the service logs it: a logger, a message and a list of fields.
pub(crate) struct Generic<'a, 'v> {
    pub logger: &'a str,
    pub message: &'a str,
    pub fields: &'a [(&'a str, Value<'v>)],
}

impl Body for Generic<'_, '_> {
    fn message(&self, out: &mut String) {
        json::push_escaped(out, self.message);
    }
    fn logger(&self, out: &mut String) {
        json::push_str(out, self.logger);
    }
    fn fields(&self, out: &mut String) {
        for (key, value) in self.fields {
            json::push_key(out, key);
            push_value(out, *value);
        }
    }
}

/// Formats one log record as a JSON object followed by `\n`. Pure: no clock, no I/O.
pub fn write_record(
    out: &mut String,
    time: SystemTime,
    level: Level,
    logger: &str,
    pod: &str,
    message: &str,
    fields: &[(&str, Value<'_>)],
) {
    let body = Generic {
        logger,
        message,
        fields,
    };
    write_line(out, &mut Clock::default(), time, level, pod, &body);
}

/// What the formatter keeps between lines: the current second's text ([`Clock`]) and the
/// tail of the last field-less record.
///
/// Field-less lines mostly repeat word for word — `Hello World requested` is one per request —
/// and only their timestamp changes, so [`Scratch::write`] copies the remembered tail instead
/// of escaping message, logger and pod again: the same bytes, written once by [`write_line`].
#[derive(Default)]
pub(crate) struct Scratch {
    pub clock: Clock,
    tail: Option<Tail>,
}

struct Tail {
    level: Level,
    logger: String,
    message: String,
    pod: String,
    text: String,
    /// Set when the record came through [`Scratch::write_static`]: its inputs by address.
    key: Option<StaticKey>,
}

/// A record's `'static` logger, pod and message by address and length, and its level. Two
/// equal keys are the same text: `'static` text is never freed, so never changes.
#[derive(Clone, Copy, PartialEq, Eq)]
struct StaticKey([usize; 6], Level);

impl StaticKey {
    fn of(level: Level, logger: &'static str, pod: &'static str, message: &'static str) -> Self {
        let addr = |s: &str| s.as_ptr() as usize;
        let words = [
            addr(logger),
            logger.len(),
            addr(pod),
            pod.len(),
            addr(message),
            message.len(),
        ];
        StaticKey(words, level)
    }
}

impl Scratch {
    /// [`write_record`] through the remembered tail.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn write(
        &mut self,
        out: &mut String,
        time: SystemTime,
        level: Level,
        logger: &str,
        pod: &str,
        message: &str,
        fields: &[(&str, Value<'_>)],
    ) {
        if fields.is_empty() {
            if let Some(t) = &self.tail {
                if t.level == level && t.message == message && t.logger == logger && t.pod == pod {
                    out.push_str(OPEN);
                    self.clock.push(out, time);
                    out.push_str(&t.text);
                    return;
                }
            }
        }
        let start = out.len();
        let body = Generic {
            logger,
            message,
            fields,
        };
        write_line(out, &mut self.clock, time, level, pod, &body);
        if fields.is_empty() {
            self.tail = Some(Tail {
                level,
                logger: logger.to_owned(),
                message: message.to_owned(),
                pod: pod.to_owned(),
                text: out[start + TAIL_START..].to_owned(),
                key: None,
            });
        }
    }

    /// [`Scratch::write`] for a field-less record whose text is all `'static` (a literal
    /// message at a `log_at!` call site, the installed logger's pod): the remembered tail is
    /// recognised by the key, six words, instead of by comparing three strings (callgrind:
    /// ~110 fewer instructions per `Hello World requested`).
    pub(crate) fn write_static(
        &mut self,
        out: &mut String,
        time: SystemTime,
        level: Level,
        logger: &'static str,
        pod: &'static str,
        message: &'static str,
    ) {
        let key = StaticKey::of(level, logger, pod, message);
        if let Some(t) = self.tail.as_ref().filter(|t| t.key == Some(key)) {
            out.push_str(OPEN);
            self.clock.push(out, time);
            out.push_str(&t.text);
            return;
        }
        self.write(out, time, level, logger, pod, message, &[]);
        if let Some(t) = &mut self.tail {
            t.key = Some(key);
        }
    }
}

/// One access-log record: what the service knows about a finished request.
pub struct Access<'a> {
    pub method: &'a str,
    /// The request target (path and query) as received.
    pub target: &'a str,
    pub version: &'a str,
    pub status: u16,
    pub duration_us: u64,
    pub bytes: u64,
    pub remote_addr: &'a str,
    pub user_agent: &'a [u8],
    pub request_id: &'a [u8],
}

/// `,"key":value` for a key that needs no escaping (a literal: the test against
/// [`write_record`], which escapes keys, would show one that does).
macro_rules! field {
    ($out:expr, $key:literal, $value:expr) => {{
        $out.push_str(concat!(",\"", $key, "\":"));
        push_value($out, $value);
    }};
}

/// The access record: level INFO, logger `access`, the message `METHOD TARGET VERSION STATUS`.
impl Body for Access<'_> {
    fn message(&self, out: &mut String) {
        // Escaping maps character by character, so the message may be escaped in pieces.
        json::push_escaped(out, self.method);
        out.push(' ');
        json::push_escaped(out, self.target);
        out.push(' ');
        json::push_escaped(out, self.version);
        out.push(' ');
        push_digits(out, u64::from(self.status), 1);
    }
    fn logger(&self, out: &mut String) {
        out.push_str("\"access\"");
    }
    fn fields(&self, out: &mut String) {
        out.push_str(",\"event\":\"request\"");
        field!(out, "method", Value::Str(self.method));
        field!(out, "path", Value::Str(self.target));
        field!(out, "status", Value::U64(u64::from(self.status)));
        field!(out, "duration_ms", Value::Micros(self.duration_us));
        field!(out, "bytes", Value::U64(self.bytes));
        field!(out, "remote_addr", Value::Str(self.remote_addr));
        field!(out, "user_agent", Value::Bytes(self.user_agent));
        field!(out, "request_id", Value::Bytes(self.request_id));
        field!(out, "protocol", Value::Str(self.version));
    }
}

impl Access<'_> {
    /// The access record through [`write_line`].
    pub(crate) fn write(&self, out: &mut String, clock: &mut Clock, time: SystemTime, pod: &str) {
        write_line(out, clock, time, Level::Info, pod, self);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, UNIX_EPOCH};

    fn at(secs: u64, micros: u32) -> SystemTime {
        UNIX_EPOCH + Duration::new(secs, micros * 1000)
    }

    fn access_line(a: &Access<'_>, t: SystemTime, pod: &str) -> String {
        let mut s = String::new();
        a.write(&mut s, &mut Clock::default(), t, pod);
        s
    }

    /// The access line, byte for byte: the shape the collectors' parsers and the tests of the
    /// binary expect.
    #[test]
    fn the_access_line_is_byte_for_byte_the_documented_one() {
        let a = Access {
            method: "GET",
            target: "/?x=1",
            version: "HTTP/1.1",
            status: 200,
            duration_us: 107,
            bytes: 43,
            remote_addr: "127.0.0.1:5",
            user_agent: b"curl/7.88.1",
            request_id: b"00ab-1",
        };
        assert_eq!(
            access_line(&a, at(1_772_100_000, 123_456), "hello-hello-world-abc"),
            "{\"timestamp\":\"2026-02-26T10:00:00.123456+00:00\",\"level\":\"INFO\",\
             \"message\":\"GET /?x=1 HTTP/1.1 200\",\"logger\":\"access\",\
             \"pod\":\"hello-hello-world-abc\",\"event\":\"request\",\"method\":\"GET\",\
             \"path\":\"/?x=1\",\"status\":200,\"duration_ms\":0.107,\"bytes\":43,\
             \"remote_addr\":\"127.0.0.1:5\",\"user_agent\":\"curl/7.88.1\",\
             \"request_id\":\"00ab-1\",\"protocol\":\"HTTP/1.1\"}\n"
        );
    }

    /// The access record written with its fixed keys equals the generic record with the same
    /// fields, hostile input included: one format, two ways in.
    #[test]
    fn access_records_equal_write_record() {
        type Case<'a> = (
            &'a str,
            &'a str,
            &'a str,
            u16,
            u64,
            u64,
            &'a str,
            &'a [u8],
            &'a [u8],
        );
        let cases: [Case<'_>; 4] = [
            (
                "GET",
                "/",
                "HTTP/1.1",
                200,
                107,
                43,
                "127.0.0.1:5",
                b"curl/7.88.1",
                b"00ab-1",
            ),
            (
                "HEAD",
                "/slow?seconds=1",
                "HTTP/2",
                503,
                61_000_123,
                0,
                "[::1]:9",
                b"",
                b"",
            ),
            (
                "BREW",
                "/a\"b\\c\n\u{2028}\u{7f}?x=\u{fffd}",
                "HTTP/1.0",
                404,
                0,
                22,
                "1.2.3.4:80",
                b"ua\xff\"\n",
                b"id\x00",
            ),
            (
                "POST",
                "/admin/toggle-ready",
                "HTTP/1.1",
                401,
                999,
                33,
                "10.0.0.1:1",
                b"\xe2\x80\xa8",
                b"x",
            ),
        ];
        for (i, (method, target, version, status, us, bytes, remote, ua, id)) in
            cases.into_iter().enumerate()
        {
            let t = at(1_772_100_000 + i as u64, 42);
            let message = format!("{method} {target} {version} {status}");
            let mut want = String::new();
            write_record(
                &mut want,
                t,
                Level::Info,
                "access",
                "pod\"1",
                &message,
                &[
                    ("event", Value::Str("request")),
                    ("method", Value::Str(method)),
                    ("path", Value::Str(target)),
                    ("status", Value::U64(u64::from(status))),
                    ("duration_ms", Value::Micros(us)),
                    ("bytes", Value::U64(bytes)),
                    ("remote_addr", Value::Str(remote)),
                    ("user_agent", Value::Bytes(ua)),
                    ("request_id", Value::Bytes(id)),
                    ("protocol", Value::Str(version)),
                ],
            );
            let a = Access {
                method,
                target,
                version,
                status,
                duration_us: us,
                bytes,
                remote_addr: remote,
                user_agent: ua,
                request_id: id,
            };
            assert_eq!(access_line(&a, t, "pod\"1"), want, "case {i}");
        }
    }

    /// The remembered tail changes nothing but the cost: byte for byte what `write_record`
    /// writes, whether the line repeats, changes in any part, or has fields.
    #[test]
    fn scratch_writes_what_write_record_writes() {
        type Case<'a> = (Level, &'a str, &'a str, &'a str, &'a [(&'a str, Value<'a>)]);
        let mut scratch = Scratch::default();
        let cases: [Case<'_>; 8] = [
            (Level::Info, "app", "p", "Hello World requested", &[]),
            (Level::Info, "app", "p", "Hello World requested", &[]),
            (Level::Warning, "app", "p", "Hello World requested", &[]),
            (Level::Warning, "app", "p", "Hello \"World\"\n", &[]),
            (Level::Warning, "srv", "p", "Hello \"World\"\n", &[]),
            (Level::Warning, "srv", "q", "Hello \"World\"\n", &[]),
            (
                Level::Info,
                "app",
                "p",
                "Hello World requested",
                &[("n", Value::U64(1))],
            ),
            (Level::Warning, "srv", "q", "Hello \"World\"\n", &[]),
        ];
        for (i, (level, logger, pod, msg, fields)) in cases.iter().enumerate() {
            let t = at(1_772_100_000 + i as u64 / 2, 123_456 + i as u32);
            let mut want = String::new();
            write_record(&mut want, t, *level, logger, pod, msg, fields);
            let mut got = String::from("already here\n");
            scratch.write(&mut got, t, *level, logger, pod, msg, fields);
            assert_eq!(got, format!("already here\n{want}"), "case {i}");
        }
    }

    /// The `'static` path too, mixed with the other one: a key left by one record never
    /// serves another (level, logger, pod and message each change once).
    #[test]
    fn static_records_write_what_write_record_writes() {
        let mut scratch = Scratch::default();
        let hello = "Hello World requested";
        let cases: [(bool, Level, &'static str, &'static str, &'static str); 9] = [
            (true, Level::Info, "app", "p", hello),
            (true, Level::Info, "app", "p", hello),
            (false, Level::Info, "app", "p", hello),
            (true, Level::Info, "app", "p", hello),
            (true, Level::Warning, "app", "p", hello),
            (true, Level::Warning, "app", "q", hello),
            (false, Level::Warning, "srv", "q", "other"),
            (true, Level::Warning, "srv", "q", hello),
            (true, Level::Warning, "srv", "q", "Hello \"World\"\n"),
        ];
        for (i, (fixed, level, logger, pod, msg)) in cases.into_iter().enumerate() {
            let t = at(1_772_100_000 + i as u64 / 3, 654_321 + i as u32);
            let mut want = String::new();
            write_record(&mut want, t, level, logger, pod, msg, &[]);
            let mut got = String::from("already here\n");
            if fixed {
                scratch.write_static(&mut got, t, level, logger, pod, msg);
            } else {
                scratch.write(&mut got, t, level, logger, pod, msg, &[]);
            }
            assert_eq!(got, format!("already here\n{want}"), "case {i}");
        }
    }

    #[test]
    fn record_has_the_tutorial_fields_in_order() {
        let mut s = String::new();
        write_record(
            &mut s,
            at(0, 0),
            Level::Info,
            "app",
            "hello-hello-world-abc",
            "Hello World requested",
            &[],
        );
        assert_eq!(
            s,
            "{\"timestamp\":\"1970-01-01T00:00:00.000000+00:00\",\"level\":\"INFO\",\
             \"message\":\"Hello World requested\",\"logger\":\"app\",\
             \"pod\":\"hello-hello-world-abc\"}\n"
        );
    }

    #[test]
    fn event_fields_of_every_type() {
        let mut s = String::new();
        write_record(
            &mut s,
            at(0, 0),
            Level::Warning,
            "server",
            "p",
            "",
            &[
                ("event", Value::Str("drained")),
                ("elapsed_ms", Value::U64(12)),
                ("ratio", Value::F64(0.5)),
                ("took", Value::Micros(1_250)),
                ("quick", Value::Micros(7)),
                ("nan", Value::F64(f64::NAN)),
                ("ok", Value::Bool(false)),
                ("path", Value::Bytes(b"/\xff\n")),
            ],
        );
        assert!(s.ends_with(
            ",\"message\":\"\",\"logger\":\"server\",\"pod\":\"p\",\"event\":\"drained\",\
             \"elapsed_ms\":12,\"ratio\":0.5,\"took\":1.250,\"quick\":0.007,\"nan\":null,\"ok\":false,\"path\":\"/\u{fffd}\\n\"}\n"
        ));
        assert_eq!(s.matches('\n').count(), 1);
    }

    #[test]
    fn hostile_strings_cannot_break_the_line() {
        let mut s = String::new();
        let evil = "\"}\n{\"level\":\"CRITICAL\"\u{0}\u{1b}[31m";
        write_record(
            &mut s,
            at(0, 0),
            Level::Info,
            evil,
            evil,
            evil,
            &[(evil, Value::Str(evil))],
        );
        assert_eq!(s.matches('\n').count(), 1);
        assert!(s.ends_with("}\n"));
        assert!(!s.contains('\u{0}') && !s.contains('\u{1b}'));
    }
}
