//! Mutations of valid files: byte-level (flip, overwrite, truncate, extend, insert, delete,
//! splice, header fields set to edge values) and structure-aware for the formats that would
//! otherwise stop at their first check (gzip: mutate the payload then compress; JSON, TOML and
//! the safetensors header: mutate one value of the parsed document, then write it back).
//!
//! Every mutation appends a line to a log, so a failing case can be read, not only replayed.

use std::io::{Read, Write};

use rand::RngCore;

use crate::entropy::Entropy;

/// How a file is laid out, so the mutator knows where its structure is.
#[derive(Debug, Clone, PartialEq)]
pub enum Format {
    /// Raw bytes whose integer header fields are listed (they get edge values: 0, 1, all ones,
    /// the sign bit, ...). Unlisted bytes still get generic mutations.
    Binary(Vec<Field>),
    /// A gzip stream; the valid bytes handed to [`crate::Case::file`] are the uncompressed
    /// payload, laid out as `inner`.
    Gzip(Box<Format>),
    /// A JSON document.
    Json,
    /// A TOML document.
    Toml,
    /// safetensors: little-endian u64 header length, JSON header, tensor data.
    Safetensors,
    /// Lines of text.
    Text,
}

impl Format {
    /// Binary with the given header fields.
    pub fn binary(fields: impl IntoIterator<Item = Field>) -> Self {
        Format::Binary(fields.into_iter().collect())
    }

    /// This format, gzipped.
    pub fn gzip(self) -> Self {
        Format::Gzip(Box::new(self))
    }
}

/// An integer field of a binary header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Field {
    pub offset: usize,
    /// 1, 2, 4 or 8 bytes.
    pub width: usize,
    pub big_endian: bool,
}

impl Field {
    pub fn u8(offset: usize) -> Self {
        Field {
            offset,
            width: 1,
            big_endian: false,
        }
    }

    pub fn be_u32(offset: usize) -> Self {
        Field {
            offset,
            width: 4,
            big_endian: true,
        }
    }

    pub fn le_u32(offset: usize) -> Self {
        Field {
            offset,
            width: 4,
            big_endian: false,
        }
    }

    pub fn le_u64(offset: usize) -> Self {
        Field {
            offset,
            width: 8,
            big_endian: false,
        }
    }
}

/// Context for the mutators: strings worth planting in text formats (file names of the case,
/// paths that escape its folder).
#[derive(Debug, Clone, Default)]
pub struct Context {
    pub strings: Vec<String>,
}

/// A mutated file and, when the mutator knows it better than the file's length, its real size.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mutated {
    pub bytes: Vec<u8>,
    /// Set for a gzip bomb: the compressed length plus the payload's, without the megabytes of
    /// padding behind it, which a parser that stops at the size its header claims never holds.
    pub real_size: Option<usize>,
}

/// A mutated copy of `valid` (laid out as `format`), with a log line per mutation. `valid` for a
/// [`Format::Gzip`] is the payload; the result is always the bytes to write to disk.
pub fn mutate(
    e: &mut Entropy<'_>,
    valid: &[u8],
    format: &Format,
    context: &Context,
    log: &mut Vec<String>,
) -> Mutated {
    if let Format::Gzip(inner) = format {
        return mutate_gzip(e, valid, inner, context, log);
    }
    Mutated {
        bytes: mutate_plain(e, valid, format, context, log),
        real_size: None,
    }
}

fn mutate_plain(
    e: &mut Entropy<'_>,
    valid: &[u8],
    format: &Format,
    context: &Context,
    log: &mut Vec<String>,
) -> Vec<u8> {
    match format {
        Format::Binary(fields) => {
            let mut bytes = valid.to_vec();
            mutate_bytes(e, &mut bytes, fields, log);
            bytes
        }
        Format::Gzip(inner) => mutate_gzip(e, valid, inner, context, log).bytes,
        Format::Json => mutate_document(e, valid, Syntax::Json, context, log),
        Format::Toml => mutate_document(e, valid, Syntax::Toml, context, log),
        Format::Safetensors => mutate_safetensors(e, valid, context, log),
        Format::Text => {
            let mut bytes = valid.to_vec();
            if e.chance(1, 2) {
                mutate_lines(e, &mut bytes, log);
            } else {
                mutate_bytes(e, &mut bytes, &[], log);
            }
            bytes
        }
    }
}

