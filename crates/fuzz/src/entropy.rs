//! Every random choice of a case — what valid input to build, which mutations to apply — is
//! read from one byte string through [`arbitrary::Unstructured`]. The stable runner fills it
//! from a seeded ChaCha stream (so a case is named by seed + index); `cargo fuzz` hands in
//! libFuzzer's bytes, whose coverage feedback then steers both the input and its mutations.
//! When the bytes run out every choice takes its smallest value, so any byte string is a case.

use arbitrary::Unstructured;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

/// Infallible random choices read from a byte string.
pub struct Entropy<'a> {
    u: Unstructured<'a>,
}

impl<'a> Entropy<'a> {
    pub fn new(bytes: &'a [u8]) -> Self {
        Entropy {
            u: Unstructured::new(bytes),
        }
    }

    /// The underlying [`Unstructured`], for `arbitrary`-derived types.
    pub fn unstructured(&mut self) -> &mut Unstructured<'a> {
        &mut self.u
    }

    /// A value in `lo..=hi` (`lo` when the bytes are used up).
    pub fn range(&mut self, lo: u64, hi: u64) -> u64 {
        self.u.int_in_range(lo..=hi.max(lo)).unwrap_or(lo)
    }

    /// An index below `n` (0 for `n` = 0 or when the bytes are used up).
    pub fn below(&mut self, n: usize) -> usize {
        if n <= 1 {
            return 0;
        }
        self.range(0, n as u64 - 1) as usize
    }

    /// True with probability `num / den`.
    pub fn chance(&mut self, num: u32, den: u32) -> bool {
        self.u.ratio(num, den.max(1)).unwrap_or(false)
    }

    /// One of `choices` (the first when the bytes are used up). Panics on an empty slice, which
    /// is a bug in the caller, not a property of the input.
    pub fn pick<T: Clone>(&mut self, choices: &[T]) -> T {
        choices[self.below(choices.len())].clone()
    }

    /// A full 64-bit value.
    pub fn u64(&mut self) -> u64 {
        self.u.arbitrary().unwrap_or(0)
    }

    /// A seeded generator for bulk content (pixel values, weights) so that a few entropy bytes
    /// decide kilobytes of data.
    pub fn rng(&mut self) -> ChaCha8Rng {
        ChaCha8Rng::seed_from_u64(self.u64())
    }
}
