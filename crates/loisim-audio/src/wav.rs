//! WAV input and output.
//!
//! Reading accepts mono, 16 kHz, integer PCM (8/16/24/32-bit, scaled to
//! `[-1, 1)` by `2^(bits-1)`, e.g. `/32768` for 16-bit) or 32-bit float. Every
//! other file (stereo, another sample rate, empty, truncated, not a WAV) gives
//! an [`AudioError`] naming the file and the problem; nothing here panics on
//! bad input. [`WavSampleReader`] streams samples with bounded memory;
//! [`read_wav`] loads a whole file.
//!
//! Writing produces 16-bit PCM mono, clipping to `[-1, 1)`. It is atomic: data
//! goes to a hidden temporary file in the target's directory, which is synced
//! and renamed over the target only when complete. On any error, or if a
//! [`WavStreamWriter`] is dropped without [`finish`](WavStreamWriter::finish),
//! the temporary file is removed and the target is untouched.

use std::fs::{self, File, OpenOptions};
use std::io::{self, BufReader, BufWriter, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use crate::{AudioError, SAMPLE_RATE};

/// A whole mono clip in memory.
#[derive(Clone, Debug, PartialEq)]
pub struct Audio {
    /// Samples in `[-1, 1)` (float files may exceed it).
    pub samples: Vec<f32>,
    /// Sample rate in Hz (always [`SAMPLE_RATE`] for files read by [`read_wav`]).
    pub sample_rate_hz: u32,
}

impl Audio {
    /// Duration in seconds.
    #[must_use]
    pub fn seconds(&self) -> f64 {
        if self.sample_rate_hz == 0 {
            0.0
        } else {
            self.samples.len() as f64 / f64::from(self.sample_rate_hz)
        }
    }
}

/// Reads a whole mono 16 kHz WAV file.
///
/// # Errors
/// Any [`AudioError`] from [`WavSampleReader::open`] or from reading the
/// samples ([`AudioError::Truncated`], [`AudioError::NonFiniteSample`],
/// [`AudioError::Read`]).
pub fn read_wav(path: impl AsRef<Path>) -> Result<Audio, AudioError> {
    let reader = WavSampleReader::open(path)?;
    // The header's count may lie (truncated files), so cap the pre-allocation.
    let capacity = usize::try_from(reader.len_samples()).unwrap_or(usize::MAX);
    let mut samples = Vec::with_capacity(capacity.min(1 << 24));
    for sample in reader {
        samples.push(sample?);
    }
    Ok(Audio {
        samples,
        sample_rate_hz: SAMPLE_RATE,
    })
}

/// How samples are decoded.
enum SampleSource {
    /// Integer PCM; multiply by `scale = 2^-(bits-1)`.
    Int {
        samples: hound::WavIntoSamples<BufReader<File>, i32>,
        scale: f64,
    },
    /// IEEE float.
    Float(hound::WavIntoSamples<BufReader<File>, f32>),
}

/// Streaming reader of a mono 16 kHz WAV file: an iterator of `f32` samples
/// with bounded memory. Opening validates the header (mono, 16 kHz, supported
/// encoding, non-empty); errors while reading (truncation, non-finite float
/// samples) are yielded once, after which the iterator ends.
pub struct WavSampleReader {
    path: PathBuf,
    source: SampleSource,
    len_samples: u64,
    next_index: u64,
    failed: bool,
}

impl std::fmt::Debug for WavSampleReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WavSampleReader")
            .field("path", &self.path)
            .field("len_samples", &self.len_samples)
            .field("next_index", &self.next_index)
            .finish_non_exhaustive()
    }
}

impl WavSampleReader {
    /// Opens `path` and validates its header.
    ///
    /// # Errors
    /// [`AudioError::Read`] (cannot open), [`AudioError::NotWav`] (no
    /// RIFF/WAVE signature), [`AudioError::BadWav`] (invalid header),
    /// [`AudioError::NotMono`], [`AudioError::UnsupportedFormat`],
    /// [`AudioError::WrongSampleRate`], [`AudioError::Empty`].
    pub fn open(path: impl AsRef<Path>) -> Result<Self, AudioError> {
        let path = path.as_ref().to_path_buf();
        let file = File::open(&path).map_err(|source| AudioError::Read {
            path: path.clone(),
            io_error: source,
        })?;
        let mut input = BufReader::new(file);
        check_riff_signature(&path, &mut input)?;
        let reader = hound::WavReader::new(input).map_err(|e| header_error(&path, e))?;
        let spec = reader.spec();
        let len_samples = u64::from(reader.len());
        check_spec(&path, spec)?;
        if len_samples == 0 {
            return Err(AudioError::Empty { path });
        }
        let source = match spec.sample_format {
            hound::SampleFormat::Int => SampleSource::Int {
                samples: reader.into_samples(),
                scale: 1.0 / f64::from(1u32 << (spec.bits_per_sample - 1)),
            },
            hound::SampleFormat::Float => SampleSource::Float(reader.into_samples()),
        };
        Ok(Self {
            path,
            source,
            len_samples,
            next_index: 0,
            failed: false,
        })
    }