/// The bytes written to disk for an unmutated file (the payload compressed, for gzip).
pub fn encode_valid(valid: &[u8], format: &Format) -> Vec<u8> {
    match format {
        Format::Gzip(_) => gzip(valid),
        _ => valid.to_vec(),
    }
}

/// How many bytes the file really holds for the memory bound: its length, plus for gzip what
/// its first member really decompresses to (counted up to the first error). A gzip bomb's
/// [`Mutated::real_size`] overrides this.
pub fn real_size(written: &[u8], format: &Format) -> usize {
    match format {
        Format::Gzip(_) if written.starts_with(&[0x1f, 0x8b]) => {
            let mut decoder = flate2::read::GzDecoder::new(written);
            let mut buf = [0u8; 1 << 16];
            let mut total = 0usize;
            while let Ok(n) = decoder.read(&mut buf) {
                if n == 0 {
                    break;
                }
                total += n;
            }
            written.len() + total
        }
        _ => written.len(),
    }
}

pub fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    encoder
        .write_all(bytes)
        .and_then(|_| encoder.finish())
        .expect("gzip into memory cannot fail")
}

/// Edge values for a `width`-byte unsigned field holding `current` in a file of `len` bytes:
/// zero, one, all ones (-1 as unsigned), -2, the sign bit, the largest signed value, powers of
/// two around the usual header sizes, the file length, and neighbours of the current value.
fn interesting(width: usize, current: u64, len: usize) -> Vec<u64> {
    let bits = (width * 8) as u32;
    let max = if bits >= 64 {
        u64::MAX
    } else {
        (1u64 << bits) - 1
    };
    let sign = 1u64 << (bits - 1);
    let mut v = vec![
        0,
        1,
        2,
        max,
        max - 1,
        sign,
        sign - 1,
        sign + 1,
        0x7f,
        0x80,
        0xff,
        0x100,
        0xffff,
        0x1_0000,
        0x7fff_ffff,
        0x8000_0000,
        0xffff_ffff,
        0x1_0000_0000,
        len as u64,
        len as u64 + 1,
        (len as u64).saturating_sub(1),
        current.wrapping_add(1),
        current.wrapping_sub(1),
        current.wrapping_mul(2),
        current / 2,
        current.wrapping_mul(256),
        current.swap_bytes() >> (64 - bits),
    ];
    v.iter_mut().for_each(|x| *x &= max);
    v
}

fn read_field(bytes: &[u8], f: Field) -> u64 {
    let slice = &bytes[f.offset..f.offset + f.width];
    let mut value = 0u64;
    for i in 0..f.width {
        let b = if f.big_endian {
            slice[i]
        } else {
            slice[f.width - 1 - i]
        };
        value = (value << 8) | b as u64;
    }
    value
}

fn write_field(bytes: &mut [u8], f: Field, value: u64) {
    for i in 0..f.width {
        let b = (value >> (8 * i)) as u8;
        let at = if f.big_endian {
            f.offset + f.width - 1 - i
        } else {
            f.offset + i
        };
        bytes[at] = b;
    }
}

/// Lengths to truncate or extend to: header boundaries and small / large / random.
fn sizes(e: &mut Entropy<'_>, len: usize) -> usize {
    match e.below(6) {
        0 => e.below(len.min(64) + 1),
        1 => e.below(len + 1),
        2 => e.range(1, 16) as usize,
        3 => len / 2,
        4 => e.pick(&[1usize, 4, 8, 255, 256, 4096, 65_536]),
        _ => e.range(1, 1 << 16) as usize,
    }
}

