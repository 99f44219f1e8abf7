//! Bad-input suite: every reader of user files, fed damaged files through the real `loisim`
//! binary.
//!
//! Each reader starts from valid files (shipped ones, or ones the CLI writes itself) and gets
//! [`CASES_PER_READER`] seeded cases: truncations at random points, 1 to 8 random bit flips, and
//! one number (a size, a shape, a format field) replaced by an extreme value.
//! Every run must end with exit 0 (a flipped byte can leave a valid file) or exit 2 and exactly
//! one line on stderr; never a signal, a panic, a hang or an over-allocation. The binary runs
//! under an address-space limit ([`ADDRESS_SPACE_LIMIT_BYTES`]: an over-allocation aborts
//! instead of swapping) and a kill timeout ([`HANG_GUARD_S`], a guard against hangs, not a timing
//! assertion). The unmodified files must pass under the same limits, so the limits do not reject
//! legitimate use.
//!
//! A failing case keeps its directory under `target/tmp/bad_input/<reader>/<case>/` (the damaged
//! file and its companions); the message names it, with the command and the stderr.
//! `LOISIM_BAD_INPUT_KEEP=1` keeps the passing cases too.

use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Seeded cases per reader (`LOISIM_BAD_INPUT_CASES=N` runs more, e.g. for a deeper local run;
/// the first 48 cases are the same either way).
const CASES_PER_READER: usize = 48;

fn cases_per_reader() -> usize {
    std::env::var("LOISIM_BAD_INPUT_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(CASES_PER_READER)
}
/// Seed of every reader's generator (mixed with the reader's name).
const SEED: u64 = 0x6c6f_6973_696d_0009;
/// Address-space limit of every run: generous for these small inputs (the valid ones pass
/// under it), small enough that a reader which trusts a size field allocates past it.
const ADDRESS_SPACE_LIMIT_BYTES: u64 = 4 << 30;
/// A run still alive after this many seconds is killed and reported as a hang (a guard, not a
/// timing assertion).
const HANG_GUARD_S: u64 = 120;
/// A third of the damage lands in the first this many bytes, where sizes and offsets are.
const HEADER_BYTES: usize = 512;
/// The small shipped model the runs use.
const MODEL: &str = "models/s5-sparse-0.25x.bin";
/// Tokens of the inputs written here.
const INPUT_TOKENS: usize = 8;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn shipped(rel: &str) -> Vec<u8> {
    let p = root().join(rel);
    std::fs::read(&p).unwrap_or_else(|e| panic!("cannot read {}: {e}", p.display()))
}

/// Where a reader's cases live; emptied when the reader starts.
fn reader_dir(reader: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join("bad_input")
        .join(reader);
    if dir.exists() {
        std::fs::remove_dir_all(&dir).expect("remove old cases");
    }
    std::fs::create_dir_all(&dir).expect("case directory");
    dir
}

// ---------------------------------------------------------------------------------------------
// Running the binary
// ---------------------------------------------------------------------------------------------

/// How one run ended.
#[derive(Debug)]
struct Outcome {
    code: Option<i32>,
    signal: Option<i32>,
    hung: bool,
    stderr: String,
}

/// Runs `loisim args` from the repository root under the address-space limit and the hang
/// guard; stdout is discarded, stderr is kept in `stderr_file`.
fn run_limited(args: &[String], stderr_file: &Path) -> Outcome {
    use std::os::unix::process::ExitStatusExt;
    let err = std::fs::File::create(stderr_file).expect("stderr file");
    // `ulimit -v` takes KiB; `exec` makes the limited shell the binary itself. A limit that
    // cannot be set exits 97, which no verdict accepts.
    let limit_kib = ADDRESS_SPACE_LIMIT_BYTES / 1024;
    let mut child = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "ulimit -v {limit_kib} || exit 97; exec \"$0\" \"$@\""
        ))
        .arg(env!("CARGO_BIN_EXE_loisim"))
        .args(args)
        .current_dir(root())
        .env_remove("LOISIM_MODELS")
        .env_remove("LOISIM_LOG")
        .env("RUST_BACKTRACE", "0")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(err)
        .spawn()
        .expect("spawn sh");
    let start = Instant::now();
    let mut pause = Duration::from_millis(1);
    let (status, hung) = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break (status, false);
        }
        if start.elapsed() > Duration::from_secs(HANG_GUARD_S) {
            let _ = child.kill();
            break (child.wait().expect("wait"), true);
        }
        std::thread::sleep(pause);
        pause = (pause * 2).min(Duration::from_millis(25));
    };
    let stderr =
        String::from_utf8_lossy(&std::fs::read(stderr_file).unwrap_or_default()).into_owned();
    Outcome {
        code: status.code(),
        signal: status.signal(),
        hung,
        stderr,
    }
}

/// What is wrong with an outcome, or `None` when it is exit 0, or exit 2 with one line.
fn verdict(o: &Outcome) -> Option<String> {
    // Rust aborts (SIGABRT) with this message when an allocation fails.
    let over_allocation = o.signal == Some(6) && o.stderr.contains("memory allocation of");
    if o.hung {
        return Some(format!("hang (killed after {HANG_GUARD_S} s)"));
    }
    if over_allocation {
        return Some(format!(
            "over-allocation (past the {ADDRESS_SPACE_LIMIT_BYTES}-byte address-space limit)"
        ));
    }
    if let Some(sig) = o.signal {
        return Some(format!("killed by signal {sig}"));
    }
    if o.stderr.contains("panicked") {
        return Some(format!("panic (exit {:?})", o.code));
    }
    match o.code {
        Some(0) => None,
        Some(2) => {
            let lines = o.stderr.trim_end().lines().count();
            if lines != 1 {
                Some(format!("exit 2 with {lines} lines on stderr, not one"))
            } else if !o.stderr.starts_with("error: ") {
                Some("exit 2 without an `error: ` line".into())
            } else {
                None
            }
        }
        other => Some(format!("exit {other:?}, expected 0 or 2")),
    }
}

/// One command of a case. `@name` in an argument is the file `name` in the case directory.
#[derive(Clone, Debug)]
struct Cmd {
    args: Vec<&'static str>,
    /// Run only when the previous command exited 0 (it made the file this one reads).
    after_ok: bool,
}

