//! The runner: one [`Target`] per parser; each case builds valid files, mutates them, runs the
//! parser once under a memory measurement, a panic catcher and a watchdog, and judges the result.
//!
//! A case passes when the parser either returns `Ok` and the target's consistency check holds,
//! or returns an error whose message names the case's folder (so a file in it) and says
//! something more. It is a defect when the parser panics, accepts input that is inconsistent,
//! refuses the unmutated valid input, returns an error naming no file, takes more memory (peak
//! live bytes or one allocation) than its [`Budget`] allows for the input's real size, or runs
//! longer than [`Config::slow_case`]. A case running past [`Config::hang_timeout`] aborts the
//! process after printing how to rerun it (an infinite loop cannot be caught otherwise).

use std::collections::BTreeMap;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use rand::{RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::alloc::{self, Usage};
use crate::entropy::Entropy;
use crate::mutate::{self, Context, Format};

/// A parser under test: a name and one function that builds a valid input with
/// [`Case::file`], then parses it with [`Case::parse`] and checks what came back.
#[derive(Clone, Copy)]
pub struct Target {
    /// Short name used on the command line and in reports (`idx-images`).
    pub name: &'static str,
    /// One line: which parser, which files.
    pub about: &'static str,
    /// How much memory a case may use, relative to the real size of its input files.
    pub budget: Budget,
    pub run: fn(&mut Case<'_>),
}

/// Memory bound of one case: `per_input_byte x real input bytes + constant`, applied to the
/// peak of live heap bytes during the parse and to the largest single allocation. The real
/// size of a gzip file counts what it actually decompresses to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Budget {
    pub per_input_byte: usize,
    pub constant: usize,
}

impl Budget {
    pub fn bound(&self, input_bytes: usize) -> usize {
        self.per_input_byte
            .saturating_mul(input_bytes)
            .saturating_add(self.constant)
    }
}

/// What the parse closure reports.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// The parser returned `Ok`; `Err(why)` when the target's consistency check failed.
    Parsed(Result<(), String>),
    /// The parser returned an error with this message.
    Refused(String),
}

impl Outcome {
    /// `Parsed(consistent(value))` for `Ok(value)`, `Refused(message)` for `Err`.
    pub fn of<T, E: std::fmt::Display>(
        result: Result<T, E>,
        consistent: impl FnOnce(T) -> Result<(), String>,
    ) -> Outcome {
        match result {
            Ok(value) => Outcome::Parsed(consistent(value)),
            Err(e) => Outcome::Refused(e.to_string()),
        }
    }
}

/// `Ok(())` if `condition`, else `Err(what())` — for consistency checks.
pub fn ensure(condition: bool, what: impl FnOnce() -> String) -> Result<(), String> {
    if condition {
        Ok(())
    } else {
        Err(what())
    }
}

/// What one case's files looked like once written, for the parse closure.
#[derive(Debug, Clone)]
pub struct Written {
    /// True when every file was written as given (no mutation, none removed).
    pub unchanged: bool,
    /// The bytes on disk, by name (`None` for a file the case removed).
    pub files: BTreeMap<String, Option<Vec<u8>>>,
    /// The real size of all files, on which the memory bound is based (gzip files count what
    /// they decompress to, except a bomb's padding).
    pub real_bytes: usize,
}

impl Written {
    /// The bytes written for `name`, if the file exists.
    pub fn bytes(&self, name: &str) -> Option<&[u8]> {
        self.files.get(name).and_then(|b| b.as_deref())
    }
}

struct Pending {
    name: String,
    valid: Vec<u8>,
    format: Format,
}

/// One case: random choices, the files it declares, and (after [`Case::parse`]) its verdict.
pub struct Case<'a> {
    entropy: Entropy<'a>,
    dir: &'a Path,
    state: &'a mut DirState,
    pending: Vec<Pending>,
    decoys: Vec<(String, Vec<u8>)>,
    log: Vec<String>,
    result: Option<CaseResult>,
    slow_case: Duration,
}

