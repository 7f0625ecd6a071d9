//! The value parser of every named option: a leaf module, so the argument modules do not
//! import their parent (no import circle among the binary's files).

/// A clap value parser for any type the engine parses by name (`FromStr`, whose error lists
/// the valid names).
pub fn by_name<T>(s: &str) -> Result<T, String>
where
    T: std::str::FromStr,
    T::Err: std::fmt::Display,
{
    s.parse::<T>().map_err(|e| e.to_string())
}