fn cmd(args: &[&'static str]) -> Cmd {
    Cmd {
        args: args.to_vec(),
        after_ok: false,
    }
}

fn then(args: &[&'static str]) -> Cmd {
    Cmd {
        args: args.to_vec(),
        after_ok: true,
    }
}

fn expand(args: &[&str], dir: &Path) -> Vec<String> {
    args.iter()
        .map(|a| match a.strip_prefix('@') {
            Some(name) => dir.join(name).to_string_lossy().into_owned(),
            None => (*a).to_string(),
        })
        .collect()
}

/// Runs the commands of a case in `dir`: the exit code of each (`None` when skipped or
/// killed), or the first failure.
fn run_case(dir: &Path, cmds: &[Cmd]) -> Result<Vec<Option<i32>>, String> {
    let mut codes: Vec<Option<i32>> = Vec::with_capacity(cmds.len());
    for (k, c) in cmds.iter().enumerate() {
        if c.after_ok && codes.last().is_some_and(|&code| code != Some(0)) {
            codes.push(None);
            continue;
        }
        let args = expand(&c.args, dir);
        let o = run_limited(&args, &dir.join(format!("stderr-{k}.txt")));
        if let Some(why) = verdict(&o) {
            return Err(format!(
                "{why}\n    command: loisim {}\n    exit {:?}, signal {:?}, stderr:\n{}",
                args.join(" "),
                o.code,
                o.signal,
                indent(&o.stderr)
            ));
        }
        codes.push(o.code);
    }
    Ok(codes)
}

fn indent(s: &str) -> String {
    let s: String = s.chars().take(2000).collect();
    s.lines()
        .map(|l| format!("      | {l}\n"))
        .collect::<String>()
}

// ---------------------------------------------------------------------------------------------
// Seeded damage
// ---------------------------------------------------------------------------------------------

/// A valid starting point: the files of one case directory and which one is damaged.
struct Seed {
    label: &'static str,
    files: Vec<(&'static str, Vec<u8>)>,
    target: &'static str,
    /// Where the damaged file keeps its numbers (for the "extreme number" damage).
    layout: Layout,
    /// Applied after the damage (e.g. recomputing a checksum so the damage reaches the parser).
    repair: Option<fn(&mut [u8])>,
}

/// Where a file keeps the numbers that size and shape its contents.
#[derive(Clone, Copy, Debug)]
enum Layout {
    /// Little-endian integer fields near the start (zip, WAV, model.bin).
    Binary,
    /// Decimal numbers anywhere (JSON, TOML).
    Text,
    /// A safetensors file: decimal numbers in the JSON header after its 8-byte length.
    Safetensors,
    /// A version 1 `.npy` file: decimal numbers in the header after its 2-byte length.
    Npy,
}

fn seed(label: &'static str, target: &'static str, files: Vec<(&'static str, Vec<u8>)>) -> Seed {
    let layout = match target.rsplit('.').next() {
        Some("json" | "toml") => Layout::Text,
        Some("safetensors") => Layout::Safetensors,
        Some("npy") => Layout::Npy,
        _ => Layout::Binary,
    };
    Seed {
        label,
        files,
        target,
        layout,
        repair: None,
    }
}

/// A reproducible generator per reader (independent of the other readers).
fn rng_for(reader: &str) -> ChaCha8Rng {
    let mix = reader.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    });
    ChaCha8Rng::seed_from_u64(SEED ^ mix)
}

/// Decimal numbers that sit on the edges of what readers handle.
const EXTREME_DECIMALS: [&str; 16] = [
    "0",
    "-1",
    "1",
    "3",
    "255",
    "65537",
    "1048575",
    "2147483648",
    "4294967297",
    "9223372036854775807",
    "18446744073709551616",
    "-9223372036854775809",
    "1e308",
    "1e999",
    "-0.5",
    "5e-324",
];

/// Integers that sit on the edges of little-endian fields.
const EXTREME_WORDS: [u64; 8] = [
    0,
    1,
    0x7f,
    0xff,
    0x7fff_ffff,
    0xffff_ffff,
    0x7fff_ffff_ffff_ffff,
    u64::MAX,
];

/// A position to damage: a third in the first 64 bytes, a third in the first
/// [`HEADER_BYTES`], a third anywhere (sizes and offsets sit near the start).
fn position(rng: &mut ChaCha8Rng, len: usize) -> usize {
    let span = match rng.random_range(0..3) {
        0 => 64,
        1 => HEADER_BYTES,
        _ => len,
    };
    rng.random_range(0..len.min(span).max(1))
}

/// Damages `bytes` by `kind` (mod 3): a truncation at a random point, 1 to 8 random bit flips,
/// or one number replaced by an extreme value. Returns a description.
fn damage(rng: &mut ChaCha8Rng, kind: usize, layout: Layout, bytes: &mut Vec<u8>) -> String {
    let len = bytes.len();
    match kind % 3 {
        0 => {
            let at = rng.random_range(0..len);
            bytes.truncate(at);
            format!("truncated to {at} of {len} bytes")
        }
        1 => {
            let n = rng.random_range(1..=8usize);
            let mut flips = Vec::with_capacity(n);
            for _ in 0..n {
                let pos = position(rng, len);
                let bit = rng.random_range(0..8u8);
                bytes[pos] ^= 1 << bit;
                flips.push(format!("{pos}:{bit}"));
            }
            format!("bits flipped (byte:bit) {}", flips.join(" "))
        }
        _ => extreme_number(rng, layout, bytes),
    }
}

/// Replaces one number of the file by an extreme value, keeping a length prefix right.
fn extreme_number(rng: &mut ChaCha8Rng, layout: Layout, bytes: &mut Vec<u8>) -> String {
    let le = |b: &[u8]| {
        b.iter()
            .rev()
            .fold(0usize, |a, &x| (a << 8) | usize::from(x))
    };
    let (region, prefix) = match layout {
        Layout::Binary => {
            let width = [2usize, 4, 8][rng.random_range(0..3)];
            let value = EXTREME_WORDS[rng.random_range(0..EXTREME_WORDS.len())];
            let pos = position(rng, bytes.len().saturating_sub(width - 1));
            let end = (pos + width).min(bytes.len());
            bytes[pos..end].copy_from_slice(&value.to_le_bytes()[..end - pos]);
            return format!("{width}-byte field at byte {pos} set to {value:#x}");
        }
        Layout::Text => (0..bytes.len(), None),
        Layout::Safetensors if bytes.len() >= 8 => {
            let n = le(&bytes[..8]).min(bytes.len() - 8);
            (8..8 + n, Some(0..8))
        }
        Layout::Npy if bytes.len() >= 10 => {
            let n = le(&bytes[8..10]).min(bytes.len() - 10);
            (10..10 + n, Some(8..10))
        }
        Layout::Safetensors | Layout::Npy => (0..bytes.len(), None),
    };
    // Runs of digits (with a sign, a fraction and an exponent) in the region.
    let mut numbers = Vec::new();
    let mut k = region.start;
    while k < region.end {
        if bytes[k].is_ascii_digit() {
            let start = if k > region.start && bytes[k - 1] == b'-' {
                k - 1
            } else {
                k
            };
            while k < region.end
                && (bytes[k].is_ascii_digit() || matches!(bytes[k], b'.' | b'e' | b'E'))
            {
                k += 1;
            }
            numbers.push(start..k);
        } else {
            k += 1;
        }
    }
    if numbers.is_empty() {
        return "no number to replace (unchanged)".into();
    }
    let at = numbers[rng.random_range(0..numbers.len())].clone();
    let value = EXTREME_DECIMALS[rng.random_range(0..EXTREME_DECIMALS.len())];
    let old = String::from_utf8_lossy(&bytes[at.clone()]).into_owned();
    let grown = value.len() as isize - at.len() as isize;
    bytes.splice(at.clone(), value.bytes());
    if let Some(p) = prefix {
        let n = (region.len() as isize + grown).max(0) as u64;
        let width = p.len();
        bytes[p].copy_from_slice(&n.to_le_bytes()[..width]);
    }
    format!("number `{old}` at byte {} replaced by `{value}`", at.start)
}

/// Runs every seeded case of one reader; fails with every failing case listed.
fn fuzz_reader(reader: &str, seeds: &[Seed], cmds: &[Cmd]) {
    let base = reader_dir(reader);
    // The valid files pass, under the same limits.
    for s in seeds {
        let dir = base.join(format!("valid-{}", s.label));
        write_case(&dir, s, None);
        for c in cmds {
            let args = expand(&c.args, &dir);
            let o = run_limited(&args, &dir.join("stderr.txt"));
            assert!(
                o.code == Some(0),
                "{reader}: the valid seed `{}` fails under the limits: loisim {}\n{o:?}",
                s.label,
                args.join(" ")
            );
        }
        std::fs::remove_dir_all(&dir).expect("clean");
    }
    let mut rng = rng_for(reader);
    let mut failures = Vec::new();
    let cases = cases_per_reader();
    for case in 0..cases {
        let s = &seeds[case % seeds.len()];
        let mut bytes = file_of(s).to_vec();
        let what = damage(&mut rng, case / seeds.len(), s.layout, &mut bytes);
        if let Some(repair) = s.repair {
            repair(&mut bytes);
        }
        let dir = base.join(format!("case-{case:02}"));
        write_case(&dir, s, Some(&bytes));
        match run_case(&dir, cmds) {
            Ok(_) if keep_all() => {}
            Ok(_) => std::fs::remove_dir_all(&dir).expect("clean"),
            Err(why) => failures.push(format!(
                "{reader} case {case} (seed `{}`, {} {what}; reproducer kept in {}): {why}",
                s.label,
                s.target,
                dir.display()
            )),
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {cases} damaged inputs of {reader} misbehave:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// `LOISIM_BAD_INPUT_KEEP=1` keeps every case directory (to see what the cases reach).
fn keep_all() -> bool {
    std::env::var_os("LOISIM_BAD_INPUT_KEEP").is_some_and(|v| v == "1")
}

fn file_of(s: &Seed) -> &[u8] {
    &s.files
        .iter()
        .find(|(n, _)| *n == s.target)
        .expect("seed target among its files")
        .1
}

fn write_case(dir: &Path, s: &Seed, damaged: Option<&[u8]>) {
    std::fs::create_dir_all(dir).expect("case dir");
    for (name, bytes) in &s.files {
        let b = match damaged {
            Some(d) if *name == s.target => d,
            _ => &bytes[..],
        };
        std::fs::write(dir.join(name), b).expect("write case file");
    }
}

/// Fixed cases: writes `files` into `target/tmp/bad_input/<name>/` and runs `cmds`; the first
/// command must exit 2 with one line, and nothing may misbehave.
fn fixed_case(name: &str, files: &[(&str, &[u8])], cmds: &[Cmd]) {
    let dir = reader_dir(name);
    for (n, b) in files {
        std::fs::write(dir.join(n), b).expect("write");
    }
    match run_case(&dir, cmds) {
        Err(why) => panic!("{name} (reproducer kept in {}): {why}", dir.display()),
        Ok(codes) => assert_eq!(
            codes[0],
            Some(2),
            "{name} (reproducer kept in {}): loisim {} should be refused with exit 2",
            dir.display(),
            expand(&cmds[0].args, &dir).join(" "),
        ),
    }
    std::fs::remove_dir_all(&dir).expect("clean");
}

// ---------------------------------------------------------------------------------------------
// Valid files
// ---------------------------------------------------------------------------------------------

/// CRC-32 (IEEE, as zip and model.bin use), bitwise: the inputs here are small.
fn crc32(bytes: &[u8]) -> u32 {
    !crc32_raw(!0, bytes)
}

fn crc32_raw(mut reg: u32, bytes: &[u8]) -> u32 {
    for &b in bytes {
        reg ^= u32::from(b);
        for _ in 0..8 {
            reg = if reg & 1 == 1 {
                (reg >> 1) ^ 0xedb8_8320
            } else {
                reg >> 1
            };
        }
    }
    reg
}

/// The raw CRC register after `n` more zero bytes (zlib's `crc32_combine` operator).
fn crc32_raw_zeros(reg: u32, mut n: u64) -> u32 {
    fn times(mat: &[u32; 32], mut v: u32) -> u32 {
        let mut sum = 0;
        let mut i = 0;
        while v != 0 {
            if v & 1 == 1 {
                sum ^= mat[i];
            }
            v >>= 1;
            i += 1;
        }
        sum
    }
    fn square(mat: &[u32; 32]) -> [u32; 32] {
        std::array::from_fn(|k| times(mat, mat[k]))
    }
    // The operator of one zero bit, then of 2 and 4 bits.
    let mut odd: [u32; 32] =
        std::array::from_fn(|k| if k == 0 { 0xedb8_8320 } else { 1 << (k - 1) });
    let mut even = square(&odd);
    odd = square(&even);
    let mut reg = reg;
    while n != 0 {
        even = square(&odd);
        if n & 1 == 1 {
            reg = times(&even, reg);
        }
        n >>= 1;
        if n == 0 {
            break;
        }
        odd = square(&even);
        if n & 1 == 1 {
            reg = times(&odd, reg);
        }
        n >>= 1;
    }
    reg
}

/// model.bin: 24-byte header (magic 8, version 2, reserved 2, body length 8, CRC 4), then the
/// body. Rewrites the length and checksum so that damage reaches the body's decoder.
fn repair_model_header(bytes: &mut [u8]) {
    const HEADER: usize = 24;
    if bytes.len() < HEADER {
        return;
    }
    let body_len = (bytes.len() - HEADER) as u64;
    bytes[12..20].copy_from_slice(&body_len.to_le_bytes());
    let crc = crc32(&bytes[HEADER..]);
    bytes[20..24].copy_from_slice(&crc.to_le_bytes());
}

/// Rewrites the CRC-32 of every stored member of a zip archive (in its local header and its
/// central directory entry), so that damage to a member reaches the `.npy` parser. Walks the
/// structure as far as it is intact.
fn repair_zip_crcs(bytes: &mut [u8]) {
    let u16_at = |b: &[u8], k: usize| {
        b.get(k..k + 2)
            .map(|w| usize::from(u16::from_le_bytes([w[0], w[1]])))
    };
    let u32_at = |b: &[u8], k: usize| {
        b.get(k..k + 4)
            .map(|w| u32::from_le_bytes([w[0], w[1], w[2], w[3]]) as usize)
    };
    let mut crcs = std::collections::BTreeMap::new();
    let mut at = 0;
    while u32_at(bytes, at) == Some(0x0403_4b50) {
        let (Some(method), Some(csize), Some(name), Some(extra)) = (
            u16_at(bytes, at + 8),
            u32_at(bytes, at + 18),
            u16_at(bytes, at + 26),
            u16_at(bytes, at + 28),
        ) else {
            break;
        };
        let start = at + 30 + name + extra;
        let Some(data) = bytes.get(start..start + csize) else {
            break;
        };
        if method == 0 {
            let crc = crc32(data);
            bytes[at + 14..at + 18].copy_from_slice(&crc.to_le_bytes());
            crcs.insert(at, crc);
        }
        at = start + csize;
    }
    let Some(eocd) = bytes
        .windows(4)
        .rposition(|w| w == [0x50, 0x4b, 0x05, 0x06])
    else {
        return;
    };
    let Some(mut at) = u32_at(bytes, eocd + 16) else {
        return;
    };
    while u32_at(bytes, at) == Some(0x0201_4b50) {
        let (Some(name), Some(extra), Some(comment), Some(local)) = (
            u16_at(bytes, at + 28),
            u16_at(bytes, at + 30),
            u16_at(bytes, at + 32),
            u32_at(bytes, at + 42),
        ) else {
            break;
        };
        if let Some(crc) = crcs.get(&local) {
            bytes[at + 16..at + 20].copy_from_slice(&crc.to_le_bytes());
        }
        at += 46 + name + extra + comment;
    }
}

fn npy<T: npyz::Serialize + npyz::AutoSerialize + Copy>(
    shape: &[u64],
    fortran: bool,
    values: &[T],
) -> Vec<u8> {
    use npyz::WriterBuilder;
    let mut out = Vec::new();
    {
        let order = if fortran {
            npyz::Order::Fortran
        } else {
            npyz::Order::C
        };
        let mut w = npyz::WriteOptions::new()
            .default_dtype()
            .shape(shape)
            .order(order)
            .writer(&mut out)
            .begin_nd()
            .expect("npy");
        w.extend(values.iter().copied()).expect("npy");
        w.finish().expect("npy");
    }
    out
}

/// The first tokens of the shipped input (float32 STFT magnitudes, [tokens, 257]).
fn shipped_features(tokens: usize) -> Vec<f32> {
    let bytes = shipped("models/default-input.npy");
    let f = npyz::NpyFile::new(&bytes[..]).expect("shipped input");
    f.data::<f32>()
        .expect("float32")
        .take(tokens * 257)
        .map(|x| x.expect("value"))
        .collect()
}

/// Row-major [rows, cols] values in column-major order.
fn to_fortran<T: Copy>(v: &[T], rows: usize, cols: usize) -> Vec<T> {
    (0..rows * cols)
        .map(|k| v[(k % rows) * cols + k / rows])
        .collect()
}

const CASE_DIR: &str = "tests/data/fxp-s5/w025-stress-s101";

/// The reference case's input integers, [tokens, 257] int32 (a calibration input).
fn case_input(tokens: usize) -> Vec<u8> {
    let c = loisim_import::case::ReferenceCase::load(&root().join(CASE_DIR)).expect("case");
    let v: Vec<i32> = c.input.iter().take(tokens).flatten().copied().collect();
    npy(&[(v.len() / 257) as u64, 257], false, &v)
}

/// A zip member for [`zip`].
struct Member {
    name: String,
    /// 0 stored, 8 deflated.
    method: u16,
    crc: u32,
    data: Vec<u8>,
    /// The uncompressed size the archive declares.
    size: u32,
}

fn stored(name: &str, data: Vec<u8>) -> Member {
    Member {
        name: name.to_string(),
        method: 0,
        crc: crc32(&data),
        size: u32::try_from(data.len()).expect("small member"),
        data,
    }
}

/// A plain zip archive (what `numpy.savez` writes).
fn zip(members: &[Member]) -> Vec<u8> {
    fn u16le(o: &mut Vec<u8>, v: u16) {
        o.extend_from_slice(&v.to_le_bytes());
    }
    fn u32le(o: &mut Vec<u8>, v: u32) {
        o.extend_from_slice(&v.to_le_bytes());
    }
    const DOS_DATE_1980_01_01: u16 = 0x21;
    let mut out = Vec::new();
    let mut central = Vec::new();
    for m in members {
        let offset = u32::try_from(out.len()).expect("small archive");
        let csize = u32::try_from(m.data.len()).expect("small member");
        let name_len = u16::try_from(m.name.len()).expect("short name");
        u32le(&mut out, 0x0403_4b50);
        for v in [20, 0, m.method, 0, DOS_DATE_1980_01_01] {
            u16le(&mut out, v);
        }
        for v in [m.crc, csize, m.size] {
            u32le(&mut out, v);
        }
        u16le(&mut out, name_len);
        u16le(&mut out, 0);
        out.extend_from_slice(m.name.as_bytes());
        out.extend_from_slice(&m.data);
        u32le(&mut central, 0x0201_4b50);
        for v in [20, 20, 0, m.method, 0, DOS_DATE_1980_01_01] {
            u16le(&mut central, v);
        }
        for v in [m.crc, csize, m.size] {
            u32le(&mut central, v);
        }
        for v in [name_len, 0, 0, 0, 0] {
            u16le(&mut central, v);
        }
        u32le(&mut central, 0);
        u32le(&mut central, offset);
        central.extend_from_slice(m.name.as_bytes());
    }
    let cd_offset = u32::try_from(out.len()).expect("small archive");
    let n = u16::try_from(members.len()).expect("few members");
    out.extend_from_slice(&central);
    u32le(&mut out, 0x0605_4b50);
    for v in [0, 0, n, n] {
        u16le(&mut out, v);
    }
    u32le(
        &mut out,
        u32::try_from(central.len()).expect("small directory"),
    );
    u32le(&mut out, cd_offset);
    u16le(&mut out, 0);
    out
}

/// The float checkpoint as `.npz`: every tensor of the safetensors checkpoint as a stored
/// float32 `.npy` member, as `numpy.savez` writes it.
fn checkpoint_npz() -> Vec<u8> {
    use loisim_import::tensors::{TensorFile, Values};
    let st = TensorFile::read_safetensors(&root().join(CASE_DIR).join("float_model.safetensors"))
        .expect("float checkpoint");
    let members: Vec<Member> = st
        .tensors
        .iter()
        .map(|(name, t)| {
            let shape: Vec<u64> = t.shape.iter().map(|&d| d as u64).collect();
            let Values::F32(v) = &t.values else {
                panic!("{name}: the float checkpoint holds float32 tensors");
            };
            stored(&format!("{name}.npy"), npy(&shape, false, v))
        })
        .collect();
    zip(&members)
}

/// A version 1 `.npy` header holding `dict`, padded to a multiple of 64 bytes.
fn npy_header(dict: &str) -> Vec<u8> {
    let mut dict = dict.to_string();
    while !(10 + dict.len() + 1).is_multiple_of(64) {
        dict.push(' ');
    }
    dict.push('\n');
    let mut header = b"\x93NUMPY\x01\x00".to_vec();
    header.extend_from_slice(&u16::try_from(dict.len()).expect("short").to_le_bytes());
    header.extend_from_slice(dict.as_bytes());
    header
}

/// A `.npy` of `n` int8 zeros, deflated into a few bytes per 258 zeros; returns the deflate
/// stream, the CRC-32 and the length of the `.npy`.
fn deflated_zero_npy(n: u64) -> (Vec<u8>, u32, u64) {
    let header = npy_header(&format!(
        "{{'descr': '|i1', 'fortran_order': False, 'shape': ({n},), }}"
    ));
    // One fixed-Huffman block (RFC 1951 3.2.6): the header as literals, one zero literal, then
    // <length 258, distance 1> copies; the rest as literals.
    struct Bits {
        out: Vec<u8>,
        acc: u64,
        n: u32,
    }
    impl Bits {
        /// `len` bits of `v`, least significant first.
        fn put(&mut self, v: u32, len: u32) {
            self.acc |= u64::from(v) << self.n;
            self.n += len;
            while self.n >= 8 {
                self.out.push(self.acc as u8);
                self.acc >>= 8;
                self.n -= 8;
            }
        }
        /// A Huffman code, most significant bit first.
        fn code(&mut self, code: u32, len: u32) {
            let rev = code.reverse_bits() >> (32 - len);
            self.put(rev, len);
        }
        fn literal(&mut self, b: u8) {
            if b < 144 {
                self.code(0x30 + u32::from(b), 8);
            } else {
                self.code(0x190 + u32::from(b - 144), 9);
            }
        }
    }
    let mut w = Bits {
        out: Vec::new(),
        acc: 0,
        n: 0,
    };
    w.put(1, 1); // final block
    w.put(1, 2); // fixed Huffman codes
    for &b in &header {
        w.literal(b);
    }
    w.literal(0);
    let copies = (n - 1) / 258;
    for _ in 0..copies {
        w.code(0xc5, 8); // length code 285: 258 bytes
        w.code(0, 5); // distance code 0: distance 1
    }
    for _ in 0..(n - 1) % 258 {
        w.literal(0);
    }
    w.code(0, 7); // end of block
    w.put(0, 7); // flush
    let reg = crc32_raw_zeros(crc32_raw(!0, &header), n);
    (w.out, !reg, header.len() as u64 + n)
}

// ---------------------------------------------------------------------------------------------
// The readers
// ---------------------------------------------------------------------------------------------

#[test]
fn damaged_model_files() {
    let good = shipped(MODEL);
    let seeds = [
        seed(
            "s5-sparse-0.25x.bin",
            "model.bin",
            vec![("model.bin", good.clone())],
        ),
        Seed {
            repair: Some(repair_model_header),
            ..seed(
                "s5-sparse-0.25x.bin, length and checksum rewritten",
                "model.bin",
                vec![("model.bin", good)],
            )
        },
    ];
    fuzz_reader(
        "model-bin",
        &seeds,
        &[
            cmd(&["inspect", "@model.bin"]),
            cmd(&["map", "@model.bin"]),
            then(&["run", "@model.bin", "--tokens", "2", "--quiet"]),
        ],
    );
}

fn export_seed(target: &'static str) -> Seed {
    let case = root().join(CASE_DIR);
    let read = |n: &str| std::fs::read(case.join(n)).expect("export v1");
    seed(
        "w025-stress-s101 export v1",
        target,
        vec![
            ("model.json", read("model.json")),
            ("model.safetensors", read("model.safetensors")),
            ("input.npy", case_input(INPUT_TOKENS)),
        ],
    )
}

/// After an import that succeeds, the model is mapped and run.
fn import_then_use(import: &[&'static str]) -> Vec<Cmd> {
    vec![
        cmd(import),
        then(&["map", "@out.bin"]),
        then(&[
            "run",
            "@out.bin",
            "--input",
            "@input.npy",
            "--tokens",
            "2",
            "--quiet",
        ]),
    ]
}

#[test]
fn damaged_export_v1_json() {
    fuzz_reader(
        "export-v1-json",
        &[export_seed("model.json")],
        &import_then_use(&["import", "@model.json", "-o", "@out.bin"]),
    );
}

#[test]
fn damaged_export_v1_safetensors() {
    fuzz_reader(
        "export-v1-safetensors",
        &[export_seed("model.safetensors")],
        &import_then_use(&["import", "@model.json", "-o", "@out.bin"]),
    );
}

fn checkpoint_files(npz: bool) -> Vec<(&'static str, Vec<u8>)> {
    let case = root().join(CASE_DIR);
    let read = |n: &str| std::fs::read(case.join(n)).expect("float checkpoint");
    vec![
        if npz {
            ("float_model.npz", checkpoint_npz())
        } else {
            ("float_model.safetensors", read("float_model.safetensors"))
        },
        ("qconfig.json", read("upstream_qconfig.json")),
        ("input.npy", case_input(INPUT_TOKENS)),
    ]
}

fn checkpoint_import(checkpoint: &'static str) -> Vec<Cmd> {
    import_then_use(&[
        "import",
        checkpoint,
        "--qconfig",
        "@qconfig.json",
        "--calibration",
        "@input.npy",
        "-o",
        "@out.bin",
    ])
}

#[test]
fn damaged_float_checkpoint_safetensors() {
    let s = seed(
        "w025-stress-s101 float checkpoint",
        "float_model.safetensors",
        checkpoint_files(false),
    );
    fuzz_reader(
        "checkpoint-safetensors",
        &[s],
        &checkpoint_import("@float_model.safetensors"),
    );
}

#[test]
fn damaged_float_checkpoint_npz() {
    let seeds = [
        seed(
            "w025-stress-s101 float checkpoint as .npz",
            "float_model.npz",
            checkpoint_files(true),
        ),
        Seed {
            repair: Some(repair_zip_crcs),
            ..seed(
                "w025-stress-s101 float checkpoint as .npz, member checksums rewritten",
                "float_model.npz",
                checkpoint_files(true),
            )
        },
    ];
    fuzz_reader(
        "checkpoint-npz",
        &seeds,
        &checkpoint_import("@float_model.npz"),
    );
}

#[test]
fn damaged_qconfig() {
    let s = seed(
        "w025-stress-s101 upstream qconfig",
        "qconfig.json",
        checkpoint_files(false),
    );
    fuzz_reader(
        "qconfig",
        &[s],
        &checkpoint_import("@float_model.safetensors"),
    );
}

#[test]
fn damaged_npy_inputs() {
    let t = INPUT_TOKENS;
    let f = shipped_features(t);
    let ints = {
        let c = loisim_import::case::ReferenceCase::load(&root().join(CASE_DIR)).expect("case");
        c.input
            .iter()
            .take(t)
            .flatten()
            .copied()
            .collect::<Vec<i32>>()
    };
    let shape = [t as u64, 257];
    let seeds = [
        seed(
            "float32 features of the shipped clip",
            "x.npy",
            vec![("x.npy", npy(&shape, false, &f))],
        ),
        seed(
            "int32 input integers",
            "x.npy",
            vec![("x.npy", npy(&shape, false, &ints))],
        ),
        seed(
            "float32 features, Fortran order",
            "x.npy",
            vec![("x.npy", npy(&shape, true, &to_fortran(&f, t, 257)))],
        ),
    ];
    fuzz_reader(
        "npy-input",
        &seeds,
        &[
            cmd(&[
                "run", MODEL, "--input", "@x.npy", "--tokens", "2", "--quiet",
            ]),
            cmd(&[
                "run",
                MODEL,
                "--input",
                "@x.npy",
                "--tokens",
                "2",
                "--reference",
                "--quiet",
            ]),
        ],
    );
}

/// gen-audio's clip (16-bit PCM), and the same samples as 32-bit float.
fn wav_seeds(dir: &Path) -> Vec<Seed> {
    let pcm = dir.join("gen-audio.wav");
    let o = Command::new(env!("CARGO_BIN_EXE_loisim"))
        .args(["gen-audio", "--seconds", "0.25", "--seed", "7", "-o"])
        .arg(&pcm)
        .output()
        .expect("gen-audio");
    assert!(o.status.success(), "gen-audio: {o:?}");
    let float = dir.join("float.wav");
    {
        let mut r = hound::WavReader::open(&pcm).expect("gen-audio output");
        let spec = hound::WavSpec {
            bits_per_sample: 32,
            sample_format: hound::SampleFormat::Float,
            ..r.spec()
        };
        let mut w = hound::WavWriter::create(&float, spec).expect("float wav");
        for s in r.samples::<i16>() {
            w.write_sample(f32::from(s.expect("sample")) / 32768.0)
                .expect("write");
        }
        w.finalize().expect("finalize");
    }
    let read = |p: &Path| std::fs::read(p).expect("wav");
    vec![
        seed("gen-audio 0.25 s", "x.wav", vec![("x.wav", read(&pcm))]),
        seed(
            "gen-audio 0.25 s as float32",
            "x.wav",
            vec![("x.wav", read(&float))],
        ),
    ]
}

#[test]
fn damaged_wav_inputs() {
    let dir = tempfile::tempdir().expect("tmp");
    fuzz_reader(
        "wav-input",
        &wav_seeds(dir.path()),
        &[
            cmd(&[
                "run", MODEL, "--input", "@x.wav", "--output", "@out.wav", "--quiet",
            ]),
            cmd(&["run", MODEL, "--input", "@x.wav", "--reference", "--quiet"]),
        ],
    );
}

#[test]
fn damaged_chip_files() {
    let chip = |n: &str| shipped(&format!("crates/loisim-arch/chips/{n}"));
    let mut extends = b"extends = \"loihi2\"\n".to_vec();
    extends.extend_from_slice(&chip("loihi2.fit.toml"));
    let seeds = [
        seed(
            "loihi2.toml",
            "chip.toml",
            vec![("chip.toml", chip("loihi2.toml"))],
        ),
        seed(
            "kapoho-point.toml",
            "chip.toml",
            vec![("chip.toml", chip("kapoho-point.toml"))],
        ),
        seed(
            "loihi1.toml",
            "chip.toml",
            vec![("chip.toml", chip("loihi1.toml"))],
        ),
        seed(
            "loihi2.fit.toml extending loihi2",
            "chip.toml",
            vec![("chip.toml", extends)],
        ),
    ];
    fuzz_reader(
        "chip-toml",
        &seeds,
        &[
            cmd(&["map", MODEL, "--chip", "@chip.toml"]),
            then(&[
                "run",
                MODEL,
                "--chip",
                "@chip.toml",
                "--tokens",
                "2",
                "--quiet",
            ]),
        ],
    );
}

#[test]
fn damaged_sweep_specs() {
    // The reader is exercised through `sweep check`, which parses and validates a SPEC and
    // lists its grid without running a point.
    let small = b"# a small sweep\nmode = \"pipeline\"\ntokens = 4\nsparsity = 0.9\n\n[axes]\nwidth = [0.25, 0.5]\n\"ops.synop.latency_ns\" = [0.5, 0.9]\n".to_vec();
    let seeds = [
        seed(
            "sweeps/paper.toml",
            "spec.toml",
            vec![("spec.toml", shipped("sweeps/paper.toml"))],
        ),
        seed("a small sweep", "spec.toml", vec![("spec.toml", small)]),
    ];
    fuzz_reader(
        "sweep-spec",
        &seeds,
        &[cmd(&["sweep", "check", "@spec.toml"])],
    );
}

#[test]
fn damaged_netx_files() {
    // The reader is exercised through `inspect` (read and build the network) and `map`.
    let seeds = [seed(
        "tiny.net",
        "n.net",
        vec![("n.net", shipped("crates/loisim-netx/tests/data/tiny.net"))],
    )];
    fuzz_reader(
        "netx",
        &seeds,
        &[cmd(&["inspect", "@n.net"]), then(&["map", "@n.net"])],
    );
}

/// Recomputes an activity file's checksum (its last 8 bytes), so the damage reaches the
/// parser instead of stopping at the checksum.
fn repair_activity_checksum(bytes: &mut [u8]) {
    if let Some(n) = bytes.len().checked_sub(8) {
        let sum = loisim::replay::checksum(&bytes[..n]);
        bytes[n..].copy_from_slice(&sum.to_le_bytes());
    }
}

/// Activity files the CLI records itself: an S5 run (both modes) and a netx run.
fn activity_seeds(dir: &Path) -> Vec<Seed> {
    let record = |name: &str, args: &[&str]| {
        let path = dir.join(name);
        let o = Command::new(env!("CARGO_BIN_EXE_loisim"))
            .current_dir(root())
            .args(args)
            .arg("--activity")
            .arg(&path)
            .output()
            .expect("loisim run");
        assert!(o.status.success(), "recording {name}: {o:?}");
        std::fs::read(&path).expect("activity file")
    };
    let s5 = record(
        "s5.act",
        &[
            "run",
            MODEL,
            "--tokens",
            &INPUT_TOKENS.to_string(),
            "--quiet",
        ],
    );
    let net = root().join("crates/loisim-netx/tests/data/tiny.net");
    let bias = root().join("crates/loisim-netx/tests/data/gts/tinynet/input_bias.npy");
    let netx = record(
        "netx.act",
        &[
            "run",
            &net.to_string_lossy(),
            "--bias",
            &bias.to_string_lossy(),
            "--steps",
            "6",
            "--reset-interval",
            "4",
        ],
    );
    let repaired = |label, bytes: Vec<u8>| Seed {
        repair: Some(repair_activity_checksum),
        ..seed(label, "a.act", vec![("a.act", bytes)])
    };
    vec![
        repaired("S5 run, checksum recomputed after the damage", s5.clone()),
        seed("S5 run", "a.act", vec![("a.act", s5)]),
        repaired("netx run, checksum recomputed after the damage", netx),
    ]
}

#[test]
fn damaged_activity_files() {
    let dir = tempfile::tempdir().expect("tmp");
    let seeds = activity_seeds(dir.path());
    // Replayed on the recording chip (JSON and text) and at other costs.
    let costlier = "extends = \"loihi2\"\n[ops.synop]\n\
                    latency_ns = { value = 3.5, source = \"test\" }\n";
    let seeds: Vec<Seed> = seeds
        .into_iter()
        .map(|mut s| {
            s.files
                .push(("costlier.toml", costlier.as_bytes().to_vec()));
            s
        })
        .collect();
    fuzz_reader(
        "activity",
        &seeds,
        &[
            cmd(&["replay", "@a.act", "--json"]),
            cmd(&["replay", "@a.act", "--chip", "@costlier.toml"]),
        ],
    );
}

// ---------------------------------------------------------------------------------------------
// Fixed cases
// ---------------------------------------------------------------------------------------------

#[test]
fn chip_with_a_million_routers_per_side_is_a_one_line_error() {
    // Each dimension is within its own bound (2^20); the core count and the links are not.
    let toml = "extends = \"loihi2\"\n[mesh]\n\
                routers_x = { value = 1048575, source = \"test\" }\n\
                routers_y = { value = 1048575, source = \"test\" }\n";
    fixed_case(
        "fixed-huge-chip",
        &[("chip.toml", toml.as_bytes())],
        &[
            cmd(&["map", MODEL, "--chip", "@chip.toml"]),
            cmd(&[
                "run",
                MODEL,
                "--chip",
                "@chip.toml",
                "--tokens",
                "2",
                "--quiet",
            ]),
        ],
    );
}

#[test]
fn model_holding_a_dense_matrix_of_2e32_by_0_is_a_one_line_error() {
    // Found by the model_bin fuzz target (fuzz/regressions/model_bin/): the matrix holds no
    // values, so decoding once reserved 2^32 row pointers (16 GB) before any check failed.
    let file = std::fs::read(root().join("fuzz/regressions/model_bin/dense-matrix-2e32-by-0-oom"))
        .expect("reproducer");
    // The fuzz target's first byte is its mode (1: the header's length and CRC are recomputed).
    let mut bytes = file[1..].to_vec();
    let body_len = (bytes.len() - 24) as u64;
    let crc = crc32(&bytes[24..]);
    bytes[12..20].copy_from_slice(&body_len.to_le_bytes());
    bytes[20..24].copy_from_slice(&crc.to_le_bytes());
    fixed_case(
        "fixed-model-huge-empty-matrix",
        &[("m.bin", &bytes)],
        &[
            cmd(&["inspect", "@m.bin"]),
            cmd(&["run", "@m.bin", "--tokens", "2", "--quiet"]),
        ],
    );
}

#[test]
fn chip_with_a_million_chips_is_a_one_line_error() {
    // 1,048,575 x 128 cores fits a u32, but placement allocates per core: the total needs a cap
    // (found by damaged_chip_files, kapoho-point.toml with chips_x = 1048575).
    let toml = "extends = \"loihi2\"\n[board]\n\
                chips_x = { value = 1048575, source = \"test\" }\n";
    fixed_case(
        "fixed-many-chips",
        &[("chip.toml", toml.as_bytes())],
        &[cmd(&["map", MODEL, "--chip", "@chip.toml"])],
    );
}

/// Int8 zeros in the bomb members: 8 bytes each once widened to i64, so reading them all
/// passes the address-space limit.
const BOMB_ELEMENTS: u64 = ADDRESS_SPACE_LIMIT_BYTES / 8 + (1 << 20);

fn npz_bomb(declared_size: Option<u32>) -> Vec<u8> {
    let (data, crc, len) = deflated_zero_npy(BOMB_ELEMENTS);
    zip(&[Member {
        name: "decoder.kernel.npy".into(),
        method: 8,
        crc,
        data,
        size: declared_size.unwrap_or_else(|| u32::try_from(len).expect("under 4 GiB")),
    }])
}

fn bomb_files(npz: Vec<u8>) -> Vec<(&'static str, Vec<u8>)> {
    let case = root().join(CASE_DIR);
    vec![
        ("bomb.npz", npz),
        (
            "qconfig.json",
            std::fs::read(case.join("upstream_qconfig.json")).expect("qconfig"),
        ),
        ("input.npy", case_input(INPUT_TOKENS)),
    ]
}

fn bomb_cmds() -> Vec<Cmd> {
    vec![cmd(&[
        "import",
        "@bomb.npz",
        "--qconfig",
        "@qconfig.json",
        "--calibration",
        "@input.npy",
        "-o",
        "@out.bin",
    ])]
}

#[test]
fn npz_member_declaring_a_tiny_size_but_inflating_large_is_a_one_line_error() {
    let files = bomb_files(npz_bomb(Some(128)));
    let refs: Vec<(&str, &[u8])> = files.iter().map(|(n, b)| (*n, &b[..])).collect();
    fixed_case("fixed-npz-tiny-declared-size", &refs, &bomb_cmds());
}

#[test]
fn npz_member_inflating_past_the_memory_limit_is_a_one_line_error() {
    // Declares its true size (under the 2 GiB file cap): only a cap on what one archive may
    // expand to, or on the widened tensor, stops it.
    let files = bomb_files(npz_bomb(None));
    let refs: Vec<(&str, &[u8])> = files.iter().map(|(n, b)| (*n, &b[..])).collect();
    fixed_case("fixed-npz-honest-bomb", &refs, &bomb_cmds());
}

#[test]
fn wav_claiming_a_huge_data_length_is_a_one_line_error() {
    let dir = tempfile::tempdir().expect("tmp");
    let seeds = wav_seeds(dir.path());
    let mut wav = file_of(&seeds[0]).to_vec();
    // RIFF size and data chunk size as large as they go.
    wav[4..8].copy_from_slice(&u32::MAX.to_le_bytes());
    let data = wav
        .windows(4)
        .position(|w| w == b"data")
        .expect("data chunk");
    wav[data + 4..data + 8].copy_from_slice(&(u32::MAX - 1).to_le_bytes());
    fixed_case(
        "fixed-wav-huge-data-length",
        &[("x.wav", &wav)],
        &[
            cmd(&[
                "run", MODEL, "--input", "@x.wav", "--output", "@out.wav", "--quiet",
            ]),
            cmd(&["run", MODEL, "--input", "@x.wav", "--reference", "--quiet"]),
        ],
    );
}

#[test]
fn npz_given_as_a_run_input_is_a_one_line_error() {
    // `run --input` reads `.npy` only; an archive is refused, not misread.
    let npz = zip(&[stored("x.npy", npy(&[2, 257], false, &shipped_features(2)))]);
    fixed_case(
        "fixed-npz-run-input",
        &[("x.npz", &npz)],
        &[
            cmd(&[
                "run", MODEL, "--input", "@x.npz", "--tokens", "2", "--quiet",
            ]),
            cmd(&[
                "run",
                MODEL,
                "--input",
                "@x.npz",
                "--tokens",
                "2",
                "--reference",
                "--quiet",
            ]),
        ],
    );
}

#[test]
fn npy_whose_shape_overflows_is_a_one_line_error() {
    // The product of the dimensions overflows 64 bits (found by damaged_npy_inputs with
    // LOISIM_BAD_INPUT_CASES=400: a dimension replaced by 2^63 - 1).
    let mut npy =
        npy_header("{'descr': '<f4', 'fortran_order': False, 'shape': (8, 9223372036854775807), }");
    npy.extend_from_slice(&[0; 64]);
    fixed_case(
        "fixed-npy-shape-overflow",
        &[("x.npy", &npy)],
        &[
            cmd(&[
                "run", MODEL, "--input", "@x.npy", "--tokens", "2", "--quiet",
            ]),
            cmd(&[
                "run",
                MODEL,
                "--input",
                "@x.npy",
                "--tokens",
                "2",
                "--reference",
                "--quiet",
            ]),
        ],
    );
}

#[test]
fn npy_whose_header_nests_brackets_deeply_is_a_one_line_error() {
    // Found by the `npy` fuzz target: 48 nested braces in the shape made npyz's header parser
    // backtrack for ever (the hang guard killed the run before the header check).
    let braces = "{".repeat(48);
    let mut npy = npy_header(&format!(
        "{{'descr': '<i2', 'fortran_order': False, 'shape': (32,{braces} 257, -, }}"
    ));
    npy.extend_from_slice(&[0; 64]);
    fixed_case(
        "fixed-npy-nested-header",
        &[("x.npy", &npy)],
        &[cmd(&[
            "run", MODEL, "--input", "@x.npy", "--tokens", "2", "--quiet",
        ])],
    );
}

#[test]
fn qconfig_needing_a_negative_dense_shift_is_a_one_line_error() {
    // out2 with w_exp 6, out_exp 10 and inp_exp 0 needs a shift of 0 + 6 - 10 = -4 bits, which
    // validation refuses; calibration must not run such a model first (found by damaged_qconfig
    // with LOISIM_BAD_INPUT_CASES=400).
    let case = root().join(CASE_DIR);
    let mut q: serde_json::Value = serde_json::from_slice(
        &std::fs::read(case.join("upstream_qconfig.json")).expect("qconfig"),
    )
    .expect("json");
    q["blocks"]["out2"]["inp_exp"] = 0.into();
    let q = serde_json::to_vec_pretty(&q).expect("json");
    let checkpoint = std::fs::read(case.join("float_model.safetensors")).expect("checkpoint");
    fixed_case(
        "fixed-qconfig-negative-shift",
        &[
            ("float_model.safetensors", &checkpoint),
            ("qconfig.json", &q),
            ("input.npy", &case_input(INPUT_TOKENS)),
        ],
        &checkpoint_import("@float_model.safetensors")[..1],
    );
}

#[test]
fn the_helpers_write_what_they_claim() {
    // The hand-written CRC, zero-extension and deflate stream agree with the reference readers.
    assert_eq!(crc32(b"123456789"), 0xcbf4_3926);
    let mut bytes = b"head".to_vec();
    let ext = !crc32_raw_zeros(crc32_raw(!0, &bytes), 1000);
    bytes.resize(1004, 0);
    assert_eq!(ext, crc32(&bytes));
    let (data, crc, len) = deflated_zero_npy(1000);
    let npz = zip(&[Member {
        name: "z.npy".into(),
        method: 8,
        crc,
        data,
        size: u32::try_from(len).expect("small"),
    }]);
    let dir = tempfile::tempdir().expect("tmp");
    let p = dir.path().join("z.npz");
    std::fs::write(&p, &npz).expect("write");
    let t = loisim_import::tensors::TensorFile::read_npz(&p).expect("a valid .npz");
    assert_eq!(t.tensors["z"].shape, vec![1000]);
    assert_eq!(
        t.tensors["z"].values,
        loisim_import::tensors::Values::Int(vec![0; 1000])
    );
    let p = dir.path().join("c.npz");
    std::fs::write(&p, checkpoint_npz()).expect("write");
    let npz = loisim_import::tensors::TensorFile::read_npz(&p).expect("a valid .npz");
    let st = loisim_import::tensors::TensorFile::read_safetensors(
        &root().join(CASE_DIR).join("float_model.safetensors"),
    )
    .expect("float checkpoint");
    assert!(!npz.tensors.is_empty());
    for (name, t) in &st.tensors {
        assert_eq!(
            (&npz.tensors[name].shape, &npz.tensors[name].values),
            (&t.shape, &t.values),
            "{name}"
        );
    }
    assert_eq!(npz.tensors.len(), st.tensors.len());
}

#[test]
fn damaged_nir_files() {
    // The NIR reader and lowering are exercised through `map` (read, lower, build the
    // network) and `run` (the float64 reference and the chip).
    let seeds = [seed(
        "lif_dense.nir",
        "g.nir",
        vec![(
            "g.nir",
            shipped("crates/loisim-nir/tests/data/lif_dense.nir"),
        )],
    )];
    fuzz_reader(
        "nir",
        &seeds,
        &[
            cmd(&["map", "@g.nir"]),
            then(&["run", "@g.nir", "--steps", "4"]),
        ],
    );
}
