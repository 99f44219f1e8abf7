//! `model.bin`: the file users keep their models in.
//!
//! Layout (all integers little-endian):
//!
//! | bytes | content |
//! |---|---|
//! | 0..8 | magic `LOISIMMD` |
//! | 8..10 | format version (currently 1) |
//! | 10..12 | reserved, 0 |
//! | 12..20 | body length in bytes |
//! | 20..24 | CRC-32 (IEEE) of the body |
//! | 24.. | body: the [`Model`] encoded with postcard |
//!
//! Decoding checks, in order: size, magic, version, body length, checksum, postcard decoding
//! (whose allocations are bounded by the bytes actually present), then [`Model::validate`].
//! Any failure is a [`CodecError`]; decoding never panics.

use crate::ir::Model;
use crate::validate::ModelError;

/// The file magic.
pub const MAGIC: [u8; 8] = *b"LOISIMMD";
/// The format version this build reads and writes.
pub const VERSION: u16 = 1;
/// Size of the fixed header.
pub const HEADER_LEN: usize = 24;
/// The largest model file loisim reads (1 GiB).
pub const MAX_FILE_LEN: u64 = 1 << 30;

/// Why a `model.bin` could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum CodecError {
    /// Shorter than the header.
    #[error("not a loisim model: {len} bytes is shorter than the {HEADER_LEN}-byte header")]
    TooShort {
        /// File length.
        len: usize,
    },
    /// Over [`MAX_FILE_LEN`].
    #[error("model file is {len} bytes; loisim reads at most {MAX_FILE_LEN}")]
    TooLarge {
        /// File length.
        len: u64,
    },
    /// Wrong magic.
    #[error(
        "not a loisim model (bad magic; expected a file written by `loisim import` or `loisim gen`)"
    )]
    BadMagic,
    /// A version this build does not read.
    #[error("model format version {found} is not supported (this loisim reads version {VERSION})")]
    Version {
        /// Version in the file.
        found: u16,
    },
    /// Body length disagrees with the file.
    #[error(
        "model file is truncated or has trailing bytes: header says {expected} body bytes, file has {found}"
    )]
    Length {
        /// Length from the header.
        expected: u64,
        /// Bytes present.
        found: u64,
    },
    /// Checksum mismatch.
    #[error("model file is corrupt: checksum {found:08x} does not match {expected:08x}")]
    Checksum {
        /// From the header.
        expected: u32,
        /// Computed.
        found: u32,
    },
    /// The body does not decode.
    #[error("model file is malformed: {0}")]
    Malformed(String),
    /// The model decodes but is invalid.
    #[error("model is invalid: {0}")]
    Invalid(#[from] ModelError),
}

/// Encodes a valid model into `model.bin` bytes.
pub fn encode(model: &Model) -> Result<Vec<u8>, CodecError> {
    model.validate()?;
    encode_unvalidated(model)
}

/// Encodes without validating. Exists so tests can build files holding invalid models.
#[doc(hidden)]
pub fn encode_unvalidated(model: &Model) -> Result<Vec<u8>, CodecError> {
    let body = postcard::to_allocvec(model).map_err(|e| CodecError::Malformed(e.to_string()))?;
    let mut out = Vec::with_capacity(HEADER_LEN + body.len());
    out.extend_from_slice(&MAGIC);
    out.extend_from_slice(&VERSION.to_le_bytes());
    out.extend_from_slice(&0u16.to_le_bytes());
    out.extend_from_slice(&(body.len() as u64).to_le_bytes());
    out.extend_from_slice(&crc32fast::hash(&body).to_le_bytes());
    out.extend_from_slice(&body);
    Ok(out)
}

/// Decodes and validates `model.bin` bytes.
pub fn decode(bytes: &[u8]) -> Result<Model, CodecError> {
    if bytes.len() as u64 > MAX_FILE_LEN {
        return Err(CodecError::TooLarge {
            len: bytes.len() as u64,
        });
    }
    if bytes.len() < HEADER_LEN {
        // A prefix of the magic is still a truncated model; anything else is not a model.
        if bytes.len() >= MAGIC.len() && bytes[..MAGIC.len()] != MAGIC {
            return Err(CodecError::BadMagic);
        }
        return Err(CodecError::TooShort { len: bytes.len() });
    }
    if bytes[..8] != MAGIC {
        return Err(CodecError::BadMagic);
    }
    let word = |a: usize, b: usize| -> &[u8] { &bytes[a..b] };
    let version = u16::from_le_bytes([bytes[8], bytes[9]]);
    if version != VERSION {
        return Err(CodecError::Version { found: version });
    }
    let mut len8 = [0u8; 8];
    len8.copy_from_slice(word(12, 20));
    let body_len = u64::from_le_bytes(len8);
    let mut crc4 = [0u8; 4];
    crc4.copy_from_slice(word(20, 24));
    let crc = u32::from_le_bytes(crc4);
    let body = &bytes[HEADER_LEN..];
    if body.len() as u64 != body_len {
        return Err(CodecError::Length {
            expected: body_len,
            found: body.len() as u64,
        });
    }
    let found = crc32fast::hash(body);
    if found != crc {
        return Err(CodecError::Checksum {
            expected: crc,
            found,
        });
    }
    let (model, rest): (Model, &[u8]) =
        postcard::take_from_bytes(body).map_err(|e| CodecError::Malformed(e.to_string()))?;
    if !rest.is_empty() {
        return Err(CodecError::Malformed(format!(
            "{} unexpected bytes after the model",
            rest.len()
        )));
    }
    model.validate()?;
    Ok(model)
}