    /// The file being read.
    #[must_use]
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Sample rate in Hz (always [`SAMPLE_RATE`]: other rates are rejected).
    #[must_use]
    pub fn sample_rate_hz(&self) -> u32 {
        SAMPLE_RATE
    }

    /// Number of samples the header declares (a truncated file has fewer).
    #[must_use]
    pub fn len_samples(&self) -> u64 {
        self.len_samples
    }

    /// Reads up to `max` samples, appending them to `out`; returns how many
    /// were read (0 at the end of the file).
    ///
    /// # Errors
    /// As for the iterator: [`AudioError::Truncated`],
    /// [`AudioError::NonFiniteSample`], [`AudioError::Read`].
    pub fn read_chunk(&mut self, out: &mut Vec<f32>, max: usize) -> Result<usize, AudioError> {
        let mut n = 0;
        while n < max {
            match self.next() {
                Some(sample) => out.push(sample?),
                None => break,
            }
            n += 1;
        }
        Ok(n)
    }

    fn decode_next(&mut self) -> Option<Result<f32, hound::Error>> {
        match &mut self.source {
            SampleSource::Int { samples, scale } => samples
                .next()
                .map(|r| r.map(|v| (f64::from(v) * *scale) as f32)),
            SampleSource::Float(samples) => samples.next(),
        }
    }
}

impl Iterator for WavSampleReader {
    type Item = Result<f32, AudioError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed {
            return None;
        }
        let index = self.next_index;
        let result = match self.decode_next()? {
            Ok(v) if v.is_finite() => Ok(v),
            Ok(_) => Err(AudioError::NonFiniteSample {
                path: self.path.clone(),
                index,
            }),
            Err(e) => Err(data_error(&self.path, e, index, self.len_samples)),
        };
        match result {
            Ok(_) => self.next_index += 1,
            Err(_) => self.failed = true,
        }
        Some(result)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let left = self.len_samples.saturating_sub(self.next_index);
        (0, usize::try_from(left).ok())
    }
}