/// 1 to 4 stacked byte-level mutations (each logged; a drawn mutation that does not apply to
/// the current bytes, such as a flip in an empty file, is drawn again).
pub fn mutate_bytes(
    e: &mut Entropy<'_>,
    bytes: &mut Vec<u8>,
    fields: &[Field],
    log: &mut Vec<String>,
) {
    let rounds = e.range(1, 4) as usize;
    let target = log.len() + rounds;
    for _ in 0..rounds * 8 {
        if log.len() >= target {
            break;
        }
        let len = bytes.len();
        match e.below(10) {
            0 if fields.len() > 1 && e.chance(1, 8) => {
                // Several header fields at once to large values: products of dimensions that
                // overflow, counts and sizes that are each plausible but not together.
                let mut changed = Vec::new();
                for &field in fields {
                    if field.offset + field.width <= bytes.len() && e.chance(2, 3) {
                        let bits = field.width as u32 * 8;
                        let value =
                            e.pick(&[u64::MAX, 1 << (bits - 1), (1 << (bits - 1)) - 1, 0x1_0000])
                                & (u64::MAX >> (64 - bits));
                        write_field(bytes, field, value);
                        changed.push(format!("@{}={value:#x}", field.offset));
                    }
                }
                if !changed.is_empty() {
                    log.push(format!("fields {}", changed.join(" ")));
                }
            }
            0 | 1 if !fields.is_empty() || len >= 4 => {
                let field = if !fields.is_empty() && e.chance(4, 5) {
                    e.pick(fields)
                } else {
                    let width = e.pick(&[1usize, 2, 4, 8]).min(len.max(1));
                    let offset = e.below(len.min(64).saturating_sub(width) + 1);
                    Field {
                        offset,
                        width,
                        big_endian: e.chance(1, 2),
                    }
                };
                if field.offset + field.width > bytes.len() || field.width == 0 {
                    continue;
                }
                let current = read_field(bytes, field);
                let value = if e.chance(1, 8) {
                    e.u64()
                } else {
                    e.pick(&interesting(field.width, current, len))
                };
                write_field(bytes, field, value);
                log.push(format!(
                    "field @{} ({} bytes, {}) {current:#x} -> {value:#x}",
                    field.offset,
                    field.width,
                    if field.big_endian { "BE" } else { "LE" },
                ));
            }
            2 if len > 0 => {
                let flips = e.range(1, 8);
                for _ in 0..flips {
                    let at = e.below(len);
                    let bit = e.below(8);
                    bytes[at] ^= 1 << bit;
                }
                log.push(format!("flip {flips} bits"));
            }
            3 if len > 0 => {
                let at = e.below(len);
                let random = e.range(0, 255) as u8;
                let value = e.pick(&[0u8, 1, 0x7f, 0x80, 0xff, random]);
                bytes[at] = value;
                log.push(format!("byte @{at} = {value:#x}"));
            }
            4 => {
                let to = sizes(e, len).min(len);
                bytes.truncate(to);
                log.push(format!("truncate {len} -> {to}"));
            }
            5 => {
                let extra = sizes(e, len);
                let kind = e.below(3);
                match kind {
                    0 => bytes.resize(len + extra, 0),
                    1 => {
                        let mut rng = e.rng();
                        let start = bytes.len();
                        bytes.resize(start + extra, 0);
                        rng.fill_bytes(&mut bytes[start..]);
                    }
                    _ => {
                        let copy: Vec<u8> = bytes.iter().copied().cycle().take(extra).collect();
                        bytes.extend_from_slice(&copy);
                    }
                }
                log.push(format!(
                    "extend by {extra} {} bytes",
                    ["zero", "random", "repeated"][kind]
                ));
            }
            6 => {
                let at = e.below(len + 1);
                let n = e.range(1, 64) as usize;
                let mut rng = e.rng();
                let mut insert = vec![0u8; n];
                rng.fill_bytes(&mut insert);
                bytes.splice(at..at, insert);
                log.push(format!("insert {n} random bytes @{at}"));
            }
            7 if len > 0 => {
                let at = e.below(len);
                let n = (e.range(1, 64) as usize).min(len - at);
                bytes.drain(at..at + n);
                log.push(format!("delete {n} bytes @{at}"));
            }
            8 if len > 0 => {
                let from = e.below(len);
                let n = (e.range(1, 256) as usize).min(len - from);
                let to = e.below(len);
                let chunk = bytes[from..from + n].to_vec();
                let end = (to + n).min(len);
                bytes[to..end].copy_from_slice(&chunk[..end - to]);
                log.push(format!("copy {n} bytes @{from} over @{to}"));
            }
            9 => {
                // The whole file replaced by a run of one byte value.
                let value = e.pick(&[0u8, 0xff]);
                let n = sizes(e, len);
                *bytes = vec![value; n];
                log.push(format!("replace with {n} bytes of {value:#x}"));
            }
            _ => {}
        }
    }
}

