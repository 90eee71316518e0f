"""Reference fixture for Qwen3-Omni's audio encoder (`Qwen3OmniMoeAudioEncoder`).

``qwen3_omni_audio_encoder``: a tiny encoder (every weight re-drawn, seeded)
saved with ``save_pretrained``, run the way the thinker runs it: the log-mel
frames of all clips of a prompt concatenated along time, with their lengths
(``feature_lens``). Cases (``reference.safetensors``):

- ``multi``: three clips of 37, 250 and 431 frames in one call (tails that are
  not a multiple of the 100-frame chunk, several windows per clip), with the
  config's ``n_window_infer`` = 200, i.e. attention windows of 26 tokens;
- ``multi_infer100``: the same input with ``n_window_infer`` = 100 (windows
  of 13 tokens, one per chunk);
- ``short``: one clip of 73 frames (no full chunk: the chunks are not padded
  and the window is 2 x 10 tokens);
- ``exact``: clips of 200 and 100 frames (whole chunks only), plus one of 1.

For each case: ``{case}.features`` [n_mels, frames] (clips back to back),
``{case}.lengths`` [clips], ``{case}.output`` [tokens, output_dim] and
``{case}.hidden_states.{i}`` (the input of encoder layer ``i``, then the
last layer's output, before ``ln_post``).
"""

from __future__ import annotations

import math

import torch
from common import Fixture, only_requested
from transformers.models.qwen3_omni_moe.configuration_qwen3_omni_moe import Qwen3OmniMoeAudioEncoderConfig
from transformers.models.qwen3_omni_moe.modeling_qwen3_omni_moe import Qwen3OmniMoeAudioEncoder

NAME = "qwen3_omni_audio_encoder"
SEED = 11
PARAMS = dict(
    num_mel_bins=32,
    encoder_layers=2,
    encoder_attention_heads=4,
    encoder_ffn_dim=64,
    d_model=32,
    output_dim=24,
    n_window=50,
    n_window_infer=200,
    downsample_hidden_size=8,
    max_source_positions=1500,
    conv_chunksize=500,
)
CASES = {
    "multi": ([37, 250, 431], None),
    "multi_infer100": ([37, 250, 431], 100),
    "short": ([73], None),
    "exact": ([200, 100, 1], None),
}


def redraw(model: torch.nn.Module, gen: torch.Generator) -> None:
    """Every parameter re-drawn: norms near 1, biases small, weights ~ 1/sqrt(fan_in)."""
    with torch.no_grad():
        for name, p in model.named_parameters():
            noise = torch.randn(p.shape, generator=gen)
            if "layer_norm.weight" in name or name.startswith("ln_post.weight"):
                p.copy_(1.0 + 0.1 * noise)
            elif p.ndim == 1:
                p.copy_(0.1 * noise)
            else:
                fan_in = p[0].numel()
                p.copy_(noise / math.sqrt(fan_in))


def main() -> None:
    if not only_requested(NAME):
        return
    with Fixture(NAME, __file__, seed=SEED, params={"config": PARAMS, "cases": CASES}) as fx:
        gen = torch.Generator().manual_seed(SEED)
        cfg = Qwen3OmniMoeAudioEncoderConfig(**PARAMS, attn_implementation="eager")
        model = Qwen3OmniMoeAudioEncoder(cfg).eval()
        redraw(model, gen)
        model.save_pretrained(fx.dir)
        tensors = {}
        for case, (lengths, infer) in CASES.items():
            model.n_window_infer = infer or PARAMS["n_window_infer"]
            feats = torch.randn(PARAMS["num_mel_bins"], sum(lengths), generator=gen)
            lens = torch.tensor(lengths)
            with torch.no_grad():
                out = model(feats, feature_lens=lens, output_hidden_states=True)
            tensors[f"{case}.features"] = feats
            tensors[f"{case}.lengths"] = lens
            tensors[f"{case}.output"] = out.last_hidden_state
            for i, h in enumerate(out.hidden_states):
                tensors[f"{case}.hidden_states.{i}"] = h
        fx.save_tensors(tensors)


if __name__ == "__main__":
    main()
