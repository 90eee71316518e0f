//! Reading layers that bitsandbytes quantized, as transformers saves them.
//!
//! Reference: bitsandbytes 0.50 `QuantState.as_dict(packed=True)` /
//! `from_dict` (`functional.py`), `nn.Linear4bit._save_to_state_dict` and
//! `nn.Linear8bitLt._save_to_state_dict` (`nn/modules.py`). For a layer
//! `p`:
//!
//! - 4-bit: `p.weight` (`U8`, `[ceil(n / 2), 1]`, two codes per byte, high
//!   nibble first), `p.weight.absmax` (f32 per block, or `U8` codes when
//!   nested), `p.weight.quant_map` (16 floats), with double quant
//!   `p.weight.nested_absmax` and `p.weight.nested_quant_map` (256 floats),
//!   and `p.weight.quant_state.bitsandbytes__nf4` (or `__fp4`): the JSON
//!   `{"quant_type", "blocksize", "dtype", "shape", "nested_blocksize",
//!   "nested_dtype", "nested_offset"}` as `U8` bytes;
//! - int8 (LLM.int8): `p.weight` (`I8`, `[out, in]`), `p.SCB` (f32 row
//!   absmax) and `p.weight_format` (`U8`, `0` = row-major, the only format
//!   bitsandbytes still writes).
//!
//! The stored `quant_map` is used as given, so FP4 layers load too.
//! Problems are recorded in the [`VarBuilder`]'s report, naming the tensor.

use super::nf4::{HostAbsmax, Nf4Host};
use crate::loader::{StoredDtype, VarBuilder};
use burn::tensor::backend::Backend;
use serde::Deserialize;

/// The largest quant-state JSON accepted (bitsandbytes writes ~170 bytes).
const MAX_QUANT_STATE_BYTES: usize = 64 << 10;

/// The non-tensor part of a `QuantState`, packed as JSON.
#[derive(Debug, Deserialize)]
struct QuantStateJson {
    quant_type: String,
    blocksize: usize,
    #[serde(default)]
    shape: Option<Vec<usize>>,
    #[serde(default)]
    nested_blocksize: Option<usize>,
    #[serde(default)]
    nested_offset: Option<f32>,
}

/// Reads a bitsandbytes 4-bit layer under `vb` (whose `weight` is `U8`).
/// `None` after recording the problem.
pub fn load_4bit<B: Backend>(vb: &VarBuilder<'_, B>, shape: [usize; 2]) -> Option<Nf4Host> {
    let host = read_4bit(vb, shape);
    if let Err(e) = &host {
        vb.record_unreadable(format!(
            "{}: bitsandbytes 4-bit weight: {e}",
            vb.name("weight")
        ));
    }
    host.ok().flatten()
}

/// `Ok(None)`: a tensor was missing (already recorded by `vb`).
fn read_4bit<B: Backend>(
    vb: &VarBuilder<'_, B>,
    shape: [usize; 2],
) -> Result<Option<Nf4Host>, String> {
    let Some((key, qtype)) = ["nf4", "fp4"]
        .iter()
        .map(|t| (format!("weight.quant_state.bitsandbytes__{t}"), *t))
        .find(|(k, _)| vb.contains(k))
    else {
        return Err("no `weight.quant_state.bitsandbytes__nf4` (or `__fp4`) beside it".into());
    };
    let Some(state) = vb.get_raw(&key) else {
        return Ok(None);
    };
    if state.bytes.len() > MAX_QUANT_STATE_BYTES {
        return Err(format!("{key} is {} bytes", state.bytes.len()));
    }
    let state: QuantStateJson =
        serde_json::from_slice(&state.bytes).map_err(|e| format!("{key}: {e}"))?;
    check_state(&state, qtype, shape)?;
    let Some(packed) = vb.get_raw("weight") else {
        return Ok(None);
    };
    let Some((code, _)) = vb.get_vec("weight.quant_map") else {
        return Ok(None);
    };
    let code: [f32; 16] = code
        .try_into()
        .map_err(|c: Vec<f32>| format!("quant_map has {} entries, not 16", c.len()))?;
    let absmax = match state.nested_blocksize {
        None => match vb.get_vec("weight.absmax") {
            Some((a, _)) => HostAbsmax::Plain(a),
            None => return Ok(None),
        },
        Some(nested_blocksize) => match read_nested(vb, &state, nested_blocksize)? {
            Some(a) => a,
            None => return Ok(None),
        },
    };
    let host = Nf4Host {
        shape,
        blocksize: state.blocksize,
        code,
        packed: packed.bytes,
        absmax,
    };
    host.validate()?;
    Ok(Some(host))
}