fn mutate_lines(e: &mut Entropy<'_>, bytes: &mut Vec<u8>, log: &mut Vec<String>) {
    let text = String::from_utf8_lossy(bytes).into_owned();
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    let rounds = e.range(1, 3);
    for _ in 0..rounds {
        let n = lines.len();
        match e.below(6) {
            0 if n > 0 => {
                let i = e.below(n);
                lines.remove(i);
                log.push(format!("remove line {i}"));
            }
            1 if n > 0 => {
                let i = e.below(n);
                let line = lines[i].clone();
                lines.insert(i, line);
                log.push(format!("duplicate line {i}"));
            }
            2 => {
                let i = e.below(n + 1);
                lines.insert(i, String::new());
                log.push(format!("blank line at {i}"));
            }
            3 => {
                let i = e.below(n + 1);
                let long = "x".repeat(e.pick(&[256usize, 65_536]));
                lines.insert(i, long);
                log.push(format!("long line at {i}"));
            }
            4 if n > 0 => {
                let i = e.below(n);
                lines[i] = e.pick(&[
                    "".to_string(),
                    " \t ".into(),
                    "\u{0}".into(),
                    "é∂\u{feff}".into(),
                ]);
                log.push(format!("replace line {i}"));
            }
            _ => {
                lines.clear();
                log.push("empty the file".into());
            }
        }
    }
    let mut out = lines.join(if e.chance(1, 4) { "\r\n" } else { "\n" });
    if e.chance(1, 2) {
        out.push('\n');
    }
    *bytes = out.into_bytes();
}

fn mutate_gzip(
    e: &mut Entropy<'_>,
    payload: &[u8],
    inner: &Format,
    context: &Context,
    log: &mut Vec<String>,
) -> Mutated {
    let plain = |bytes| Mutated {
        bytes,
        real_size: None,
    };
    match e.below(20) {
        // The payload mutated, then compressed: reaches the parser behind the decompressor.
        0..=8 => {
            log.push("gzip payload:".into());
            plain(gzip(&mutate(e, payload, inner, context, log).bytes))
        }
        // The compressed stream mutated: corrupt gzip.
        9..=14 => {
            let mut bytes = gzip(payload);
            log.push("gzip stream:".into());
            mutate_bytes(e, &mut bytes, &[], log);
            plain(bytes)
        }
        // Both.
        15..=16 => {
            log.push("gzip payload and stream:".into());
            let mut bytes = gzip(&mutate(e, payload, inner, context, log).bytes);
            mutate_bytes(e, &mut bytes, &[], log);
            plain(bytes)
        }
        // A bomb: the valid payload followed by megabytes of zeros (about 1000:1).
        17..=18 => {
            let megabytes = e.range(1, 16) as usize;
            log.push(format!("gzip bomb: payload + {megabytes} MiB of zeros"));
            let mut encoder =
                flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            let zeros = vec![0u8; 1 << 20];
            let written = encoder
                .write_all(payload)
                .and_then(|_| (0..megabytes).try_for_each(|_| encoder.write_all(&zeros)));
            let bytes = written
                .and_then(|_| encoder.finish())
                .expect("gzip into memory cannot fail");
            let real_size = Some(bytes.len() + payload.len());
            Mutated { bytes, real_size }
        }
        // Not compressed at all (a `.gz` name on a plain file).
        _ => {
            log.push("gzip name, plain payload:".into());
            mutate(e, payload, inner, context, log)
        }
    }
}

#[derive(Clone, Copy)]
enum Syntax {
    Json,
    Toml,
}

