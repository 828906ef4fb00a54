//! Byte-level building blocks of the native sketch encoding: a growable writer
//! and a bounds-checked reader (LEB128 varints, zigzag, little-endian `f64`).
//!
//! Every read is checked, so decoding untrusted bytes returns
//! [`DecodeError`](crate::DecodeError) instead of panicking.

use crate::error::DecodeError;

/// First byte of every native encoding (`'Q'`), so stray bytes are rejected early.
pub const MAGIC: u8 = 0x51;
/// Version of the native encoding written by this crate.
pub const FORMAT_VERSION: u8 = 1;

/// Appends primitive values to a byte vector.
#[derive(Debug, Default)]
pub struct Writer {
    /// The bytes written so far.
    pub buf: Vec<u8>,
}

impl Writer {
    /// An empty writer.
    pub fn new() -> Self {
        Self::default()
    }

    /// Writes one byte.
    pub fn u8(&mut self, v: u8) {
        self.buf.push(v);
    }

    /// Writes an unsigned LEB128 varint.
    pub fn varint(&mut self, mut v: u64) {
        while v >= 0x80 {
            // Truncation keeps the low 7 bits, which is the point.
            self.buf.push((v as u8) | 0x80);
            v >>= 7;
        }
        self.buf.push(v as u8);
    }

    /// Writes a signed integer as a zigzag varint.
    pub fn zigzag(&mut self, v: i64) {
        self.varint(((v << 1) ^ (v >> 63)) as u64);
    }

    /// Writes an `f64` as 8 little-endian bytes.
    pub fn f64(&mut self, v: f64) {
        self.buf.extend_from_slice(&v.to_le_bytes());
    }

    /// Writes raw bytes prefixed with their length.
    pub fn bytes(&mut self, v: &[u8]) {
        self.varint(v.len() as u64);
        self.buf.extend_from_slice(v);
    }
}

/// Reads primitive values from a byte slice, failing cleanly at its end.
/// A clone reads on from the same position independently.
#[derive(Debug, Clone)]
pub struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    /// A reader positioned at the first byte of `buf`.
    pub fn new(buf: &'a [u8]) -> Self {
        Self { buf, pos: 0 }
    }

    /// Number of unread bytes.
    pub fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }

    /// Reads one byte.
    pub fn u8(&mut self) -> Result<u8, DecodeError> {
        let b = *self.buf.get(self.pos).ok_or(DecodeError::Truncated)?;
        self.pos += 1;
        Ok(b)
    }

    /// Reads an unsigned LEB128 varint of at most 10 bytes.
    #[inline]
    pub fn varint(&mut self) -> Result<u64, DecodeError> {
        // Most varints (bucket counts, key deltas) are one byte.
        if let Some(&b) = self.buf.get(self.pos) {
            if b < 0x80 {
                self.pos += 1;
                return Ok(u64::from(b));
            }
        }
        let mut out = 0u64;
        for shift in (0..70).step_by(7) {
            let b = self.u8()?;
            if shift == 63 && b > 1 {
                return Err(DecodeError::Invalid("varint overflows 64 bits"));
            }
            out |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return Ok(out);
            }
        }
        Err(DecodeError::Invalid("varint longer than 10 bytes"))
    }

    /// Reads a zigzag varint.
    pub fn zigzag(&mut self) -> Result<i64, DecodeError> {
        let v = self.varint()?;
        Ok(((v >> 1) as i64) ^ -((v & 1) as i64))
    }

    /// Reads a varint that must fit a `usize` no larger than `max`.
    pub fn len(&mut self, max: usize) -> Result<usize, DecodeError> {
        let v = self.varint()?;
        usize::try_from(v)
            .ok()
            .filter(|&n| n <= max)
            .ok_or(DecodeError::Invalid("length out of range"))
    }

    /// Reads 8 little-endian bytes as an `f64`.
    pub fn f64(&mut self) -> Result<f64, DecodeError> {
        let end = self.pos.checked_add(8).ok_or(DecodeError::Truncated)?;
        let bytes: [u8; 8] = self
            .buf
            .get(self.pos..end)
            .and_then(|s| s.try_into().ok())
            .ok_or(DecodeError::Truncated)?;
        self.pos = end;
        Ok(f64::from_le_bytes(bytes))
    }

    /// Reads a length-prefixed byte string.
    pub fn bytes(&mut self) -> Result<&'a [u8], DecodeError> {
        // The bound is checked after the length's own bytes were read.
        let n = self.len(self.remaining())?;
        let end = self.pos.checked_add(n).ok_or(DecodeError::Truncated)?;
        let out = self.buf.get(self.pos..end).ok_or(DecodeError::Truncated)?;
        self.pos = end;
        Ok(out)
    }

    /// Fails unless every byte was consumed.
    pub fn finish(&self) -> Result<(), DecodeError> {
        if self.remaining() == 0 {
            Ok(())
        } else {
            Err(DecodeError::Invalid("trailing bytes after sketch"))
        }
    }
}

#[cfg(test)]
mod tests {

    #[test]
    fn a_byte_string_as_long_as_the_bytes_left_before_its_length_is_truncated() {
        // Found by scripts/fuzz.sh: the length 2 was checked against the 2
        // bytes left *before* its own byte was read, and the slice panicked.
        let mut r = Reader::new(&[0x02, 0xaa]);
        assert_eq!(r.bytes(), Err(DecodeError::Truncated));
        let mut ok = Reader::new(&[0x01, 0xaa]);
        assert_eq!(ok.bytes(), Ok(&[0xaa][..]));
    }

    use super::*;

    #[test]
    fn varints_and_zigzag_round_trip() {
        let mut w = Writer::new();
        let values = [0u64, 1, 127, 128, 300, u64::from(u32::MAX), u64::MAX];
        for v in values {
            w.varint(v);
        }
        for v in [0i64, -1, 1, i64::MIN, i64::MAX] {
            w.zigzag(v);
        }
        w.f64(-2.5);
        let mut r = Reader::new(&w.buf);
        for v in values {
            assert_eq!(r.varint().ok(), Some(v));
        }
        for v in [0i64, -1, 1, i64::MIN, i64::MAX] {
            assert_eq!(r.zigzag().ok(), Some(v));
        }
        assert_eq!(r.f64().ok(), Some(-2.5));
        assert!(r.finish().is_ok());
        assert!(matches!(r.u8(), Err(DecodeError::Truncated)));
    }

    #[test]
    fn overlong_varint_is_an_error() {
        let bytes = [0xffu8; 11];
        assert!(Reader::new(&bytes).varint().is_err());
    }
}