/// Checks the 12-byte `RIFF....WAVE` signature, then rewinds.
fn check_riff_signature(path: &Path, input: &mut BufReader<File>) -> Result<(), AudioError> {
    let read_error = |source| AudioError::Read {
        path: path.to_path_buf(),
        io_error: source,
    };
    let mut head = [0u8; 12];
    let mut filled = 0;
    while filled < head.len() {
        match input.read(&mut head[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(read_error(e)),
        }
    }
    let not_wav = |detail: String| AudioError::NotWav {
        path: path.to_path_buf(),
        detail,
    };
    if filled < head.len() {
        return Err(not_wav(format!(
            "it is only {filled} bytes long, too short for a WAV header"
        )));
    }
    if &head[0..4] != b"RIFF" || &head[8..12] != b"WAVE" {
        return Err(not_wav(
            "it does not start with a RIFF/WAVE signature".into(),
        ));
    }
    input.seek(SeekFrom::Start(0)).map_err(read_error)?;
    Ok(())
}

/// Whether hound hit the end of the file (it reports that as a plain
/// `ErrorKind::Other` error with a fixed message).
fn is_eof(error: &io::Error) -> bool {
    error.kind() == io::ErrorKind::UnexpectedEof
        || (error.kind() == io::ErrorKind::Other
            && error.to_string() == "Failed to read enough bytes.")
}

/// Maps a hound error raised while parsing the header.
fn header_error(path: &Path, error: hound::Error) -> AudioError {
    let path = path.to_path_buf();
    match error {
        hound::Error::IoError(e) if is_eof(&e) => AudioError::BadWav {
            path,
            detail: "the file ends inside the header, before the data chunk (truncated?)".into(),
        },
        hound::Error::IoError(source) => AudioError::Read {
            path,
            io_error: source,
        },
        hound::Error::FormatError(detail) => AudioError::BadWav {
            path,
            detail: detail.into(),
        },
        other => AudioError::BadWav {
            path,
            detail: other.to_string(),
        },
    }
}

/// Maps a hound error raised while reading sample `index`.
fn data_error(path: &Path, error: hound::Error, index: u64, declared: u64) -> AudioError {
    let path = path.to_path_buf();
    match error {
        hound::Error::IoError(e) if is_eof(&e) => AudioError::Truncated {
            path,
            read: index,
            declared,
        },
        hound::Error::IoError(source) => AudioError::Read {
            path,
            io_error: source,
        },
        other => AudioError::BadWav {
            path,
            detail: format!("sample {index}: {other}"),
        },
    }
}

/// Rejects everything but mono, 16 kHz, 8/16/24/32-bit int or 32-bit float.
fn check_spec(path: &Path, spec: hound::WavSpec) -> Result<(), AudioError> {
    if spec.channels != 1 {
        return Err(AudioError::NotMono {
            path: path.to_path_buf(),
            channels: spec.channels,
        });
    }
    let supported = match spec.sample_format {
        hound::SampleFormat::Int => matches!(spec.bits_per_sample, 8 | 16 | 24 | 32),
        hound::SampleFormat::Float => spec.bits_per_sample == 32,
    };
    if !supported {
        return Err(AudioError::UnsupportedFormat {
            path: path.to_path_buf(),
            bits_per_sample: spec.bits_per_sample,
            encoding: match spec.sample_format {
                hound::SampleFormat::Int => "integer",
                hound::SampleFormat::Float => "float",
            },
        });
    }
    if spec.sample_rate != SAMPLE_RATE {
        return Err(AudioError::WrongSampleRate {
            path: path.to_path_buf(),
            sample_rate_hz: spec.sample_rate,
        });
    }
    Ok(())
}

/// Converts a sample to 16-bit PCM: `round(x * 32768)` clipped to
/// `[-32768, 32767]`, i.e. `x` clipped to `[-1, 1)`; NaN becomes 0.
#[must_use]
pub fn to_pcm16(sample: f32) -> i16 {
    if sample.is_nan() {
        return 0;
    }
    let scaled = libm::round(f64::from(sample) * 32768.0);
    scaled.clamp(-32768.0, 32767.0) as i16
}

/// Writes `samples` as a 16-bit PCM mono WAV file, atomically (see the
/// [module docs](self)).
///
/// # Errors
/// [`AudioError::Write`] for I/O failures (missing directory, disk full, ...),
/// [`AudioError::WavEncode`] for a zero sample rate or more samples than a WAV
/// file can hold. The target is untouched on error.
pub fn write_wav(
    path: impl AsRef<Path>,
    samples: &[f32],
    sample_rate_hz: u32,
) -> Result<(), AudioError> {
    let mut writer = WavStreamWriter::create(path, sample_rate_hz)?;
    writer.write_samples(samples)?;
    writer.finish()
}

/// Streaming, atomic 16-bit PCM mono WAV writer.
///
/// Samples go to a hidden temporary file next to the target;
/// [`finish`](Self::finish) syncs it and renames it over the target. Dropping
/// the writer without finishing (or any error) removes the temporary file.
pub struct WavStreamWriter {
    path: PathBuf,
    temp_path: PathBuf,
    /// `None` once finished.
    writer: Option<hound::WavWriter<BufWriter<File>>>,
    /// Second handle on the temporary file, used to `fsync` it.
    sync_handle: File,
}

impl std::fmt::Debug for WavStreamWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WavStreamWriter")
            .field("path", &self.path)
            .field("temp_path", &self.temp_path)
            .finish_non_exhaustive()
    }
}