fn parse_document(bytes: &[u8], syntax: Syntax) -> Option<serde_json::Value> {
    let text = std::str::from_utf8(bytes).ok()?;
    match syntax {
        Syntax::Json => serde_json::from_str(text).ok(),
        Syntax::Toml => toml::from_str::<toml::Value>(text)
            .ok()
            .and_then(|v| serde_json::to_value(v).ok()),
    }
}

fn write_document(value: &serde_json::Value, syntax: Syntax, pretty: bool) -> Option<Vec<u8>> {
    match syntax {
        Syntax::Json if pretty => serde_json::to_vec_pretty(value).ok(),
        Syntax::Json => serde_json::to_vec(value).ok(),
        Syntax::Toml => toml::to_string(value).ok().map(String::into_bytes),
    }
}

/// 1 to 3 value-level mutations of the parsed document, then (one time in five) byte-level
/// mutations of its text. A document the mutator cannot parse or write back gets byte-level
/// mutations only.
fn mutate_document(
    e: &mut Entropy<'_>,
    valid: &[u8],
    syntax: Syntax,
    context: &Context,
    log: &mut Vec<String>,
) -> Vec<u8> {
    let mut out = None;
    if let Some(mut doc) = parse_document(valid, syntax) {
        if !e.chance(1, 6) {
            let rounds = e.range(1, 3);
            for _ in 0..rounds {
                mutate_value(e, &mut doc, context, log);
            }
            out = write_document(&doc, syntax, e.chance(1, 2));
            if out.is_none() {
                log.push("(the mutated document could not be written back)".into());
            }
        }
    }
    let mut bytes = out.unwrap_or_else(|| valid.to_vec());
    if bytes == valid || e.chance(1, 5) {
        mutate_bytes(e, &mut bytes, &[], log);
    }
    bytes
}

/// Every node of a document, as a path of keys / indices from the root.
fn node_paths(value: &serde_json::Value, path: &mut Vec<PathStep>, out: &mut Vec<Vec<PathStep>>) {
    out.push(path.clone());
    match value {
        serde_json::Value::Object(map) => {
            for (k, v) in map {
                path.push(PathStep::Key(k.clone()));
                node_paths(v, path, out);
                path.pop();
            }
        }
        serde_json::Value::Array(items) => {
            for (i, v) in items.iter().enumerate() {
                path.push(PathStep::Index(i));
                node_paths(v, path, out);
                path.pop();
            }
        }
        _ => {}
    }
}

#[derive(Debug, Clone)]
enum PathStep {
    Key(String),
    Index(usize),
}

fn path_text(path: &[PathStep]) -> String {
    let mut s = String::from("$");
    for step in path {
        match step {
            PathStep::Key(k) => s.push_str(&format!(".{k}")),
            PathStep::Index(i) => s.push_str(&format!("[{i}]")),
        }
    }
    s
}

fn node_mut<'v>(root: &'v mut serde_json::Value, path: &[PathStep]) -> &'v mut serde_json::Value {
    path.iter().fold(root, |node, step| match step {
        PathStep::Key(k) => &mut node[k.as_str()],
        PathStep::Index(i) => &mut node[*i],
    })
}

