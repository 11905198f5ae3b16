//! gRPC's message framing and status codes (the "gRPC over HTTP/2" protocol): every message
//! is a 5-byte prefix — a compressed flag and a big-endian `u32` length — and the message;
//! the call ends with `grpc-status` (and `grpc-message`, percent-encoded) in the trailers.
//!
//! [`Collector`] gathers the one request message a unary or server-streaming call carries from
//! DATA chunks of any size (DATA frame boundaries mean nothing to gRPC), and refuses a call as
//! soon as its prefix shows a problem, so an oversized message is never buffered.

use hyper::body::Bytes;

/// The gRPC status codes this service sends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum Code {
    Ok = 0,
    /// The request message is larger than we accept.
    ResourceExhausted = 8,
    /// Not one of our methods, or a compression/codec we do not implement.
    Unimplemented = 12,
    /// The request could not be parsed (framing or protobuf).
    Internal = 13,
    /// The server is shutting down (ends `Watch` streams).
    Unavailable = 14,
    /// `Check` for a service name we do not serve.
    NotFound = 5,
}

impl Code {
    /// The `grpc-status` value: decimal, no leading zeros.
    pub fn as_str(self) -> &'static str {
        match self {
            Code::Ok => "0",
            Code::NotFound => "5",
            Code::ResourceExhausted => "8",
            Code::Unimplemented => "12",
            Code::Internal => "13",
            Code::Unavailable => "14",
        }
    }
}

/// A failed call: its code and a human-readable message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Status {
    pub code: Code,
    pub message: String,
}

impl Status {
    pub fn new(code: Code, message: impl Into<String>) -> Status {
        Status {
            code,
            message: message.into(),
        }
    }
}

/// Frames one message: flag 0 (not compressed), length, bytes.
pub fn encode(message: &[u8]) -> Bytes {
    let mut out = Vec::with_capacity(5 + message.len());
    out.push(0);
    out.extend_from_slice(&(message.len() as u32).to_be_bytes());
    out.extend_from_slice(message);
    Bytes::from(out)
}

/// Percent-encodes a `grpc-message` value: bytes outside printable ASCII, and `%` itself,
/// become `%XX` (the protocol's Percent-Byte-Encoded), so any UTF-8 text survives a header.
pub fn percent_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for &b in text.as_bytes() {
        if (0x20..=0x7e).contains(&b) && b != b'%' {
            out.push(char::from(b));
        } else {
            out.push('%');
            out.push(char::from(b"0123456789ABCDEF"[usize::from(b >> 4)]));
            out.push(char::from(b"0123456789ABCDEF"[usize::from(b & 0xf)]));
        }
    }
    out
}

/// Collects exactly one length-prefixed, uncompressed message of at most `max` bytes.
pub struct Collector {
    max: usize,
    buf: Vec<u8>,
}

impl Collector {
    pub fn new(max: usize) -> Collector {
        Collector {
            max,
            buf: Vec::new(),
        }
    }

    /// Adds a DATA chunk; an error ends the call at once (the rest of the body is not read).
    pub fn push(&mut self, chunk: &[u8]) -> Result<(), Status> {
        self.buf.extend_from_slice(chunk);
        if self.buf.len() >= 5 {
            let len = self.declared();
            if self.buf[0] != 0 {
                // We advertise no `grpc-encoding`, so a compressed message has no codec here.
                return Err(Status::new(
                    Code::Unimplemented,
                    "compressed messages are not supported (grpc-accept-encoding: identity)",
                ));
            }
            if len > self.max {
                return Err(Status::new(
                    Code::ResourceExhausted,
                    format!(
                        "request message of {len} bytes is over the {} byte limit",
                        self.max
                    ),
                ));
            }
            if self.buf.len() > 5 + len {
                return Err(Status::new(
                    Code::Internal,
                    "more than one request message for a call that takes one",
                ));
            }
        }
        Ok(())
    }

    /// The message, once the request stream has ended.
    pub fn finish(self) -> Result<Vec<u8>, Status> {
        if self.buf.is_empty() {
            return Err(Status::new(Code::Internal, "missing request message"));
        }
        if self.buf.len() < 5 || self.buf.len() < 5 + self.declared() {
            return Err(Status::new(Code::Internal, "request message cut short"));
        }
        let mut buf = self.buf;
        buf.drain(..5);
        Ok(buf)
    }

    fn declared(&self) -> usize {
        let b = &self.buf;
        u32::from_be_bytes([b[1], b[2], b[3], b[4]]) as usize
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn collect(chunks: &[&[u8]], max: usize) -> Result<Vec<u8>, Status> {
        let mut c = Collector::new(max);
        for chunk in chunks {
            c.push(chunk)?;
        }
        c.finish()
    }

    #[test]
    fn encode_prefixes_flag_and_big_endian_length() {
        assert_eq!(&encode(b"\x08\x01")[..], b"\x00\x00\x00\x00\x02\x08\x01");
        assert_eq!(&encode(b"")[..], b"\x00\x00\x00\x00\x00");
        assert_eq!(&encode(&[7; 300])[..5], b"\x00\x00\x00\x01\x2c");
    }

    /// DATA frame boundaries carry no meaning: a message split anywhere, even inside the
    /// prefix, is reassembled.
    #[test]
    fn messages_split_anywhere_are_reassembled() {
        let framed = encode(b"\x0a\x08liveness");
        for cut in 0..framed.len() {
            let (a, b) = framed.split_at(cut);
            assert_eq!(
                collect(&[a, b], 64).unwrap(),
                b"\x0a\x08liveness",
                "cut {cut}"
            );
        }
        assert_eq!(collect(&[&encode(b"")], 64).unwrap(), b"");
    }

    #[test]
    fn bad_streams_get_their_status_codes() {
        let code = |chunks: &[&[u8]], max| collect(chunks, max).unwrap_err().code;
        assert_eq!(code(&[], 64), Code::Internal);
        assert_eq!(code(&[b"\x00\x00\x00"], 64), Code::Internal);
        assert_eq!(code(&[b"\x00\x00\x00\x00\x03\x0a"], 64), Code::Internal);
        assert_eq!(code(&[b"\x01\x00\x00\x00\x00"], 64), Code::Unimplemented);
        assert_eq!(
            code(&[b"\x00\x00\x00\x00\x41"], 64),
            Code::ResourceExhausted
        );
        assert_eq!(code(&[&encode(b""), &encode(b"")], 64), Code::Internal);
    }

    /// The oversize check needs only the prefix: a 4 GiB declaration is refused at 5 bytes.
    #[test]
    fn oversize_is_refused_from_the_prefix_alone() {
        let mut c = Collector::new(4096);
        let e = c.push(b"\x00\xff\xff\xff\xff").unwrap_err();
        assert_eq!(e.code, Code::ResourceExhausted);
        assert!(e.message.contains("4294967295"), "{}", e.message);
    }

    #[test]
    fn grpc_message_is_percent_encoded() {
        assert_eq!(percent_encode("unknown service: x"), "unknown service: x");
        assert_eq!(
            percent_encode("100% 서비스"),
            "100%25 %EC%84%9C%EB%B9%84%EC%8A%A4"
        );
        assert_eq!(percent_encode("a\r\nb"), "a%0D%0Ab");
    }

    #[test]
    fn status_values_are_decimal_without_leading_zeros() {
        assert_eq!(Code::NotFound.as_str(), (Code::NotFound as u8).to_string());
        assert_eq!(Code::Unimplemented.as_str(), "12");
        assert_eq!(Code::Ok.as_str(), "0");
    }
}