impl<'a> Case<'a> {
    /// Random choices for building the valid input.
    pub fn entropy(&mut self) -> &mut Entropy<'a> {
        &mut self.entropy
    }

    /// The folder the case's files are written to (fixed for a run; cleared between cases).
    pub fn dir(&self) -> &Path {
        self.dir
    }

    /// Declares a valid file `name` (a relative path: subfolders are created) laid out as
    /// `format`, and returns where it will be. For [`Format::Gzip`], `valid` is the payload.
    /// The harness decides, when [`Case::parse`] runs, whether to mutate or remove it.
    pub fn file(&mut self, name: &str, valid: Vec<u8>, format: Format) -> PathBuf {
        self.pending.push(Pending {
            name: name.to_string(),
            valid,
            format,
        });
        self.dir.join(name)
    }

    /// Writes `bytes` to `name` beside the case folder (outside it, never mutated): a parser
    /// that follows `../name` out of its folder finds a valid file there, and the target can
    /// tell it did. Returns the path.
    pub fn decoy(&mut self, name: &str, bytes: Vec<u8>) -> PathBuf {
        let path = self
            .dir
            .parent()
            .expect("the case folder has a parent")
            .join(name);
        self.decoys.push((name.to_string(), bytes));
        path
    }

    /// Mutates and writes the declared files, runs `parse` once (measured, panics caught), and
    /// records the verdict. Call it once per case.
    pub fn parse(&mut self, parse: impl FnOnce(&Written) -> Outcome) {
        let context = Context {
            strings: self
                .pending
                .iter()
                .flat_map(|p| [format!("../{}", p.name), p.name.clone()])
                .chain(self.decoys.iter().map(|(n, _)| format!("../{n}")))
                .chain([self.dir.display().to_string()])
                .collect(),
        };
        let written = self.mutate_and_write(&context);
        let input_bytes = written.real_bytes;

        LAST_PANIC.lock().unwrap_or_else(|e| e.into_inner()).take();
        IN_CASE.store(true, Ordering::SeqCst);
        let start_level = alloc::start_measuring();
        let started = Instant::now();
        let outcome = catch_unwind(AssertUnwindSafe(|| parse(&written)));
        let elapsed = started.elapsed();
        let usage = alloc::finish_measuring(start_level);
        IN_CASE.store(false, Ordering::SeqCst);

        let verdict = match outcome {
            Err(payload) => {
                let recorded = LAST_PANIC.lock().unwrap_or_else(|e| e.into_inner()).take();
                Verdict::Defect(format!(
                    "panicked: {}",
                    recorded.unwrap_or_else(|| panic_text(&*payload))
                ))
            }
            Ok(Outcome::Parsed(Err(why))) => Verdict::Defect(format!("accepted but {why}")),
            Ok(Outcome::Parsed(Ok(()))) => Verdict::Accepted,
            Ok(Outcome::Refused(message)) if written.unchanged => {
                Verdict::Defect(format!("refused the valid input: {message}"))
            }
            Ok(Outcome::Refused(message)) => match names_a_file(&message, self.dir) {
                Ok(()) => Verdict::Refused(message),
                Err(why) => Verdict::Defect(format!("{why}: {message}")),
            },
        };
        let verdict = match verdict {
            Verdict::Defect(_) => verdict,
            _ => {
                let bound = self.budget_bound(input_bytes);
                if usage.peak > bound || usage.largest > bound {
                    Verdict::Defect(format!(
                        "memory over budget: peak {} bytes, largest allocation {} bytes, bound \
                         {bound} bytes for {input_bytes} input bytes",
                        usage.peak, usage.largest
                    ))
                } else if elapsed > self.slow_case {
                    Verdict::Defect(format!(
                        "slow: {:.1} s for {input_bytes} input bytes",
                        elapsed.as_secs_f64()
                    ))
                } else {
                    verdict
                }
            }
        };
        self.result = Some(CaseResult {
            verdict,
            usage,
            input_bytes,
            elapsed,
            log: std::mem::take(&mut self.log),
        });
    }

    fn budget_bound(&self, input_bytes: usize) -> usize {
        self.state.budget.bound(input_bytes)
    }

    /// Chooses the mutation plan now that all files are known: 1 in 20 cases none (the valid
    /// input must parse), most mutate one file, some several; any file may be left out.
    fn mutate_and_write(&mut self, context: &Context) -> Written {
        let n = self.pending.len();
        let e = &mut self.entropy;
        let plan: Vec<Plan> = match e.below(20) {
            0 => vec![Plan::Keep; n],
            1..=15 => {
                let chosen = e.below(n);
                let remove = e.chance(1, 25);
                (0..n)
                    .map(|i| match (i == chosen, remove) {
                        (true, true) => Plan::Remove,
                        (true, false) => Plan::Mutate,
                        _ => Plan::Keep,
                    })
                    .collect()
            }
            _ => (0..n)
                .map(|_| match e.below(8) {
                    0..=3 => Plan::Keep,
                    4..=6 => Plan::Mutate,
                    _ => Plan::Remove,
                })
                .collect(),
        };
        let mut files = BTreeMap::new();
        let mut real_bytes = 0usize;
        for (p, plan) in self.pending.iter().zip(&plan) {
            let (bytes, real_size) = match plan {
                Plan::Keep => (Some(mutate::encode_valid(&p.valid, &p.format)), None),
                Plan::Remove => {
                    self.log.push(format!("{}: removed", p.name));
                    (None, None)
                }
                Plan::Mutate => {
                    self.log.push(format!("{}:", p.name));
                    let m = mutate::mutate(e, &p.valid, &p.format, context, &mut self.log);
                    (Some(m.bytes), m.real_size)
                }
            };
            if let Some(b) = &bytes {
                real_bytes += real_size.unwrap_or_else(|| mutate::real_size(b, &p.format));
            }
            files.insert(p.name.clone(), bytes);
        }
        let unchanged = plan.iter().all(|p| *p == Plan::Keep);
        self.state.write(self.dir, &files, &self.decoys);
        Written {
            unchanged,
            files,
            real_bytes,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Plan {
    Keep,
    Mutate,
    Remove,
}

/// An error must name the file: the case folder's path appears in it, and after removing that
/// path and the file names there are still words saying what is wrong.
fn names_a_file(message: &str, dir: &Path) -> Result<(), &'static str> {
    let dir_text = dir.display().to_string();
    if !message.contains(&dir_text) {
        return Err("the error names no input file");
    }
    let rest = message.replace(&dir_text, "");
    let letters = rest
        .split(|c: char| c.is_whitespace() || c == ':')
        .filter(|word| !word.starts_with('/'))
        .map(|word| word.chars().filter(|c| c.is_alphabetic()).count())
        .sum::<usize>();
    if letters < 6 {
        return Err("the error names the file but not the problem");
    }
    Ok(())
}

fn panic_text(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "(a panic with a non-string payload)".into())
}

