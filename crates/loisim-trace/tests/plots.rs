//! The figures of `loisim_trace::plot` on synthetic but realistic series.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use loisim_trace::plot::{self, Format, PlotError};
use loisim_trace::series::{Breakdown, CoreSite, ModeSeries, ModelPoint, RunSeries};

/// Deterministic noise in [-1, 1).
struct Noise(u64);

impl Noise {
    fn next(&mut self) -> f64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 >> 11) as f64 / (1u64 << 53) as f64 * 2.0 - 1.0
    }
}

/// Populations of an S5 model with `layers` blocks and `per` cores per population piece.
fn populations(layers: u32, cores: usize) -> Vec<String> {
    let mut names = vec!["encoder".to_string()];
    for l in 0..layers {
        for p in ["ssm", "y", "gate"] {
            names.push(format!("L{l}.{p}"));
        }
    }
    names.push("decoder".to_string());
    // Spread the cores over the populations in order, the SSMs getting the extra ones.
    let mut per = vec![1usize; names.len()];
    let mut k = 0;
    while per.iter().sum::<usize>() < cores {
        let i = k % names.len();
        if names[i].ends_with("ssm") || names[i] == "decoder" || k >= names.len() * 2 {
            per[i] += 1;
        }
        k += 1;
    }
    names
        .iter()
        .zip(per)
        .flat_map(|(n, c)| std::iter::repeat_n(n.clone(), c))
        .take(cores)
        .collect()
}

/// A run of `n_cores` cores placed in the compiler's serpentine order on a board of
/// `chips` chips of 8x4 routers with 4 cores each.
fn run(model: &str, n_cores: usize, chips: (u32, u32), tokens: usize, seed: u64) -> RunSeries {
    let (rx, ry, cpr) = (8u32, 4u32, 4u32);
    let (w, h) = (rx * chips.0, ry * chips.1);
    let pops = populations(4, n_cores);
    let mut cores = Vec::new();
    'outer: for gy in 0..h {
        let cols: Vec<u32> = if gy % 2 == 0 {
            (0..w).collect()
        } else {
            (0..w).rev().collect()
        };
        for gx in cols {
            for slot in 0..cpr {
                if cores.len() == n_cores {
                    break 'outer;
                }
                let chip = (gy / ry) * chips.0 + gx / rx;
                let (x, y) = (gx % rx, gy % ry);
                cores.push(CoreSite {
                    core: chip * rx * ry * cpr + (y * rx + x) * cpr + slot,
                    chip,
                    gx,
                    gy,
                    slot,
                    population: pops[cores.len()].clone(),
                });
            }
        }
    }
    let mut noise = Noise(seed | 1);
    let envelope =
        |k: usize| 1.0 + 0.08 * (k as f64 / 300.0).sin() + 0.04 * (k as f64 / 37.0).sin();
    let ft_lat: Vec<f64> = (0..tokens)
        .map(|k| 76.0 * envelope(k) + 3.0 * noise.next())
        .collect();
    let ft_dyn: Vec<f64> = (0..tokens)
        .map(|k| 13.0 * envelope(k) + 0.8 * noise.next())
        .collect();
    let ft_static: Vec<f64> = ft_lat.iter().map(|l| l * 2.3).collect();
    let steps = tokens + 11;
    let pl_lat: Vec<f64> = (0..steps)
        .map(|k| 16.0 * envelope(k) + 0.7 * noise.next())
        .collect();
    let pl_dyn: Vec<f64> = (0..steps)
        .map(|k| 12.0 * envelope(k) + 0.9 * noise.next())
        .collect();
    let pl_static: Vec<f64> = pl_lat.iter().map(|l| l * 2.3).collect();
    let busy = |total: f64, scale: f64, noise: &mut Noise| -> Vec<f64> {
        cores
            .iter()
            .map(|c| {
                let base = if c.population.ends_with("ssm") {
                    0.45
                } else {
                    0.2
                };
                total * (scale * base * (1.0 + 0.4 * noise.next())).clamp(0.0, 1.0)
            })
            .collect()
    };
    let ft_total = ft_lat.iter().sum::<f64>() * 1e3;
    let pl_total = pl_lat.iter().sum::<f64>() * 1e3;
    let ft_busy = busy(ft_total, 0.5, &mut noise);
    let pl_busy = busy(pl_total, 1.6, &mut noise);
    RunSeries {
        model: model.to_string(),
        chip: if chips == (1, 1) {
            "loihi2"
        } else {
            "kapoho-point"
        }
        .to_string(),
        routers_x: w,
        routers_y: h,
        cores_per_router: cpr,
        cores: cores.clone(),
        modes: vec![
            ModeSeries {
                mode: "fall-through".into(),
                latency_us: ft_lat,
                energy_dynamic_uj: ft_dyn,
                energy_static_uj: ft_static,
                breakdown_uj_per_token: Breakdown {
                    axon_in: 1.2,
                    synmem: 2.5,
                    synop: 1.5,
                    neuron: 4.1,
                    noc: 2.3,
                    io: 0.4,
                    barrier: 1.0,
                    static_chip: 12.3,
                    static_board: 163.0,
                },
                core_busy_ns: ft_busy,
                total_ns: ft_total,
            },
            ModeSeries {
                mode: "pipeline".into(),
                latency_us: pl_lat,
                energy_dynamic_uj: pl_dyn,
                energy_static_uj: pl_static,
                breakdown_uj_per_token: Breakdown {
                    axon_in: 1.2,
                    synmem: 2.5,
                    synop: 1.5,
                    neuron: 4.0,
                    noc: 2.2,
                    io: 0.4,
                    barrier: 0.3,
                    static_chip: 2.6,
                    static_board: 34.4,
                },
                core_busy_ns: pl_busy,
                total_ns: pl_total,
            },
        ],
    }
}