fn mutate_value(
    e: &mut Entropy<'_>,
    root: &mut serde_json::Value,
    context: &Context,
    log: &mut Vec<String>,
) {
    use serde_json::{json, Value};
    let mut paths = Vec::new();
    node_paths(root, &mut Vec::new(), &mut paths);
    let path = paths[e.below(paths.len())].clone();
    let mut strings: Vec<String> = Vec::new();
    collect_strings(root, &mut strings);
    // Every occurrence of the chosen number replaced at once: sizes that must agree (a layer's
    // width, the next layer's input width, a tensor's shape) stay consistent, so the document
    // passes the consistency checks and reaches the code that allocates for those sizes.
    if let Value::Number(n) = node_mut(root, &path).clone() {
        if e.chance(1, 4) {
            let to = e.pick(&[
                json!(0),
                json!(65_536),
                json!(1_000_000),
                json!(4_294_967_296u64),
                json!(1u64 << 62),
                json!(u64::MAX),
            ]);
            let replaced = replace_number(root, &n, &to);
            log.push(format!("every {n} ({replaced} places) = {to}"));
            return;
        }
    }
    let node = node_mut(root, &path);
    let at = path_text(&path);
    let numbers: [Value; 16] = [
        json!(0),
        json!(1),
        json!(-1),
        json!(2),
        json!(255),
        json!(65_536),
        json!(2_147_483_648u64),
        json!(4_294_967_295u64),
        json!(4_294_967_296u64),
        json!(9_007_199_254_740_993u64),
        json!(u64::MAX),
        json!(i64::MIN),
        json!(0.5),
        json!(-0.0),
        json!(1e300),
        json!(-1e-300),
    ];
    let new: Value = match (e.below(8), &*node) {
        (0..=2, Value::Number(n)) => {
            if e.chance(1, 3) {
                // A neighbour of the current value.
                let v = n.as_i64().unwrap_or(0);
                json!(v.saturating_add(e.pick(&[1i64, -1, 1000, -1000])))
            } else {
                e.pick(&numbers)
            }
        }
        (0..=2, Value::String(_)) => {
            let mut choices: Vec<String> = vec![
                String::new(),
                "../x".into(),
                "/etc/passwd".into(),
                "a/../../b".into(),
                ".".into(),
                "x".repeat(10_000),
                "\u{0}".into(),
                "NaN".into(),
            ];
            choices.extend(context.strings.iter().cloned());
            choices.extend(strings.iter().cloned());
            e.pick(&choices).into()
        }
        (3, Value::Object(map)) if !map.is_empty() => {
            let keys: Vec<String> = map.keys().cloned().collect();
            let key = e.pick(&keys);
            let mut map = map.clone();
            map.remove(&key);
            log.push(format!("{at}: remove key `{key}`"));
            *node = Value::Object(map);
            return;
        }
        (3, Value::Array(items)) if !items.is_empty() => {
            let mut items = items.clone();
            let i = e.below(items.len());
            let op = e.below(4);
            match op {
                0 => {
                    items.remove(i);
                }
                1 => {
                    let item = items[i].clone();
                    items.insert(i, item);
                }
                2 => items.reverse(),
                _ => items.clear(),
            }
            log.push(format!(
                "{at}: {} array",
                ["remove from", "duplicate in", "reverse", "clear"][op]
            ));
            *node = Value::Array(items);
            return;
        }
        (4, Value::Object(_)) => {
            let mut map = node.as_object().cloned().unwrap_or_default();
            map.insert("unexpected_key".into(), json!(1));
            log.push(format!("{at}: add an unknown key"));
            *node = Value::Object(map);
            return;
        }
        (5, _) => {
            // Deep nesting: past serde_json's recursion limit (128) one time in two.
            let depth = e.pick(&[16usize, 200]);
            let mut v = node.clone();
            for _ in 0..depth {
                v = json!([v]);
            }
            log.push(format!("{at}: nest {depth} arrays deep"));
            *node = v;
            return;
        }
        _ => {
            // A value of another type.
            let choices = [
                Value::Null,
                json!(true),
                json!("text"),
                json!(0),
                json!(-7),
                json!([]),
                json!({}),
                json!([1, 2, 3]),
            ];
            e.pick(&choices)
        }
    };
    let shown = new.to_string();
    log.push(format!("{at} = {}", &shown[..shown.len().min(60)]));
    *node = new;
}

/// Replaces every number equal to `from` by `to`; returns how many.
fn replace_number(
    value: &mut serde_json::Value,
    from: &serde_json::Number,
    to: &serde_json::Value,
) -> usize {
    match value {
        serde_json::Value::Number(n) if n == from => {
            *value = to.clone();
            1
        }
        serde_json::Value::Array(items) => {
            items.iter_mut().map(|v| replace_number(v, from, to)).sum()
        }
        serde_json::Value::Object(map) => {
            map.values_mut().map(|v| replace_number(v, from, to)).sum()
        }
        _ => 0,
    }
}

fn collect_strings(value: &serde_json::Value, out: &mut Vec<String>) {
    match value {
        serde_json::Value::String(s) if s.len() < 100 && out.len() < 32 => out.push(s.clone()),
        serde_json::Value::Array(items) => items.iter().for_each(|v| collect_strings(v, out)),
        serde_json::Value::Object(map) => map.values().for_each(|v| collect_strings(v, out)),
        _ => {}
    }
}