/// The files of the previous case, so unchanged files are not rewritten.
struct DirState {
    on_disk: BTreeMap<String, Vec<u8>>,
    decoys: BTreeMap<String, Vec<u8>>,
    budget: Budget,
}

impl DirState {
    fn write(
        &mut self,
        dir: &Path,
        files: &BTreeMap<String, Option<Vec<u8>>>,
        decoys: &[(String, Vec<u8>)],
    ) {
        // Files from the last case that this one does not have (or removes).
        let stale: Vec<String> = self
            .on_disk
            .keys()
            .filter(|name| !matches!(files.get(*name), Some(Some(_))))
            .cloned()
            .collect();
        for name in stale {
            let path = dir.join(&name);
            let _ = std::fs::remove_file(&path);
            // And the folders it leaves empty (a class folder of the last case's tree is not
            // part of this one's): `remove_dir` refuses a folder that still holds files.
            let mut parent = path.parent();
            while let Some(p) = parent.filter(|p| *p != dir && p.starts_with(dir)) {
                if std::fs::remove_dir(p).is_err() {
                    break;
                }
                parent = p.parent();
            }
            self.on_disk.remove(&name);
        }
        for (name, bytes) in files {
            let Some(bytes) = bytes else { continue };
            if self.on_disk.get(name) == Some(bytes) {
                continue;
            }
            let path = dir.join(name);
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent).expect("create the case folder");
            }
            std::fs::write(&path, bytes).expect("write a case file");
            self.on_disk.insert(name.clone(), bytes.clone());
        }
        let parent = dir.parent().expect("the case folder has a parent");
        for (name, bytes) in decoys {
            if self.decoys.get(name) != Some(bytes) {
                std::fs::write(parent.join(name), bytes).expect("write a decoy file");
                self.decoys.insert(name.clone(), bytes.clone());
            }
        }
    }
}