fn models() -> Vec<ModelPoint> {
    let p = |model: &str, sparse, params, macs, cores, ft: (f64, f64), pl: (f64, f64)| ModelPoint {
        model: model.to_string(),
        sparse,
        params,
        macs_effective: macs,
        cores,
        ft_latency_us: ft.0,
        ft_energy_uj: ft.1,
        pl_latency_ms: pl.0,
        pl_energy_mj: pl.1,
    };
    vec![
        p(
            "s5-sparse-1x",
            true,
            130_000,
            120_000,
            32,
            (76.0, 13.0),
            (60.0, 0.18),
        ),
        p(
            "s5-sparse-2x",
            true,
            460_000,
            450_000,
            64,
            (140.0, 35.0),
            (110.0, 0.40),
        ),
        p(
            "s5-sparse-3x",
            true,
            1_000_000,
            1_000_000,
            120,
            (230.0, 70.0),
            (180.0, 0.75),
        ),
        p(
            "s5-dense-1x",
            false,
            500_000,
            480_000,
            64,
            (150.0, 45.0),
            (120.0, 0.50),
        ),
        p(
            "s5-dense-2x",
            false,
            1_850_000,
            1_800_000,
            200,
            (420.0, 150.0),
            (330.0, 1.30),
        ),
        p(
            "s5-dense-3x",
            false,
            4_100_000,
            4_000_000,
            480,
            (900.0, 330.0),
            (700.0, 2.80),
        ),
    ]
}

/// Decodes a PNG; returns its size and how many distinct colours it has.
fn decode_png(path: &Path) -> (u32, u32, usize) {
    let file = std::fs::File::open(path).expect("open png");
    let mut reader = png::Decoder::new(file).read_info().expect("png header");
    let mut buf = vec![0; reader.output_buffer_size()];
    let info = reader.next_frame(&mut buf).expect("png frame");
    let channels = info.color_type.samples();
    let colours: HashSet<&[u8]> = buf[..info.buffer_size()]
        .chunks_exact(channels)
        .map(|px| &px[..3.min(channels)])
        .collect();
    (info.width, info.height, colours.len())
}

