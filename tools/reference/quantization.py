"""Reference fixture for omnivox-model's quantized weights (``fixtures/quantization``).

bitsandbytes is the reference: NF4 (``quantize_4bit``, NormalFloat4 code,
block-wise absmax, optional nested "double quant" absmax) and LLM.int8's
row-wise int8 weights (``int8_vectorwise_quant``). Everything runs on the CPU:
bitsandbytes >= 0.45 quantizes and dequantizes there (its ``default`` and
``cpu`` backends).

Files:

- ``source.safetensors``: float weights as a plain checkpoint would hold them,
  one linear layer per prefix (``{p}.weight`` ``[out, in]``, ``{p}.bias``):
  ``nf4_nested`` [96, 320] (480 blocks of 64, so two nested blocks of 256, the
  second partial), ``nf4_plain`` [24, 20] (no double quant; 480 values = 7.5
  blocks: a partial last block), ``nf4_odd`` [7, 9] (63 values: one partial
  block and an odd count, so a padding nibble), ``nf4_bf16`` [48, 128] stored
  as BF16, ``int8`` [24, 20].
- ``bnb.safetensors``: the same layers quantized by bitsandbytes, each saved
  with ``state_dict()`` of ``bnb.nn.Linear4bit`` / ``bnb.nn.Linear8bitLt`` —
  exactly the keys transformers writes for them: ``{p}.weight`` (packed U8
  ``[ceil(n/2), 1]``), ``{p}.weight.absmax``, ``{p}.weight.quant_map``,
  ``{p}.weight.nested_absmax``, ``{p}.weight.nested_quant_map``,
  ``{p}.weight.quant_state.bitsandbytes__nf4`` (JSON as U8), ``{p}.bias``;
  ``int8.weight`` (I8), ``int8.SCB``, ``int8.weight_format``.
- ``reference.safetensors``, per prefix: ``{p}.x`` [5, in] inputs,
  ``{p}.y`` [5, out] the bitsandbytes module's forward in f32,
  ``{p}.dequantized`` [out, in] (``dequantize_4bit`` to f32 /
  ``int8_vectorwise_dequant``), for NF4 ``{p}.absmax_unnested`` (the block
  absmax before double quant); for int8 ``int8.cb_f32`` / ``int8.scb_f32``:
  ``int8_vectorwise_quant`` of the f32 weight (``Linear8bitLt`` itself rounds
  the weight to f16 first); ``bnb_model.input_ids`` / ``bnb_model.logits``.
- ``qwen3_bnb_nf4/``: a tiny Qwen3ForCausalLM (untied LM head) loaded by
  transformers with ``BitsAndBytesConfig(load_in_4bit, nf4, double quant)`` and
  written by ``save_pretrained``: a checkpoint "already quantized with
  bitsandbytes" as users get them from the Hub. ``bnb_model.logits`` is that
  quantized model's forward (its Linear4bit layers, f32 compute).

bitsandbytes' CPU ``Linear4bit.forward`` has an AVX512-BF16 path that repacks
the weight (and computes in bf16); it is switched off
(``support_avx512bf16_for_cpu = False``) so the reference is bitsandbytes'
portable path: dequantize to f32, then ``F.linear``. ``{p}.dequantized`` is
bitsandbytes' portable ``_dequantize_4bit_compute`` (the definition its
``default`` backend and CUDA kernels share); the script asserts that the
module's forward (which runs the native CPU kernel) equals a dense layer
holding that weight. (bitsandbytes 0.50.2's native CPU ``dequantize_4bit`` is
wrong when ``in_features`` is an odd multiple of 32 — e.g. [32, 32], [8, 96]:
relative error 0.37 instead of 0.09 — so every layer here has ``in`` % 64 != 32.)
"""

from __future__ import annotations

import math
import tempfile

import bitsandbytes as bnb
import bitsandbytes.functional as bnbf
import torch
from bitsandbytes.backends.default.ops import _dequantize_4bit_compute
from bitsandbytes.backends.utils import _get_4bit_code
from common import Fixture, only_requested
from safetensors.torch import save_file
from transformers import AutoModelForCausalLM, BitsAndBytesConfig, Qwen3Config, Qwen3ForCausalLM

