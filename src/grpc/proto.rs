//! The two protobuf messages of `grpc.health.v1`, encoded and decoded by hand.
//!
//! ```text
//! message HealthCheckRequest  { string service = 1; }
//! message HealthCheckResponse { ServingStatus status = 1; }   // enum, a varint on the wire
//! ```
//!
//! Decoding follows proto3's rules, so any conforming client's bytes are understood: fields may
//! come in any order, a repeated singular field means the last one wins, and unknown fields of
//! every wire type are skipped (a newer client may send fields we do not know). What cannot be
//! decoded — a truncated varint, a length past the end, a group, a `service` that is not
//! UTF-8 or not length-delimited — is an error the caller answers with `INTERNAL`, as gRPC
//! libraries do for a request they cannot parse.

/// `HealthCheckResponse.ServingStatus`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum ServingStatus {
    Unknown = 0,
    Serving = 1,
    NotServing = 2,
    /// Only sent by `Watch`, for a service the server does not know.
    ServiceUnknown = 3,
}

impl ServingStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            ServingStatus::Unknown => "UNKNOWN",
            ServingStatus::Serving => "SERVING",
            ServingStatus::NotServing => "NOT_SERVING",
            ServingStatus::ServiceUnknown => "SERVICE_UNKNOWN",
        }
    }
}

/// Why a request message could not be decoded (the text goes into `grpc-message`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DecodeError(pub &'static str);

const WIRE_VARINT: u64 = 0;
const WIRE_I64: u64 = 1;
const WIRE_LEN: u64 = 2;
const WIRE_I32: u64 = 5;

/// Reads one base-128 varint (at most 10 bytes) from the front of `buf`.
fn varint(buf: &mut &[u8]) -> Result<u64, DecodeError> {
    let mut value = 0u64;
    for i in 0..10 {
        let (&byte, rest) = buf.split_first().ok_or(DecodeError("truncated varint"))?;
        *buf = rest;
        value |= u64::from(byte & 0x7f) << (7 * i);
        if byte & 0x80 == 0 {
            return Ok(value);
        }
    }
    Err(DecodeError("varint longer than 10 bytes"))
}

fn take<'a>(buf: &mut &'a [u8], n: u64) -> Result<&'a [u8], DecodeError> {
    let n = usize::try_from(n).map_err(|_| DecodeError("length past the end"))?;
    if n > buf.len() {
        return Err(DecodeError("length past the end"));
    }
    let (head, rest) = buf.split_at(n);
    *buf = rest;
    Ok(head)
}

/// Decodes a `HealthCheckRequest` and returns its `service` (empty when absent, proto3's
/// default).
pub fn decode_request(mut buf: &[u8]) -> Result<String, DecodeError> {
    let mut service: &[u8] = b"";
    while !buf.is_empty() {
        let key = varint(&mut buf)?;
        let (field, wire) = (key >> 3, key & 7);
        if field == 0 {
            return Err(DecodeError("field number 0"));
        }
        match (field, wire) {
            (1, WIRE_LEN) => {
                let n = varint(&mut buf)?;
                service = take(&mut buf, n)?;
            }
            (1, _) => return Err(DecodeError("field 1 (service) is not length-delimited")),
            (_, WIRE_VARINT) => {
                varint(&mut buf)?;
            }
            (_, WIRE_I64) => {
                take(&mut buf, 8)?;
            }
            (_, WIRE_LEN) => {
                let n = varint(&mut buf)?;
                take(&mut buf, n)?;
            }
            (_, WIRE_I32) => {
                take(&mut buf, 4)?;
            }
            _ => return Err(DecodeError("unsupported wire type (groups are not proto3)")),
        }
    }
    String::from_utf8(service.to_vec()).map_err(|_| DecodeError("service is not valid UTF-8"))
}

/// Encodes a `HealthCheckResponse`. proto3 omits a field holding its default, so `UNKNOWN`
/// is the empty message.
pub fn encode_response(status: ServingStatus) -> &'static [u8] {
    match status {
        ServingStatus::Unknown => b"",
        ServingStatus::Serving => b"\x08\x01",
        ServingStatus::NotServing => b"\x08\x02",
        ServingStatus::ServiceUnknown => b"\x08\x03",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(service: &str) -> Vec<u8> {
        let mut v = vec![0x0a, service.len() as u8];
        v.extend_from_slice(service.as_bytes());
        v
    }

    #[test]
    fn decodes_the_service_name() {
        assert_eq!(decode_request(b"").unwrap(), "");
        assert_eq!(decode_request(&request("liveness")).unwrap(), "liveness");
        assert_eq!(decode_request(&request("")).unwrap(), "");
    }

    /// A 200-byte name needs a two-byte length varint (0xc8 0x01).
    #[test]
    fn long_names_use_multi_byte_lengths() {
        let name = "x".repeat(200);
        let mut v = vec![0x0a, 0xc8, 0x01];
        v.extend_from_slice(name.as_bytes());
        assert_eq!(decode_request(&v).unwrap(), name);
    }

    /// proto3: the last occurrence of a singular field wins; unknown fields of every wire
    /// type are skipped wherever they appear.
    #[test]
    fn last_wins_and_unknown_fields_are_skipped() {
        let mut v = request("first");
        v.extend_from_slice(&[0x10, 0x96, 0x01]); // field 2, varint 150
        v.extend_from_slice(&[0x19, 1, 2, 3, 4, 5, 6, 7, 8]); // field 3, fixed64
        v.extend_from_slice(&[0x22, 0x02, b'h', b'i']); // field 4, bytes
        v.extend_from_slice(&[0x2d, 1, 2, 3, 4]); // field 5, fixed32
        v.extend_from_slice(&request("hello-world"));
        assert_eq!(decode_request(&v).unwrap(), "hello-world");
    }

    #[test]
    fn malformed_requests_are_errors() {
        for bad in [
            &b"\x0a"[..],                                        // key without a length
            b"\x0a\x05abc",                                      // length past the end
            b"\x08\x01",                                         // service as a varint
            b"\x0a\x02\xff\xfe",                                 // not UTF-8
            b"\x13",                                             // field 2, start group
            b"\x00\x00",                                         // field number 0
            b"\x10\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01", // 11-byte varint
            b"\x19\x01",                                         // fixed64 cut short
        ] {
            assert!(decode_request(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn responses_are_the_minimal_encoding() {
        assert_eq!(encode_response(ServingStatus::Serving), [0x08, 0x01]);
        assert_eq!(encode_response(ServingStatus::NotServing), [0x08, 0x02]);
        assert_eq!(encode_response(ServingStatus::ServiceUnknown), [0x08, 0x03]);
        assert!(encode_response(ServingStatus::Unknown).is_empty());
    }
}