impl WavStreamWriter {
    /// Starts writing `path` at `sample_rate_hz`.
    ///
    /// # Errors
    /// [`AudioError::WavEncode`] for a zero sample rate, [`AudioError::Write`]
    /// if the temporary file cannot be created (e.g. the directory is missing).
    pub fn create(path: impl AsRef<Path>, sample_rate_hz: u32) -> Result<Self, AudioError> {
        let path = path.as_ref().to_path_buf();
        if sample_rate_hz == 0 {
            return Err(AudioError::WavEncode {
                path,
                detail: "the sample rate must be positive".into(),
            });
        }
        let (temp_path, file) = create_temp_sibling(&path)?;
        let write_error = |source| AudioError::Write {
            path: path.clone(),
            io_error: source,
        };
        let cleanup_on_error = |err: AudioError| {
            // Best effort: the original error matters more than this one.
            let _ = fs::remove_file(&temp_path);
            err
        };
        let sync_handle = file
            .try_clone()
            .map_err(write_error)
            .map_err(cleanup_on_error)?;
        let spec = hound::WavSpec {
            channels: 1,
            sample_rate: sample_rate_hz,
            bits_per_sample: 16,
            sample_format: hound::SampleFormat::Int,
        };
        let writer = hound::WavWriter::new(BufWriter::new(file), spec)
            .map_err(|e| encode_error(&path, e))
            .map_err(cleanup_on_error)?;
        Ok(Self {
            path,
            temp_path,
            writer: Some(writer),
            sync_handle,
        })
    }

    /// The final path the file will have after [`finish`](Self::finish).
    #[must_use]
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Appends samples (converted with [`to_pcm16`]).
    ///
    /// # Errors
    /// [`AudioError::Write`] / [`AudioError::WavEncode`]; after an error the
    /// writer should be dropped (which removes the temporary file).
    pub fn write_samples(&mut self, samples: &[f32]) -> Result<(), AudioError> {
        let Some(writer) = self.writer.as_mut() else {
            return Ok(());
        };
        for &sample in samples {
            writer
                .write_sample(to_pcm16(sample))
                .map_err(|e| encode_error(&self.path, e))?;
        }
        Ok(())
    }

    /// Completes the header, syncs the data to disk and renames the file into
    /// place.
    ///
    /// # Errors
    /// [`AudioError::Write`] / [`AudioError::WavEncode`]; the temporary file is
    /// removed and the target left untouched.
    pub fn finish(mut self) -> Result<(), AudioError> {
        let result = self.commit();
        if result.is_err() {
            let _ = fs::remove_file(&self.temp_path);
        }
        result
    }

    fn commit(&mut self) -> Result<(), AudioError> {
        if let Some(writer) = self.writer.take() {
            writer.finalize().map_err(|e| encode_error(&self.path, e))?;
        }
        let write_error = |source| AudioError::Write {
            path: self.path.clone(),
            io_error: source,
        };
        self.sync_handle.sync_all().map_err(write_error)?;
        fs::rename(&self.temp_path, &self.path).map_err(write_error)
    }
}

impl Drop for WavStreamWriter {
    fn drop(&mut self) {
        if self.writer.is_some() {
            // Not finished: discard the partial file.
            self.writer = None;
            let _ = fs::remove_file(&self.temp_path);
        }
    }
}

fn encode_error(path: &Path, error: hound::Error) -> AudioError {
    match error {
        hound::Error::IoError(source) => AudioError::Write {
            path: path.to_path_buf(),
            io_error: source,
        },
        other => AudioError::WavEncode {
            path: path.to_path_buf(),
            detail: other.to_string(),
        },
    }
}

