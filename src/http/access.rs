//! The access line of one answered request: what the observation layer captured before the
//! handler consumed the request, written by the log's fixed access record — or, for the rare
//! faulted answer, by the general writer with the `fault` field added.

use std::time::Duration;

use hyper::header::HeaderValue;
use hyper::{Method, StatusCode, Uri, Version};

use crate::log::{self, Level};

/// What the access log records about a request, captured before the handler consumes it.
pub(crate) struct AccessInfo {
    pub method: Method,
    /// The request target; cloning a parsed `Uri` shares its bytes instead of copying them.
    pub uri: Uri,
    pub version: Version,
    pub user_agent: Option<HeaderValue>,
}

/// Writes the access line of one answered request (`bytes`: the body's length, 0 for HEAD).
pub(crate) fn log(
    info: &AccessInfo,
    status: StatusCode,
    took: Duration,
    bytes: u64,
    peer: &str,
    id: Option<&HeaderValue>,
    fault: Option<&'static str>,
) {
    let version = match info.version {
        Version::HTTP_10 => "HTTP/1.0",
        Version::HTTP_2 => "HTTP/2",
        _ => "HTTP/1.1",
    };
    let target = info
        .uri
        .path_and_query()
        .map_or_else(|| info.uri.path(), |pq| pq.as_str());
    let bytes = if info.method == Method::HEAD {
        0
    } else {
        bytes
    };
    if let Some(fault) = fault {
        // The rare faulted request goes through the general writer: the same record plus
        // the `fault` field (`error`, `delay`, `delay+error`).
        let message = format!("{} {target} {version} {}", info.method, status.as_u16());
        let user_agent = info.user_agent.as_ref().map_or(&b""[..], |v| v.as_bytes());
        let fields = [
            ("event", log::Value::Str("request")),
            ("method", log::Value::Str(info.method.as_str())),
            ("path", log::Value::Str(target)),
            ("status", log::Value::U64(u64::from(status.as_u16()))),
            (
                "duration_ms",
                log::Value::Micros(took.as_micros().min(u128::from(u64::MAX)) as u64),
            ),
            ("bytes", log::Value::U64(bytes)),
            ("remote_addr", log::Value::Str(peer)),
            ("user_agent", log::Value::Bytes(user_agent)),
            (
                "request_id",
                log::Value::Bytes(id.map_or(b"", |v| v.as_bytes())),
            ),
            ("protocol", log::Value::Str(version)),
            ("fault", log::Value::Str(fault)),
        ];
        log::log(Level::Info, "access", &message, &fields);
        return;
    }
    log::log_access(&log::Access {
        method: info.method.as_str(),
        target,
        version,
        status: status.as_u16(),
        duration_us: took.as_micros().min(u128::from(u64::MAX)) as u64,
        bytes,
        remote_addr: peer,
        user_agent: info.user_agent.as_ref().map_or(b"", |v| v.as_bytes()),
        request_id: id.map_or(b"", |v| v.as_bytes()),
    });
}
