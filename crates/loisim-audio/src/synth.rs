//! Deterministic speech-like test clips (clean speech plus noise at a chosen SNR).
//!
//! The "speech" is a source-filter model of a talker:
//! * voiced syllables are harmonics of a fundamental whose pitch follows
//!   phrase intonation (declination, pitch accents on stressed syllables,
//!   slow drift, some phrase-final rises), kept within 90-250 Hz;
//! * the harmonic amplitudes follow a spectral envelope of four formant
//!   resonances (2-pole resonator magnitude responses) whose frequencies glide
//!   between vowel targets from a Peterson-Barney style vowel table;
//! * syllables (about 4-6 per second) have smooth attack/release envelopes,
//!   some start with a fricative (resonator-filtered noise) or a plosive
//!   (closure, burst, aspiration) and some end with a fricative;
//! * phrases of 3-12 syllables are separated by 0.2-1.0 s pauses.
//!
//! The noise mixes stationary colored noise (pink plus brown), babble (three
//! quieter background talkers from the same model with a slowly varying
//! level), mains/fan hum with slow amplitude modulation, and occasional
//! transients (knocks and clicks). It is scaled so that the clean-to-noise
//! power ratio over the whole clip is exactly `snr_db`, then both signals are
//! scaled by one factor so that the noisy peak is 0.95.
//!
//! Determinism: the same [`SpeechLikeConfig`] gives bit-identical samples on
//! every machine. Randomness comes only from `ChaCha8Rng` seeded with the
//! config's seed, transcendental functions only from `libm` (never the
//! platform's maths library through `f64::sin` and friends), arithmetic is
//! plain IEEE `f64` in a fixed order, and nothing is threaded.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::{AudioError, SAMPLE_RATE};

/// Sample rate as `f64`.
const FS: f64 = SAMPLE_RATE as f64;
/// Samples per control point of the pitch/envelope/formant tracks (2 ms).
const CTRL: usize = 32;
const TWO_PI: f64 = 2.0 * core::f64::consts::PI;
/// Pitch range of all talkers.
const MIN_F0_HZ: f64 = 90.0;
const MAX_F0_HZ: f64 = 250.0;
/// Peak of `|noisy|` after normalisation.
const PEAK: f64 = 0.95;

/// Shortest clip [`speech_like`] accepts, in seconds.
pub const MIN_SECONDS: f64 = 0.25;
/// Longest clip [`speech_like`] accepts, in seconds (memory is a few dozen
/// bytes per sample).
pub const MAX_SECONDS: f64 = 3600.0;
/// Largest `|snr_db|` [`speech_like`] accepts.
pub const MAX_ABS_SNR_DB: f64 = 100.0;

/// Settings for [`speech_like`].
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SpeechLikeConfig {
    /// Clip length in seconds; the clip has `round(seconds * 16000)` samples.
    pub seconds: f64,
    /// Clean-to-noise power ratio over the whole clip, in dB.
    pub snr_db: f64,
    /// Seed of the random generator: same seed, same clip, bit for bit.
    pub seed: u64,
}

impl Default for SpeechLikeConfig {
    /// 30 s at 5 dB SNR, seed 1.
    fn default() -> Self {
        Self {
            seconds: 30.0,
            snr_db: 5.0,
            seed: 1,
        }
    }
}

/// A generated clip at 16 kHz: the clean speech and the same speech plus noise.
#[derive(Clone, Debug, PartialEq)]
pub struct TestClip {
    /// Clean speech.
    pub clean: Vec<f32>,
    /// Clean speech plus noise (`|noisy| <= 0.95`).
    pub noisy: Vec<f32>,
}

impl TestClip {
    /// The noise alone, `noisy - clean` (computed in `f64`, rounded to `f32`).
    #[must_use]
    pub fn noise(&self) -> Vec<f32> {
        self.noisy
            .iter()
            .zip(&self.clean)
            .map(|(&y, &x)| (f64::from(y) - f64::from(x)) as f32)
            .collect()
    }

    /// Measured clean-to-noise power ratio in dB, with the noise taken as
    /// `noisy - clean` in `f64`.
    #[must_use]
    pub fn snr_db(&self) -> f64 {
        let mut clean_energy = 0.0;
        let mut noise_energy = 0.0;
        for (&y, &x) in self.noisy.iter().zip(&self.clean) {
            let (x, y) = (f64::from(x), f64::from(y));
            clean_energy += x * x;
            noise_energy += (y - x) * (y - x);
        }
        10.0 * libm::log10(clean_energy / noise_energy)
    }
}

/// Generates a deterministic speech-like clip (see the [module docs](self)).
///
/// # Errors
/// [`AudioError::InvalidConfig`] if `seconds` is not finite or outside
/// [`MIN_SECONDS`]`..=`[`MAX_SECONDS`], or `snr_db` is not finite or
/// `|snr_db| >` [`MAX_ABS_SNR_DB`].
pub fn speech_like(cfg: &SpeechLikeConfig) -> Result<TestClip, AudioError> {
    validate(cfg)?;
    let n = libm::round(cfg.seconds * FS) as usize;
    let mut master = Rand::new(cfg.seed);
    let mut speech_rng = master.child();
    let mut noise_rng = master.child();

    let talker = Talker::random(&mut speech_rng, TalkerRole::Foreground);
    let clean = render_voice(n, &talker, &mut speech_rng);
    let noise = render_noise(n, &mut noise_rng);
    mix(&clean, &noise, cfg.snr_db)
}

