//! `hello-world healthcheck [URL]`: a minimal HTTP/1.1 GET over a blocking socket, for Docker's
//! HEALTHCHECK and the Helm test in an image that has no curl or shell.

use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::{Duration, Instant};

/// This server's own liveness URL: its address, or loopback of the same family when it
/// listens on all addresses.
pub fn own_url(host: std::net::IpAddr, port: u16) -> String {
    let host = match host {
        std::net::IpAddr::V4(a) if a.is_unspecified() => "127.0.0.1".to_owned(),
        std::net::IpAddr::V6(a) if a.is_unspecified() => "[::1]".to_owned(),
        std::net::IpAddr::V6(a) => format!("[{a}]"),
        a => a.to_string(),
    };
    format!("http://{host}:{port}{}", crate::http::routes::LIVENESS)
}

/// Splits `http://host[:port][/path]` into (host, port, path). Only plain HTTP is supported.
pub fn parse_url(url: &str) -> Result<(String, u16, String), String> {
    let rest = url
        .strip_prefix("http://")
        .ok_or_else(|| format!("{url:?}: only http:// URLs are supported"))?;
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
        let (h, after) = v6
            .split_once(']')
            .ok_or_else(|| format!("{url:?}: unclosed IPv6 bracket"))?;
        (h.to_owned(), after.strip_prefix(':'))
    } else {
        match authority.rsplit_once(':') {
            Some((h, p)) => (h.to_owned(), Some(p)),
            None => (authority.to_owned(), None),
        }
    };
    let port = match port {
        None => 80,
        Some(p) => p.parse().map_err(|_| format!("{url:?}: bad port {p:?}"))?,
    };
    if host.is_empty() || path.bytes().any(|b| b <= b' ' || b == 0x7f) {
        return Err(format!("{url:?}: bad host or path"));
    }
    Ok((host, port, path.to_owned()))
}

/// Runs the check; returns the status code on success.
pub fn check(url: &str, timeout: Duration) -> Result<u16, String> {
    let (host, port, path) = parse_url(url)?;
    let deadline = Instant::now() + timeout;
    let left = || {
        deadline
            .saturating_duration_since(Instant::now())
            .max(Duration::from_millis(1))
    };
    let addrs: Vec<_> = (host.as_str(), port)
        .to_socket_addrs()
        .map_err(|e| format!("cannot resolve {host}: {e}"))?
        .collect();
    let mut last = format!("no address for {host}");
    for addr in addrs {
        let mut s = match TcpStream::connect_timeout(&addr, left()) {
            Ok(s) => s,
            Err(e) => {
                last = format!("connect {addr}: {e}");
                continue;
            }
        };
        let host_header = if host.contains(':') {
            format!("[{host}]:{port}")
        } else {
            format!("{host}:{port}")
        };
        let req = format!(
            "GET {path} HTTP/1.1\r\nHost: {host_header}\r\nUser-Agent: hello-world-healthcheck\r\nConnection: close\r\n\r\n"
        );
        s.set_write_timeout(Some(left()))
            .map_err(|e| e.to_string())?;
        s.write_all(req.as_bytes())
            .map_err(|e| format!("send: {e}"))?;
        let mut head = Vec::with_capacity(64);
        let mut buf = [0u8; 256];
        while !head.windows(2).any(|w| w == b"\r\n") {
            s.set_read_timeout(Some(left()))
                .map_err(|e| e.to_string())?;
            match s.read(&mut buf) {
                Ok(0) => return Err("connection closed before a status line".into()),
                Ok(n) => head.extend_from_slice(&buf[..n]),
                Err(e) => return Err(format!("read: {e}")),
            }
            if head.len() > 8192 {
                return Err("status line too long".into());
            }
        }
        let line = String::from_utf8_lossy(&head);
        let code = line
            .split_whitespace()
            .nth(1)
            .and_then(|c| c.parse::<u16>().ok())
            .filter(|_| line.starts_with("HTTP/1."))
            .ok_or_else(|| {
                format!(
                    "not an HTTP response: {:?}",
                    line.lines().next().unwrap_or("")
                )
            })?;
        return Ok(code);
    }
    Err(last)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        assert_eq!(
            parse_url("http://127.0.0.1:8080/health/live").unwrap(),
            ("127.0.0.1".into(), 8080, "/health/live".into())
        );
        assert_eq!(
            parse_url("http://svc").unwrap(),
            ("svc".into(), 80, "/".into())
        );
        assert_eq!(
            parse_url("http://[::1]:9/x?y=1").unwrap(),
            ("::1".into(), 9, "/x?y=1".into())
        );
        assert!(parse_url("https://x/").is_err());
        assert!(parse_url("http://x:99999/").is_err());
        assert!(parse_url("http://:80/").is_err());
        assert!(parse_url("http://x/a b").is_err());
    }
}
