//! Quality metrics: scale-invariant signal-to-noise ratio (SI-SNR).

use crate::AudioError;

/// Scale-invariant SNR in dB, as the Intel N-DNS challenge defines it (without
/// its epsilon terms).
///
/// Both signals are made zero-mean; then `s_target = <est, ref> ref / ||ref||^2`,
/// `e = est - s_target` and `SI-SNR = 10 log10(||s_target||^2 / ||e||^2)`. All
/// sums run in `f64`. Scaling the estimate by any non-zero factor leaves the
/// value unchanged (up to rounding).
///
/// Edge cases (decided here, not by the challenge code):
/// * `e = 0` exactly (e.g. `estimate == reference`, or an exact power-of-two
///   multiple of it) gives `f64::INFINITY`; an estimate that matches up to
///   rounding gives a large finite value (typically > 250 dB).
/// * `s_target = 0` (an estimate orthogonal to the reference, or constant)
///   gives `f64::NEG_INFINITY`.
///
/// # Errors
/// [`AudioError::LengthMismatch`] if the lengths differ,
/// [`AudioError::NonFiniteSignal`] for NaN or infinite samples,
/// [`AudioError::DegenerateReference`] if the signals are empty or the
/// reference is constant (all zero after removing its mean).
pub fn si_snr(estimate: &[f32], reference: &[f32]) -> Result<f64, AudioError> {
    if estimate.len() != reference.len() {
        return Err(AudioError::LengthMismatch {
            estimate: estimate.len(),
            reference: reference.len(),
        });
    }
    if reference.is_empty() {
        return Err(AudioError::DegenerateReference("empty"));
    }
    check_finite("estimate", estimate)?;
    check_finite("reference", reference)?;

    let est = zero_mean(estimate);
    let reference = zero_mean(reference);
    let ref_energy = dot(&reference, &reference);
    if ref_energy == 0.0 {
        return Err(AudioError::DegenerateReference(
            "constant (all zero after removing its mean)",
        ));
    }
    let alpha = dot(&est, &reference) / ref_energy;
    let mut target_energy = 0.0;
    let mut error_energy = 0.0;
    for (&e, &r) in est.iter().zip(&reference) {
        let target = alpha * r;
        let error = e - target;
        target_energy += target * target;
        error_energy += error * error;
    }
    Ok(ratio_db(target_energy, error_energy))
}

/// `10 log10(target / error)` with the documented infinities.
fn ratio_db(target_energy: f64, error_energy: f64) -> f64 {
    if target_energy == 0.0 {
        f64::NEG_INFINITY
    } else if error_energy == 0.0 {
        f64::INFINITY
    } else {
        10.0 * libm::log10(target_energy / error_energy)
    }
}

fn check_finite(which: &'static str, signal: &[f32]) -> Result<(), AudioError> {
    match signal.iter().position(|x| !x.is_finite()) {
        Some(index) => Err(AudioError::NonFiniteSignal { which, index }),
        None => Ok(()),
    }
}

/// The signal in `f64` minus its mean.
fn zero_mean(signal: &[f32]) -> Vec<f64> {
    let mean = signal.iter().map(|&x| f64::from(x)).sum::<f64>() / signal.len() as f64;
    signal.iter().map(|&x| f64::from(x) - mean).collect()
}

fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// `reference = [1, -1, 1, -1, ...]` and `noise = [1, 1, -1, -1, ...]`:
    /// zero-mean, exactly orthogonal, exactly representable.
    fn orthogonal_pair(n: usize) -> (Vec<f32>, Vec<f32>) {
        let reference = (0..n)
            .map(|i| if i % 2 == 0 { 1.0 } else { -1.0 })
            .collect();
        let noise = (0..n).map(|i| if i % 4 < 2 { 1.0 } else { -1.0 }).collect();
        (reference, noise)
    }

    #[test]
    fn orthogonal_noise_of_known_power() {
        let (reference, noise) = orthogonal_pair(4000);
        for a in [0.125_f32, 0.5, 1.0, 2.0, 3.0] {
            let estimate: Vec<f32> = reference
                .iter()
                .zip(&noise)
                .map(|(r, n)| r + a * n)
                .collect();
            let expected = -20.0 * libm::log10(f64::from(a));
            let got = si_snr(&estimate, &reference).unwrap();
            assert!(
                (got - expected).abs() < 1e-9,
                "a = {a}: {got} vs {expected}"
            );
            // A scaled target component does not matter either: est = 2.5 r + a n.
            let estimate: Vec<f32> = reference
                .iter()
                .zip(&noise)
                .map(|(r, n)| 2.5 * r + a * n)
                .collect();
            let expected = 20.0 * libm::log10(2.5 / f64::from(a));
            let got = si_snr(&estimate, &reference).unwrap();
            assert!(
                (got - expected).abs() < 1e-9,
                "a = {a}: {got} vs {expected}"
            );
        }
    }

    #[test]
    fn sinusoid_plus_orthogonal_sinusoid() {
        // Whole periods of two different frequencies are orthogonal: expected
        // SI-SNR = 20 log10(0.8 / 0.1) up to f32 rounding of the samples.
        let n = 16_000;
        let tone = |hz: f64, amp: f64| -> Vec<f32> {
            (0..n)
                .map(|i| {
                    (amp * libm::sin(2.0 * std::f64::consts::PI * hz * i as f64 / 16_000.0)) as f32
                })
                .collect()
        };
        let reference = tone(440.0, 0.8);
        let noise = tone(1000.0, 0.1);
        let estimate: Vec<f32> = reference.iter().zip(&noise).map(|(r, v)| r + v).collect();
        let got = si_snr(&estimate, &reference).unwrap();
        assert!((got - 20.0 * libm::log10(8.0)).abs() < 1e-5, "{got}");
    }

    #[test]
    fn offsets_and_power_of_two_scales_are_exactly_invariant() {
        let (reference, noise) = orthogonal_pair(1000);
        let estimate: Vec<f32> = reference
            .iter()
            .zip(&noise)
            .map(|(r, n)| r + 0.375 * n)
            .collect();
        let base = si_snr(&estimate, &reference).unwrap();
        for scale in [0.25_f32, 2.0, 1024.0, -1.0] {
            let scaled: Vec<f32> = estimate.iter().map(|x| x * scale).collect();
            assert_eq!(si_snr(&scaled, &reference).unwrap(), base, "scale {scale}");
        }
        let shifted: Vec<f32> = estimate.iter().map(|x| x + 0.5).collect();
        assert!((si_snr(&shifted, &reference).unwrap() - base).abs() < 1e-9);
    }

    #[test]
    fn perfect_and_hopeless_estimates() {
        let (reference, noise) = orthogonal_pair(64);
        assert_eq!(si_snr(&reference, &reference).unwrap(), f64::INFINITY);
        let doubled: Vec<f32> = reference.iter().map(|x| 2.0 * x).collect();
        assert_eq!(si_snr(&doubled, &reference).unwrap(), f64::INFINITY);
        assert_eq!(si_snr(&noise, &reference).unwrap(), f64::NEG_INFINITY);
        assert_eq!(si_snr(&[0.0; 64], &reference).unwrap(), f64::NEG_INFINITY);
    }

    #[test]
    fn invalid_inputs_are_errors() {
        let err = si_snr(&[1.0, 2.0], &[1.0, 2.0, 3.0]).unwrap_err();
        assert!(matches!(
            err,
            AudioError::LengthMismatch {
                estimate: 2,
                reference: 3
            }
        ));
        assert!(err.to_string().contains("2 samples"), "{err}");
        let err = si_snr(&[1.0, 2.0], &[0.0, 0.0]).unwrap_err();
        assert!(err.to_string().contains("all zero"), "{err}");
        assert!(
            si_snr(&[1.0, 2.0], &[0.3, 0.3]).is_err(),
            "constant reference"
        );
        assert!(si_snr(&[], &[]).unwrap_err().to_string().contains("empty"));
        let err = si_snr(&[1.0, f32::NAN], &[1.0, 2.0]).unwrap_err();
        assert!(matches!(
            err,
            AudioError::NonFiniteSignal {
                which: "estimate",
                index: 1
            }
        ));
        assert!(si_snr(&[1.0, 2.0], &[f32::INFINITY, 2.0]).is_err());
    }

    proptest! {
        /// Any non-zero scale of the estimate leaves SI-SNR unchanged.
        #[test]
        fn scale_invariance(
            pairs in proptest::collection::vec((-1.0_f32..1.0, -1.0_f32..1.0), 8..400),
            noise_gain in 0.05_f32..3.0,
            scale in prop_oneof![0.001_f32..0.5, 1.5_f32..1000.0],
        ) {
            let (noise, reference): (Vec<f32>, Vec<f32>) = pairs.into_iter().unzip();
            prop_assume!(reference.iter().any(|&r| r != reference[0]));
            let estimate: Vec<f32> =
                reference.iter().zip(&noise).map(|(r, v)| r + noise_gain * v).collect();
            let base = si_snr(&estimate, &reference).unwrap();
            let scaled: Vec<f32> = estimate.iter().map(|x| x * scale).collect();
            let got = si_snr(&scaled, &reference).unwrap();
            prop_assert!((got - base).abs() < 1e-5, "{} vs {}", got, base);
        }
    }
}