fn validate(cfg: &SpeechLikeConfig) -> Result<(), AudioError> {
    if !cfg.seconds.is_finite() || !(MIN_SECONDS..=MAX_SECONDS).contains(&cfg.seconds) {
        return Err(AudioError::InvalidConfig(format!(
            "seconds = {} must be between {MIN_SECONDS} and {MAX_SECONDS}",
            cfg.seconds
        )));
    }
    if !cfg.snr_db.is_finite() || cfg.snr_db.abs() > MAX_ABS_SNR_DB {
        return Err(AudioError::InvalidConfig(format!(
            "snr_db = {} must be a finite number between -{MAX_ABS_SNR_DB} and {MAX_ABS_SNR_DB}",
            cfg.snr_db
        )));
    }
    Ok(())
}

/// Scales the noise to the SNR, adds it and peak-normalises both signals.
fn mix(clean: &[f64], noise: &[f64], snr_db: f64) -> Result<TestClip, AudioError> {
    let clean_energy = energy(clean);
    let noise_energy = energy(noise);
    if clean_energy == 0.0 || noise_energy == 0.0 {
        return Err(AudioError::InvalidConfig(
            "the clip is too short to contain both speech and noise".into(),
        ));
    }
    let noise_gain = (clean_energy / (noise_energy * libm::pow(10.0, snr_db / 10.0))).sqrt();
    let noisy: Vec<f64> = clean
        .iter()
        .zip(noise)
        .map(|(&x, &v)| x + noise_gain * v)
        .collect();
    let peak = noisy.iter().fold(0.0_f64, |m, &y| m.max(y.abs()));
    let scale = PEAK / peak;
    Ok(TestClip {
        clean: clean.iter().map(|&x| (x * scale) as f32).collect(),
        noisy: noisy.iter().map(|&y| (y * scale) as f32).collect(),
    })
}

fn energy(signal: &[f64]) -> f64 {
    signal.iter().map(|x| x * x).sum()
}

/// Scales `signal` to unit RMS (no-op for silence).
fn normalize_rms(signal: &mut [f64]) {
    let e = energy(signal);
    if e > 0.0 {
        let gain = 1.0 / (e / signal.len() as f64).sqrt();
        signal.iter_mut().for_each(|x| *x *= gain);
    }
}

/// `0` for `x <= 0`, `1` for `x >= 1`, a smooth cubic in between.
fn smoothstep(x: f64) -> f64 {
    let x = x.clamp(0.0, 1.0);
    x * x * (3.0 - 2.0 * x)
}

/// `sin^2` ramp from 0 at `x = 0` to 1 at `x = 1`.
fn ramp(x: f64) -> f64 {
    let s = libm::sin(0.5 * core::f64::consts::PI * x.clamp(0.0, 1.0));
    s * s
}

/// Deterministic random numbers: ChaCha8 with explicit conversions.
struct Rand(ChaCha8Rng);

impl Rand {
    fn new(seed: u64) -> Self {
        Self(ChaCha8Rng::seed_from_u64(seed))
    }

    /// An independent generator seeded from this one.
    fn child(&mut self) -> Self {
        Self::new(self.0.next_u64())
    }

