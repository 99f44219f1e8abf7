//! WAV reader (whole-file and streaming) -> streaming STFT -> streaming inverse STFT, bounded.
#![no_main]

use libfuzzer_sys::fuzz_target;
use loisim_audio::{IstftStream, StftStream, WavSampleReader, read_wav, stft};
use loisim_fuzz::scratch_file;

/// Most samples taken through the STFT per input.
const MAX_SAMPLES: usize = 1 << 15;
/// Samples per streaming read.
const CHUNK: usize = 1000;

fuzz_target!(|data: &[u8]| {
    let path = scratch_file("input.wav", data);
    let whole = read_wav(&path);
    let Ok(mut reader) = WavSampleReader::open(&path) else {
        assert!(
            whole.is_err(),
            "read_wav accepts a file the streaming reader rejects"
        );
        return;
    };
    let mut samples = Vec::new();
    let mut stream = StftStream::new();
    let mut istream = IstftStream::new();
    let mut frames = Vec::new();
    let mut failed = false;
    let mut chunk = Vec::with_capacity(CHUNK);
    while samples.len() < MAX_SAMPLES {
        chunk.clear();
        // Samples read before an error are kept, like the reader's other callers do.
        let got = reader.read_chunk(&mut chunk, CHUNK);
        assert!(chunk.iter().all(|s| s.is_finite()));
        samples.extend_from_slice(&chunk);
        stream.push(&chunk);
        while let Some(f) = stream.pop_frame() {
            istream.push_frame(&f);
            frames.push(f);
        }
        match got {
            Ok(0) => break,
            Ok(_) => {}
            Err(_) => {
                failed = true;
                break;
            }
        }
    }
    for f in stream.finish() {
        istream.push_frame(&f);
        frames.push(f);
    }
    let n = samples.len();
    let _ = istream.finish(n);
    // Streaming and batch STFT agree.
    let batch = stft(&samples);
    assert_eq!(batch.n_frames(), frames.len());
    if !failed && n < MAX_SAMPLES {
        // The whole file was read: the whole-file reader saw the same samples.
        let audio = whole.expect("the streaming reader read the whole file");
        assert_eq!(audio.samples, samples);
    }
});