/// SI-SNR computed over a stream: push aligned chunks of the estimate and the reference, then
/// [`SiSnrAccumulator::finish`]. Uses running sums (`sum x`, `sum y`, `sum xy`, `sum x^2`,
/// `sum y^2`) in `f64`, so memory stays constant whatever the length; the result equals
/// [`si_snr`] up to rounding.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SiSnrAccumulator {
    n: f64,
    se: f64,
    sr: f64,
    ser: f64,
    see: f64,
    srr: f64,
}

impl SiSnrAccumulator {
    /// An empty accumulator.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds aligned samples. Fails on a length mismatch or a non-finite sample.
    pub fn push(&mut self, estimate: &[f32], reference: &[f32]) -> Result<(), AudioError> {
        if estimate.len() != reference.len() {
            return Err(AudioError::LengthMismatch {
                estimate: estimate.len(),
                reference: reference.len(),
            });
        }
        check_finite("estimate", estimate)?;
        check_finite("reference", reference)?;
        for (&e, &r) in estimate.iter().zip(reference) {
            let (e, r) = (f64::from(e), f64::from(r));
            self.n += 1.0;
            self.se += e;
            self.sr += r;
            self.ser += e * r;
            self.see += e * e;
            self.srr += r * r;
        }
        Ok(())
    }

    /// Samples pushed.
    pub fn len(&self) -> usize {
        self.n as usize
    }

    /// Whether nothing was pushed.
    pub fn is_empty(&self) -> bool {
        self.n == 0.0
    }

    /// The SI-SNR in dB (same edge cases as [`si_snr`]).
    pub fn finish(&self) -> Result<f64, AudioError> {
        if self.n == 0.0 {
            return Err(AudioError::DegenerateReference("empty"));
        }
        let (me, mr) = (self.se / self.n, self.sr / self.n);
        let cov = self.ser - self.n * me * mr;
        let rr = self.srr - self.n * mr * mr;
        let ee = self.see - self.n * me * me;
        if rr <= 0.0 {
            return Err(AudioError::DegenerateReference("constant"));
        }
        let target = cov * cov / rr;
        let noise = (ee - target).max(0.0);
        if target == 0.0 {
            return Ok(f64::NEG_INFINITY);
        }
        if noise == 0.0 {
            return Ok(f64::INFINITY);
        }
        Ok(10.0 * (target / noise).log10())
    }
}

#[cfg(test)]
mod accumulator_tests {
    use super::*;

    #[test]
    fn streaming_si_snr_equals_the_two_pass_value() {
        let reference: Vec<f32> = (0..4000)
            .map(|i| libm::sinf(i as f32 * 0.031) + 0.1)
            .collect();
        let estimate: Vec<f32> = reference
            .iter()
            .enumerate()
            .map(|(i, &r)| 0.7 * r + 0.2 * libm::cosf(i as f32 * 0.77))
            .collect();
        let two_pass = si_snr(&estimate, &reference).expect("si-snr");
        let mut acc = SiSnrAccumulator::new();
        for (e, r) in estimate.chunks(333).zip(reference.chunks(333)) {
            acc.push(e, r).expect("push");
        }
        assert!(
            (acc.finish().expect("finish") - two_pass).abs() < 1e-6,
            "{two_pass}"
        );
        assert!(SiSnrAccumulator::new().finish().is_err());
    }
}