fn check_files(files: &[PathBuf], names: &[&str], titles: &[&str]) {
    assert_eq!(files.len(), names.len() * 2, "{files:?}");
    for (name, title) in names.iter().zip(titles) {
        let png = files
            .iter()
            .find(|f| {
                f.file_name()
                    .is_some_and(|n| n == format!("{name}.png").as_str())
            })
            .expect("png written");
        let svg = files
            .iter()
            .find(|f| {
                f.file_name()
                    .is_some_and(|n| n == format!("{name}.svg").as_str())
            })
            .expect("svg written");
        let (w, h, colours) = decode_png(png);
        assert_eq!((w, h), (plot::WIDTH, plot::HEIGHT), "{name}");
        assert!(colours >= 20, "{name}.png has only {colours} colours");
        let text = std::fs::read_to_string(svg).expect("read svg");
        assert!(text.contains("<svg"), "{name}.svg");
        assert!(
            text.trim_end().ends_with("</svg>"),
            "{name}.svg is not closed"
        );
        assert!(text.contains("<text"), "{name}.svg has no text");
        assert!(text.contains(title), "{name}.svg lacks {title:?}");
    }
}

#[test]
fn run_figures_are_written_and_look_drawn() {
    let dir = tempfile::tempdir().expect("tempdir");
    let series = run("s5-sparse-1x", 32, (1, 1), 3751, 7);
    let files = plot::plot_run(&series, dir.path()).expect("plot_run");
    for f in &files {
        assert!(f.is_file(), "{f:?}");
        assert!(f.starts_with(dir.path()));
    }
    check_files(
        &files,
        &plot::RUN_FIGURES,
        &[
            "s5-sparse-1x on loihi2: latency and energy along the sample",
            "s5-sparse-1x on loihi2: energy per token by component",
            "s5-sparse-1x on loihi2: core utilisation (8x4 routers, 4 cores each)",
        ],
    );
    let svg = std::fs::read_to_string(dir.path().join("core_utilization.svg")).expect("svg");
    assert!(
        svg.contains(">\nL0.ssm\n<") || svg.contains(">L0.ssm<"),
        "cells are labelled"
    );
}

#[test]
fn model_comparison_is_written() {
    let dir = tempfile::tempdir().expect("tempdir");
    let files = plot::plot_models(&models(), dir.path()).expect("plot_models");
    check_files(
        &files,
        &[plot::MODELS_FIGURE],
        &["Latency and energy vs model size"],
    );
    let svg = std::fs::read_to_string(dir.path().join("models.svg")).expect("svg");
    assert!(svg.contains("1x, 32 cores"));
    assert!(svg.contains("dense: s5-dense-1x, s5-dense-2x, s5-dense-3x"));
}

#[test]
fn multi_chip_board_and_single_format() {
    let dir = tempfile::tempdir().expect("tempdir");
    let series = run("s5-dense-3x", 480, (4, 2), 400, 11);
    let files = plot::plot_run_as(&series, dir.path(), &[Format::Png]).expect("plot_run_as");
    assert_eq!(files.len(), 3);
    for f in &files {
        assert_eq!(f.extension().and_then(|e| e.to_str()), Some("png"));
        let (w, h, colours) = decode_png(f);
        assert_eq!((w, h), (plot::WIDTH, plot::HEIGHT));
        assert!(colours >= 20);
    }
    let svg_only = plot::plot_models_as(&models(), dir.path(), &[Format::Svg]).expect("svg");
    assert_eq!(svg_only, vec![dir.path().join("models.svg")]);
}

#[test]
fn empty_modes_and_zero_time_draw_empty_panels() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut series = run("s5-sparse-1x", 32, (1, 1), 50, 3);
    series.modes[1] = ModeSeries {
        mode: "pipeline".into(),
        ..ModeSeries::default()
    };
    series.modes[0].total_ns = 0.0;
    series.modes[0].latency_us[3] = f64::NAN;
    series.modes[0].energy_dynamic_uj[4] = f64::INFINITY;
    let files = plot::plot_run(&series, dir.path()).expect("empty mode is drawn");
    assert_eq!(files.len(), 6);
    let svg = std::fs::read_to_string(dir.path().join("latency_energy.svg")).expect("svg");
    assert!(svg.contains("pipeline: no timesteps recorded"));

    // Only empty modes, no cores, no board.
    let empty = RunSeries {
        model: "nothing".into(),
        modes: vec![ModeSeries::default()],
        ..RunSeries::default()
    };
    let files = plot::plot_run(&empty, dir.path()).expect("all-empty run is drawn");
    assert_eq!(files.len(), 6);
    for f in files
        .iter()
        .filter(|f| f.extension().is_some_and(|e| e == "png"))
    {
        decode_png(f);
    }

    // One token, one model.
    let mut one = run("tiny", 1, (1, 1), 1, 5);
    one.modes.truncate(1);
    plot::plot_run(&one, dir.path()).expect("one token");
    plot::plot_models(&models()[..1], dir.path()).expect("one model");
    let mut odd = models();
    odd[0].macs_effective = 0;
    odd[1].ft_latency_us = f64::NAN;
    plot::plot_models(&odd, dir.path()).expect("odd models");
}

