//! `loisim sweep` end to end, through the real binary: shards merged equal an unsharded run
//! byte for byte, rows do not depend on --threads, resume skips finished points, mixed SPECs
//! are refused, points that do not fit give rows, generated models are `loisim gen`'s, and bad
//! SPEC files end with exit 2 and one line.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn loisim(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_loisim"))
        .args(args)
        .current_dir(root())
        .output()
        .expect("run loisim")
}

fn ok(args: &[&str]) -> String {
    let out = loisim(args);
    assert!(
        out.status.success(),
        "loisim {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Exit 2 and exactly one line on stderr; returns it.
fn fails(args: &[&str]) -> String {
    let out = loisim(args);
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(2), "loisim {args:?}: {err}");
    assert_eq!(err.lines().count(), 1, "loisim {args:?}: {err}");
    assert!(!err.contains("panicked"), "{err}");
    err
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// Every file under `dir`, by relative path.
fn tree(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    fn walk(base: &Path, dir: &Path, out: &mut BTreeMap<String, Vec<u8>>) {
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                walk(base, &p, out);
            } else {
                let rel = p.strip_prefix(base).unwrap().display().to_string();
                out.insert(rel, std::fs::read(&p).unwrap());
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(dir, dir, &mut out);
    out
}

/// A small sweep: 2 widths x sparse/dense x 2 synop latencies = 8 points, 4 groups.
const SMALL: &str = "name = \"small\"\nlayers = 1\ntokens = 5\n\n[axes]\nsparsity = [0.9, 0]\nwidth = [0.0625, 0.125]\n\"ops.synop.latency_ns\" = [0.5, 1.5]\n";

fn write_spec(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

#[test]
fn shards_merged_equal_an_unsharded_run_byte_for_byte_at_any_thread_count() {
    let tmp = tempfile::tempdir().unwrap();
    let spec = write_spec(tmp.path(), "small.toml", SMALL);
    let whole = tmp.path().join("whole");
    let out = ok(&[
        "sweep",
        "run",
        s(&spec),
        "--out",
        s(&whole),
        "--threads",
        "2",
    ]);
    assert!(out.contains("rows: 8 ok, 0 does-not-fit, 0 error"), "{out}");
    let reference = tree(&whole);
    for f in [
        "rows.csv",
        "rows.jsonl",
        "manifest.json",
        "spec.toml",
        "plots/sweep_width.png",
        "plots/sweep_pareto.svg",
    ] {
        assert!(
            reference.contains_key(f),
            "{f} missing: {:?}",
            reference.keys()
        );
    }
    let csv = String::from_utf8(reference["rows.csv"].clone()).unwrap();
    assert!(csv.starts_with(
        "point_id,sparsity,width,ops.synop.latency_ns,status,reason,kind,cores_used,"
    ));
    assert!(csv.contains("\n1,0.9,0.0625,1.5,ok,,s5,"), "{csv}");
    assert_eq!(csv.lines().count(), 9);

    // Three shards, one thread each, merged.
    let mut dirs = Vec::new();
    for i in 0..3 {
        let d = tmp.path().join(format!("shard{i}"));
        let shard = format!("{i}/3");
        ok(&[
            "sweep",
            "run",
            s(&spec),
            "--out",
            s(&d),
            "--shard",
            &shard,
            "--threads",
            "1",
        ]);
        dirs.push(d);
    }
    let shard0 = String::from_utf8(std::fs::read(dirs[0].join("rows.csv")).unwrap()).unwrap();
    assert_eq!(shard0.lines().count(), 1 + 3, "{shard0}");
    let merged = tmp.path().join("merged");
    let mut args = vec!["sweep", "merge"];
    args.extend(dirs.iter().map(|d| s(d)));
    args.extend(["--out", s(&merged)]);
    ok(&args);
    assert_eq!(tree(&merged), reference);

    // Eight threads.
    let eight = tmp.path().join("eight");
    ok(&[
        "sweep",
        "run",
        s(&spec),
        "--out",
        s(&eight),
        "--threads",
        "8",
        "--quiet",
    ]);
    assert_eq!(tree(&eight), reference);

    // Merging two shards of three is refused, and --partial merges them.
    let part = tmp.path().join("part");
    let e = fails(&[
        "sweep",
        "merge",
        s(&dirs[0]),
        s(&dirs[1]),
        "--out",
        s(&part),
    ]);
    assert!(e.contains("2 of 8 points are missing (points 2, 5)"), "{e}");
    assert!(!part.exists(), "a refused merge leaves nothing");
    ok(&[
        "sweep",
        "merge",
        s(&dirs[0]),
        s(&dirs[1]),
        "--out",
        s(&part),
        "--partial",
    ]);
    let rows = std::fs::read_to_string(part.join("rows.jsonl")).unwrap();
    assert_eq!(rows.lines().count(), 6);
}

#[test]
fn resume_skips_finished_points_and_other_specs_are_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let spec = write_spec(tmp.path(), "small.toml", SMALL);
    let dir = tmp.path().join("out");
    let out = ok(&[
        "sweep",
        "run",
        s(&spec),
        "--out",
        s(&dir),
        "--shard",
        "1/2",
        "--threads",
        "1",
    ]);
    assert!(out.contains("ran 4, skipped 0"), "{out}");
    let first = std::fs::read(dir.join("points/p000001.row")).unwrap();
    // The whole sweep into the same directory runs only the other half.
    let out = ok(&["sweep", "run", s(&spec), "--out", s(&dir), "--threads", "1"]);
    assert!(out.contains("ran 4, skipped 4"), "{out}");
    assert!(out.contains("rows: 8 ok"), "{out}");
    assert_eq!(
        std::fs::read(dir.join("points/p000001.row")).unwrap(),
        first
    );
    // Once more: nothing to run.
    let out = ok(&["sweep", "run", s(&spec), "--out", s(&dir), "--threads", "1"]);
    assert!(out.contains("ran 0, skipped 8"), "{out}");

    // A changed SPEC (a comment is a change) cannot resume into it, nor merge with it.
    let other = write_spec(tmp.path(), "other.toml", &format!("# changed\n{SMALL}"));
    let e = fails(&["sweep", "run", s(&other), "--out", s(&dir)]);
    assert!(e.contains("holds a sweep of another SPEC"), "{e}");
    let odir = tmp.path().join("odir");
    ok(&[
        "sweep",
        "run",
        s(&other),
        "--out",
        s(&odir),
        "--shard",
        "0/4",
        "--threads",
        "1",
    ]);
    let e = fails(&[
        "sweep",
        "merge",
        s(&dir),
        s(&odir),
        "--out",
        s(&tmp.path().join("m")),
    ]);
    assert!(e.contains("holds a sweep of another SPEC"), "{e}");
    // A damaged point file is named.
    std::fs::write(dir.join("points/p000003.row"), b"{\"point_id\":3}\n").unwrap();
    let e = fails(&["sweep", "run", s(&spec), "--out", s(&dir)]);
    assert!(e.contains("points/p000003.row is damaged"), "{e}");
    // A directory that is not a sweep is not written into.
    let e = fails(&[
        "sweep",
        "run",
        s(&spec),
        "--out",
        s(&tmp.path().join("small.toml")),
    ]);
    assert!(e.contains("not a directory"), "{e}");
}

#[test]
fn points_that_do_not_fit_give_rows_and_generated_models_are_loisim_gens() {
    let tmp = tempfile::tempdir().unwrap();
    let model = tmp.path().join("m.bin");
    ok(&[
        "gen",
        "--width",
        "0.0625",
        "--layers",
        "1",
        "--sparsity",
        "0.5",
        "--seed",
        "3",
        "-o",
        s(&model),
    ]);
    let gen_spec = write_spec(
        tmp.path(),
        "gen.toml",
        "width = 0.0625\nlayers = 1\nsparsity = 0.5\nseed = 3\ntokens = 4\nmode = \"fall-through\"\n[axes]\nmax_neurons_per_core = [64, 1]\n",
    );
    let file_spec = write_spec(
        tmp.path(),
        "file.toml",
        "network = \"m.bin\"\ntokens = 4\nmode = \"fall-through\"\n[axes]\nmax_neurons_per_core = [64, 1]\n",
    );
    let a = tmp.path().join("a");
    let b = tmp.path().join("b");
    let out = ok(&["sweep", "run", s(&gen_spec), "--out", s(&a)]);
    assert!(out.contains("rows: 1 ok, 1 does-not-fit, 0 error"), "{out}");
    ok(&["sweep", "run", s(&file_spec), "--out", s(&b)]);
    let (ra, rb) = (
        std::fs::read_to_string(a.join("rows.csv")).unwrap(),
        std::fs::read_to_string(b.join("rows.csv")).unwrap(),
    );
    // The same figures; the reasons differ only by the model's name.
    assert_eq!(ra.lines().nth(1), rb.lines().nth(1));
    let line = ra.lines().nth(2).unwrap();
    assert!(line.starts_with("1,1,does-not-fit,"), "{line}");
    assert!(line.contains("the model needs 301 cores but the"), "{line}");
    assert!(
        rb.lines()
            .nth(2)
            .unwrap()
            .contains("the model needs 301 cores but the")
    );
    // Fall-through only: the pipeline columns are empty.
    let ok_line = ra.lines().nth(1).unwrap();
    assert!(ok_line.ends_with(",,,,,,,,,,,,,,,"), "{ok_line}");
}

#[test]
fn bad_specs_and_arguments_end_with_exit_2_and_one_line() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    let huge = "# padding\n".repeat(120_000);
    let many: Vec<String> = (0..1000).map(|i| i.to_string()).collect();
    let too_many = format!(
        "[axes]\nseed = [{}]\ntokens = [{}]\n",
        many.join(","),
        (1..=1000)
            .map(|i| i.to_string())
            .collect::<Vec<_>>()
            .join(",")
    );
    let truncated = &SMALL[..SMALL.len() - 12];
    let cases: Vec<(&str, String, &str)> = vec![
        ("malformed", "[axes\nwidth = [1]\n".into(), "line 1, column"),
        ("truncated", truncated.into(), "line 8"),
        ("huge", huge, "larger than 1048576 bytes"),
        (
            "unknown",
            "[axes]\nwidht = [1]\n".into(),
            "unknown key `axes.widht`",
        ),
        (
            "unknown-top",
            "colour = \"red\"\n".into(),
            "unknown key `colour`",
        ),
        (
            "empty-axis",
            "[axes]\nwidth = []\n".into(),
            "axes.width: the axis is empty",
        ),
        ("too-many", too_many, "1000000 points (1000 x 1000)"),
        (
            "nan",
            "[axes]\nsparsity = [nan]\n".into(),
            "not a finite number",
        ),
        (
            "wrong-type",
            "tokens = \"all\"\n".into(),
            "tokens: expected an integer",
        ),
        ("binary", "\u{0}\u{1}\u{2}".into(), "line 1"),
        (
            "missing-network",
            "network = \"nope.bin\"\n".into(),
            "network `nope.bin`",
        ),
        ("bad-chip", "chip = \"loihi9\"\n".into(), "chip `loihi9`"),
        (
            "wav-tokens",
            format!(
                "input = \"{}\"\ntokens = 3\n",
                root().join("models/default-clip-noisy.wav").display()
            ),
            "a .wav input runs whole",
        ),
        (
            "bad-cost",
            "\"power.axon_lookup_vdd_m_share\" = 7\n".into(),
            "power.axon_lookup_vdd_m_share = 7",
        ),
    ];
    for (name, text, want) in &cases {
        let spec = write_spec(tmp.path(), &format!("{name}.toml"), text);
        let e = fails(&["sweep", "run", s(&spec), "--out", s(&out)]);
        assert!(e.contains(want), "{name}: {e}");
        assert!(!out.exists(), "{name}: a refused SPEC leaves nothing");
    }
    let spec = write_spec(tmp.path(), "ok.toml", SMALL);
    for (args, want) in [
        (vec!["--shard", "3/3"], "--shard `3/3`"),
        (vec!["--shard", "x"], "expected I/N"),
        (vec!["--threads", "0"], "--threads must be at least 1"),
    ] {
        let mut a = vec!["sweep", "run", s(&spec), "--out", s(&out)];
        a.extend(args);
        let e = fails(&a);
        assert!(e.contains(want), "{e}");
    }
    let e = fails(&["sweep", "run", s(tmp.path()), "--out", s(&out)]);
    assert!(e.contains("it is a directory"), "{e}");
    let e = fails(&[
        "sweep",
        "run",
        s(&tmp.path().join("absent.toml")),
        "--out",
        s(&out),
    ]);
    assert!(e.contains("cannot read"), "{e}");
    let e = fails(&["sweep", "merge", s(tmp.path()), "--out", s(&out)]);
    assert!(e.contains("no manifest.json"), "{e}");
    let e = fails(&["sweep", "plot", s(tmp.path())]);
    assert!(e.contains("no manifest.json"), "{e}");
    assert!(!out.exists());
}

#[test]
fn check_prints_the_grid() {
    let tmp = tempfile::tempdir().unwrap();
    let spec = write_spec(tmp.path(), "small.toml", SMALL);
    let out = ok(&["sweep", "check", s(&spec)]);
    assert!(out.contains(": 8 points, sha256 "), "{out}");
    assert!(out.contains("axis sparsity (2): 0.9, 0"), "{out}");
}

#[test]
fn the_paper_spec_is_valid() {
    let out = ok(&["sweep", "check", "sweeps/paper.toml"]);
    assert!(out.contains("axis sparsity (2): 0.9, 0"), "{out}");
    assert!(out.contains("axis width (5): 0.25, 0.5, 1, 2, 3"), "{out}");
}
