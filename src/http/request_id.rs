//! `X-Request-Id`: kept when the client sends a valid one, made up when the access log is on
//! and it sent none.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;

use hyper::body::Bytes;
use hyper::header::{HeaderMap, HeaderName, HeaderValue};

pub(crate) const X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// Sequence number of the ids this process makes up.
static NEXT_ID: AtomicU64 = AtomicU64::new(1);
/// `"{prefix:08x}-"`, formatted once.
static ID_PREFIX: OnceLock<String> = OnceLock::new();

/// The client's `X-Request-Id`, if it sent a valid one.
///
/// A request carries few headers (wrk sends one, curl three), and over so few a scan of the
/// names is cheaper than hashing ours for a lookup (callgrind, three headers: ~137
/// instructions for the lookup, ~50 for the scan); a request with many headers gets the lookup.
pub(crate) fn given(headers: &HeaderMap) -> Option<HeaderValue> {
    const SCAN_UP_TO: usize = 8;
    let value = if headers.len() <= SCAN_UP_TO {
        // `iter` yields a name's values in order, so this finds the value `get` would.
        headers
            .iter()
            .find_map(|(name, value)| (*name == X_REQUEST_ID).then_some(value))
    } else {
        headers.get(&X_REQUEST_ID)
    };
    value.filter(|v| valid(v)).cloned()
}

/// 1 to 128 visible ASCII characters.
pub(crate) fn valid(v: &HeaderValue) -> bool {
    let b = v.as_bytes();
    !b.is_empty() && b.len() <= 128 && b.iter().all(|c| c.is_ascii_graphic())
}

/// `{prefix}-{sequence}`, both lower-case hex.
pub(crate) fn new() -> HeaderValue {
    let n = NEXT_ID.fetch_add(1, Ordering::Relaxed);
    let prefix = ID_PREFIX.get_or_init(|| format!("{:08x}-", process_prefix()));
    let mut id = String::with_capacity(prefix.len() + 16);
    id.push_str(prefix);
    push_hex(&mut id, n);
    // From the `String`'s own allocation: no second copy.
    HeaderValue::from_maybe_shared(Bytes::from(id))
        .expect("hex digits and a dash are a valid header value")
}

/// Lower-case hex without `fmt` (this runs once per request).
fn push_hex(out: &mut String, n: u64) {
    let digits = 16 - (n.leading_zeros() as usize / 4).min(15);
    for shift in (0..digits).rev() {
        out.push(char::from(
            b"0123456789abcdef"[((n >> (shift * 4)) & 0xf) as usize],
        ));
    }
}

/// The per-process prefix: the sub-second nanoseconds of the start time XOR the PID rotated by
/// 16 bits. In a container every replica's process is PID 1, so the PID alone gave every pod
/// of a Deployment the same ids; the start instant sets them apart.
fn process_prefix() -> u32 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    nanos ^ std::process::id().rotate_left(16)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_matches_fmt() {
        for n in [0, 1, 0xf, 0x10, 0xabc, 0x1234_5678_9abc, u64::MAX] {
            let mut s = String::new();
            push_hex(&mut s, n);
            assert_eq!(s, format!("{n:x}"));
        }
    }

    /// The scan over a few headers and the lookup over many find the same value: the first
    /// one sent, if it is valid.
    #[test]
    fn the_given_id_is_found_among_few_headers_and_many() {
        for others in [0, 1, 7, 8, 9, 40] {
            let mut h = HeaderMap::new();
            for i in 0..others {
                h.insert(
                    HeaderName::from_bytes(format!("x-other-{i}").as_bytes()).unwrap(),
                    HeaderValue::from_static("v"),
                );
            }
            assert_eq!(given(&h), None, "{others} other headers, no id");
            h.append(&X_REQUEST_ID, HeaderValue::from_static("first"));
            h.append(&X_REQUEST_ID, HeaderValue::from_static("second"));
            assert_eq!(given(&h).unwrap(), "first", "{others} other headers");
            h.insert(&X_REQUEST_ID, HeaderValue::from_static("not valid"));
            assert_eq!(given(&h), None, "{others} other headers, invalid id");
        }
    }

    #[test]
    fn request_ids_are_validated() {
        assert!(valid(&HeaderValue::from_static("abc-123")));
        assert!(!valid(&HeaderValue::from_static("has space")));
        assert!(!valid(&HeaderValue::from_static("")));
        let a = new();
        assert!(valid(&a));
        assert_ne!(a, new(), "a sequence");
    }
}