/// How a case ended.
#[derive(Debug, Clone, PartialEq)]
pub enum Verdict {
    Accepted,
    Refused(String),
    Defect(String),
}

/// One case's verdict and measurements.
#[derive(Debug, Clone)]
pub struct CaseResult {
    pub verdict: Verdict,
    pub usage: Usage,
    /// Real size of the input files (gzip counted decompressed too).
    pub input_bytes: usize,
    pub elapsed: Duration,
    /// The mutations applied.
    pub log: Vec<String>,
}

/// A defect with what is needed to rerun it.
#[derive(Debug, Clone)]
pub struct Defect {
    pub case: u64,
    pub message: String,
    pub log: Vec<String>,
    /// The entropy bytes of the case (replay with `wb-fuzz TARGET --replay FILE`), when saved.
    pub saved: Option<PathBuf>,
}

/// Run settings. [`Config::from_env`] reads `WB_FUZZ_CASES`, `WB_FUZZ_SEED`, `WB_FUZZ_CASE`,
/// `WB_FUZZ_VERBOSE`.
#[derive(Debug, Clone)]
pub struct Config {
    /// Cases per target.
    pub cases: u64,
    /// Base seed: case `i` of target `t` reads entropy from ChaCha8(seed, t, i).
    pub seed: u64,
    /// Run only this case index (to rerun a reported defect).
    pub only_case: Option<u64>,
    /// Entropy bytes per case.
    pub entropy_len: usize,
    /// A case slower than this is a defect.
    pub slow_case: Duration,
    /// A case running longer than this aborts the process (a hang).
    pub hang_timeout: Duration,
    /// Where defects' entropy and files are saved (`None`: not saved).
    pub save_dir: Option<PathBuf>,
    /// Stop after this many defects.
    pub max_defects: usize,
    /// Print every case's verdict, sizes and mutations to stderr (`WB_FUZZ_VERBOSE=1`).
    pub verbose: bool,
    /// One allocation above this is refused, which aborts the process after the allocator has
    /// named the case ([`crate::alloc::set_hard_limit`]): far above every target's budget,
    /// low enough not to disturb the rest of the machine.
    pub hard_limit: usize,
}

/// [`Config::hard_limit`]'s default.
pub const HARD_LIMIT: usize = 2 << 30;

impl Default for Config {
    fn default() -> Self {
        Config {
            cases: 2000,
            seed: 0x5eed,
            only_case: None,
            entropy_len: 4096,
            slow_case: Duration::from_secs(10),
            hang_timeout: Duration::from_secs(120),
            save_dir: Some(std::env::temp_dir().join("wb-fuzz-defects")),
            max_defects: 20,
            verbose: false,
            hard_limit: HARD_LIMIT,
        }
    }
}

