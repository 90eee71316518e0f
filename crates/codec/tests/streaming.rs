//! Streamed decoding on the `code2wav_tiny` fixture: for several push
//! patterns the concatenated samples equal transformers' whole-utterance
//! `forward` ([`StreamMode::Exact`]) or its `chunked_decode`
//! ([`StreamMode::Chunked`]), samples come out as soon as they are final,
//! and `finish` owes nothing.

#![allow(clippy::unwrap_used)]

mod common;

use burn::tensor::backend::Backend;
use common::{ATOL, Fixture};
use omnivox_codec::{Error, StreamMode, StreamingDecoder};
use omnivox_model::testing::check_close;

/// Streamed against our own whole decode.
const SELF_ATOL: f32 = 5e-5;

/// Frames per push, cycled until the 40 frames are used up.
const PATTERNS: &[&[usize]] = &[&[1], &[2, 3, 1, 5, 0, 7, 4], &[3, 9, 13, 2], &[40]];

/// Streams `fx`'s frames in `pattern`-sized pushes; returns the samples and,
/// after each push, `(frames pushed, samples out so far)`.
fn stream<B: Backend>(
    fx: &Fixture<B>,
    mode: StreamMode,
    pattern: &[usize],
    device: &B::Device,
) -> (Vec<f32>, Vec<(usize, usize)>) {
    let q = fx.num_quantizers;
    let frames = fx.frame_major();
    let mut dec = StreamingDecoder::new(&fx.model, mode, device).unwrap();
    let (mut out, mut progress, mut at) = (Vec::new(), Vec::new(), 0);
    for &n in pattern.iter().cycle() {
        if at == fx.frames {
            break;
        }
        let n = n.min(fx.frames - at);
        out.extend(dec.push(&fx.model, &frames[at * q..(at + n) * q]).unwrap());
        at += n;
        progress.push((dec.frames_pushed(), dec.samples_emitted()));
    }
    let tail = dec.finish(&fx.model).unwrap();
    assert!(
        tail.is_empty(),
        "finish owes nothing: {} samples",
        tail.len()
    );
    assert!(matches!(
        dec.push(&fx.model, &frames[..q]),
        Err(Error::StreamFinished)
    ));
    (out, progress)
}

/// Exact mode: equal to the reference's whole-utterance `forward` (1e-4)
/// and to our own whole decode (5e-5: the convolutions sum in another
/// order when the input is cut elsewhere, and this fixture's decoder
/// activations reach |x| ≈ 25 before the last convolution), with exactly
/// `output_len(F)` samples out after `F` frames — nothing held back.
fn exact_stream_equals_whole_decode<B: Backend>(device: &B::Device) {
    let fx = Fixture::<B>::load(device);
    let want = fx.expected("wav");
    let whole = fx.model.decode(&fx.frame_major(), device).unwrap();
    for pattern in PATTERNS {
        let (got, progress) = stream(&fx, StreamMode::Exact, pattern, device);
        check_close(&got, &want, ATOL, 0.0)
            .unwrap_or_else(|e| panic!("{pattern:?} vs reference: {e}"));
        check_close(&got, &whole, SELF_ATOL, 0.0)
            .unwrap_or_else(|e| panic!("{pattern:?} vs whole: {e}"));
        for (frames, samples) in progress {
            assert_eq!(
                samples,
                fx.model.output_len(frames),
                "{pattern:?} after {frames} frames"
            );
        }
    }
}

/// The first samples come out after the first frame.
fn first_samples_after_one_frame<B: Backend>(device: &B::Device) {
    let fx = Fixture::<B>::load(device);
    let q = fx.num_quantizers;
    let mut dec = fx.model.stream(StreamMode::Exact, device).unwrap();
    let first = dec.push(&fx.model, &fx.frame_major()[..q]).unwrap();
    assert_eq!(first.len(), fx.model.output_len(1));
    assert!(!first.is_empty());
    check_close(&first, &fx.expected("wav")[..first.len()], ATOL, 0.0).unwrap();
}

/// Chunked mode equals the reference's `chunked_decode` for each push
/// pattern, across chunk boundaries, with context shorter and longer than
/// a chunk; with the reference's 300/25 and 40 frames it is one chunk and
/// equals the whole decode too.
fn chunked_stream_equals_reference_chunked_decode<B: Backend>(device: &B::Device) {
    let fx = Fixture::<B>::load(device);
    for (c, l) in [(8, 3), (6, 9), (300, 25)] {
        let want = fx.expected(&format!("chunked.c{c}_l{l}"));
        let mode = StreamMode::Chunked {
            chunk_size: c,
            left_context: l,
        };
        for pattern in PATTERNS {
            let (got, _) = stream(&fx, mode, pattern, device);
            check_close(&got, &want, ATOL, 0.0)
                .unwrap_or_else(|e| panic!("c{c} l{l} {pattern:?}: {e}"));
        }
    }
    let (got, _) = stream(&fx, StreamMode::REFERENCE, &[1], device);
    check_close(&got, &fx.expected("wav"), ATOL, 0.0).unwrap();
}

/// A bad push is an error and leaves the stream as it was.
fn a_bad_push_changes_nothing<B: Backend>(device: &B::Device) {
    let fx = Fixture::<B>::load(device);
    let q = fx.num_quantizers;
    let frames = fx.frame_major();
    let mut dec = fx.model.stream(StreamMode::Exact, device).unwrap();
    let mut out = dec.push(&fx.model, &frames[..5 * q]).unwrap();
    let mut bad = frames[5 * q..7 * q].to_vec();
    bad[q + 2] = 99;
    assert!(matches!(
        dec.push(&fx.model, &bad),
        Err(Error::CodeOutOfRange {
            frame: 1,
            quantizer: 2,
            ..
        })
    ));
    assert!(matches!(
        dec.push(&fx.model, &frames[..q - 1]),
        Err(Error::RaggedFrames { .. })
    ));
    assert_eq!(dec.frames_pushed(), 5);
    out.extend(dec.push(&fx.model, &frames[5 * q..]).unwrap());
    check_close(&out, &fx.expected("wav"), ATOL, 0.0).unwrap();
    assert!(
        fx.model
            .stream(
                StreamMode::Chunked {
                    chunk_size: 0,
                    left_context: 1
                },
                device
            )
            .is_err()
    );
}

omnivox_model::backend_tests!(
    exact_stream_equals_whole_decode,
    first_samples_after_one_frame,
    chunked_stream_equals_reference_chunked_decode,
    a_bad_push_changes_nothing,
);