    /// Uniform in `[0, 1)` with 53 random bits.
    fn uniform(&mut self) -> f64 {
        (self.0.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// Uniform in `[lo, hi)`.
    fn range(&mut self, lo: f64, hi: f64) -> f64 {
        lo + (hi - lo) * self.uniform()
    }

    /// Uniform integer in `lo..=hi`.
    fn int(&mut self, lo: usize, hi: usize) -> usize {
        let span = (hi - lo + 1) as f64;
        lo + ((self.uniform() * span) as usize).min(hi - lo)
    }

    fn chance(&mut self, p: f64) -> bool {
        self.uniform() < p
    }

    /// Standard normal (Box-Muller, one value per call).
    fn gauss(&mut self) -> f64 {
        let u1 = 1.0 - self.uniform(); // (0, 1]
        let u2 = self.uniform();
        (-2.0 * libm::log(u1)).sqrt() * libm::cos(TWO_PI * u2)
    }
}

/// Vowel formant targets F1, F2, F3 in Hz (adult male averages after
/// Peterson & Barney 1952); F4 is per talker.
const VOWELS: [[f64; 3]; 10] = [
    [270.0, 2290.0, 3010.0], // i  (beet)
    [390.0, 1990.0, 2550.0], // ɪ  (bit)
    [530.0, 1840.0, 2480.0], // ɛ  (bet)
    [660.0, 1720.0, 2410.0], // æ  (bat)
    [730.0, 1090.0, 2440.0], // ɑ  (father)
    [570.0, 840.0, 2410.0],  // ɔ  (bought)
    [440.0, 1020.0, 2240.0], // ʊ  (book)
    [300.0, 870.0, 2240.0],  // u  (boot)
    [640.0, 1190.0, 2390.0], // ʌ  (but)
    [490.0, 1350.0, 1690.0], // ɝ  (bird)
];
/// Neutral (schwa-like) formants used before the first syllable.
const NEUTRAL: [f64; 3] = [500.0, 1500.0, 2500.0];
/// Formant bandwidths in Hz.
const BANDWIDTHS_HZ: [f64; 4] = [90.0, 110.0, 170.0, 250.0];

/// Who is talking: the foreground speaker or a babble voice.
#[derive(Clone, Copy, PartialEq)]
enum TalkerRole {
    Foreground,
    Babble,
}

/// Voice and speaking-style parameters of one talker.
struct Talker {
    base_f0_hz: f64,
    /// Multiplies all formant frequencies (vocal tract length).
    formant_scale: f64,
    f4_hz: f64,
    /// Harmonics above this are not synthesised.
    max_harmonic_hz: f64,
    /// Level of aspiration noise during vowels, relative to the voicing.
    breathiness: f64,
    lead_in_s: f64,
    pause_s: (f64, f64),
    /// Whether to synthesise consonants.
    consonants: bool,
}

impl Talker {
    fn random(rng: &mut Rand, role: TalkerRole) -> Self {
        let base_f0_hz = rng.range(105.0, 200.0);
        // Higher voices tend to have shorter vocal tracts.
        let formant_scale = 1.0 + 0.17 * (base_f0_hz - 105.0) / 95.0 + rng.range(-0.03, 0.03);
        let f4_hz = rng.range(3300.0, 3800.0) * formant_scale;
        match role {
            TalkerRole::Foreground => Self {
                base_f0_hz,
                formant_scale,
                f4_hz,
                max_harmonic_hz: 7600.0,
                breathiness: rng.range(0.02, 0.06),
                lead_in_s: rng.range(0.03, 0.15),
                pause_s: (0.2, 1.0),
                consonants: true,
            },
            TalkerRole::Babble => Self {
                base_f0_hz,
                formant_scale,
                f4_hz,
                max_harmonic_hz: 4000.0,
                breathiness: 0.0,
                lead_in_s: rng.range(0.0, 1.5),
                pause_s: (0.1, 0.6),
                consonants: false,
            },
        }
    }

    fn formants(&self, vowel: [f64; 3]) -> [f64; 4] {
        [
            vowel[0] * self.formant_scale,
            vowel[1] * self.formant_scale,
            vowel[2] * self.formant_scale,
            self.f4_hz,
        ]
    }
}

/// Pitch, voicing level and formants every [`CTRL`] samples.
struct Tracks {
    f0_hz: Vec<f64>,
    voicing: Vec<f64>,
    formants_hz: Vec<[f64; 4]>,
}

impl Tracks {
    fn new(n_samples: usize, talker: &Talker) -> Self {
        let n_ctrl = n_samples / CTRL + 2;
        Self {
            f0_hz: vec![talker.base_f0_hz; n_ctrl],
            voicing: vec![0.0; n_ctrl],
            formants_hz: vec![talker.formants(NEUTRAL); n_ctrl],
        }
    }

    fn len(&self) -> usize {
        self.voicing.len()
    }

    /// Control points whose time lies in `[start_s, end_s)`, with their times.
    fn points(&self, start_s: f64, end_s: f64) -> impl Iterator<Item = (usize, f64)> + use<> {
        let first = libm::ceil(start_s * FS / CTRL as f64).max(0.0) as usize;
        let last = (libm::ceil(end_s * FS / CTRL as f64).max(0.0) as usize).min(self.len());
        (first..last).map(|k| (k, (k * CTRL) as f64 / FS))
    }
}

/// One syllable's timing (seconds) and targets.
struct Syllable {
    start_s: f64,
    nucleus_start_s: f64,
    nucleus_end_s: f64,
    vowel: usize,
    gain: f64,
    accent: f64,
}

/// An unvoiced noise event.
struct Noise {
    start_s: f64,
    len_s: f64,
    center_hz: f64,
    bandwidth_hz: f64,
    /// RMS relative to a full-level vowel's peak voicing.
    gain: f64,
    shape: NoiseShape,
}

#[derive(Clone, Copy)]
enum NoiseShape {
    /// Ramped on and off (fricatives, aspiration).
    Fricative,
    /// Sharp onset, exponential decay with this time constant (plosive bursts).
    Burst { decay_s: f64 },
}

/// Renders one talker: the voiced part from control tracks plus the
/// consonant noises.
fn render_voice(n: usize, talker: &Talker, rng: &mut Rand) -> Vec<f64> {
    let mut tracks = Tracks::new(n, talker);
    let mut noises = Vec::new();
    plan_speech(n, talker, rng, &mut tracks, &mut noises);
    let mut out = vec![0.0; n];
    render_voiced(&tracks, talker, rng, &mut out);
    for noise in &noises {
        render_noise_event(noise, rng, &mut out);
    }
    out
}

/// Lays out phrases and pauses over the clip and fills the tracks.
fn plan_speech(
    n: usize,
    talker: &Talker,
    rng: &mut Rand,
    tracks: &mut Tracks,
    noises: &mut Vec<Noise>,
) {
    let clip_s = n as f64 / FS;
    let mut t = talker.lead_in_s;
    let mut prev_vowel = talker.formants(NEUTRAL);
    while t < clip_s {
        let n_syllables = rng.int(3, 12);
        let syllables = plan_phrase(t, n_syllables, talker, rng, noises);
        let end_s = syllables.last().map_or(t, |s| s.nucleus_end_s);
        write_pitch(tracks, talker, rng, t, end_s, &syllables);
        for syllable in &syllables {
            let target = talker.formants(VOWELS[syllable.vowel]);
            write_syllable(tracks, syllable, prev_vowel, target);
            prev_vowel = target;
        }
        // Hold the last vowel through the pause.
        for (k, _) in tracks.points(end_s, end_s + talker.pause_s.1 + 0.1) {
            tracks.formants_hz[k] = prev_vowel;
        }
        t = end_s + rng.range(talker.pause_s.0, talker.pause_s.1);
    }
}

/// Times one phrase starting at `start_s` and queues its consonants.
fn plan_phrase(
    start_s: f64,
    n_syllables: usize,
    talker: &Talker,
    rng: &mut Rand,
    noises: &mut Vec<Noise>,
) -> Vec<Syllable> {
    let stressed = rng.int(0, n_syllables - 1);
    let mut syllables = Vec::with_capacity(n_syllables);
    let mut t = start_s;
    let mut prev_vowel = usize::MAX;
    for i in 0..n_syllables {
        let mut vowel = rng.int(0, VOWELS.len() - 1);
        if vowel == prev_vowel {
            vowel = (vowel + 1 + rng.int(0, VOWELS.len() - 2)) % VOWELS.len();
        }
        prev_vowel = vowel;
        let onset_s = if talker.consonants {
            plan_onset(t, rng, noises)
        } else {
            rng.range(0.0, 0.04)
        };
        let nucleus_start_s = t + onset_s;
        let nucleus_end_s = nucleus_start_s + rng.range(0.09, 0.17);
        let mut end_s = nucleus_end_s;
        if talker.consonants && rng.chance(0.15) {
            end_s += plan_fricative(nucleus_end_s - 0.01, rng, noises);
        }
        let is_stressed = i == stressed || (i == 0 && rng.chance(0.5));
        syllables.push(Syllable {
            start_s: t,
            nucleus_start_s,
            nucleus_end_s,
            vowel,
            gain: if is_stressed {
                rng.range(0.85, 1.0)
            } else {
                rng.range(0.45, 0.8)
            },
            accent: if is_stressed {
                rng.range(0.06, 0.18)
            } else {
                rng.range(0.0, 0.03)
            },
        });
        t = end_s + rng.range(0.0, 0.03);
    }
    syllables
}

/// Queues an optional onset consonant at `t`; returns its duration.
fn plan_onset(t: f64, rng: &mut Rand, noises: &mut Vec<Noise>) -> f64 {
    if !rng.chance(0.55) {
        return rng.range(0.0, 0.03);
    }
    if rng.chance(0.6) {
        return plan_fricative(t, rng, noises);
    }
    // Plosive: closure (silence), burst, aspiration.
    let closure_s = rng.range(0.03, 0.06);
    let burst_s = rng.range(0.008, 0.016);
    let aspiration_s = rng.range(0.015, 0.04);
    noises.push(Noise {
        start_s: t + closure_s,
        len_s: burst_s + 0.01,
        center_hz: rng.range(1500.0, 4500.0),
        bandwidth_hz: rng.range(1500.0, 3000.0),
        gain: rng.range(0.25, 0.5),
        shape: NoiseShape::Burst {
            decay_s: rng.range(0.003, 0.006),
        },
    });
    noises.push(Noise {
        start_s: t + closure_s + burst_s,
        len_s: aspiration_s + 0.01,
        center_hz: rng.range(1200.0, 2500.0),
        bandwidth_hz: 2000.0,
        gain: rng.range(0.04, 0.1),
        shape: NoiseShape::Fricative,
    });
    closure_s + burst_s + aspiration_s
}

/// Queues a fricative starting at `t`; returns its duration.
fn plan_fricative(t: f64, rng: &mut Rand, noises: &mut Vec<Noise>) -> f64 {
    // (center Hz, bandwidth Hz, relative level): s, sh, f/th, h.
    const KINDS: [(f64, f64, f64); 4] = [
        (5800.0, 1800.0, 0.22),
        (3000.0, 1200.0, 0.25),
        (4500.0, 4000.0, 0.08),
        (1600.0, 2500.0, 0.06),
    ];
    let (center_hz, bandwidth_hz, level) = KINDS[rng.int(0, KINDS.len() - 1)];
    let len_s = rng.range(0.05, 0.11);
    noises.push(Noise {
        start_s: t,
        len_s,
        center_hz: center_hz * rng.range(0.9, 1.1),
        bandwidth_hz,
        gain: level * rng.range(0.7, 1.3),
        shape: NoiseShape::Fricative,
    });
    len_s
}

/// Intonation over one phrase: declination, accents, drift, optional final rise.
fn write_pitch(
    tracks: &mut Tracks,
    talker: &Talker,
    rng: &mut Rand,
    start_s: f64,
    end_s: f64,
    syllables: &[Syllable],
) {
    let onset = rng.range(0.05, 0.15);
    let fall = rng.range(0.1, 0.2);
    let question = rng.chance(0.2);
    let drift_phase = [rng.range(0.0, TWO_PI), rng.range(0.0, TWO_PI)];
    let log_base = libm::log(talker.base_f0_hz);
    let span = (end_s - start_s).max(1e-3);
    // Extend a little past the end so the release of the last syllable keeps
    // its pitch.
    for (k, t) in tracks.points(start_s, end_s + 0.05) {
        let x = ((t - start_s) / span).min(1.0);
        let mut log_f0 = log_base + onset - (onset + fall) * x;
        for s in syllables {
            let center = 0.5 * (s.nucleus_start_s + s.nucleus_end_s);
            let z = (t - center) / 0.07;
            log_f0 += s.accent * libm::exp(-0.5 * z * z);
        }
        log_f0 += 0.03 * libm::sin(TWO_PI * 0.8 * t + drift_phase[0])
            + 0.015 * libm::sin(TWO_PI * 2.3 * t + drift_phase[1]);
        if question {
            log_f0 += 0.3 * smoothstep((t - (end_s - 0.35)) / 0.35);
        }
        tracks.f0_hz[k] = libm::exp(log_f0).clamp(MIN_F0_HZ, MAX_F0_HZ);
    }
}

/// Voicing envelope and formant glide of one syllable.
fn write_syllable(tracks: &mut Tracks, s: &Syllable, from: [f64; 4], to: [f64; 4]) {
    let nucleus = s.nucleus_end_s - s.nucleus_start_s;
    for (k, t) in tracks.points(s.start_s, s.nucleus_end_s) {
        let u = (t - s.nucleus_start_s) / nucleus;
        let glide = smoothstep(u / 0.45);
        for (dst, (&a, &b)) in tracks.formants_hz[k].iter_mut().zip(from.iter().zip(&to)) {
            *dst = a + (b - a) * glide;
        }
        if u >= 0.0 {
            let envelope = if u < 0.2 {
                ramp(u / 0.2)
            } else if u > 0.7 {
                ramp((1.0 - u) / 0.3)
            } else {
                1.0
            };
            tracks.voicing[k] = s.gain * envelope;
        }
    }
}

/// Magnitude response of a 2-pole resonance at `f_hz`, 1 at DC.
fn resonance(f_hz: f64, center_hz: f64, bandwidth_hz: f64) -> f64 {
    let c2 = center_hz * center_hz;
    let d = c2 - f_hz * f_hz;
    let b = bandwidth_hz * f_hz;
    c2 / (d * d + b * b).sqrt()
}

/// Harmonic amplitudes at control point `k`: source tilt (1/h) times the
/// formant envelope, scaled so that their squares sum to `voicing^2`.
fn harmonic_amplitudes(tracks: &Tracks, k: usize, talker: &Talker, amps: &mut [f64]) {
    amps.fill(0.0);
    let voicing = tracks.voicing[k];
    if voicing == 0.0 {
        return;
    }
    let f0 = tracks.f0_hz[k];
    let formants = tracks.formants_hz[k];
    let mut power = 0.0;
    for (h, amp) in amps.iter_mut().enumerate() {
        let f = (h + 1) as f64 * f0;
        if f > talker.max_harmonic_hz {
            break;
        }
        let mut a = 1.0 / (h + 1) as f64;
        for (&fc, &bw) in formants.iter().zip(&BANDWIDTHS_HZ) {
            a *= resonance(f, fc, bw);
        }
        // Fade out the top 15 % of the band.
        a *= 1.0 - smoothstep((f / talker.max_harmonic_hz - 0.85) / 0.15);
        *amp = a;
        power += a * a;
    }
    if power > 0.0 {
        let scale = voicing / power.sqrt();
        amps.iter_mut().for_each(|a| *a *= scale);
    }
}

/// Additive synthesis of the voiced part, adding into `out`.
fn render_voiced(tracks: &Tracks, talker: &Talker, rng: &mut Rand, out: &mut [f64]) {
    let n_harmonics = (talker.max_harmonic_hz / MIN_F0_HZ) as usize + 1;
    let mut amps0 = vec![0.0; n_harmonics];
    let mut amps1 = vec![0.0; n_harmonics];
    harmonic_amplitudes(tracks, 0, talker, &mut amps0);
    let mut phase = 0.0;
    let mut breath = HighPass::default();
    for k in 0..tracks.len() - 1 {
        let s0 = k * CTRL;
        if s0 >= out.len() {
            break;
        }
        let s1 = (s0 + CTRL).min(out.len());
        harmonic_amplitudes(tracks, k + 1, talker, &mut amps1);
        let (v0, v1) = (tracks.voicing[k], tracks.voicing[k + 1]);
        let (f0a, f0b) = (tracks.f0_hz[k], tracks.f0_hz[k + 1]);
        let silent = v0 == 0.0 && v1 == 0.0;
        for (i, sample) in out[s0..s1].iter_mut().enumerate() {
            let frac = i as f64 / CTRL as f64;
            phase += TWO_PI * (f0a + (f0b - f0a) * frac) / FS;
            if phase >= TWO_PI {
                phase -= TWO_PI;
            }
            if silent {
                continue;
            }
            // sin(h phase) by the Chebyshev recurrence.
            let (sin1, two_cos) = (libm::sin(phase), 2.0 * libm::cos(phase));
            let (mut prev, mut cur) = (0.0, sin1);
            let mut acc = 0.0;
            for (a0, a1) in amps0.iter().zip(&amps1) {
                acc += (a0 + (a1 - a0) * frac) * cur;
                let next = two_cos * cur - prev;
                prev = cur;
                cur = next;
            }
            if talker.breathiness > 0.0 {
                let voicing = v0 + (v1 - v0) * frac;
                acc += talker.breathiness * voicing * breath.process(rng.gauss());
            }
            *sample += acc;
        }
        std::mem::swap(&mut amps0, &mut amps1);
    }
}

/// First-difference high-pass (for breath noise).
#[derive(Default)]
struct HighPass {
    prev: f64,
}

impl HighPass {
    fn process(&mut self, x: f64) -> f64 {
        let y = x - self.prev;
        self.prev = x;
        0.5 * y
    }
}

/// Two-pole resonator `y[n] = x[n] + a1 y[n-1] + a2 y[n-2]`.
struct Resonator {
    a1: f64,
    a2: f64,
    y1: f64,
    y2: f64,
}

impl Resonator {
    fn new(center_hz: f64, bandwidth_hz: f64) -> Self {
        let r = libm::exp(-core::f64::consts::PI * bandwidth_hz / FS);
        let theta = TWO_PI * center_hz.min(0.49 * FS) / FS;
        Self {
            a1: 2.0 * r * libm::cos(theta),
            a2: -r * r,
            y1: 0.0,
            y2: 0.0,
        }
    }

    fn process(&mut self, x: f64) -> f64 {
        let y = x + self.a1 * self.y1 + self.a2 * self.y2;
        self.y2 = self.y1;
        self.y1 = y;
        y
    }
}

/// Filtered-noise event (fricative, burst, aspiration), adding into `out`.
fn render_noise_event(event: &Noise, rng: &mut Rand, out: &mut [f64]) {
    let start = libm::round(event.start_s * FS) as usize;
    let len = libm::round(event.len_s * FS) as usize;
    if start >= out.len() || len == 0 {
        return;
    }
    let mut filter = Resonator::new(event.center_hz, event.bandwidth_hz);
    // Let the filter settle before the event starts.
    for _ in 0..64 {
        filter.process(rng.gauss());
    }
    let mut noise: Vec<f64> = (0..len).map(|_| filter.process(rng.gauss())).collect();
    normalize_rms(&mut noise);
    let (attack, release) = match event.shape {
        NoiseShape::Fricative => (0.02 * FS, 0.025 * FS),
        NoiseShape::Burst { .. } => (0.001 * FS, 0.002 * FS),
    };
    for (i, (dst, x)) in out[start..].iter_mut().zip(noise).enumerate() {
        let t = i as f64;
        let mut envelope = ramp(t / attack) * ramp((len as f64 - t) / release);
        if let NoiseShape::Burst { decay_s } = event.shape {
            envelope *= libm::exp(-t / (decay_s * FS));
        }
        *dst += event.gain * envelope * x;
    }
}

/// The noise track: stationary colored noise, babble, hum and transients.
fn render_noise(n: usize, rng: &mut Rand) -> Vec<f64> {
    let mut stationary_rng = rng.child();
    let mut babble_rng = rng.child();
    let mut hum_rng = rng.child();
    let mut transient_rng = rng.child();

    let mut noise = colored_noise(n, &mut stationary_rng);
    let babble = babble(n, &mut babble_rng);
    let hum = hum(n, &mut hum_rng);
    for ((x, b), h) in noise.iter_mut().zip(&babble).zip(&hum) {
        *x += 0.6 * b + 0.25 * h;
    }
    add_transients(&mut noise, &mut transient_rng);
    noise
}

/// Pink (Paul Kellet's filter) plus brown (leaky integrator) noise, unit RMS.
fn colored_noise(n: usize, rng: &mut Rand) -> Vec<f64> {
    let mut pink = vec![0.0; n];
    let mut b = [0.0_f64; 7];
    for x in &mut pink {
        let w = rng.gauss();
        b[0] = 0.99886 * b[0] + w * 0.055_517_9;
        b[1] = 0.99332 * b[1] + w * 0.075_075_9;
        b[2] = 0.969 * b[2] + w * 0.153_852;
        b[3] = 0.8665 * b[3] + w * 0.310_485_6;
        b[4] = 0.55 * b[4] + w * 0.532_952_2;
        b[5] = -0.7616 * b[5] - w * 0.016_898;
        *x = b.iter().sum::<f64>() + w * 0.5362;
        b[6] = w * 0.115_926;
    }
    normalize_rms(&mut pink);
    let mut brown = vec![0.0; n];
    let mut y = 0.0;
    for x in &mut brown {
        y = 0.995 * y + 0.1 * rng.gauss();
        *x = y;
    }
    normalize_rms(&mut brown);
    for (p, b) in pink.iter_mut().zip(&brown) {
        *p += 0.5 * b;
    }
    normalize_rms(&mut pink);
    pink
}

/// Three background talkers with a slowly varying level, unit RMS overall.
fn babble(n: usize, rng: &mut Rand) -> Vec<f64> {
    let mut sum = vec![0.0; n];
    for _ in 0..3 {
        let mut voice_rng = rng.child();
        let talker = Talker::random(&mut voice_rng, TalkerRole::Babble);
        let mut voice = render_voice(n, &talker, &mut voice_rng);
        normalize_rms(&mut voice);
        let gain = rng.range(0.6, 1.0);
        for (s, v) in sum.iter_mut().zip(&voice) {
            *s += gain * v;
        }
    }
    normalize_rms(&mut sum);
    let period_s = rng.range(5.0, 9.0);
    let phase = rng.range(0.0, TWO_PI);
    for (i, s) in sum.iter_mut().enumerate() {
        let t = i as f64 / FS;
        *s *= 0.75 + 0.25 * libm::sin(TWO_PI * t / period_s + phase);
    }
    sum
}

/// Mains/fan hum: 50 or 60 Hz and 7 harmonics, slowly amplitude-modulated.
fn hum(n: usize, rng: &mut Rand) -> Vec<f64> {
    const N_HARMONICS: usize = 8;
    let mains_hz = if rng.chance(0.5) { 50.0 } else { 60.0 };
    let phases: Vec<f64> = (0..N_HARMONICS).map(|_| rng.range(0.0, TWO_PI)).collect();
    let mod_hz = rng.range(0.3, 1.2);
    let mod_phase = rng.range(0.0, TWO_PI);
    let mut out = vec![0.0; n];
    for (i, x) in out.iter_mut().enumerate() {
        let t = i as f64 / FS;
        let mut s = 0.0;
        for (h, phase) in phases.iter().enumerate() {
            let order = (h + 1) as f64;
            // Wrap the argument to keep it small and exact-ish for any t.
            let cycles = mains_hz * order * t;
            let frac = cycles - libm::floor(cycles);
            s += libm::sin(TWO_PI * frac + phase) / order;
        }
        *x = s * (1.0 + 0.25 * libm::sin(TWO_PI * mod_hz * t + mod_phase));
    }
    normalize_rms(&mut out);
    out
}

/// Knocks (decaying low tones) and clicks at random times, about one per 2.5 s.
fn add_transients(noise: &mut [f64], rng: &mut Rand) {
    let clip_s = noise.len() as f64 / FS;
    let mut t = 0.3 - 2.5 * libm::log(1.0 - rng.uniform());
    while t < clip_s {
        let start = libm::round(t * FS) as usize;
        let amplitude = rng.range(2.0, 6.0);
        let freq_hz = rng.range(150.0, 900.0);
        let decay_s = rng.range(0.008, 0.04);
        let len = libm::round(6.0 * decay_s * FS) as usize;
        let click_gain = rng.range(0.3, 1.0);
        for (i, x) in noise[start..].iter_mut().take(len).enumerate() {
            let dt = i as f64 / FS;
            let knock = libm::exp(-dt / decay_s) * libm::sin(TWO_PI * freq_hz * dt);
            let click = click_gain * libm::exp(-dt / 0.001) * rng.gauss();
            *x += amplitude * (knock + click);
        }
        t += 0.3 - 2.5 * libm::log(1.0 - rng.uniform());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn clip(seconds: f64, snr_db: f64, seed: u64) -> TestClip {
        speech_like(&SpeechLikeConfig {
            seconds,
            snr_db,
            seed,
        })
        .unwrap()
    }

    /// FNV-1a over the bit patterns of both signals.
    fn fingerprint(clip: &TestClip) -> u64 {
        let mut hash = 0xcbf2_9ce4_8422_2325_u64;
        for x in clip.clean.iter().chain(&clip.noisy) {
            for byte in x.to_bits().to_le_bytes() {
                hash ^= u64::from(byte);
                hash = hash.wrapping_mul(0x0100_0000_01b3);
            }
        }
        hash
    }

    fn bits(x: &[f32]) -> Vec<u32> {
        x.iter().map(|v| v.to_bits()).collect()
    }

    #[test]
    fn same_config_same_bits() {
        let a = clip(3.0, 5.0, 7);
        let b = clip(3.0, 5.0, 7);
        assert_eq!(bits(&a.clean), bits(&b.clean));
        assert_eq!(bits(&a.noisy), bits(&b.noisy));
        let c = clip(3.0, 5.0, 8);
        assert_ne!(bits(&a.clean), bits(&c.clean));
    }

    #[test]
    fn fingerprint_is_stable_across_machines() {
        // Any change here means the generator's output changed: either on
        // purpose (update the value) or through a platform-dependent
        // operation (a bug: see the module docs).
        assert_eq!(fingerprint(&clip(1.0, 5.0, 1)), FINGERPRINT_1S_SEED_1);
    }

    const FINGERPRINT_1S_SEED_1: u64 = 10_684_650_325_482_569_972;

    #[test]
    fn snr_is_exact() {
        for (snr_db, seed) in [
            (-5.0, 1),
            (0.0, 2),
            (5.0, 3),
            (12.5, 4),
            (20.0, 5),
            (40.0, 6),
        ] {
            let clip = clip(2.0, snr_db, seed);
            let measured = clip.snr_db();
            assert!(
                (measured - snr_db).abs() < 1e-6,
                "{snr_db} dB: measured {measured}"
            );
        }
    }

    #[test]
    fn default_clip_shape_and_level() {
        let clip = speech_like(&SpeechLikeConfig::default()).unwrap();
        assert_eq!(clip.clean.len(), 480_000);
        assert_eq!(clip.noisy.len(), 480_000);
        let peak = clip.noisy.iter().fold(0.0_f32, |m, x| m.max(x.abs()));
        assert!(peak < 0.99 && peak > 0.9, "peak {peak}");
        assert!((clip.snr_db() - 5.0).abs() < 1e-6);
        assert_eq!(clip.noise().len(), 480_000);
        assert_eq!(
            speech_like(&SpeechLikeConfig {
                seconds: 0.5,
                ..SpeechLikeConfig::default()
            })
            .unwrap()
            .clean
            .len(),
            8000
        );
    }

    /// Energy of consecutive 10 ms frames of `x`.
    fn frame_energies(x: &[f32]) -> Vec<f64> {
        x.chunks(160)
            .map(|c| c.iter().map(|&v| f64::from(v) * f64::from(v)).sum())
            .collect()
    }

    #[test]
    fn clean_signal_is_speech_like() {
        let clip = clip(30.0, 5.0, 11);
        let energies = frame_energies(&clip.clean);
        // Pauses between phrases are exact silence of 0.2-1 s.
        let mut pauses = Vec::new();
        let mut run = 0;
        for &e in &energies {
            if e == 0.0 {
                run += 1;
            } else {
                if run > 0 {
                    pauses.push(run);
                }
                run = 0;
            }
        }
        let long_pauses = pauses.iter().filter(|&&r| r >= 19).count();
        assert!(long_pauses >= 8, "pauses (10 ms frames): {pauses:?}");
        assert!(
            pauses.iter().all(|&r| r <= 101),
            "pauses (10 ms frames): {pauses:?}"
        );
        let active = energies.iter().filter(|&&e| e > 0.0).count() as f64 / energies.len() as f64;
        assert!((0.5..0.9).contains(&active), "active fraction {active}");

        // Syllables: count rises of the frame energy through 10 % of its
        // 99th percentile, per second of non-silent time.
        let mut sorted = energies.clone();
        sorted.sort_by(f64::total_cmp);
        let threshold = 0.1 * sorted[sorted.len() * 99 / 100];
        let rises = energies
            .windows(2)
            .filter(|w| w[0] < threshold && w[1] >= threshold)
            .count();
        let rate = rises as f64 / (active * 30.0);
        assert!((3.0..8.0).contains(&rate), "syllable rate {rate}/s");

        // Most energy is below 4 kHz (voiced speech), but not all (fricatives).
        let spec = crate::stft(&clip.clean);
        let magnitude = spec.magnitude();
        let mut low = 0.0;
        let mut total = 0.0;
        for frame in magnitude.chunks(crate::N_BINS) {
            for (f, &m) in frame.iter().enumerate() {
                let e = f64::from(m) * f64::from(m);
                total += e;
                if f < 128 {
                    low += e;
                }
            }
        }
        let low_fraction = low / total;
        assert!(
            (0.8..0.9999).contains(&low_fraction),
            "energy below 4 kHz: {low_fraction}"
        );
    }

    #[test]
    fn pitch_stays_in_range() {
        let mut rng = Rand::new(5);
        for _ in 0..20 {
            let talker = Talker::random(&mut rng, TalkerRole::Foreground);
            let n = 5 * SAMPLE_RATE as usize;
            let mut tracks = Tracks::new(n, &talker);
            plan_speech(n, &talker, &mut rng, &mut tracks, &mut Vec::new());
            let voiced: Vec<f64> = tracks
                .f0_hz
                .iter()
                .zip(&tracks.voicing)
                .filter(|(_, v)| **v > 0.0)
                .map(|(f, _)| *f)
                .collect();
            assert!(!voiced.is_empty());
            assert!(voiced.iter().all(|f| (MIN_F0_HZ..=MAX_F0_HZ).contains(f)));
            // The pitch moves (intonation) but smoothly: < 2 % per 2 ms step.
            let lo = voiced.iter().copied().fold(f64::INFINITY, f64::min);
            let hi = voiced.iter().copied().fold(0.0, f64::max);
            assert!(hi / lo > 1.15, "range {lo}-{hi}");
            for w in tracks.f0_hz.windows(2) {
                assert!(
                    (w[1] / w[0] - 1.0).abs() < 0.02
                        || w[0] == talker.base_f0_hz
                        || w[1] == talker.base_f0_hz
                );
            }
        }
    }

    #[test]
    fn invalid_configs_are_errors() {
        for (seconds, snr_db) in [
            (0.0, 5.0),
            (0.1, 5.0),
            (-1.0, 5.0),
            (f64::NAN, 5.0),
            (MAX_SECONDS + 1.0, 5.0),
            (1.0, f64::INFINITY),
            (1.0, f64::NAN),
            (1.0, 500.0),
        ] {
            let err = speech_like(&SpeechLikeConfig {
                seconds,
                snr_db,
                seed: 1,
            })
            .unwrap_err();
            assert!(matches!(err, AudioError::InvalidConfig(_)), "{err}");
            assert!(
                err.to_string()
                    .starts_with("invalid speech-like clip config")
            );
        }
        // The shortest accepted clip still contains speech.
        let short = clip(MIN_SECONDS, 0.0, 3);
        assert!((short.snr_db()).abs() < 1e-6);
    }
}
