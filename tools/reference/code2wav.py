"""Reference fixture for Qwen3-Omni's Code2Wav (codec codes -> waveform).

``code2wav_tiny``: a tiny ``Qwen3OmniMoeCode2Wav`` saved with
``save_pretrained`` (standalone layout: no ``code2wav.`` prefix, the
code2wav config as ``config.json``). Every weight is re-drawn from a seeded
generator: transformers' init leaves SnakeBeta's alpha/beta at 0 and the
LayerScales and ConvNeXt gammas near 0, which would hide those paths. The
sliding window (4) is much shorter than the sequence (40 frames), so the
window matters; GQA (2 query heads, 1 KV head); two upsampling stages and
two decoder blocks with different strides.

``reference.safetensors``:

- ``codes`` [num_quantizers, frames] int64;
- ``embeddings`` [frames, hidden]: the code-embedding mean over quantizers;
- ``pre_transformer`` [frames, hidden]: ``pre_transformer(...).last_hidden_state``;
- ``upsample.{i}`` [hidden, frames * prod(ratios[:i+1])]: after each
  upsampling stage (transposed conv + ConvNeXt block);
- ``decoder.{i}`` [channels, samples]: after each module of ``decoder``
  (the last one is the waveform before ``clamp``);
- ``wav`` [samples]: ``forward(codes)``, clamped to [-1, 1];
- ``chunked.c{C}_l{L}`` [samples]: ``chunked_decode(codes, chunk_size=C,
  left_context_size=L)`` for small chunks (several chunks, context shorter
  and longer than a chunk) and for the defaults 300/25 (one chunk here).
"""

from __future__ import annotations

import math

import torch
from common import Fixture, only_requested
from transformers.models.qwen3_omni_moe.configuration_qwen3_omni_moe import Qwen3OmniMoeCode2WavConfig
from transformers.models.qwen3_omni_moe.modeling_qwen3_omni_moe import Qwen3OmniMoeCode2Wav

NAME = "code2wav_tiny"
SEED = 11
FRAMES = 40
PARAMS = dict(
    codebook_size=16,
    num_quantizers=3,
    hidden_size=16,
    intermediate_size=32,
    num_hidden_layers=2,
    num_attention_heads=2,
    num_key_value_heads=1,
    sliding_window=4,
    rms_norm_eps=1e-5,
    max_position_embeddings=256,
    rope_parameters={"rope_type": "default", "rope_theta": 10000.0},
    upsample_rates=[3, 2],
    upsampling_ratios=[2, 2],
    decoder_dim=16,
)
# (chunk_size, left_context_size) pairs for chunked_decode.
CHUNKED = [(8, 3), (6, 9), (300, 25)]


def redraw(model: Qwen3OmniMoeCode2Wav, gen: torch.Generator) -> None:
    """Re-draws every parameter so that each path changes the output."""
    with torch.no_grad():
        for name, p in model.named_parameters():
            noise = torch.randn(p.shape, generator=gen)
            leaf = name.rsplit(".", 1)[-1]
            if leaf in ("alpha", "beta"):
                # SnakeBeta stores log-scales: exp(alpha) is the frequency,
                # 1 / exp(beta) the magnitude.
                p.copy_(0.4 * noise)
            elif leaf in ("scale", "gamma"):
                # LayerScale / ConvNeXt gamma: order one, not 0.01 / 1e-6.
                p.copy_(0.5 + 0.3 * noise)
            elif "norm" in name and leaf == "weight":
                p.copy_(1.0 + 0.1 * noise)
            elif leaf == "bias":
                p.copy_(0.1 * noise)
            elif "code_embedding" in name:
                p.copy_(noise)
            elif p.dim() == 3:
                # Conv1d [out, in/groups, k]; ConvTranspose1d [in, out, k].
                fan_in = p.shape[1] * p.shape[2]
                if ".block.1.conv" in name or name.endswith(".0.conv.weight") and name.startswith("upsample."):
                    fan_in = p.shape[0] * 2  # transposed: each output sees about 2 * in taps
                p.copy_(noise / math.sqrt(fan_in))
            else:
                p.copy_(noise / math.sqrt(p.shape[-1]))


def calibrate_output(model: Qwen3OmniMoeCode2Wav, codes: torch.Tensor) -> None:
    """Scales the last convolution so that the waveform's standard deviation
    is 0.4 before clamping: clamping then hides few samples, and a few still
    clip, which exercises the clamp."""
    last = model.decoder[-1].conv
    with torch.no_grad():
        last.bias.zero_()
        hidden = model.code_embedding(codes + model.code_offset).mean(1)
        hidden = model.pre_transformer(inputs_embeds=hidden).last_hidden_state.permute(0, 2, 1)
        for blocks in model.upsample:
            for block in blocks:
                hidden = block(hidden)
        for block in model.decoder:
            hidden = block(hidden)
        last.weight.mul_(0.4 / hidden.std())


def main() -> None:
    if not only_requested(NAME):
        return
    with Fixture(NAME, __file__, seed=SEED, params={**PARAMS, "frames": FRAMES, "chunked": CHUNKED}) as fx:
        gen = torch.Generator().manual_seed(SEED)
        cfg = Qwen3OmniMoeCode2WavConfig(**PARAMS)
        cfg._attn_implementation = "eager"
        model = Qwen3OmniMoeCode2Wav(cfg).eval()
        redraw(model, gen)
        codes = torch.randint(0, cfg.codebook_size, (1, cfg.num_quantizers, FRAMES), generator=gen)
        calibrate_output(model, codes)
        model.save_pretrained(fx.dir)
        out = {"codes": codes[0]}
        with torch.no_grad():
            emb = model.code_embedding(codes + model.code_offset).mean(1)
            out["embeddings"] = emb[0]
            hidden = model.pre_transformer(inputs_embeds=emb).last_hidden_state
            out["pre_transformer"] = hidden[0]
            hidden = hidden.permute(0, 2, 1)
            for i, blocks in enumerate(model.upsample):
                for block in blocks:
                    hidden = block(hidden)
                out[f"upsample.{i}"] = hidden[0]
            for i, block in enumerate(model.decoder):
                hidden = block(hidden)
                out[f"decoder.{i}"] = hidden[0]
            wav = model(codes)
            assert torch.equal(wav, hidden.clamp(-1, 1))
            out["wav"] = wav.reshape(-1)
            for c, l in CHUNKED:
                out[f"chunked.c{c}_l{l}"] = model.chunked_decode(codes, chunk_size=c, left_context_size=l).reshape(-1)
        pre = hidden.reshape(-1)
        fx.extra["checks"] = {
            "samples": int(pre.numel()),
            "samples_per_frame": int(model.total_upsample),
            "clipped_fraction": float((pre.abs() > 1).float().mean()),
            "wav_std": float(wav.std()),
        }
        fx.save_tensors(out)


if __name__ == "__main__":
    main()
