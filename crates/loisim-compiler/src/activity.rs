//! How often each neuron output is non-zero: what the messages per token depend on.
//!
//! Measured by running the reference executor on an input and reading off, for every
//! population channel, the values the lowered program sends ([`channel_values`]).

use crate::network::{Conversion, Network, NeuronProgram, PopKind, Source};
use loisim_model::reference::{InputError, TokenTrace};
use loisim_model::{Model, Reference, fxp};

/// Fraction of tokens on which each source output is non-zero.
#[derive(Clone, Debug, PartialEq)]
pub struct Activity {
    /// Host inputs.
    pub input: Vec<f64>,
    /// `[population][channel][neuron]`.
    pub channels: Vec<Vec<Vec<f64>>>,
    /// Tokens measured (0 for the all-active assumption).
    pub n_tokens: usize,
}

/// The values a population's channels carry for one token, from the reference intermediates.
pub fn channel_values(
    net: &Network,
    model: &Model,
    pop: usize,
    input: &[i32],
    t: &TokenTrace,
) -> Vec<Vec<i64>> {
    let p = &net.populations[pop];
    let w = |v: &[i32]| v.iter().map(|&x| i64::from(x)).collect::<Vec<i64>>();
    let conv = |c: &Conversion, v: &[i32]| {
        v.iter()
            .map(|&x| c.apply(i64::from(x)))
            .collect::<Vec<i64>>()
    };
    let _ = input;
    match (&p.kind, &p.program) {
        (PopKind::Encoder, NeuronProgram::Encoder { bn, dec_in, .. }) => match bn {
            Some(_) => vec![w(&t.encoder_out_relu), w(&t.layers[0].u)],
            None => vec![conv(dec_in, &t.encoder_out_relu)],
        },
        (PopKind::Ssm(l), _) => {
            let lt = &t.layers[l.index()];
            let (zr, zi): (Vec<i64>, Vec<i64>) = lt
                .x_re
                .iter()
                .zip(&lt.x_im)
                .map(|(&r, &i)| fxp::complex_relu(i64::from(r), i64::from(i)))
                .unzip();
            vec![zr, zi]
        }
        (PopKind::SsmOut(l), NeuronProgram::SsmOut { out2_in, l: lc, .. }) => {
            let x1: Vec<i32> = t.layers[l.index()]
                .ssm_y
                .iter()
                .map(|&y| y.max(0))
                .collect();
            vec![conv(out2_in, &x1), conv(lc, &x1)]
        }
        (PopKind::Gate(l), NeuronProgram::Gate { bn, dec_in, .. }) => {
            let out = &t.layers[l.index()].output;
            match bn {
                Some(_) => vec![w(out), w(&t.layers[l.index() + 1].u)],
                None => vec![conv(dec_in, out)],
            }
        }
        (PopKind::Decoder, _) => vec![w(&t.output)],
        _ => vec![vec![0; p.n_neurons as usize]; p.channels.len()],
    }
    .into_iter()
    .map(|v| {
        if model.dims.d_model == 0 {
            Vec::new()
        } else {
            v
        }
    })
    .collect()
}

impl Activity {
    /// Every output non-zero on every token (an upper bound on traffic).
    pub fn all_active(net: &Network) -> Self {
        Self {
            input: vec![1.0; net.input_width as usize],
            channels: net
                .populations
                .iter()
                .map(|p| vec![vec![1.0; p.n_neurons as usize]; p.channels.len()])
                .collect(),
            n_tokens: 0,
        }
    }

    /// Measures activity by running the reference executor on `inputs`.
    pub fn measure(
        model: &Model,
        net: &Network,
        inputs: &[Vec<i32>],
    ) -> Result<Self, MeasureError> {
        let mut r = Reference::new(model)?;
        let mut a = Self::all_active(net);
        for v in a.input.iter_mut() {
            *v = 0.0;
        }
        for ch in a.channels.iter_mut().flatten() {
            ch.iter_mut().for_each(|v| *v = 0.0);
        }
        for tok in inputs {
            let t = r.step_traced(tok)?;
            for (i, &x) in tok.iter().enumerate() {
                if net.input_conversion.apply(i64::from(x)) != 0 {
                    a.input[i] += 1.0;
                }
            }
            for pop in 0..net.populations.len() {
                for (c, vals) in channel_values(net, model, pop, tok, &t).iter().enumerate() {
                    for (n, &v) in vals.iter().enumerate() {
                        if v != 0 {
                            a.channels[pop][c][n] += 1.0;
                        }
                    }
                }
            }
        }
        let n = inputs.len().max(1) as f64;
        a.input.iter_mut().for_each(|v| *v /= n);
        a.channels
            .iter_mut()
            .flatten()
            .flatten()
            .for_each(|v| *v /= n);
        a.n_tokens = inputs.len();
        Ok(a)
    }

    /// Activity of one source output.
    pub fn of(&self, src: Source, i: u32) -> f64 {
        match src {
            Source::Host => self.input.get(i as usize).copied().unwrap_or(1.0),
            Source::Pop(p, c) => self
                .channels
                .get(p.index())
                .and_then(|v| v.get(c as usize))
                .and_then(|v| v.get(i as usize))
                .copied()
                .unwrap_or(1.0),
        }
    }

    /// Mean activity of a population channel.
    pub fn mean(&self, pop: usize, channel: usize) -> f64 {
        let v = &self.channels[pop][channel];
        if v.is_empty() {
            0.0
        } else {
            v.iter().sum::<f64>() / v.len() as f64
        }
    }
}

/// Why activity could not be measured.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum MeasureError {
    /// Invalid model.
    #[error("invalid model: {0}")]
    Model(#[from] loisim_model::ModelError),
    /// Invalid input.
    #[error("invalid input: {0}")]
    Input(#[from] InputError),
}