#[test]
fn errors_are_clear() {
    let dir = tempfile::tempdir().expect("tempdir");
    let missing = dir.path().join("no").join("such");
    let series = run("s5-sparse-1x", 32, (1, 1), 20, 1);
    let e = plot::plot_run(&series, &missing).expect_err("missing dir");
    assert!(matches!(e, PlotError::MissingDir { .. }));
    assert!(
        e.to_string().contains(&missing.display().to_string()),
        "{e}"
    );
    let e = plot::plot_models(&models(), &missing).expect_err("missing dir");
    assert!(e.to_string().contains("no/such"), "{e}");

    let none = RunSeries {
        model: "m".into(),
        ..RunSeries::default()
    };
    let e = plot::plot_run(&none, dir.path()).expect_err("no modes");
    assert!(matches!(e, PlotError::NoModes { .. }), "{e}");
    let e = plot::plot_models(&[], dir.path()).expect_err("no models");
    assert!(matches!(e, PlotError::NoModels { .. }), "{e}");
    assert!(
        e.to_string().contains(&dir.path().display().to_string()),
        "{e}"
    );

    // A file in the way of an output file names that file.
    std::fs::create_dir(dir.path().join("latency_energy.png")).expect("mkdir");
    let e = plot::plot_run(&series, dir.path()).expect_err("blocked file");
    assert!(matches!(e, PlotError::Draw { .. }), "{e}");
    assert!(e.to_string().contains("latency_energy.png"), "{e}");
}

/// Writes every figure under the target directory for looking at:
/// `target/tmp/plots-gallery/{1x,2x,wide,kapoho,empty,nothing,models}`.
#[test]
fn gallery() {
    let root = Path::new(env!("CARGO_TARGET_TMPDIR")).join("plots-gallery");
    let sub = |name: &str| {
        let d = root.join(name);
        std::fs::create_dir_all(&d).expect("mkdir");
        d
    };
    plot::plot_run(&run("s5-sparse-1x", 32, (1, 1), 3751, 7), &sub("1x")).expect("1x");
    plot::plot_run(&run("s5-sparse-2x", 60, (1, 1), 3751, 9), &sub("2x")).expect("2x");
    plot::plot_run(&run("s5-dense-3x", 480, (4, 2), 3751, 11), &sub("kapoho")).expect("kapoho");
    // Modes on very different scales: the pipeline goes to a right axis.
    let mut wide = run("s5-dense-3x", 200, (1, 1), 3751, 13);
    for v in &mut wide.modes[0].latency_us {
        *v *= 12.0;
    }
    plot::plot_run_as(&wide, &sub("wide"), &[Format::Png]).expect("wide");
    let mut empty = run("s5-sparse-1x", 32, (1, 1), 50, 3);
    empty.modes[1] = ModeSeries {
        mode: "pipeline".into(),
        ..ModeSeries::default()
    };
    empty.modes[0].total_ns = 0.0;
    plot::plot_run(&empty, &sub("empty")).expect("empty");
    let nothing = RunSeries {
        model: "nothing".into(),
        chip: "loihi2".into(),
        modes: vec![ModeSeries {
            mode: "fall-through".into(),
            ..ModeSeries::default()
        }],
        ..RunSeries::default()
    };
    plot::plot_run(&nothing, &sub("nothing")).expect("nothing");
    plot::plot_models(&models(), &sub("models")).expect("models");
}
