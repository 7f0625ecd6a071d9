//! The memory budget: work whose estimated memory exceeds it is refused before it starts,
//! with an error that names the estimate and the option that changes it.
//!
//! The budget is `--max-memory` when given, else [`DEFAULT_FRACTION`] of the machine's
//! physical memory (`MemTotal` in `/proc/meminfo`; [`FALLBACK_BUDGET`] where that cannot be
//! read). Half the RAM leaves room for the operating system, the page cache and the copies a
//! run briefly holds (a feature matrix and its scaled copy, the model's buffers).

use anyhow::{bail, Result};
use wb_data::human_bytes;

/// Share of physical memory a run may plan to use when `--max-memory` is not given.
pub const DEFAULT_FRACTION: f64 = 0.5;

/// The budget where physical memory cannot be read (not Linux, no /proc).
pub const FALLBACK_BUDGET: u64 = 8 << 30;

/// Physical memory in bytes, from `/proc/meminfo` (`MemTotal: N kB`).
pub fn physical_memory() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = text.lines().find(|l| l.starts_with("MemTotal:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    kib.checked_mul(1024)
}

/// The budget of a run: `given`, else [`DEFAULT_FRACTION`] of physical memory.
pub fn budget(given: Option<u64>) -> u64 {
    given.unwrap_or_else(|| {
        physical_memory()
            .map(|b| (b as f64 * DEFAULT_FRACTION) as u64)
            .unwrap_or(FALLBACK_BUDGET)
    })
}

/// Refuses `what` (e.g. "decoding 1,960 images at 4096x4096") when its `estimate` (None:
/// too large to count) exceeds `budget`; `advice` says which option to change.
pub fn check(what: &str, estimate: Option<u64>, budget: u64, advice: &str) -> Result<()> {
    match estimate {
        Some(bytes) if bytes <= budget => Ok(()),
        Some(bytes) => bail!(
            "{what} needs an estimated {}, more than the memory budget of {} (--max-memory, \
             default half the RAM): {advice}",
            human_bytes(bytes),
            human_bytes(budget)
        ),
        None => bail!("{what} needs more memory than can be counted (over 16 EiB): {advice}"),
    }
}

/// `512M`, `4G`, `1.5GiB`, `2000000` (bytes): K, M, G, T are powers of 1024.
pub fn parse_bytes(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let lower = t.to_ascii_lowercase();
    let trimmed = lower
        .trim_end_matches("ib")
        .trim_end_matches('b')
        .trim_end();
    let (number, unit) = match trimmed.char_indices().last() {
        Some((i, c)) if c.is_ascii_alphabetic() => (&trimmed[..i], Some(c)),
        _ => (trimmed, None),
    };
    let scale: f64 = match unit {
        None => 1.0,
        Some('k') => 1024.0,
        Some('m') => 1024f64.powi(2),
        Some('g') => 1024f64.powi(3),
        Some('t') => 1024f64.powi(4),
        Some(_) => return Err(format!("`{s}` is not a size (e.g. 512M, 4G)")),
    };
    let value: f64 = number
        .trim()
        .parse()
        .map_err(|_| format!("`{s}` is not a size (e.g. 512M, 4G)"))?;
    if !(value.is_finite() && value > 0.0) {
        return Err(format!("`{s}` must be a positive size"));
    }
    Ok((value * scale) as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_parse_in_powers_of_1024() {
        assert_eq!(parse_bytes("512M"), Ok(512 << 20));
        assert_eq!(parse_bytes("4G"), Ok(4 << 30));
        assert_eq!(parse_bytes("1.5GiB"), Ok(3 << 29));
        assert_eq!(parse_bytes("2000"), Ok(2000));
        assert_eq!(parse_bytes("64kb"), Ok(64 << 10));
        for bad in ["", "G", "-1G", "12Q", "many"] {
            assert!(parse_bytes(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_budget_refuses_what_exceeds_it_and_names_the_estimate() {
        assert!(check("x", Some(100), 100, "less").is_ok());
        let err = check("decoding", Some(3 << 30), 1 << 30, "try --image-size 64")
            .unwrap_err()
            .to_string();
        assert!(err.contains("3.0 GiB") && err.contains("1.0 GiB"), "{err}");
        assert!(
            err.contains("--max-memory") && err.contains("--image-size 64"),
            "{err}"
        );
        assert!(check("x", None, u64::MAX, "less").is_err());
        assert_eq!(budget(Some(5)), 5);
        assert!(budget(None) > 0);
    }
}