/// Creates a new hidden file next to `path`: `.<name>.<pid>-<n>.tmp`.
fn create_temp_sibling(path: &Path) -> Result<(PathBuf, File), AudioError> {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let write_error = |source| AudioError::Write {
        path: path.to_path_buf(),
        io_error: source,
    };
    let name = path.file_name().ok_or_else(|| {
        write_error(io::Error::new(
            io::ErrorKind::InvalidInput,
            "the path does not name a file",
        ))
    })?;
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    let mut attempts = 0;
    loop {
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let temp_name = format!(".{}.{}-{n}.tmp", name.to_string_lossy(), std::process::id());
        let temp_path = dir.join(temp_name);
        match OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&temp_path)
        {
            Ok(file) => return Ok((temp_path, file)),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists && attempts < 16 => attempts += 1,
            Err(e) => return Err(write_error(e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write_with_hound<S: hound::Sample + Copy>(path: &Path, spec: hound::WavSpec, samples: &[S]) {
        let mut writer = hound::WavWriter::create(path, spec).unwrap();
        for &s in samples {
            writer.write_sample(s).unwrap();
        }
        writer.finalize().unwrap();
    }

    fn int_spec(bits: u16, channels: u16, rate: u32) -> hound::WavSpec {
        hound::WavSpec {
            channels,
            sample_rate: rate,
            bits_per_sample: bits,
            sample_format: hound::SampleFormat::Int,
        }
    }

    fn float_spec() -> hound::WavSpec {
        hound::WavSpec {
            channels: 1,
            sample_rate: SAMPLE_RATE,
            bits_per_sample: 32,
            sample_format: hound::SampleFormat::Float,
        }
    }

    /// Reads `path` and returns the error message, asserting it names the file
    /// and contains `needle`.
    fn read_error(path: &Path, needle: &str) -> AudioError {
        let err = read_wav(path).unwrap_err();
        let message = err.to_string();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        assert!(message.contains(&name), "{message}");
        assert!(message.contains(needle), "{message}");
        assert!(!message.contains('\n'), "{message}");
        err
    }

    fn dir_entries(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    #[test]
    fn pcm16_round_trip_within_half_an_lsb() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("clip.wav");
        let samples: Vec<f32> = (0..5000)
            .map(|i| (libm::sin(i as f64 * 0.013) * 0.999) as f32)
            .chain([1.0, 1.5, -1.0, -2.0, 0.0, f32::NAN, 1e-6, -1e-6])
            .collect();
        write_wav(&path, &samples, SAMPLE_RATE).unwrap();
        let audio = read_wav(&path).unwrap();
        assert_eq!(audio.sample_rate_hz, SAMPLE_RATE);
        assert_eq!(audio.samples.len(), samples.len());
        for (&x, &y) in samples[..5000].iter().zip(&audio.samples) {
            assert!((x - y).abs() <= 0.5 / 32768.0 + 1e-9, "{x} -> {y}");
        }
        // Clipping to [-1, 1) and NaN -> 0.
        let tail = &audio.samples[5000..];
        assert_eq!(
            tail[..6],
            [32767.0 / 32768.0, 32767.0 / 32768.0, -1.0, -1.0, 0.0, 0.0]
        );
        assert_eq!(dir_entries(dir.path()), ["clip.wav"]);
        assert!((audio.seconds() - samples.len() as f64 / 16_000.0).abs() < 1e-12);
    }

    #[test]
    fn reads_all_supported_encodings() {
        let dir = tempfile::tempdir().unwrap();
        let p8 = dir.path().join("pcm8.wav");
        write_with_hound(&p8, int_spec(8, 1, SAMPLE_RATE), &[-128_i8, 0, 64, 127]);
        assert_eq!(
            read_wav(&p8).unwrap().samples,
            [-1.0, 0.0, 0.5, 127.0 / 128.0]
        );
        let p16 = dir.path().join("pcm16.wav");
        write_with_hound(&p16, int_spec(16, 1, SAMPLE_RATE), &[-32768_i16, 16384, 1]);
        assert_eq!(read_wav(&p16).unwrap().samples, [-1.0, 0.5, 1.0 / 32768.0]);
        let p24 = dir.path().join("pcm24.wav");
        write_with_hound(
            &p24,
            int_spec(24, 1, SAMPLE_RATE),
            &[-8_388_608_i32, 4_194_304, 1],
        );
        assert_eq!(
            read_wav(&p24).unwrap().samples,
            [-1.0, 0.5, 1.0 / 8_388_608.0]
        );
        let p32 = dir.path().join("pcm32.wav");
        write_with_hound(
            &p32,
            int_spec(32, 1, SAMPLE_RATE),
            &[i32::MIN, 1 << 30, -(1 << 29)],
        );
        assert_eq!(read_wav(&p32).unwrap().samples, [-1.0, 0.5, -0.25]);
        let pf = dir.path().join("float.wav");
        write_with_hound(&pf, float_spec(), &[0.25_f32, -1.5, 0.0]);
        assert_eq!(read_wav(&pf).unwrap().samples, [0.25, -1.5, 0.0]);
    }

    #[test]
    fn streaming_reader_matches_read_wav() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("long.wav");
        let samples: Vec<f32> = (0..10_007)
            .map(|i| ((i % 200) as f32 - 100.0) / 128.0)
            .collect();
        write_wav(&path, &samples, SAMPLE_RATE).unwrap();
        let whole = read_wav(&path).unwrap().samples;
        let mut reader = WavSampleReader::open(&path).unwrap();
        assert_eq!(reader.len_samples(), 10_007);
        assert_eq!(reader.sample_rate_hz(), SAMPLE_RATE);
        assert_eq!(reader.path(), path);
        let mut chunked = Vec::new();
        while reader.read_chunk(&mut chunked, 1000).unwrap() > 0 {}
        assert_eq!(chunked, whole);
        assert_eq!(whole, samples);
    }

    #[test]
    fn wrong_sample_rate_is_a_clear_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("noisy.wav");
        write_with_hound(&path, int_spec(16, 1, 44_100), &[0_i16; 100]);
        let err = read_error(&path, "is 44100 Hz");
        assert!(matches!(
            err,
            AudioError::WrongSampleRate {
                sample_rate_hz: 44_100,
                ..
            }
        ));
        assert!(err.to_string().contains("needs 16000 Hz"));
        assert!(err.to_string().contains("sox in.wav -r 16000 out.wav"));
    }

    #[test]
    fn stereo_is_rejected() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("stereo.wav");
        write_with_hound(&path, int_spec(16, 2, SAMPLE_RATE), &[0_i16; 100]);
        let err = read_error(&path, "has 2 channels");
        assert!(matches!(err, AudioError::NotMono { channels: 2, .. }));
        assert!(err.to_string().contains("mono"));
    }

    #[test]
    fn empty_file_is_rejected() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("empty.wav");
        write_with_hound::<i16>(&path, int_spec(16, 1, SAMPLE_RATE), &[]);
        let err = read_error(&path, "contains no audio samples");
        assert!(matches!(err, AudioError::Empty { .. }));
        // Writing an empty clip is fine; reading it back is the error.
        let written = dir.path().join("written_empty.wav");
        write_wav(&written, &[], SAMPLE_RATE).unwrap();
        assert!(matches!(read_wav(&written), Err(AudioError::Empty { .. })));
    }

    #[test]
    fn truncated_files_are_errors_not_panics() {
        let dir = tempfile::tempdir().unwrap();
        let full = dir.path().join("full.wav");
        write_wav(&full, &vec![0.25; 1000], SAMPLE_RATE).unwrap();
        let bytes = fs::read(&full).unwrap();
        assert_eq!(bytes.len(), 44 + 2000);

        // Cut inside the data: the header still declares 1000 samples.
        let cut = dir.path().join("cut.wav");
        fs::write(&cut, &bytes[..44 + 901]).unwrap();
        let err = read_error(&cut, "is truncated");
        assert!(
            matches!(
                err,
                AudioError::Truncated {
                    read: 450,
                    declared: 1000,
                    ..
                }
            ),
            "{err}"
        );
        let mut reader = WavSampleReader::open(&cut).unwrap();
        assert_eq!(reader.by_ref().take(450).filter(Result::is_ok).count(), 450);
        assert!(reader.next().unwrap().is_err());
        assert!(reader.next().is_none(), "the iterator ends after an error");

        // Cut at every length inside the header.
        for len in 0..44 {
            let path = dir.path().join(format!("header{len}.wav"));
            fs::write(&path, &bytes[..len]).unwrap();
            let message = read_wav(&path).unwrap_err().to_string();
            assert!(message.contains(&format!("header{len}.wav")), "{message}");
        }
        let hdr = dir.path().join("header30.wav");
        read_error(&hdr, "ends inside the header");
    }

    #[test]
    fn non_wav_and_missing_files_are_errors() {
        let dir = tempfile::tempdir().unwrap();
        let text = dir.path().join("notes.wav");
        fs::write(&text, "this is not audio, just some text in a file\n").unwrap();
        let err = read_error(&text, "is not a WAV file");
        assert!(matches!(err, AudioError::NotWav { .. }));
        let tiny = dir.path().join("tiny.wav");
        fs::write(&tiny, b"RIF").unwrap();
        read_error(&tiny, "too short");
        let missing = dir.path().join("missing.wav");
        let err = read_error(&missing, "cannot read");
        assert!(matches!(err, AudioError::Read { .. }));
    }

    #[test]
    fn bad_headers_and_values_are_errors() {
        let dir = tempfile::tempdir().unwrap();
        // A RIFF/WAVE signature followed by garbage chunk sizes.
        let garbage = dir.path().join("garbage.wav");
        let mut bytes = b"RIFF\x24\x00\x00\x00WAVEfmt \x02\x00\x00\x00".to_vec();
        bytes.extend([0xff; 40]);
        fs::write(&garbage, &bytes).unwrap();
        let message = read_wav(&garbage).unwrap_err().to_string();
        assert!(message.contains("garbage.wav"), "{message}");

        let nan = dir.path().join("nan.wav");
        write_with_hound(&nan, float_spec(), &[0.0_f32, 0.5, f32::NAN, 0.0]);
        let err = read_error(&nan, "non-finite sample");
        assert!(matches!(err, AudioError::NonFiniteSample { index: 2, .. }));

        // Layouts hound or this crate cannot decode: 64-bit int and float,
        // A-law, 12-bit.
        for (name, tag, bits, needle) in [
            ("int64.wav", 1, 64, "64-bit integer samples"),
            ("float64.wav", 3, 64, "not a valid or supported WAV file"),
            ("alaw.wav", 6, 8, "not a valid or supported WAV file"),
            ("pcm12.wav", 1, 12, "not a valid or supported WAV file"),
        ] {
            let path = dir.path().join(name);
            fs::write(&path, raw_wav(tag, 1, SAMPLE_RATE, bits, &[0; 64])).unwrap();
            read_error(&path, needle);
        }
    }

    /// A canonical 44-byte-header WAV file with arbitrary header fields.
    fn raw_wav(format_tag: u16, channels: u16, rate: u32, bits: u16, data: &[u8]) -> Vec<u8> {
        let block_align = channels * bits.div_ceil(8);
        let mut out = Vec::new();
        out.extend(b"RIFF");
        out.extend((36 + data.len() as u32).to_le_bytes());
        out.extend(b"WAVEfmt ");
        out.extend(16_u32.to_le_bytes());
        out.extend(format_tag.to_le_bytes());
        out.extend(channels.to_le_bytes());
        out.extend(rate.to_le_bytes());
        out.extend((rate * u32::from(block_align)).to_le_bytes());
        out.extend(block_align.to_le_bytes());
        out.extend(bits.to_le_bytes());
        out.extend(b"data");
        out.extend((data.len() as u32).to_le_bytes());
        out.extend(data);
        out
    }

    #[test]
    fn writes_are_atomic() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.wav");

        // Streaming writer dropped before finish: nothing is left behind.
        let mut writer = WavStreamWriter::create(&path, SAMPLE_RATE).unwrap();
        writer.write_samples(&[0.1; 100]).unwrap();
        assert!(!path.exists());
        drop(writer);
        assert!(dir_entries(dir.path()).is_empty());

        // Finished writer: exactly the target exists, replacing older content.
        write_wav(&path, &[0.5; 10], SAMPLE_RATE).unwrap();
        let mut writer = WavStreamWriter::create(&path, SAMPLE_RATE).unwrap();
        assert_eq!(writer.path(), path);
        writer.write_samples(&[0.25; 7]).unwrap();
        writer.write_samples(&[-0.25; 3]).unwrap();
        assert_eq!(
            read_wav(&path).unwrap().samples,
            [0.5; 10],
            "old file intact until finish"
        );
        writer.finish().unwrap();
        let samples = read_wav(&path).unwrap().samples;
        assert_eq!(samples.len(), 10);
        assert_eq!(samples[..7], [0.25; 7]);
        assert_eq!(samples[7..], [-0.25; 3]);
        assert_eq!(dir_entries(dir.path()), ["out.wav"]);

        // Missing directory and zero rate: errors naming the file, no files.
        let missing = dir.path().join("no_such_dir").join("x.wav");
        let message = write_wav(&missing, &[0.0], SAMPLE_RATE)
            .unwrap_err()
            .to_string();
        assert!(
            message.contains("x.wav") && message.contains("cannot write"),
            "{message}"
        );
        let message = write_wav(dir.path().join("zero.wav"), &[0.0], 0)
            .unwrap_err()
            .to_string();
        assert!(message.contains("zero.wav"), "{message}");
        assert_eq!(dir_entries(dir.path()), ["out.wav"]);
    }

    #[test]
    fn pcm16_conversion() {
        assert_eq!(to_pcm16(0.0), 0);
        assert_eq!(to_pcm16(0.5), 16384);
        assert_eq!(to_pcm16(-1.0), -32768);
        assert_eq!(to_pcm16(1.0), 32767);
        assert_eq!(to_pcm16(f32::INFINITY), 32767);
        assert_eq!(to_pcm16(f32::NEG_INFINITY), -32768);
        assert_eq!(to_pcm16(f32::NAN), 0);
        assert_eq!(to_pcm16(1.4 / 32768.0), 1);
        assert_eq!(to_pcm16(1.6 / 32768.0), 2);
    }
}
