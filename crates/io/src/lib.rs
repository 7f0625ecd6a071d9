//! Files for the workbench: how they are written and fingerprinted.
//!
//! - [`write_atomic`], [`write_bytes`], [`write_json`]: every file goes to a temporary file in
//!   the destination's folder, is flushed to disk, then renamed over the destination, so an
//!   interrupted or failed run never leaves a half-written file in place of an earlier result.
//! - [`Fnv64`]: the one checksum (64-bit FNV-1a) used to fingerprint feature files, cache keys
//!   and diagnostics.
//! - [`confined`]: a path named inside a file (a saved model's weights, a cache entry),
//!   resolved inside that file's folder; `..`, absolute paths and symbolic links out are
//!   refused.
//! - [`IoError`]: every failure, naming the file.

mod atomic;
mod checksum;
mod confined;

pub use atomic::{write_atomic, write_bytes, write_json, BoxError, IoError};
pub use checksum::Fnv64;
pub use confined::confined;