impl Config {
    /// Defaults with `default_cases`, overridden by the environment: `WB_FUZZ_CASES` (cases per
    /// target), `WB_FUZZ_SEED`, `WB_FUZZ_CASE` (one case index only).
    pub fn from_env(default_cases: u64) -> Result<Config, String> {
        let var = |name: &str| -> Result<Option<u64>, String> {
            match std::env::var(name) {
                Ok(v) => v
                    .trim()
                    .parse::<u64>()
                    .map(Some)
                    .map_err(|e| format!("{name}={v}: not a non-negative integer ({e})")),
                Err(_) => Ok(None),
            }
        };
        Ok(Config {
            cases: var("WB_FUZZ_CASES")?.unwrap_or(default_cases),
            seed: var("WB_FUZZ_SEED")?.unwrap_or(Config::default().seed),
            only_case: var("WB_FUZZ_CASE")?,
            verbose: var("WB_FUZZ_VERBOSE")?.is_some_and(|v| v > 0),
            ..Config::default()
        })
    }
}

/// A target's totals.
#[derive(Debug, Clone, Default)]
pub struct Report {
    pub target: &'static str,
    pub cases: u64,
    pub accepted: u64,
    pub refused: u64,
    pub defects: Vec<Defect>,
    /// Wall-clock seconds.
    pub seconds: f64,
    /// CPU seconds of the whole process (all threads, user + system) during the run, where
    /// `/proc/self/stat` is readable: on a shared machine this, not `seconds`, is the cost.
    pub cpu_seconds: Option<f64>,
    /// Largest peak of live bytes in one case, and the input size of that case.
    pub max_peak: (usize, usize),
    /// Largest single allocation in one case, and the input size of that case.
    pub max_largest: (usize, usize),
    /// Highest `peak / input bytes` among cases with at least 4 KiB of input.
    pub max_peak_ratio: f64,
    pub max_input_bytes: usize,
    pub slowest_case: Duration,
    /// Error messages with paths and numbers blanked, and how often each came up.
    pub errors: BTreeMap<String, u64>,
}

impl Report {
    pub fn passed(&self) -> bool {
        self.defects.is_empty()
    }

    /// A multi-line summary.
    pub fn summary(&self, top_errors: usize) -> String {
        let mut s = format!(
            "{:<14} {:>8} cases in {:>7.1} s wall, {} CPU ({:>6.0} cases/s): {} accepted, {} refused, {} \
             defects; peak {} B at {} B input, largest alloc {} B at {} B input, peak/input <= \
             {:.1} (inputs >= 4 KiB), largest input {} B, slowest case {:.1} ms, {} distinct errors",
            self.target,
            self.cases,
            self.seconds,
            self.cpu_seconds
                .map_or("? s".to_string(), |c| format!("{c:.1} s")),
            self.cases as f64 / self.seconds.max(1e-9),
            self.accepted,
            self.refused,
            self.defects.len(),
            self.max_peak.0,
            self.max_peak.1,
            self.max_largest.0,
            self.max_largest.1,
            self.max_peak_ratio,
            self.max_input_bytes,
            self.slowest_case.as_secs_f64() * 1e3,
            self.errors.len(),
        );
        let mut by_count: Vec<(&String, &u64)> = self.errors.iter().collect();
        by_count.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
        for (message, count) in by_count.into_iter().take(top_errors) {
            s.push_str(&format!("\n    {count:>7} x {message}"));
        }
        for d in &self.defects {
            s.push_str(&format!(
                "\n  DEFECT case {}: {}\n    mutations: {}",
                d.case,
                d.message,
                d.log.join(" | ")
            ));
            if let Some(path) = &d.saved {
                s.push_str(&format!("\n    saved: {}", path.display()));
            }
        }
        s
    }
}

/// One case at a time in the process: the allocator's counters and the panic hook are global.
static RUN_LOCK: Mutex<()> = Mutex::new(());
static IN_CASE: AtomicBool = AtomicBool::new(false);
static LAST_PANIC: Mutex<Option<String>> = Mutex::new(None);
/// The case in progress, for the watchdog.
#[derive(Clone, Copy)]
struct Running {
    target: &'static str,
    seed: u64,
    case: u64,
    started: Instant,
    hang_timeout: Duration,
}
static RUNNING: Mutex<Option<Running>> = Mutex::new(None);

