//! Utilisation is busy time over run time per unit of a core (neuron, synapse, axon): the
//! three units work at the same time, so no unit is busy longer than its core works in a
//! timestep, and no utilisation a trace writes can exceed 100 %, whatever the program.

use loisim_arch::Chip;
use loisim_compiler::{CompileOptions, compile};
use loisim_import::observe::Recipe;
use loisim_import::synth::{Distribution, GenConfig, generate};
use loisim_sim::{SimOptions, simulate};
use loisim_trace::series::RunSeries;
use loisim_trace::{TraceOptions, TraceWriter};
use proptest::prelude::*;

/// Traces a random program; returns `cores.csv`, `core_summary.csv` and the series.
fn trace(
    seed: u64,
    blocks: u32,
    sparsity: f64,
    per_core: u32,
    n_tokens: usize,
) -> (String, String, RunSeries) {
    let cfg = GenConfig {
        width: f64::from(blocks) / 16.0,
        n_layers: 2,
        sparsity,
        distribution: Distribution::Erk,
        seed,
        recipe: Recipe::W8A16,
    };
    let g = generate(
        &cfg,
        "random",
        &loisim_import::synth::pseudo_spectrum(seed, 8),
    )
    .expect("generate");
    let opts = CompileOptions {
        max_neurons_per_core: per_core,
        ..CompileOptions::default()
    };
    let prog = compile(&g.model, &Chip::default_chip(), &opts, None).expect("compile");
    let tokens = loisim_import::input::tokens_from_magnitudes(
        &loisim_import::synth::pseudo_spectrum(seed ^ 7, n_tokens),
        &g.model,
    )
    .expect("tokens");
    let dir = tempfile::tempdir().expect("tmp");
    let mut w = TraceWriter::create(&prog, dir.path(), &TraceOptions::default()).expect("trace");
    let sim = SimOptions {
        threads: 1,
        ..SimOptions::default()
    };
    let res = simulate(&prog, &tokens, &sim, Some(&mut w), None).expect("simulate");
    let series = w.finish(&res).expect("finish");
    let read = |name| std::fs::read_to_string(dir.path().join(name)).expect(name);
    (read("cores.csv"), read("core_summary.csv"), series)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]
    #[test]
    fn no_utilisation_exceeds_one_hundred_percent(
        seed in any::<u64>(), blocks in 1u32..=2, sparsity in 0.0f64..0.95,
        per_core in 4u32..40, n_tokens in 1usize..6,
    ) {
        let (cores, csv, series) = trace(seed, blocks, sparsity, per_core, n_tokens);
        // Every timestep (the trace window holds every token here): no unit of a core is busy
        // longer than the core works.
        let mut lines = cores.lines();
        let header: Vec<&str> = lines.next().expect("header").split(',').collect();
        let finish = header.iter().position(|&h| h == "finish_ns").expect("finish_ns");
        let busy: Vec<usize> = (0..header.len())
            .filter(|&i| header[i].ends_with("busy_ns"))
            .collect();
        prop_assert!(!busy.is_empty());
        let mut rows = 0;
        for line in lines {
            let f: Vec<&str> = line.split(',').collect();
            let fin: f64 = f[finish].parse().expect("number");
            for &i in &busy {
                let b: f64 = f[i].parse().expect("number");
                prop_assert!(
                    b <= fin * (1.0 + 1e-9) + 1e-6,
                    "{} of core {} in {} timestep {} is {b} ns, its finish {fin} ns",
                    header[i], f[3], f[0], f[1]
                );
            }
            rows += 1;
        }
        prop_assert!(rows > 0);
        // The whole run.
        let mut lines = csv.lines();
        let header: Vec<&str> = lines.next().expect("header").split(',').collect();
        let cols: Vec<usize> = (0..header.len())
            .filter(|&i| header[i].ends_with("utilization"))
            .collect();
        prop_assert!(!cols.is_empty());
        let col = |name: &str| header.iter().position(|&h| h == name).expect(name);
        let units = [
            col("neuron_utilization"),
            col("synapse_utilization"),
            col("axon_utilization"),
        ];
        let core = col("utilization");
        for line in lines {
            let f: Vec<&str> = line.split(',').collect();
            let num = |i: usize| -> f64 { f[i].parse().expect("number") };
            for &i in &cols {
                let u = num(i);
                prop_assert!(
                    (0.0..=1.0).contains(&u),
                    "{} of core {} ({} mode) is {u}", header[i], f[1], f[0]
                );
            }
            // A core's utilisation is its busiest unit's.
            let busiest = units.iter().map(|&i| num(i)).fold(0.0, f64::max);
            prop_assert!((num(core) - busiest).abs() <= 1e-6, "core {}: {line}", f[1]);
        }
        for m in &series.modes {
            for (k, &busy) in m.core_busy_ns.iter().enumerate() {
                prop_assert!(
                    busy <= m.total_ns * (1.0 + 1e-12),
                    "core {k} ({} mode) busy {busy} ns in a run of {} ns", m.mode, m.total_ns
                );
            }
        }
    }
}
