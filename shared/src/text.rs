//! Sketches carried as text: standard base64, whitespace tolerated (as the
//! Python `hdrhistogram` library's `encode()` writes HdrHistogram V2).

use base64::Engine as _;

use crate::error::DecodeError;

/// Standard base64 of `bytes`.
pub fn to_base64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// Bytes from base64 text, ignoring ASCII whitespace and line breaks.
pub fn from_base64(text: &str) -> Result<Vec<u8>, DecodeError> {
    let compact: String = text.chars().filter(|c| !c.is_ascii_whitespace()).collect();
    base64::engine::general_purpose::STANDARD
        .decode(compact.as_bytes())
        .map_err(|e| DecodeError::Base64(e.to_string()))
}