/// Mutates a safetensors file: mostly its JSON header (shapes, offsets, dtypes), rewritten with
/// a correct length prefix so the parser reads it; sometimes the bytes (length prefix included).
fn mutate_safetensors(
    e: &mut Entropy<'_>,
    valid: &[u8],
    context: &Context,
    log: &mut Vec<String>,
) -> Vec<u8> {
    let split = valid.get(..8).and_then(|prefix| {
        let n = u64::from_le_bytes(prefix.try_into().ok()?) as usize;
        let header = valid.get(8..8usize.checked_add(n)?)?;
        Some((header, &valid[8 + n..]))
    });
    match split {
        Some((header, data)) if e.chance(3, 4) => {
            log.push("safetensors header:".into());
            let new_header = mutate_document(e, header, Syntax::Json, context, log);
            let mut out = Vec::with_capacity(8 + new_header.len() + data.len());
            let prefix = if e.chance(1, 10) {
                let wrong = e.pick(&interesting(8, new_header.len() as u64, valid.len()));
                log.push(format!("header length prefix = {wrong:#x}"));
                wrong
            } else {
                new_header.len() as u64
            };
            out.extend_from_slice(&prefix.to_le_bytes());
            out.extend_from_slice(&new_header);
            out.extend_from_slice(data);
            if e.chance(1, 5) {
                mutate_bytes(e, &mut out, &[Field::le_u64(0)], log);
            }
            out
        }
        _ => {
            let mut bytes = valid.to_vec();
            mutate_bytes(e, &mut bytes, &[Field::le_u64(0)], log);
            bytes
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entropy_bytes(seed: u64) -> Vec<u8> {
        use rand::SeedableRng;
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
        let mut bytes = vec![0u8; 4096];
        rng.fill_bytes(&mut bytes);
        bytes
    }

    #[test]
    fn fields_round_trip_in_both_byte_orders() {
        let mut bytes = vec![0u8; 8];
        write_field(&mut bytes, Field::be_u32(0), 0x0102_0304);
        write_field(&mut bytes, Field::le_u32(4), 0x0102_0304);
        assert_eq!(bytes, [1, 2, 3, 4, 4, 3, 2, 1]);
        assert_eq!(read_field(&bytes, Field::be_u32(0)), 0x0102_0304);
        assert_eq!(read_field(&bytes, Field::le_u32(4)), 0x0102_0304);
    }

    #[test]
    fn edge_values_fit_the_field_and_include_all_ones_and_the_sign_bit() {
        let v = interesting(4, 7, 100);
        assert!(v.iter().all(|&x| x <= u32::MAX as u64));
        assert!(v.contains(&0) && v.contains(&0xffff_ffff) && v.contains(&0x8000_0000));
        assert!(v.contains(&0xffff_fffe), "-2 as unsigned");
        assert!(interesting(1, 0, 0).iter().all(|&x| x <= 0xff));
    }

    /// Over many cases the byte mutator produces every kind of change the brief lists: shorter,
    /// longer, same length with different bytes, and header fields set to 0 and to all ones.
    #[test]
    fn byte_mutations_cover_truncation_extension_and_header_edge_values() {
        let valid: Vec<u8> = (0..64u8).collect();
        let (mut shorter, mut longer, mut changed, mut zero_field, mut ones_field) =
            (0, 0, 0, 0, 0);
        for seed in 0..2000 {
            let bytes = entropy_bytes(seed);
            let mut e = Entropy::new(&bytes);
            let mut log = Vec::new();
            let out = mutate(
                &mut e,
                &valid,
                &Format::binary([Field::be_u32(4)]),
                &Context::default(),
                &mut log,
            )
            .bytes;
            assert!(!log.is_empty(), "every mutation is logged");
            shorter += (out.len() < valid.len()) as u32;
            longer += (out.len() > valid.len()) as u32;
            changed += (out.len() == valid.len() && out != valid) as u32;
            if out.len() >= 8 && out[..4] == valid[..4] {
                zero_field += (out[4..8] == [0, 0, 0, 0]) as u32;
                ones_field += (out[4..8] == [0xff; 4]) as u32;
            }
        }
        for (what, n) in [
            ("shorter", shorter),
            ("longer", longer),
            ("same length, changed", changed),
            ("field = 0", zero_field),
            ("field = all ones", ones_field),
        ] {
            assert!(n >= 20, "{what}: only {n} of 2000 cases");
        }
    }

    #[test]
    fn gzip_mutations_reach_the_payload_and_the_stream() {
        let payload: Vec<u8> = (0..200u8).collect();
        let format = Format::binary([]).gzip();
        let (mut decodes_to_other, mut corrupt, mut bombs) = (0, 0, 0);
        for seed in 0..400 {
            let bytes = entropy_bytes(seed);
            let mut e = Entropy::new(&bytes);
            let out = mutate(
                &mut e,
                &payload,
                &format,
                &Context::default(),
                &mut Vec::new(),
            );
            let mut decoded = Vec::new();
            match flate2::read::GzDecoder::new(&out.bytes[..]).read_to_end(&mut decoded) {
                Ok(_) if decoded.len() > 1 << 20 => {
                    bombs += 1;
                    // A bomb's real size is its file and payload, not the padding.
                    assert_eq!(out.real_size, Some(out.bytes.len() + payload.len()));
                }
                Ok(_) if decoded != payload => decodes_to_other += 1,
                Ok(_) => {}
                Err(_) => corrupt += 1,
            }
            if out.real_size.is_none() && out.bytes.starts_with(&[0x1f, 0x8b]) {
                let counted = real_size(&out.bytes, &format);
                assert!(
                    counted >= out.bytes.len() + decoded.len().min(1 << 20),
                    "{counted}"
                );
            }
        }
        assert!(decodes_to_other >= 50, "{decodes_to_other}");
        assert!(corrupt >= 50, "{corrupt}");
        assert!(bombs >= 5, "{bombs}");
    }

    #[test]
    fn document_mutations_keep_the_syntax_most_of_the_time_and_change_values() {
        let json = br#"{"format":"wb-mlp","n":3,"layers":[{"type":"relu"},{"inputs":4}]}"#;
        let toml = b"seed = 3\nname = \"x\"\n[grid]\nlr = [0.1, 0.01]\n";
        for (text, syntax) in [(&json[..], Syntax::Json), (&toml[..], Syntax::Toml)] {
            let (mut parses, mut differs) = (0, 0);
            for seed in 0..300 {
                let bytes = entropy_bytes(seed);
                let mut e = Entropy::new(&bytes);
                let ctx = Context {
                    strings: vec!["../weights".into()],
                };
                let out = mutate_document(&mut e, text, syntax, &ctx, &mut Vec::new());
                if let Some(v) = parse_document(&out, syntax) {
                    parses += 1;
                    differs += (Some(v) != parse_document(text, syntax)) as u32;
                }
            }
            assert!(
                parses >= 120 && differs >= 100,
                "{parses} parse, {differs} differ"
            );
        }
    }

    #[test]
    fn safetensors_mutations_rewrite_a_parseable_header() {
        let data = [0u8; 8];
        let view =
            safetensors::tensor::TensorView::new(safetensors::Dtype::F32, vec![2], &data).unwrap();
        let valid = safetensors::serialize([("w", view)], &None).unwrap();
        let mut header_changed_but_parseable = 0;
        for seed in 0..300 {
            let bytes = entropy_bytes(seed);
            let mut e = Entropy::new(&bytes);
            let out = mutate(
                &mut e,
                &valid,
                &Format::Safetensors,
                &Context::default(),
                &mut Vec::new(),
            )
            .bytes;
            if out.len() >= 8 {
                let n = u64::from_le_bytes(out[..8].try_into().unwrap()) as usize;
                if n.checked_add(8)
                    .and_then(|end| out.get(8..end))
                    .and_then(|h| serde_json::from_slice::<serde_json::Value>(h).ok())
                    .is_some()
                    && out != valid
                {
                    header_changed_but_parseable += 1;
                }
            }
        }
        assert!(
            header_changed_but_parseable >= 75,
            "{header_changed_but_parseable}"
        );
    }
}