NAME = "quantization"
SEED = 4321
TOKENS = 5

NF4_LAYERS = [
    # prefix, out, in, double quant, storage dtype
    ("nf4_nested", 96, 320, True, torch.float32),
    ("nf4_plain", 24, 20, False, torch.float32),
    ("nf4_odd", 7, 9, True, torch.float32),
    ("nf4_bf16", 48, 128, True, torch.bfloat16),
]
INT8_LAYER = ("int8", 24, 20)

MODEL = dict(
    vocab_size=256,
    hidden_size=64,
    intermediate_size=128,
    num_hidden_layers=2,
    num_attention_heads=4,
    num_key_value_heads=2,
    head_dim=16,
    rms_norm_eps=1e-6,
    max_position_embeddings=128,
    tie_word_embeddings=False,
    bos_token_id=None,
    eos_token_id=None,
    pad_token_id=None,
    attn_implementation="eager",
)
PROMPT_LEN = 12


def portable_forward(module: torch.nn.Module) -> None:
    for m in module.modules():
        if isinstance(m, bnb.nn.Linear4bit):
            m.support_avx512bf16_for_cpu = False


def nf4_layer(gen, prefix, out_f, in_f, nested, dtype, source, packed, ref):
    w = (torch.randn(out_f, in_f, generator=gen) / math.sqrt(in_f)).to(dtype)
    b = 0.1 * torch.randn(out_f, generator=gen)
    source[f"{prefix}.weight"] = w
    source[f"{prefix}.bias"] = b
    lin = bnb.nn.Linear4bit(in_f, out_f, bias=True, compute_dtype=torch.float32,
                            compress_statistics=nested, quant_type="nf4")
    lin.weight = bnb.nn.Params4bit(w.clone(), requires_grad=False, compress_statistics=nested,
                                   quant_type="nf4")._quantize("cpu")
    lin.bias = torch.nn.Parameter(b.clone(), requires_grad=False)
    portable_forward(lin)
    for k, v in lin.state_dict().items():
        packed[f"{prefix}.{k}"] = v
    qs = lin.weight.quant_state
    # In f32 whatever the source dtype: bitsandbytes rounds this product to
    # the source dtype; omnivox keeps it in f32.
    absmax = bnbf.dequantize_blockwise(qs.absmax, qs.state2) + qs.offset if qs.nested else qs.absmax
    deq = _dequantize_4bit_compute(lin.weight.data.reshape(-1), absmax.float(), _get_4bit_code("nf4", "cpu"),
                                   qs.blocksize, qs.shape, torch.float32)
    x = torch.randn(TOKENS, in_f, generator=gen)
    with torch.no_grad():
        y = lin(x)
        dense = torch.nn.functional.linear(x, deq, b)
    assert (y - dense).abs().max() <= 1e-6 * max(1.0, dense.abs().max()), f"{prefix}: forward != dense(dequantized)"
    _, plain = bnbf.quantize_4bit(w.clone(), blocksize=64, compress_statistics=False, quant_type="nf4")
    ref[f"{prefix}.x"] = x
    ref[f"{prefix}.y"] = y
    ref[f"{prefix}.dequantized"] = deq
    ref[f"{prefix}.absmax_unnested"] = plain.absmax


def int8_layer(gen, source, packed, ref):
    prefix, out_f, in_f = INT8_LAYER
    w = torch.randn(out_f, in_f, generator=gen) / math.sqrt(in_f)
    b = 0.1 * torch.randn(out_f, generator=gen)
    source[f"{prefix}.weight"] = w
    source[f"{prefix}.bias"] = b
    lin = bnb.nn.Linear8bitLt(in_f, out_f, bias=True, has_fp16_weights=False, threshold=0.0)
    lin.weight = bnb.nn.Int8Params(w.clone(), requires_grad=False, has_fp16_weights=False)._quantize("cpu")
    lin.bias = torch.nn.Parameter(b.clone(), requires_grad=False)
    for k, v in lin.state_dict().items():
        packed[f"{prefix}.{k}"] = v
    deq = bnbf.int8_vectorwise_dequant(lin.weight.data, lin.weight.SCB)
    cb, scb, _ = bnbf.int8_vectorwise_quant(w.clone())
    x = torch.randn(TOKENS, in_f, generator=gen)
    # Weight-only reference: LLM.int8 also quantizes activations at run time;
    # omnivox keeps them f32, so the reference is x against the dequantized weight.
    ref[f"{prefix}.x"] = x
    ref[f"{prefix}.y"] = torch.nn.functional.linear(x, deq, b)
    ref[f"{prefix}.dequantized"] = deq
    ref[f"{prefix}.cb_f32"] = cb
    ref[f"{prefix}.scb_f32"] = scb


