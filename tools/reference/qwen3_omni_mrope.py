"""Reference fixture for interleaved multimodal RoPE (MRoPE), Qwen3-Omni style.

``qwen3_omni_text_mrope``: a tiny ``Qwen3OmniMoeThinkerTextModel`` (the
thinker's text decoder: QK-norm, sparse MoE with ``norm_topk_prob``, MRoPE)
saved with ``save_pretrained``, run on 3-D position ids whose temporal,
height and width streams differ (a text run, a 2x3 "grid", more text), so
every frequency band of the interleave matters. ``reference.safetensors``:

- ``input_ids`` [1, T], ``position_ids`` [3, T];
- ``rope.cos`` / ``rope.sin`` [T, head_dim]: the rotary tables of
  ``Qwen3OmniMoeThinkerTextRotaryEmbedding`` for those positions;
- ``hidden_states.{i}`` [T, hidden] (the last one is ``last_hidden_state``).
"""

from __future__ import annotations

import math

import torch
from common import Fixture, only_requested
from transformers.models.qwen3_omni_moe.configuration_qwen3_omni_moe import Qwen3OmniMoeTextConfig
from transformers.models.qwen3_omni_moe.modeling_qwen3_omni_moe import Qwen3OmniMoeThinkerTextModel

NAME = "qwen3_omni_text_mrope"
SEED = 7
PARAMS = dict(
    vocab_size=128,
    hidden_size=32,
    intermediate_size=64,
    num_hidden_layers=2,
    num_attention_heads=4,
    num_key_value_heads=2,
    head_dim=16,
    num_experts=4,
    num_experts_per_tok=2,
    moe_intermediate_size=16,
    norm_topk_prob=True,
    rms_norm_eps=1e-6,
    max_position_embeddings=128,
    rope_parameters={"rope_type": "default", "rope_theta": 10000.0, "mrope_section": [4, 2, 2], "interleaved": True},
)


def positions() -> torch.Tensor:
    """4 text tokens, a 2x3 grid at temporal position 4, then 3 text tokens."""
    t, h, w = [], [], []
    for p in range(4):
        t.append(p); h.append(p); w.append(p)
    for i in range(2):
        for j in range(3):
            t.append(4); h.append(4 + i); w.append(4 + j)
    for p in range(7, 10):
        t.append(p); h.append(p); w.append(p)
    return torch.tensor([t, h, w])


def main() -> None:
    if not only_requested(NAME):
        return
    with Fixture(NAME, __file__, seed=SEED, params=PARAMS) as fx:
        gen = torch.Generator().manual_seed(SEED)
        cfg = Qwen3OmniMoeTextConfig(**PARAMS, attn_implementation="eager")
        model = Qwen3OmniMoeThinkerTextModel(cfg).eval()
        with torch.no_grad():
            for name, p in model.named_parameters():
                noise = torch.randn(p.shape, generator=gen)
                if name.endswith("norm.weight"):
                    p.copy_(1.0 + 0.1 * noise)
                elif "embed_tokens" in name:
                    p.copy_(noise)
                else:
                    scale = 2.0 if name.endswith("mlp.gate.weight") else 1.0
                    p.copy_(noise * scale / math.sqrt(p.shape[-1]))
        model.save_pretrained(fx.dir)
        pos = positions()
        n = pos.shape[1]
        ids = torch.randint(0, cfg.vocab_size, (1, n), generator=gen)
        with torch.no_grad():
            x = model.embed_tokens(ids)
            cos, sin = model.rotary_emb(x, pos[:, None, :])
            out = model(input_ids=ids, position_ids=pos[:, None, :], output_hidden_states=True)
        tensors = {
            "input_ids": ids,
            "position_ids": pos,
            "rope.cos": cos[0],
            "rope.sin": sin[0],
        }
        for i, h in enumerate(out.hidden_states):
            tensors[f"hidden_states.{i}"] = h[0]
        fx.save_tensors(tensors)


if __name__ == "__main__":
    main()
