//! Checkpoint loading: sharded and half-precision checkpoints against
//! transformers' logits, one error for every bad tensor, prefix loads that
//! touch nothing else, and random weights round-tripping through a written
//! checkpoint.

// Test bodies are generic functions instantiated by `backend_tests!`, not
// `#[test]` items themselves, so clippy's allow-unwrap-in-tests misses them.
#![allow(clippy::unwrap_used)]

use burn::tensor::backend::Backend;
use omnivox_model::config::DecoderConfig;
use omnivox_model::decoder::DecoderLayer;
use omnivox_model::loader::safetensors::{TensorSpec, encode_f32, write_safetensors};
use omnivox_model::loader::{Checkpoint, RandomWeights, StoredDtype, VarBuilder};
use omnivox_model::testing::{Reference, assert_close, fixture_dir, to_vec};
use omnivox_model::{Error, QwenForCausalLM};
use std::path::PathBuf;

fn logits_match<B: Backend>(name: &str, device: &B::Device) {
    let model = QwenForCausalLM::<B>::from_pretrained(fixture_dir(name), device)
        .unwrap_or_else(|e| panic!("{name}: {e}"));
    let reference = Reference::open(name).unwrap();
    let prompt = reference.ids("input_ids").unwrap();
    let (want, _) = reference.f32("logits").unwrap();
    let logits = model.forward(&prompt, &mut model.new_cache()).unwrap();
    assert_close(logits, &want, 1e-4, 0.0, &format!("{name} logits"));
}

/// Several shards behind `model.safetensors.index.json`.
fn sharded_checkpoint<B: Backend>(device: &B::Device) {
    let ckpt = Checkpoint::open(fixture_dir("qwen3_sharded")).unwrap();
    assert!(ckpt.files().len() > 1, "the fixture must really be sharded");
    logits_match::<B>("qwen3_sharded", device);
}

/// F16 and BF16 storage, converted to f32 at load (the reference ran the
/// f32 model on the same rounded weights).
fn half_precision_checkpoints<B: Backend>(device: &B::Device) {
    for (name, dtype) in [
        ("qwen3_f16", StoredDtype::F16),
        ("qwen3_bf16", StoredDtype::BF16),
    ] {
        let ckpt = Checkpoint::open(fixture_dir(name)).unwrap();
        assert!(
            ckpt.tensors().values().all(|t| t.dtype == dtype),
            "{name} must be stored as {dtype}"
        );
        logits_match::<B>(name, device);
    }
}