def redraw(model: torch.nn.Module, gen: torch.Generator) -> None:
    """As qwen_decoders.py: norms 1 + 0.1 N, matrices N / sqrt(fan_in)."""
    with torch.no_grad():
        for name, p in model.named_parameters():
            noise = torch.randn(p.shape, generator=gen, dtype=torch.float32)
            if name.endswith("norm.weight"):
                p.copy_(1.0 + 0.1 * noise)
            else:
                p.copy_(noise / math.sqrt(p.shape[-1]))


def bnb_model(gen, fx, ref) -> dict:
    model = Qwen3ForCausalLM(Qwen3Config(**MODEL)).eval()
    redraw(model, gen)
    out_dir = fx.dir / "qwen3_bnb_nf4"
    with tempfile.TemporaryDirectory() as tmp:
        model.save_pretrained(tmp)
        cfg = BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="nf4",
                                 bnb_4bit_use_double_quant=True, bnb_4bit_compute_dtype=torch.float32)
        q = AutoModelForCausalLM.from_pretrained(tmp, quantization_config=cfg).eval()
        q.save_pretrained(out_dir)
    # Loaded back from the fixture as a user would load a bnb checkpoint.
    q = AutoModelForCausalLM.from_pretrained(out_dir).eval()
    n4 = sum(isinstance(m, bnb.nn.Linear4bit) for m in q.modules())
    assert n4 == 7 * MODEL["num_hidden_layers"], f"{n4} Linear4bit layers"
    assert not isinstance(q.lm_head, bnb.nn.Linear4bit), "lm_head must stay unquantized"
    portable_forward(q)
    ids = torch.randint(0, MODEL["vocab_size"], (1, PROMPT_LEN), generator=gen)
    with torch.no_grad():
        logits = q(ids).logits[0]
        # Sanity: the quantized forward equals the float model holding the
        # dequantized weights.
        for name, m in q.named_modules():
            if isinstance(m, bnb.nn.Linear4bit):
                model.get_submodule(name).weight.copy_(bnbf.dequantize_4bit(m.weight.data, m.weight.quant_state))
        dense = model(ids).logits[0]
    err = float((logits - dense).abs().max())
    assert err < 1e-5, f"bnb forward differs from dense(dequantized) by {err}"
    ref["bnb_model.input_ids"] = ids
    ref["bnb_model.logits"] = logits
    return {"linear4bit_layers": n4, "max_abs_bnb_vs_dense_dequantized": err}


def main() -> None:
    if not only_requested(NAME):
        return
    params = {
        "nf4_layers": [[p, o, i, n, str(d).removeprefix("torch.")] for p, o, i, n, d in NF4_LAYERS],
        "int8_layer": list(INT8_LAYER),
        "model": {k: v for k, v in MODEL.items() if v is not None},
        "bitsandbytes": bnb.__version__,
    }
    with Fixture(NAME, __file__, seed=SEED, params=params) as fx:
        gen = torch.Generator().manual_seed(SEED)
        source, packed, ref = {}, {}, {}
        for prefix, out_f, in_f, nested, dtype in NF4_LAYERS:
            nf4_layer(gen, prefix, out_f, in_f, nested, dtype, source, packed, ref)
        int8_layer(gen, source, packed, ref)
        checks = bnb_model(gen, fx, ref)
        save_file({k: v.contiguous() for k, v in source.items()}, str(fx.dir / "source.safetensors"))
        save_file({k: v.contiguous() for k, v in packed.items()}, str(fx.dir / "bnb.safetensors"))
        fx.save_tensors(ref)
        fx.extra["checks"] = checks


if __name__ == "__main__":
    main()