fn check_state(state: &QuantStateJson, qtype: &str, shape: [usize; 2]) -> Result<(), String> {
    if state.quant_type != qtype {
        return Err(format!(
            "quant_type `{}` under a `{qtype}` key",
            state.quant_type
        ));
    }
    if !(32..=4096).contains(&state.blocksize) || !state.blocksize.is_power_of_two() {
        return Err(format!(
            "block size {} is not one of 32, 64, …, 4096",
            state.blocksize
        ));
    }
    if let Some(s) = &state.shape
        && s.as_slice() != shape
    {
        return Err(format!("quantized shape {s:?}, expected {shape:?}"));
    }
    Ok(())
}

fn read_nested<B: Backend>(
    vb: &VarBuilder<'_, B>,
    state: &QuantStateJson,
    blocksize: usize,
) -> Result<Option<HostAbsmax>, String> {
    if blocksize == 0 {
        return Err("nested_blocksize 0".into());
    }
    let offset = state
        .nested_offset
        .filter(|o| o.is_finite())
        .ok_or("nested_offset missing or not finite")?;
    let Some(codes) = vb.get_raw("weight.absmax") else {
        return Ok(None);
    };
    if codes.dtype != StoredDtype::U8 {
        return Err(format!(
            "nested absmax stored as {}, expected U8",
            codes.dtype
        ));
    }
    let (Some((code, _)), Some((absmax, _))) = (
        vb.get_vec("weight.nested_quant_map"),
        vb.get_vec("weight.nested_absmax"),
    ) else {
        return Ok(None);
    };
    Ok(Some(HostAbsmax::Nested {
        codes: codes.bytes,
        code,
        absmax,
        offset,
        blocksize,
    }))
}

/// int8 codes and row absmax.
type Int8Parts = (Vec<i8>, Vec<f32>);

/// Reads a bitsandbytes int8 layer under `vb` (whose `weight` is `I8`):
/// `(codes, row absmax)`. `None` after recording the problem.
pub fn load_int8<B: Backend>(vb: &VarBuilder<'_, B>, [out, inp]: [usize; 2]) -> Option<Int8Parts> {
    let result = (|| -> Result<Option<Int8Parts>, String> {
        if !vb.contains("SCB") {
            return Err("no `SCB` (row scales) beside it".into());
        }
        if vb.contains("weight_format") {
            let Some(format) = vb.get_raw("weight_format") else {
                return Ok(None);
            };
            if format.bytes.iter().any(|&b| b != 0) {
                return Err("weight_format is not 0 (row-major)".into());
            }
        }
        let (Some(weight), Some((scb, _))) = (vb.get_raw("weight"), vb.get_vec("SCB")) else {
            return Ok(None);
        };
        if weight.shape != [out, inp] || scb.len() != out {
            return Err(format!(
                "weight {:?} with {} row scales, expected [{out}, {inp}] and {out}",
                weight.shape,
                scb.len()
            ));
        }
        let q = weight.bytes.iter().map(|&b| b as i8).collect();
        Ok(Some((q, scb)))
    })();
    match result {
        Ok(v) => v,
        Err(e) => {
            vb.record_unreadable(format!(
                "{}: bitsandbytes int8 weight: {e}",
                vb.name("weight")
            ));
            None
        }
    }
}
