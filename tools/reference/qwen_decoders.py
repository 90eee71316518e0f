"""Reference fixtures for omnivox-model's Qwen decoder family.

Writes, per fixture, a tiny seeded checkpoint exactly as ``save_pretrained``
writes it and ``reference.safetensors`` with:

- ``input_ids`` [1, T]: the prompt;
- ``logits`` [T, vocab]: full-sequence logits (f32, eager attention);
- ``hidden_states.{i}`` [T, hidden]: transformers' ``output_hidden_states``
  (0 = embeddings, ..., num_layers = final-normed);
- ``generated`` [32]: ``generate(do_sample=False, max_new_tokens=32)``'s new
  tokens (only for the family fixtures, not the storage-dtype ones).

Fixtures:

- ``qwen2_tiny`` / ``qwen2_sliding``: Qwen2ForCausalLM (qkv bias); the second
  with ``use_sliding_window`` (window 4, layers >= 1 sliding) and a 12-token
  prompt.
- ``qwen3_tiny`` / ``qwen3_sliding``: Qwen3ForCausalLM (QK-norm, tied
  embeddings in ``qwen3_tiny``).
- ``qwen3_moe_tiny`` / ``qwen3_moe_norm`` / ``qwen3_moe_sliding``:
  Qwen3MoeForCausalLM with ``norm_topk_prob`` off and on, and a sliding window
  (every layer); one dense layer via ``mlp_only_layers``.
- ``qwen2_moe_shared``: Qwen2MoeForCausalLM, whose sparse block has the shared
  expert behind a sigmoid gate (transformers' Qwen3-MoE has none).
- ``qwen3_sharded``: the Qwen3 model saved in several shards
  (``model.safetensors.index.json``).
- ``qwen3_f16`` / ``qwen3_bf16``: stored in half precision; the reference
  logits are the f32 model run with the weights rounded to that dtype.

All weights are re-drawn from a seeded generator (transformers' own init can
leave MoE routers at zero, i.e. ties) with scales that keep logits and router
choices well separated; the script checks that greedy generation equals
argmax over full recomputation and records the smallest top-1/top-2 logit
margin and router top-k gap in the manifest.
"""

from __future__ import annotations

import math

import torch
from common import Fixture, only_requested
from transformers import (
    Qwen2Config,
    Qwen2ForCausalLM,
    Qwen2MoeConfig,
    Qwen2MoeForCausalLM,
    Qwen3Config,
    Qwen3ForCausalLM,
    Qwen3MoeConfig,
    Qwen3MoeForCausalLM,
)

SEED = 1234
PROMPT_LEN = 12
NEW_TOKENS = 32

BASE = dict(
    vocab_size=256,
    hidden_size=32,
    intermediate_size=64,
    num_hidden_layers=3,
    num_attention_heads=4,
    num_key_value_heads=2,
    rms_norm_eps=1e-6,
    max_position_embeddings=128,
    bos_token_id=None,
    eos_token_id=None,
    pad_token_id=None,
    attn_implementation="eager",
)
MOE = dict(num_experts=4, num_experts_per_tok=2, moe_intermediate_size=16)


def redraw(model: torch.nn.Module, gen: torch.Generator) -> None:
    """Re-draws every parameter: norms 1 + 0.1 N, biases 0.1 N, matrices and
    embeddings N / sqrt(last dim), so that activations and logits stay O(1)
    (routers twice that, for clear choices)."""
    with torch.no_grad():
        for name, p in model.named_parameters():
            noise = torch.randn(p.shape, generator=gen, dtype=torch.float32)
            if name.endswith("norm.weight"):
                p.copy_(1.0 + 0.1 * noise)
            elif name.endswith(".bias"):
                p.copy_(0.1 * noise)
            else:
                scale = 2.0 if name.endswith("mlp.gate.weight") else 1.0
                p.copy_(noise * scale / math.sqrt(p.shape[-1]))


def build(cls, cfg_cls, gen, **kw):
    cfg = cfg_cls(**{**BASE, **kw})
    model = cls(cfg).eval()
    redraw(model, gen)
    if cfg.tie_word_embeddings:
        model.tie_weights()
    return model


def margin(logits: torch.Tensor) -> float:
    top = torch.topk(logits, 2, dim=-1).values
    return float((top[..., 0] - top[..., 1]).min())


def router_gap(model, ids) -> float | None:
    """Smallest gap between the k-th and (k+1)-th router probability."""
    out = model(ids, output_router_logits=True)
    logits = getattr(out, "router_logits", None)
    if not logits:
        return None
    k = model.config.num_experts_per_tok
    gaps = []
    for layer in logits:
        probs = torch.softmax(layer.float(), dim=-1)
        top = torch.topk(probs, k + 1, dim=-1).values
        gaps.append(float((top[:, k - 1] - top[:, k]).min()))
    return min(gaps)


def naive_greedy(model, ids, n):
    seq = ids
    for _ in range(n):
        nxt = model(seq).logits[:, -1].argmax(-1, keepdim=True)
        seq = torch.cat([seq, nxt], dim=1)
    return seq[0, ids.shape[1]:]


