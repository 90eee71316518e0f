//! Code2Wav against transformers 5.24 on the `code2wav_tiny` fixture (every
//! weight re-drawn, window 4 over 40 frames, GQA, two upsampling stages,
//! two decoder blocks): each stage, the whole waveform, `chunked_decode`,
//! loading by prefix from a Qwen3-Omni-shaped checkpoint, and bad input.

// Test bodies are generic functions instantiated by `backend_tests!`, not
// `#[test]` items themselves, so clippy's allow-unwrap-in-tests misses them.
#![allow(clippy::unwrap_used)]

mod common;

use burn::tensor::backend::Backend;
use burn::tensor::{Int, Tensor, TensorData};
use common::{ATOL, FIXTURE, Fixture};
use omnivox_codec::{Code2Wav, Error, config};
use omnivox_model::loader::safetensors::{StoredDtype, TensorSpec, encode_f32, write_safetensors};
use omnivox_model::loader::{Checkpoint, TensorSource};
use omnivox_model::testing::{assert_close, check_close, fixture_dir};

/// `actual` against reference tensor `key` within 1e-4 relative to the
/// stage's peak: the decoder's residual stacks reach |x| ≈ 25 on this
/// fixture, where f32 rounding alone is 1e-4 absolute.
fn stage_close<B: Backend, const D: usize>(
    fx: &Fixture<B>,
    actual: Tensor<B, D>,
    key: &str,
    what: &str,
) {
    let want = fx.expected(key);
    let peak = want.iter().fold(1f32, |m, v| m.max(v.abs()));
    assert_close(actual, &want, ATOL * peak, 0.0, what);
}

/// Each stage of the forward pass, against the reference's intermediate
/// tensors: the embedding mean, the transformer, each upsampling stage
/// (transposed conv + depthwise conv + ConvNeXt), each decoder module
/// (conv1d, dilated convs, transposed convs with trims, SnakeBeta).
fn stages_match<B: Backend>(device: &B::Device) {
    let fx = Fixture::<B>::load(device);
    let m = &fx.model;
    let emb = m.embed(fx.codes_tensor(device));
    stage_close(&fx, emb.clone(), "embeddings", "embeddings");
    let mut cache = m.pre_transformer.new_cache();
    let hidden = m.pre_transformer.forward(emb, &mut cache).unwrap();
    stage_close(&fx, hidden.clone(), "pre_transformer", "pre_transformer");
    let mut x: Tensor<B, 3> = hidden.transpose().unsqueeze_dim(0);
    for (i, stage) in m.upsample.iter().enumerate() {
        let up = stage.conv.forward(x, &mut stage.conv.new_state()).unwrap();
        x = stage.convnext.forward(up, &mut Default::default());
        let key = format!("upsample.{i}");
        stage_close(&fx, x.clone(), &key, &key);
    }
    x = m.decoder_in.forward(x, &mut Default::default());
    stage_close(&fx, x.clone(), "decoder.0", "decoder.0 (conv1d)");
    for (i, block) in m.blocks.iter().enumerate() {
        x = block.forward(x, &mut block.new_state()).unwrap();
        let key = format!("decoder.{}", i + 1);
        stage_close(&fx, x.clone(), &key, &key);
    }
    let n = m.blocks.len();
    x = m.decoder_snake.forward(x);
    stage_close(
        &fx,
        x.clone(),
        &format!("decoder.{}", n + 1),
        "decoder snake",
    );
    x = m.decoder_out.forward(x, &mut Default::default());
    stage_close(
        &fx,
        x,
        &format!("decoder.{}", n + 2),
        "decoder out (pre-clamp)",
    );
}

/// `forward` on `[Q, frames]` and `decode` on frame-major codes both equal
/// the reference's `forward` within 1e-4, length included.
fn whole_waveform_matches<B: Backend>(device: &B::Device) {
    let fx = Fixture::<B>::load(device);
    let want = fx.expected("wav");
    assert_eq!(
        want.len(),
        fx.model.output_len(fx.frames),
        "output_len vs the reference"
    );
    let wav = fx.model.forward(fx.codes_tensor(device)).unwrap();
    assert_close(wav, &want, ATOL, 0.0, "forward");
    let wav = fx.model.decode(&fx.frame_major(), device).unwrap();
    check_close(&wav, &want, ATOL, 0.0).unwrap();
}

/// `chunked_decode` equals the reference's for several chunks with context
/// shorter and longer than a chunk, and for the defaults (one chunk here).
fn chunked_decode_matches<B: Backend>(device: &B::Device) {
    let fx = Fixture::<B>::load(device);
    for (c, l) in [(8, 3), (6, 9), (300, 25)] {
        let want = fx.expected(&format!("chunked.c{c}_l{l}"));
        let got = fx
            .model
            .chunked_decode(&fx.frame_major(), c, l, device)
            .unwrap();
        check_close(&got, &want, ATOL, 0.0).unwrap_or_else(|e| panic!("chunked c{c} l{l}: {e}"));
    }
}