/// Installs (once) a panic hook that records panics during a case instead of printing them,
/// and a watchdog thread that aborts a case stuck past its hang timeout.
fn install_guards() {
    static ONCE: OnceLock<()> = OnceLock::new();
    ONCE.get_or_init(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if IN_CASE.load(Ordering::SeqCst) {
                let text = format!("{info}");
                let mut last = LAST_PANIC.lock().unwrap_or_else(|e| e.into_inner());
                last.get_or_insert(text);
            } else {
                previous(info);
            }
        }));
        std::thread::Builder::new()
            .name("wb-fuzz-watchdog".into())
            .spawn(|| loop {
                std::thread::sleep(Duration::from_millis(250));
                let running = *RUNNING.lock().unwrap_or_else(|e| e.into_inner());
                if let Some(Running {
                    target,
                    seed,
                    case,
                    started,
                    hang_timeout: limit,
                }) = running
                {
                    if started.elapsed() > limit {
                        eprintln!(
                            "\nwb-fuzz: target `{target}` case {case} (seed {seed}) has run for \
                             more than {} s: a hang. Rerun it alone with `wb-fuzz {target} --seed \
                             {seed} --case {case}`.",
                            limit.as_secs()
                        );
                        std::process::abort();
                    }
                }
            })
            .expect("start the watchdog thread");
    });
}

/// Runs `f` alone (no fuzz case runs at the same time in this process) and returns what it
/// allocated: for tests that bound the memory of one call, such as a gzip bomb.
pub fn measure<T>(f: impl FnOnce() -> T) -> (T, Usage) {
    let _serial = RUN_LOCK.lock().unwrap_or_else(|e| e.into_inner());
    let start = alloc::start_measuring();
    let value = f();
    (value, alloc::finish_measuring(start))
}

/// The entropy bytes of case `index` of `target` under `seed`.
pub fn case_entropy(target: &str, seed: u64, index: u64, len: usize) -> Vec<u8> {
    // FNV-1a of the name, so each target gets its own stream from the same base seed.
    let name_hash = target.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ b as u64).wrapping_mul(0x100_0000_01b3)
    });
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ name_hash);
    rng.set_stream(index);
    let mut bytes = vec![0u8; len];
    rng.fill_bytes(&mut bytes);
    bytes
}

/// A folder for one target's cases: `root/case/` holds the files, decoys go in `root/`.
struct Workspace {
    _root: tempfile::TempDir,
    case_dir: PathBuf,
    state: DirState,
}

impl Workspace {
    fn new(target: &Target) -> Workspace {
        let root = tempfile::Builder::new()
            .prefix(&format!("wb-fuzz-{}-", target.name))
            .tempdir()
            .expect("create a temporary folder");
        let case_dir = root.path().join("case");
        std::fs::create_dir_all(&case_dir).expect("create the case folder");
        Workspace {
            _root: root,
            case_dir,
            state: DirState {
                on_disk: BTreeMap::new(),
                decoys: BTreeMap::new(),
                budget: target.budget,
            },
        }
    }

    fn run_case(&mut self, target: &Target, entropy: &[u8], slow_case: Duration) -> CaseResult {
        let mut case = Case {
            entropy: Entropy::new(entropy),
            dir: &self.case_dir,
            state: &mut self.state,
            pending: Vec::new(),
            decoys: Vec::new(),
            log: Vec::new(),
            result: None,
            slow_case,
        };
        let built = catch_unwind(AssertUnwindSafe(|| (target.run)(&mut case)));
        match (built, case.result) {
            (Ok(()), Some(result)) => result,
            (Ok(()), None) => CaseResult {
                verdict: Verdict::Defect("the target never called Case::parse".into()),
                usage: Usage::default(),
                input_bytes: 0,
                elapsed: Duration::ZERO,
                log: case.log,
            },
            (Err(payload), _) => CaseResult {
                verdict: Verdict::Defect(format!(
                    "the target itself panicked while building its input: {}",
                    panic_text(&*payload)
                )),
                usage: Usage::default(),
                input_bytes: 0,
                elapsed: Duration::ZERO,
                log: case.log,
            },
        }
    }