/// A scratch directory under the target dir, fresh per call.
fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("omnivox-model-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Copies `qwen3_tiny` with one tensor dropped, one renamed (so it is both
/// missing under its old name and unexpected under its new one) and one
/// reshaped; loading must report all of them in one error.
fn every_bad_tensor_in_one_error<B: Backend>(device: &B::Device) {
    let src = Checkpoint::open(fixture_dir("qwen3_tiny")).unwrap();
    let dir = scratch("bad-tensors");
    std::fs::copy(
        fixture_dir("qwen3_tiny").join("config.json"),
        dir.join("config.json"),
    )
    .unwrap();
    let drop = "model.layers.0.mlp.up_proj.weight";
    let rename = (
        "model.layers.1.self_attn.k_norm.weight",
        "model.layers.1.self_attn.k_nrom.weight",
    );
    let reshape = "model.layers.2.self_attn.k_proj.weight";
    let mut specs = Vec::new();
    for (name, info) in src.tensors() {
        let (new_name, mut shape) = (name.clone(), info.shape.clone());
        if name == drop {
            continue;
        }
        if name == reshape {
            shape = vec![shape[1], shape[0]];
        }
        let new_name = if name == rename.0 {
            rename.1.to_string()
        } else {
            new_name
        };
        specs.push((
            name.clone(),
            TensorSpec {
                name: new_name,
                shape,
                dtype: StoredDtype::F32,
            },
        ));
    }
    let tensor_specs: Vec<TensorSpec> = specs.iter().map(|(_, s)| s.clone()).collect();
    write_safetensors(&dir.join("model.safetensors"), &tensor_specs, |spec, w| {
        let (old, _) = specs
            .iter()
            .find(|(_, s)| s.name == spec.name)
            .expect("spec");
        let values = src.read_f32(old, false).unwrap().into_vec::<f32>().unwrap();
        encode_f32(&values, spec.dtype, w)
    })
    .unwrap();
    let err = QwenForCausalLM::<B>::from_pretrained(&dir, device).unwrap_err();
    let Error::Load(report) = &err else {
        panic!("expected a load report, got {err}")
    };
    assert_eq!(
        report.missing,
        vec![drop.to_string(), rename.0.to_string()],
        "{err}"
    );
    assert_eq!(report.unexpected, vec![rename.1.to_string()], "{err}");
    assert_eq!(report.wrong_shape.len(), 1, "{err}");
    assert_eq!(report.wrong_shape[0].0, reshape, "{err}");
    let text = err.to_string();
    for name in [drop, rename.0, rename.1, reshape] {
        assert!(text.contains(name), "the message names {name}: {text}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// Loading one layer by prefix reads exactly that layer's bytes, and
/// `finish` on that prefix is content with it.
fn prefix_load_reads_nothing_else<B: Backend>(device: &B::Device) {
    let dir = fixture_dir("qwen3_sharded");
    let cfg = DecoderConfig::from_file(dir.join("config.json")).unwrap();
    let ckpt = Checkpoint::open(&dir).unwrap();
    let prefix = "model.layers.1.";
    let want: u64 = (ckpt.tensors().iter())
        .filter(|(n, _)| n.starts_with(prefix))
        .map(|(_, t)| t.range.end - t.range.start)
        .sum();
    let vb = VarBuilder::<B>::new(&ckpt, device)
        .pp("model")
        .pp("layers")
        .pp(1);
    let _layer = DecoderLayer::load(&vb, &cfg, 1);
    vb.finish().unwrap();
    assert_eq!(ckpt.bytes_read(), want);
    let total: u64 = ckpt
        .tensors()
        .values()
        .map(|t| t.range.end - t.range.start)
        .sum();
    assert!(
        want * 2 < total,
        "the layer is a small part of the checkpoint"
    );
}

/// `finish` on a view reports tensors under its prefix that nothing read,
/// unless their prefix was declared with `ignore`.
fn unread_tensors_are_reported_unless_ignored<B: Backend>(device: &B::Device) {
    let dir = fixture_dir("qwen3_tiny");
    let cfg = DecoderConfig::from_file(dir.join("config.json")).unwrap();
    let ckpt = Checkpoint::open(&dir).unwrap();
    let model = VarBuilder::<B>::new(&ckpt, device).pp("model");
    let _layer = DecoderLayer::load(&model.pp("layers").pp(0), &cfg, 0);
    let report = model.report();
    assert!(report.missing.is_empty() && report.wrong_shape.is_empty());
    assert!(report.unexpected.contains(&"model.norm.weight".to_string()));
    assert!(
        report
            .unexpected
            .iter()
            .all(|n| !n.starts_with("model.layers.0."))
    );
    for skip in ["layers.1", "layers.2", "embed_tokens", "norm"] {
        model.ignore(skip);
    }
    model.finish().unwrap();
}

/// The same constructors run on random weights; a checkpoint written from
/// them loads back to the same model.
fn random_weights_round_trip<B: Backend>(device: &B::Device) {
    let text = std::fs::read_to_string(fixture_dir("qwen3_moe_tiny").join("config.json")).unwrap();
    let cfg = DecoderConfig::from_json_str(&text).unwrap();
    let random = RandomWeights::new(7, 0.2);
    let vb = VarBuilder::<B>::new(&random, device);
    let a = QwenForCausalLM::load(&vb, &cfg);
    vb.finish().unwrap();
    let dir = scratch("random");
    let json: serde_json::Value = serde_json::from_str(&text).unwrap();
    random
        .write_checkpoint(&dir, StoredDtype::F32, &json)
        .unwrap();
    let b = QwenForCausalLM::<B>::from_pretrained(&dir, device).unwrap();
    let prompt = [1u32, 5, 9, 200, 3];
    let la = to_vec(a.forward(&prompt, &mut a.new_cache()).unwrap());
    let lb = b.forward(&prompt, &mut b.new_cache()).unwrap();
    assert_close(
        lb,
        &la,
        0.0,
        0.0,
        "random weights vs their written checkpoint",
    );
    let _ = std::fs::remove_dir_all(&dir);
}

omnivox_model::backend_tests!(
    sharded_checkpoint,
    half_precision_checkpoints,
    every_bad_tensor_in_one_error,
    prefix_load_reads_nothing_else,
    unread_tensors_are_reported_unless_ignored,
    random_weights_round_trip,
);

#[test]
fn malformed_files_are_errors_not_panics() {
    let dir = scratch("malformed");
    let path = dir.join("model.safetensors");
    let cases: Vec<Vec<u8>> = vec![
        vec![],
        vec![1, 2, 3],
        u64::MAX.to_le_bytes().to_vec(),
        [8u64.to_le_bytes().to_vec(), b"not json".to_vec()].concat(),
        {
            let h = br#"{"a":{"dtype":"F32","shape":[4],"data_offsets":[0,64]}}"#;
            [
                (h.len() as u64).to_le_bytes().to_vec(),
                h.to_vec(),
                vec![0; 16],
            ]
            .concat()
        },
        {
            let h = br#"{"a":{"dtype":"F32","shape":[1000000000000,1000000000000],"data_offsets":[0,4]}}"#;
            [
                (h.len() as u64).to_le_bytes().to_vec(),
                h.to_vec(),
                vec![0; 4],
            ]
            .concat()
        },
        {
            let h = br#"{"a":{"dtype":"Q7","shape":[1],"data_offsets":[0,4]}}"#;
            [
                (h.len() as u64).to_le_bytes().to_vec(),
                h.to_vec(),
                vec![0; 4],
            ]
            .concat()
        },
    ];
    for bytes in cases {
        std::fs::write(&path, &bytes).unwrap();
        let err = Checkpoint::open(&dir).unwrap_err();
        assert!(matches!(err, Error::Checkpoint { .. }), "{bytes:?}: {err}");
    }
    std::fs::remove_file(&path).unwrap();
    assert!(
        Checkpoint::open(&dir).is_err(),
        "an empty directory is an error"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
