//! 64-bit FNV-1a (Fowler, Noll & Vo): `h = (h ⊕ w) · 0x100000001b3` per word from the offset
//! basis `0xcbf29ce484222325`. A fast fingerprint that catches flipped bits and truncation; not
//! a defence against tampering.

/// An FNV-1a hash being accumulated. Words are fed whole (an `f32`'s bits, an `i64`, a byte).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fnv64(u64);

impl Default for Fnv64 {
    fn default() -> Self {
        Self::new()
    }
}

impl Fnv64 {
    const OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
    const PRIME: u64 = 0x0000_0100_0000_01b3;

    pub fn new() -> Fnv64 {
        Fnv64(Self::OFFSET)
    }

    /// The hash of `text`'s bytes.
    pub fn of_str(text: &str) -> u64 {
        let mut h = Fnv64::new();
        h.add_bytes(text.as_bytes());
        h.value()
    }

    /// One word.
    pub fn add_word(&mut self, w: u64) {
        self.0 = (self.0 ^ w).wrapping_mul(Self::PRIME);
    }

    /// Each byte as one word.
    pub fn add_bytes(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.add_word(b as u64);
        }
    }

    /// The length, then each value's bits.
    pub fn add_f32s(&mut self, values: &[f32]) {
        self.add_word(values.len() as u64);
        for v in values {
            self.add_word(v.to_bits() as u64);
        }
    }

    /// The length, then each value's bits.
    pub fn add_f64s(&mut self, values: &[f64]) {
        self.add_word(values.len() as u64);
        for v in values {
            self.add_word(v.to_bits());
        }
    }

    /// The length, then each value.
    pub fn add_i64s(&mut self, values: &[i64]) {
        self.add_word(values.len() as u64);
        for &v in values {
            self.add_word(v as u64);
        }
    }

    pub fn value(&self) -> u64 {
        self.0
    }

    /// The value as 16 hex digits.
    pub fn hex(&self) -> String {
        format!("{:016x}", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_the_published_test_vectors() {
        // From the FNV reference (isthe.com/chongo/tech/comp/fnv): FNV-1a 64 of "" and "a".
        assert_eq!(Fnv64::of_str(""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(Fnv64::of_str("a"), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(Fnv64::of_str("foobar"), 0x8594_4171_f739_67e8);
    }
}