def reference(model, ids, generate: bool) -> tuple[dict, dict]:
    with torch.no_grad():
        out = model(ids, output_hidden_states=True)
        tensors = {"input_ids": ids, "logits": out.logits[0]}
        for i, h in enumerate(out.hidden_states):
            tensors[f"hidden_states.{i}"] = h[0]
        stats = {"min_logit_margin_prompt": margin(out.logits[0])}
        gap = router_gap(model, ids)
        if gap is not None:
            stats["min_router_gap_prompt"] = gap
        if generate:
            gen_ids = model.generate(
                ids, max_new_tokens=NEW_TOKENS, min_new_tokens=NEW_TOKENS, do_sample=False, pad_token_id=0
            )[0, ids.shape[1]:]
            naive = naive_greedy(model, ids, NEW_TOKENS)
            assert torch.equal(gen_ids, naive), "generate() disagrees with full recomputation"
            full = torch.cat([ids[0], gen_ids])[None]
            logits = model(full).logits[0, ids.shape[1] - 1 : -1]
            stats["min_logit_margin_generated"] = margin(logits)
            tensors["generated"] = gen_ids
    return tensors, stats


def write(name, model, gen, *, generate=True, dtype=None, shard=None, params=None):
    if not only_requested(name):
        return
    with Fixture(name, __file__, seed=SEED, params=params or {}) as fx:
        if dtype is not None:
            model = model.to(dtype)
            model.config.dtype = dtype
        kw = {"max_shard_size": shard} if shard else {}
        model.save_pretrained(fx.dir, **kw)
        # The reference runs in f32 on the stored (possibly rounded) weights,
        # loaded back as a user would (buffers such as `inv_freq` recomputed
        # in f32, not round-tripped through the storage dtype).
        ref_model = type(model).from_pretrained(fx.dir, dtype=torch.float32, attn_implementation="eager").eval()
        # Draw prompts until greedy choices and router top-k are clear-cut
        # (margins far above f32 noise), so the fixture cannot flip on rounding.
        for attempt in range(20):
            ids = torch.randint(0, model.config.vocab_size, (1, PROMPT_LEN), generator=gen)
            tensors, stats = reference(ref_model, ids, generate)
            if stats.get("min_logit_margin_generated", 1.0) > 1e-3 and stats.get("min_router_gap_prompt", 1.0) > 1e-4:
                break
        else:
            raise SystemExit(f"{name}: no prompt with clear margins in 20 draws: {stats}")
        stats["prompt_draw"] = attempt
        fx.save_tensors(tensors)
        fx.extra["checks"] = stats


def main() -> None:
    families = [
        ("qwen2_tiny", Qwen2ForCausalLM, Qwen2Config, {}),
        ("qwen2_sliding", Qwen2ForCausalLM, Qwen2Config,
         dict(use_sliding_window=True, sliding_window=4, max_window_layers=1)),
        ("qwen3_tiny", Qwen3ForCausalLM, Qwen3Config, dict(head_dim=8, tie_word_embeddings=True)),
        ("qwen3_sliding", Qwen3ForCausalLM, Qwen3Config,
         dict(head_dim=8, use_sliding_window=True, sliding_window=4, max_window_layers=1)),
        ("qwen3_moe_tiny", Qwen3MoeForCausalLM, Qwen3MoeConfig,
         dict(head_dim=8, norm_topk_prob=False, mlp_only_layers=[1], **MOE)),
        ("qwen3_moe_norm", Qwen3MoeForCausalLM, Qwen3MoeConfig,
         dict(head_dim=8, norm_topk_prob=True, **MOE)),
        ("qwen3_moe_sliding", Qwen3MoeForCausalLM, Qwen3MoeConfig,
         dict(head_dim=8, norm_topk_prob=True, use_sliding_window=True, sliding_window=4, **MOE)),
        ("qwen2_moe_shared", Qwen2MoeForCausalLM, Qwen2MoeConfig,
         dict(shared_expert_intermediate_size=48, norm_topk_prob=False, **MOE)),
    ]
    for i, (name, cls, cfg_cls, kw) in enumerate(families):
        gen = torch.Generator().manual_seed(SEED + i)
        model = build(cls, cfg_cls, gen, **kw)
        write(name, model, gen, params={"class": cls.__name__, **kw})

    storage = [
        ("qwen3_sharded", dict(shard="40KB")),
        ("qwen3_f16", dict(dtype=torch.float16)),
        ("qwen3_bf16", dict(dtype=torch.bfloat16)),
    ]
    for i, (name, kw) in enumerate(storage):
        gen = torch.Generator().manual_seed(SEED + 100 + i)
        model = build(Qwen3ForCausalLM, Qwen3Config, gen, head_dim=8)
        params = {"class": "Qwen3ForCausalLM", **{k: str(v) for k, v in kw.items()}}
        write(name, model, gen, generate=False, params=params, **kw)


if __name__ == "__main__":
    main()