    /// Copies the case folder and the entropy next to each other under `save_dir`.
    fn save(
        &self,
        save_dir: &Path,
        target: &str,
        seed: u64,
        index: u64,
        entropy: &[u8],
    ) -> Option<PathBuf> {
        let dir = save_dir.join(format!("{target}-seed{seed}-case{index}"));
        std::fs::create_dir_all(dir.join("files")).ok()?;
        std::fs::write(dir.join("entropy.bin"), entropy).ok()?;
        for name in self.state.on_disk.keys() {
            let to = dir.join("files").join(name);
            if let Some(parent) = to.parent() {
                std::fs::create_dir_all(parent).ok()?;
            }
            std::fs::copy(self.case_dir.join(name), to).ok()?;
        }
        Some(dir)
    }
}

/// Runs `config.cases` cases of `target` (or only `config.only_case`).
///
/// Cases run one at a time in the process, and the allocator's counters are process-wide (the
/// parsers allocate on rayon's threads too): anything else allocating in the same process
/// while a case runs is counted against it, so a test binary must not run other tests
/// concurrently with a fuzz run (hold one lock in every test, as `tests/fuzz.rs` does).
///
/// # Panics
/// If [`crate::CountingAlloc`] is not the global allocator: without it the memory bound cannot
/// be checked, and a run that silently skipped it would claim what it did not test.
pub fn run(target: &Target, config: &Config) -> Report {
    assert!(
        alloc::installed(),
        "wb-fuzz needs `#[global_allocator] static A: wb_fuzz::CountingAlloc = \
         wb_fuzz::CountingAlloc;` in the binary that runs it"
    );
    let _serial = RUN_LOCK.lock().unwrap_or_else(|e| e.into_inner());
    install_guards();
    alloc::set_hard_limit(config.hard_limit);
    let mut workspace = Workspace::new(target);
    let mut report = Report {
        target: target.name,
        ..Report::default()
    };
    let started = Instant::now();
    let cpu_start = cpu_seconds();
    let indices: Box<dyn Iterator<Item = u64>> = match config.only_case {
        Some(i) => Box::new(std::iter::once(i)),
        None => Box::new(0..config.cases),
    };
    for index in indices {
        let entropy = case_entropy(target.name, config.seed, index, config.entropy_len);
        alloc::set_case(target.name, config.seed, index);
        *RUNNING.lock().unwrap_or_else(|e| e.into_inner()) = Some(Running {
            target: target.name,
            seed: config.seed,
            case: index,
            started: Instant::now(),
            hang_timeout: config.hang_timeout,
        });
        let result = workspace.run_case(target, &entropy, config.slow_case);
        *RUNNING.lock().unwrap_or_else(|e| e.into_inner()) = None;
        if config.verbose {
            eprintln!(
                "{} case {index}: {:?} | input {} B, peak {} B, largest {} B, {:.2} ms | {}",
                target.name,
                result.verdict,
                result.input_bytes,
                result.usage.peak,
                result.usage.largest,
                result.elapsed.as_secs_f64() * 1e3,
                result.log.join(" | ")
            );
        }
        report.record(&result, &workspace.case_dir);
        if let Verdict::Defect(message) = result.verdict {
            let saved = config
                .save_dir
                .as_ref()
                .and_then(|d| workspace.save(d, target.name, config.seed, index, &entropy));
            report.defects.push(Defect {
                case: index,
                message,
                log: result.log,
                saved,
            });
            if report.defects.len() >= config.max_defects {
                break;
            }
        }
    }
    report.seconds = started.elapsed().as_secs_f64();
    report.cpu_seconds = cpu_start.zip(cpu_seconds()).map(|(a, b)| b - a);
    report
}

