//! The synaptic-memory model: how a core stores the synapses of one input axon, from which
//! the compiler derives memory use and the simulator the words read per incoming message.
//!
//! An axon's synapses on a core are stored in segments, one per projection. A segment is
//! written in runs of at most `max_run` synapses; each run has a `run_header_bits` header and is
//! padded to whole `word_bits` words (the Loihi 1 layout, NENGO). Two encodings:
//! - sparse: every synapse stores its weight and the index of its target (neuron and port on the
//!   core), `weight_bits + index_bits`; only non-zero weights are stored and processed;
//! - dense: the weights of every neuron of the target range are stored in order without index,
//!   zeros included, and every one of them is processed as a synaptic operation.
//!
//! The compiler picks, per segment, the encoding that needs fewer words.

use loisim_arch::Chip;
use serde::{Deserialize, Serialize};

/// Layout parameters.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Encoding {
    /// Word, bits.
    pub word_bits: u32,
    /// Run header, bits.
    pub run_header_bits: u32,
    /// Synapses per run at most.
    pub max_run: u32,
}

/// What one segment costs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SegmentCost {
    /// Synaptic-memory words.
    pub words: u32,
    /// Synaptic operations per incoming message.
    pub synops: u32,
    /// Dense encoding chosen.
    pub dense: bool,
}

/// `ceil(log2(n))`, at least 1.
pub fn index_bits(n: u32) -> u32 {
    (32 - n.saturating_sub(1).leading_zeros()).max(1)
}

impl Encoding {
    /// The layout of a chip.
    pub fn of(chip: &Chip) -> Self {
        Self {
            word_bits: chip.synapses.word_bits.value,
            run_header_bits: chip.synapses.run_header_bits.value,
            max_run: chip.synapses.max_run.value,
        }
    }

    /// Words for `n` entries of `bits_each` bits.
    pub fn words(&self, n: u32, bits_each: u32) -> u32 {
        if n == 0 {
            return 0;
        }
        let run_words = |k: u32| (self.run_header_bits + k * bits_each).div_ceil(self.word_bits);
        let full = n / self.max_run;
        let rest = n % self.max_run;
        full * run_words(self.max_run) + if rest > 0 { run_words(rest) } else { 0 }
    }

    /// The cheaper encoding of a segment with `nnz` non-zero weights over a target range of
    /// `span` neurons.
    pub fn segment(&self, nnz: u32, span: u32, weight_bits: u32, index_bits: u32) -> SegmentCost {
        if nnz == 0 {
            return SegmentCost::default();
        }
        let sparse = self.words(nnz, weight_bits + index_bits);
        let dense = self.words(span, weight_bits);
        if dense < sparse {
            SegmentCost {
                words: dense,
                synops: span,
                dense: true,
            }
        } else {
            SegmentCost {
                words: sparse,
                synops: nnz,
                dense: false,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const L1: Encoding = Encoding {
        word_bits: 64,
        run_header_bits: 10,
        max_run: 64,
    };

    #[test]
    fn runs_are_padded_to_words() {
        // 3 synapses of 8 + 6 bits: 10 + 42 = 52 bits, one word.
        assert_eq!(L1.words(3, 14), 1);
        // 4 synapses: 66 bits, two words.
        assert_eq!(L1.words(4, 14), 2);
        // 64 synapses of 8 bits: 522 bits = 9 words; 65 synapses: a second run of one.
        assert_eq!(L1.words(64, 8), 9);
        assert_eq!(L1.words(65, 8), 10);
        assert_eq!(index_bits(1), 1);
        assert_eq!(index_bits(64), 6);
        assert_eq!(index_bits(65), 7);
    }

    #[test]
    fn dense_wins_for_dense_segments() {
        let full = L1.segment(60, 64, 8, 7);
        assert!(full.dense);
        assert_eq!(full.synops, 64);
        let sparse = L1.segment(6, 64, 8, 7);
        assert!(!sparse.dense);
        assert_eq!(sparse.synops, 6);
    }

    proptest! {
        #[test]
        fn words_hold_the_bits_and_grow_with_n(n in 1u32..2000, b in 1u32..40) {
            let w = L1.words(n, b);
            prop_assert!(u64::from(w) * 64 >= u64::from(n) * u64::from(b));
            prop_assert!(L1.words(n + 1, b) >= w);
            let s = L1.segment(n.min(500), 500, 8, 9);
            prop_assert!(s.words <= L1.words(n.min(500), 17));
        }
    }
}
