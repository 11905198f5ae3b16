//! A minimal raw HTTP/2 (h2c, prior knowledge) client for the drain tests: writes frames
//! itself and reads frames one by one, so a test can see the exact GOAWAY/PING sequence and
//! decide whether to ACK the server's PING (an `h2` client would ACK it automatically, which
//! makes S12 — a peer that never ACKs — impossible to express).

use std::io::{self, ErrorKind, Read, Write};
use std::net::TcpStream;

pub const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

pub const DATA: u8 = 0x0;
pub const HEADERS: u8 = 0x1;
pub const RST_STREAM: u8 = 0x3;
pub const SETTINGS: u8 = 0x4;
pub const PING: u8 = 0x6;
pub const GOAWAY: u8 = 0x7;
pub const WINDOW_UPDATE: u8 = 0x8;

pub const END_STREAM: u8 = 0x1;
pub const ACK: u8 = 0x1;
pub const END_HEADERS: u8 = 0x4;

#[derive(Debug, Clone)]
pub struct Frame {
    pub kind: u8,
    pub flags: u8,
    pub stream: u32,
    pub payload: Vec<u8>,
}

impl Frame {
    /// GOAWAY: (last stream id, error code).
    pub fn goaway(&self) -> Option<(u32, u32)> {
        (self.kind == GOAWAY && self.payload.len() >= 8).then(|| {
            let p = &self.payload;
            (
                u32::from_be_bytes([p[0], p[1], p[2], p[3]]) & 0x7fff_ffff,
                u32::from_be_bytes([p[4], p[5], p[6], p[7]]),
            )
        })
    }

    pub fn name(&self) -> String {
        let n = match self.kind {
            DATA => "DATA",
            HEADERS => "HEADERS",
            RST_STREAM => "RST_STREAM",
            SETTINGS => "SETTINGS",
            PING => "PING",
            GOAWAY => "GOAWAY",
            WINDOW_UPDATE => "WINDOW_UPDATE",
            _ => "OTHER",
        };
        match self.goaway() {
            Some((last, code)) => format!("GOAWAY(last={last},code={code})"),
            None => format!("{n}(flags={:#x},stream={})", self.flags, self.stream),
        }
    }
}

pub fn write_frame(s: &mut TcpStream, kind: u8, flags: u8, stream: u32, payload: &[u8]) {
    let len = payload.len() as u32;
    let mut f = Vec::with_capacity(9 + payload.len());
    f.extend_from_slice(&len.to_be_bytes()[1..]);
    f.push(kind);
    f.push(flags);
    f.extend_from_slice(&(stream & 0x7fff_ffff).to_be_bytes());
    f.extend_from_slice(payload);
    s.write_all(&f).expect("write h2 frame");
}

/// Reads one frame; `Ok(None)` on a clean EOF (or a reset) at a frame boundary.
pub fn read_frame(s: &mut TcpStream) -> io::Result<Option<Frame>> {
    let mut head = [0u8; 9];
    match s.read_exact(&mut head) {
        Ok(()) => {}
        Err(e)
            if matches!(
                e.kind(),
                ErrorKind::UnexpectedEof | ErrorKind::ConnectionReset
            ) =>
        {
            return Ok(None)
        }
        Err(e) => return Err(e),
    }
    let len = u32::from_be_bytes([0, head[0], head[1], head[2]]) as usize;
    let mut payload = vec![0u8; len];
    s.read_exact(&mut payload)?;
    Ok(Some(Frame {
        kind: head[3],
        flags: head[4],
        stream: u32::from_be_bytes([head[5], head[6], head[7], head[8]]) & 0x7fff_ffff,
        payload,
    }))
}

/// Client preface + empty SETTINGS.
pub fn handshake(s: &mut TcpStream) {
    s.write_all(PREFACE).expect("write preface");
    write_frame(s, SETTINGS, 0, 0, &[]);
}

/// HPACK string literal without Huffman coding (lengths < 127 only).
fn hpack_str(out: &mut Vec<u8>, v: &str) {
    assert!(v.len() < 127);
    out.push(v.len() as u8);
    out.extend_from_slice(v.as_bytes());
}

/// HEADERS (END_HEADERS | END_STREAM) for `GET path` on `stream`, HPACK-encoded by hand with
/// the static table: `:method GET` (2), `:scheme http` (6), literal `:path` (name 4) and
/// `:authority` (name 1) without indexing.
pub fn get(s: &mut TcpStream, stream: u32, path: &str) {
    let mut block = vec![0x82, 0x86, 0x04];
    hpack_str(&mut block, path);
    block.push(0x01);
    hpack_str(&mut block, "127.0.0.1");
    write_frame(s, HEADERS, END_HEADERS | END_STREAM, stream, &block);
}

/// The response status of a HEADERS frame if the server sent it as an indexed static-table
/// entry (hpack encodes 200 as 0x88, 204 0x89, 206 0x8a, 304 0x8b, 400 0x8c, 404 0x8d,
/// 500 0x8e).
pub fn indexed_status(f: &Frame) -> Option<u16> {
    if f.kind != HEADERS {
        return None;
    }
    let first = *f.payload.first()?;
    [200, 204, 206, 304, 400, 404, 500]
        .get(usize::from(first.checked_sub(0x88)?))
        .copied()
}