/// User + system CPU seconds of this process so far (Linux: `/proc/self/stat` fields 14 and 15,
/// in clock ticks of 1/100 s, the value of `sysconf(_SC_CLK_TCK)` on every Linux platform Rust
/// supports).
pub fn cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // The command name (field 2) is in parentheses and may hold spaces: count after the last ')'.
    let after = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks = |i: usize| fields.get(i)?.parse::<u64>().ok();
    // `after` starts at field 3, so fields 14 and 15 are at indices 11 and 12.
    Some((ticks(11)? + ticks(12)?) as f64 / 100.0)
}

/// Runs one case from raw entropy bytes (a `cargo fuzz` input or a saved `entropy.bin`).
/// Without the counting allocator installed the memory bound is not checked.
pub fn run_entropy(target: &Target, entropy: &[u8]) -> CaseResult {
    let _serial = RUN_LOCK.lock().unwrap_or_else(|e| e.into_inner());
    install_guards();
    alloc::set_hard_limit(HARD_LIMIT);
    thread_local! {
        static WORKSPACES: std::cell::RefCell<BTreeMap<&'static str, Workspace>> =
            const { std::cell::RefCell::new(BTreeMap::new()) };
    }
    WORKSPACES.with(|w| {
        let mut w = w.borrow_mut();
        let workspace = w
            .entry(target.name)
            .or_insert_with(|| Workspace::new(target));
        let mut result = workspace.run_case(target, entropy, Config::default().slow_case);
        if !alloc::installed() {
            if let Verdict::Defect(m) = &result.verdict {
                if m.starts_with("memory over budget") {
                    result.verdict = Verdict::Accepted;
                }
            }
        }
        result
    })
}

/// The `cargo fuzz` entry: runs one case from libFuzzer's bytes and panics on a defect, which
/// libFuzzer records as a crash (with the input saved for `wb-fuzz TARGET --replay FILE`).
pub fn fuzz_one(target: &Target, entropy: &[u8]) {
    let result = run_entropy(target, entropy);
    if let Verdict::Defect(message) = result.verdict {
        panic!(
            "wb-fuzz target `{}`: {message}\nmutations: {}",
            target.name,
            result.log.join(" | ")
        );
    }
}

impl Report {
    fn record(&mut self, result: &CaseResult, dir: &Path) {
        self.cases += 1;
        match &result.verdict {
            Verdict::Accepted => self.accepted += 1,
            Verdict::Refused(message) => {
                self.refused += 1;
                let key = normalise_error(message, dir);
                if self.errors.len() < 1000 || self.errors.contains_key(&key) {
                    *self.errors.entry(key).or_default() += 1;
                }
            }
            Verdict::Defect(_) => {}
        }
        let u = result.usage;
        if u.peak > self.max_peak.0 {
            self.max_peak = (u.peak, result.input_bytes);
        }
        if u.largest > self.max_largest.0 {
            self.max_largest = (u.largest, result.input_bytes);
        }
        if result.input_bytes >= 4096 {
            self.max_peak_ratio = self
                .max_peak_ratio
                .max(u.peak as f64 / result.input_bytes as f64);
        }
        self.max_input_bytes = self.max_input_bytes.max(result.input_bytes);
        self.slowest_case = self.slowest_case.max(result.elapsed);
    }
}

/// The message with the case folder replaced by `<dir>`, digit runs by `N`, and cut at 110
/// characters: errors that differ only in numbers count as one kind.
fn normalise_error(message: &str, dir: &Path) -> String {
    let text = message.replace(&dir.display().to_string(), "<dir>");
    let mut out = String::new();
    let mut in_digits = false;
    for c in text.chars() {
        if c.is_ascii_digit() {
            if !in_digits {
                out.push('N');
            }
            in_digits = true;
        } else {
            in_digits = false;
            out.push(c);
        }
        if out.len() >= 110 {
            break;
        }
    }
    out
}
