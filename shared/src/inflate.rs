//! zlib inflation into a reused buffer, for HdrHistogram's compressed V2.
//!
//! A fresh inflater costs tens of kilobytes of state to allocate and clear,
//! more than inflating a window's few hundred bytes: each thread keeps one,
//! and the output buffer with it. The output is bounded by what the stream
//! really inflates to (up to a cap), never by a length read from the bytes.

use std::cell::RefCell;

use flate2::{Decompress, FlushDecompress, Status};

use crate::error::DecodeError;

/// First output size tried; doubled while the stream goes on.
const FIRST_CHUNK: usize = 4 << 10;
/// A buffer grown past this is released after use rather than kept.
const KEEP_AT_MOST: usize = 1 << 20;

/// An inflater and its output buffer.
struct Inflater {
    state: Decompress,
    out: Vec<u8>,
}

thread_local! {
    static INFLATER: RefCell<Inflater> = RefCell::new(Inflater {
        state: Decompress::new(true),
        out: Vec::new(),
    });
}

/// Inflates the zlib stream `input` (at most `limit` bytes are kept, as
/// `Read::take(limit)` would) and hands the result to `with`. Errors are
/// those of reading the stream through `flate2::read::ZlibDecoder`.
pub(crate) fn inflate<R>(
    input: &[u8],
    limit: usize,
    with: impl FnOnce(&[u8]) -> R,
) -> Result<R, DecodeError> {
    INFLATER.with(|cell| match cell.try_borrow_mut() {
        Ok(mut inflater) => {
            let inflater = &mut *inflater;
            let result =
                run(&mut inflater.state, input, limit, &mut inflater.out).map(|()| with(&inflater.out));
            if inflater.out.capacity() > KEEP_AT_MOST {
                inflater.out = Vec::new();
            }
            result
        }
        // Only if `with` inflates again: use a fresh inflater.
        Err(_) => {
            let mut out = Vec::new();
            run(&mut Decompress::new(true), input, limit, &mut out).map(|()| with(&out))
        }
    })
}

/// The inflating loop of `ZlibDecoder::read_to_end` over a `take(limit)`.
fn run(state: &mut Decompress, input: &[u8], limit: usize, out: &mut Vec<u8>) -> Result<(), DecodeError> {
    state.reset(true);
    out.clear();
    let mut consumed = 0usize;
    while out.len() < limit {
        let filled = out.len();
        let room = filled.max(FIRST_CHUNK).min(limit - filled);
        out.resize(filled + room, 0);
        let rest = input.get(consumed..).unwrap_or_default();
        // As the reader: no `Finish` before the input is used up.
        let flush = if rest.is_empty() {
            FlushDecompress::Finish
        } else {
            FlushDecompress::None
        };
        let (before_in, before_out) = (state.total_in(), state.total_out());
        let status = state.decompress(rest, &mut out[filled..], flush);
        let read = (state.total_out() - before_out) as usize;
        consumed += (state.total_in() - before_in) as usize;
        out.truncate(filled + read);
        match status {
            Err(_) => return Err(DecodeError::Hdr("corrupt deflate stream".into())),
            Ok(Status::StreamEnd) => return Ok(()),
            // Input left but no progress either: the stream cannot go on.
            Ok(_) if read == 0 && (rest.is_empty() || state.total_in() == before_in) => {
                return Err(DecodeError::Hdr("incomplete deflate stream".into()))
            }
            Ok(_) => {}
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::io::{Read, Write};

    use super::*;

    /// What `ZlibDecoder::read_to_end` over `take(limit)` gives.
    fn by_reader(input: &[u8], limit: usize) -> Result<Vec<u8>, DecodeError> {
        let mut out = Vec::new();
        flate2::read::ZlibDecoder::new(input)
            .take(limit as u64)
            .read_to_end(&mut out)
            .map_err(|e| DecodeError::Hdr(e.to_string()))?;
        Ok(out)
    }

    fn zlib(plain: &[u8]) -> Vec<u8> {
        let mut e = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
        e.write_all(plain).expect("in memory");
        e.finish().expect("in memory")
    }

    #[test]
    fn inflates_as_the_reader_does_good_truncated_corrupt_and_capped() {
        let plain: Vec<u8> = (0..50_000u32).map(|i| (i * i % 251) as u8).collect();
        let good = zlib(&plain);
        let mut cases = vec![good.clone(), Vec::new(), b"not zlib".to_vec()];
        cases.extend([1, 2, 10, good.len() / 2, good.len() - 1].map(|n| good[..n].to_vec()));
        for at in [0, 1, 5, good.len() / 3, good.len() - 2] {
            let mut bad = good.clone();
            bad[at] ^= 0x5a;
            cases.push(bad);
        }
        let mut trailing = good.clone();
        trailing.extend_from_slice(b"trailing");
        cases.push(trailing);
        for (i, case) in cases.iter().enumerate() {
            for limit in [usize::MAX, plain.len(), 4096, 10] {
                assert_eq!(
                    inflate(case, limit, <[u8]>::to_vec),
                    by_reader(case, limit),
                    "case {i}, limit {limit}"
                );
            }
        }
    }
}