/// Rewrites the fixture as a Qwen3-Omni-shaped checkpoint — tensors under
/// `code2wav.`, a thinker tensor beside them, `code2wav_config` nested —
/// and loads it by prefix: same waveform, and not one thinker byte read.
fn loads_by_prefix_from_an_omni_checkpoint<B: Backend>(device: &B::Device) {
    let fx = Fixture::<B>::load(device);
    let src = Checkpoint::open(fixture_dir(FIXTURE)).unwrap();
    static RUN: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let run = RUN.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let dir = std::env::temp_dir().join(format!("omnivox-codec-omni-{}-{run}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut specs: Vec<TensorSpec> = (src.tensors().iter())
        .map(|(name, info)| TensorSpec {
            name: format!("code2wav.{name}"),
            shape: info.shape.clone(),
            dtype: StoredDtype::F32,
        })
        .collect();
    specs.push(TensorSpec {
        name: "thinker.model.embed_tokens.weight".into(),
        shape: vec![64, 64],
        dtype: StoredDtype::F32,
    });
    write_safetensors(&dir.join("model.safetensors"), &specs, |s, w| {
        let values = match s.name.strip_prefix("code2wav.") {
            Some(name) => src
                .read_f32(name, false)
                .unwrap()
                .into_vec::<f32>()
                .unwrap(),
            None => vec![0.5; 64 * 64],
        };
        encode_f32(&values, s.dtype, w)
    })
    .unwrap();
    let sub: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(fixture_dir(FIXTURE).join("config.json")).unwrap(),
    )
    .unwrap();
    let config = serde_json::json!({"model_type": "qwen3_omni_moe", "thinker_config": {}, "code2wav_config": sub});
    std::fs::write(dir.join("config.json"), config.to_string()).unwrap();

    let ckpt = Checkpoint::open(&dir).unwrap();
    let (cfg, prefix) = config::from_dir(&dir).unwrap();
    assert_eq!(prefix, "code2wav");
    let model = Code2Wav::<B>::load_from(&ckpt, prefix, &cfg, device).unwrap();
    let code2wav_bytes: u64 = (ckpt.names_under("code2wav."))
        .iter()
        .map(|n| ckpt.info(n).unwrap().numel() as u64 * 4)
        .sum();
    assert_eq!(
        ckpt.bytes_read(),
        code2wav_bytes,
        "only code2wav tensors are read"
    );
    let wav = model.decode(&fx.frame_major(), device).unwrap();
    check_close(&wav, &fx.expected("wav"), ATOL, 0.0).unwrap();
    let again = Code2Wav::<B>::from_pretrained(&dir, device).unwrap();
    check_close(
        &again.decode(&fx.frame_major(), device).unwrap(),
        &wav,
        0.0,
        0.0,
    )
    .unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
}

/// A missing tensor is named in the error.
fn a_missing_tensor_is_named<B: Backend>(device: &B::Device) {
    let src = Checkpoint::open(fixture_dir(FIXTURE)).unwrap();
    let (cfg, _) = config::from_dir(fixture_dir(FIXTURE)).unwrap();
    let mut bigger = cfg.clone();
    bigger.num_hidden_layers += 1;
    let err = Code2Wav::<B>::load_from(&src, "", &bigger, device)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("pre_transformer.layers.2.self_attn.q_proj.weight"),
        "{err}"
    );
}

/// Bad codes are typed errors, never panics.
fn bad_codes_are_errors<B: Backend>(device: &B::Device) {
    let fx = Fixture::<B>::load(device);
    let m = &fx.model;
    let q = m.num_quantizers();
    let mut frames = fx.frame_major();
    frames[q + 1] = 16; // codebook_size
    match m.decode(&frames, device) {
        Err(Error::CodeOutOfRange {
            code: 16,
            quantizer: 1,
            frame: 1,
            codebook_size: 16,
        }) => {}
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        m.decode(&frames[..q + 1], device),
        Err(Error::RaggedFrames { .. })
    ));
    let two_rows = Tensor::<B, 2, Int>::from_data(TensorData::new(vec![0i64; 4], [2, 2]), device);
    assert!(matches!(
        m.forward(two_rows),
        Err(Error::QuantizerCount {
            expected: 3,
            got: 2
        })
    ));
    let negative =
        Tensor::<B, 2, Int>::from_data(TensorData::new(vec![0i64, 0, -1], [3, 1]), device);
    assert!(matches!(
        m.forward(negative),
        Err(Error::CodeOutOfRange {
            code: -1,
            quantizer: 2,
            ..
        })
    ));
    assert!(m.decode(&[], device).unwrap().is_empty());
    assert!(m.chunked_decode(&fx.frame_major(), 0, 1, device).is_err());
}

omnivox_model::backend_tests!(
    stages_match,
    whole_waveform_matches,
    chunked_decode_matches,
    loads_by_prefix_from_an_omni_checkpoint,
    a_missing_tensor_is_named,
    bad_codes_are_errors,
);
