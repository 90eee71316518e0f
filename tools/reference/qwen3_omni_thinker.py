"""Reference fixtures for the Qwen3-Omni thinker: two tiny, complete Qwen3-Omni
checkpoints in Hub layout, and what transformers' thinker does with them.

Each fixture directory is a checkpoint a server could be pointed at:
``config.json`` (a ``Qwen3OmniMoeConfig``: thinker with audio, vision and text
configs, talker, code2wav), sharded safetensors with
``model.safetensors.index.json`` and the ``thinker.`` / ``talker.`` /
``code2wav.`` prefixes, MoE experts stored one tensor per expert (as
``save_pretrained`` writes them), ``generation_config.json``, and the tiny
Qwen-style tokenizer (tokenizer_bpe.py) with the Qwen3-Omni chat template and
a Whisper ``preprocessor_config.json`` (processor.py). Every weight is re-drawn
from a seeded generator (transformers' own init leaves MoE routers at zero).

``qwen3_omni_thinker`` (random weights). ``cases.json`` holds the
conversation (system text; a user turn with audio then text; an assistant
answer; a user turn with text then a second clip); ``reference.safetensors``:

- ``clip.{i}``: the 16 kHz samples of each clip;
- ``input_ids`` [T] and ``features.{i}`` [128, frames_i]: what
  ``Qwen3OmniMoeProcessor.apply_chat_template`` makes of it;
- ``audio_embeds`` [audio tokens, hidden]: the audio tower's output;
- ``logits`` [T, vocab] and ``hidden_states.{i}`` [T, hidden] (``0`` is the
  input embedding with audio merged in) of one thinker forward pass;
- ``greedy_plain``: 32 tokens of
  ``Qwen3OmniMoeThinkerForConditionalGeneration.generate`` with greedy search
  and no penalties (EOS = the generation config's eos ids);
- ``greedy_defaults``: greedy search with the checkpoint's
  ``generation_config.json`` otherwise in force (its repetition penalty and
  suppressed tokens change the output).

``qwen3_omni_tool_call``: the same architecture, briefly trained (overfit) on
one prompt rendered with ``tools`` (user audio + "What's the weather in
Paris?") so that its greedy reply is a tool call; ``reference.safetensors``
holds the clip, ``input_ids``, ``features.0`` and ``greedy`` (the generated
ids, asserted here to contain ``<tool_call>`` and the call's JSON).
"""

from __future__ import annotations

import copy
import json
import math
import shutil
import sys
from pathlib import Path

import numpy as np
import torch

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from common import ROOT, Fixture, only_requested, sha256_file  # noqa: E402
from logmel import espeak_clip  # noqa: E402
from processor import TEMPLATE, make_processor  # noqa: E402
from tokenizer_bpe import build_tokenizer, save_and_reload  # noqa: E402
from transformers import GenerationConfig  # noqa: E402
from transformers.models.qwen3_omni_moe.configuration_qwen3_omni_moe import Qwen3OmniMoeConfig  # noqa: E402
from transformers.models.qwen3_omni_moe.modeling_qwen3_omni_moe import (  # noqa: E402
    Qwen3OmniMoeForConditionalGeneration,
)

NAME = "qwen3_omni_thinker"
TOOL_NAME = "qwen3_omni_tool_call"
SEED = 21
TOOL_SEED = 22
SHARD = "250KB"
MAX_NEW = 32
TOOL_MAX_NEW = 48

# Token ids of the tiny tokenizer (tokenizer_bpe.py): the added tokens, and the
# first token of each role name ("user" is two tokens there; its first is what
# the talker's role detection compares with).
IDS = dict(im_end=1200, endoftext=1201, audio_pad=1202, audio_start=1203, audio_end=1204, image_pad=1205,
           video_pad=1206, vision_start=1207, vision_end=1208, im_start=1209, tts_pad=1229, tts_bos=1230,
           tts_eos=1231, system=683, user=977, assistant=472)
VOCAB = 1233


def config_dict() -> dict:
    text = dict(vocab_size=VOCAB, hidden_size=32, intermediate_size=64, num_hidden_layers=3, num_attention_heads=4,
                num_key_value_heads=2, head_dim=16, num_experts=4, num_experts_per_tok=2, moe_intermediate_size=16,
                norm_topk_prob=True, rms_norm_eps=1e-6, max_position_embeddings=4096,
                rope_parameters={"rope_type": "default", "rope_theta": 1000000.0, "mrope_section": [4, 2, 2],
                                 "interleaved": True})
    audio = dict(num_mel_bins=128, encoder_layers=2, encoder_attention_heads=4, encoder_ffn_dim=64, d_model=32,
                 output_dim=32, n_window=50, n_window_infer=800, downsample_hidden_size=4, max_source_positions=1500)
    vision = dict(depth=1, hidden_size=16, intermediate_size=32, num_heads=2, out_hidden_size=32, patch_size=4,
                  deepstack_visual_indexes=[0], num_position_embeddings=16)
    thinker = dict(audio_config=audio, vision_config=vision, text_config=text, audio_token_id=IDS["audio_pad"],
                   audio_start_token_id=IDS["audio_start"], audio_end_token_id=IDS["audio_end"],
                   image_token_id=IDS["image_pad"], video_token_id=IDS["video_pad"],
                   vision_start_token_id=IDS["vision_start"], vision_end_token_id=IDS["vision_end"],
                   user_token_id=IDS["user"], position_id_per_seconds=13, seconds_per_chunk=2)
    talker_text = dict(vocab_size=64, hidden_size=16, intermediate_size=32, num_hidden_layers=2,
                       num_attention_heads=2, num_key_value_heads=1, head_dim=8, num_experts=4, num_experts_per_tok=2,
                       moe_intermediate_size=8, shared_expert_intermediate_size=16, norm_topk_prob=True,
                       rope_parameters={"rope_type": "default", "rope_theta": 1000000.0, "mrope_section": [2, 1, 1],
                                        "interleaved": True})
    predictor = dict(vocab_size=32, hidden_size=16, intermediate_size=32, num_hidden_layers=1, num_attention_heads=2,
                     num_key_value_heads=1, head_dim=8, num_code_groups=4,
                     rope_parameters={"rope_type": "default", "rope_theta": 1000000.0})
    talker = dict(text_config=talker_text, code_predictor_config=predictor, num_code_groups=4, thinker_hidden_size=32,
                  accept_hidden_layer=2, codec_pad_id=50, codec_bos_id=51, codec_eos_token_id=52, codec_nothink_id=53,
                  codec_think_bos_id=54, codec_think_eos_id=55, speaker_id={"chelsie": 60, "ethan": 61},
                  spatial_merge_size=2, position_id_per_seconds=13, seconds_per_chunk=2,
                  audio_token_id=IDS["audio_pad"], audio_start_token_id=IDS["audio_start"],
                  image_token_id=IDS["image_pad"], video_token_id=IDS["video_pad"],
                  vision_start_token_id=IDS["vision_start"])
    code2wav = dict(codebook_size=32, hidden_size=16, num_attention_heads=2, num_key_value_heads=2,
                    intermediate_size=32, num_hidden_layers=1, num_quantizers=4, upsample_rates=[2, 2],
                    upsampling_ratios=[2], decoder_dim=16, sliding_window=8)
    return dict(thinker_config=thinker, talker_config=talker, code2wav_config=code2wav,
                im_start_token_id=IDS["im_start"], im_end_token_id=IDS["im_end"], tts_pad_token_id=IDS["tts_pad"],
                tts_bos_token_id=IDS["tts_bos"], tts_eos_token_id=IDS["tts_eos"], system_token_id=IDS["system"],
                user_token_id=IDS["user"], assistant_token_id=IDS["assistant"])


def redraw(model: torch.nn.Module, gen: torch.Generator) -> None:
    """Every parameter re-drawn: norm scales near 1, other vectors small,
    embeddings N(0, 1), matrices ~ 1/sqrt(fan_in) (routers x2 for clear top-k)."""
    with torch.no_grad():
        for name, p in model.named_parameters():
            noise = torch.randn(p.shape, generator=gen)
            if p.ndim == 1 and ("norm" in name or name.endswith("ln_post.weight") or name.endswith("ln_q.weight")):
                p.copy_(1.0 + 0.1 * noise)
            elif p.ndim == 1:
                p.copy_(0.1 * noise)
            elif "embed" in name or "embedding" in name:
                p.copy_(noise)
            else:
                scale = 2.0 if name.endswith("mlp.gate.weight") else 1.0
                p.copy_(noise * scale / math.sqrt(p[0].numel()))


def tiny_model(seed: int) -> Qwen3OmniMoeForConditionalGeneration:
    cfg = Qwen3OmniMoeConfig(**copy.deepcopy(config_dict()))
    cfg.thinker_config._attn_implementation = "eager"
    model = Qwen3OmniMoeForConditionalGeneration(cfg).eval()
    redraw(model, torch.Generator().manual_seed(seed))
    return model


def clips(base: np.ndarray) -> list[np.ndarray]:
    # 1.3 s and 2.45 s of speech: 130 and 245 mel frames (17 and 32 audio tokens).
    return [base[:20_800].copy(), base[12_000:12_000 + 39_200].copy()]


SYSTEM = {"role": "system", "content": "You are Qwen, a virtual human developed by the Qwen Team."}
CONVERSATION = [
    SYSTEM,
    {"role": "user", "content": [{"type": "audio", "audio": "clip:0"}, {"type": "text", "text": "What is said?"}]},
    {"role": "assistant", "content": "Someone is reading a sentence."},
    {"role": "user", "content": [{"type": "text", "text": "And in this one?"}, {"type": "audio", "audio": "clip:1"}]},
]
WEATHER = {"type": "function", "function": {"name": "get_weather", "description": "Weather of a city.",
           "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}
TOOL_CONVERSATION = [
    SYSTEM,
    {"role": "user", "content": [{"type": "audio", "audio": "clip:0"},
                                 {"type": "text", "text": "What's the weather in Paris?"}]},
]
TOOL_KWARGS = {"enable_thinking": False}
TOOL_REPLY = '<tool_call>\n{"name": "get_weather", "arguments": {"city": "Paris"}}\n</tool_call><|im_end|>'


def with_audio(messages, audio):
    out = []
    for m in messages:
        m = dict(m)
        if isinstance(m["content"], list):
            m["content"] = [dict(b, audio=audio[int(b["audio"].split(":")[1])]) if b.get("type") == "audio" else b
                            for b in m["content"]]
        out.append(m)
    return out


def write_checkpoint(fx: Fixture, model, tok, generation: dict) -> None:
    """Hub layout: sharded weights, configs, tokenizer, template, preprocessor."""
    model.save_pretrained(fx.dir, max_shard_size=SHARD)
    (fx.dir / "generation_config.json").write_text(json.dumps(generation, indent=2, sort_keys=True) + "\n")
    shutil.copyfile(TEMPLATE, fx.dir / "chat_template.json")


def prepare(fx: Fixture):
    tok = save_and_reload(build_tokenizer(), fx.dir)
    template = json.loads(TEMPLATE.read_text())["chat_template"]
    fe, proc = make_processor(tok, template)
    fe.save_pretrained(str(fx.dir))
    return tok, proc


def process(proc, messages, audio, tools=None, kwargs=None):
    return proc.apply_chat_template(with_audio(messages, audio), tools=tools, add_generation_prompt=True,
                                    tokenize=True, return_dict=True, return_tensors="pt", **(kwargs or {}))


def greedy(thinker, inputs, gen_cfg: GenerationConfig, max_new: int) -> torch.Tensor:
    gen_cfg = copy.deepcopy(gen_cfg)
    gen_cfg.do_sample = False
    gen_cfg.max_new_tokens = max_new
    with torch.no_grad():
        out = thinker.generate(**inputs, generation_config=gen_cfg, output_scores=True,
                               return_dict_in_generate=True)
    new = out.sequences[0, inputs["input_ids"].shape[1]:]
    # Greedy parity needs clear winners: report the smallest top-2 gap.
    gaps = [float(s[0].topk(2).values[0] - s[0].topk(2).values[1]) for s in out.scores]
    print(f"  greedy {len(new)} tokens, smallest top-2 logit gap {min(gaps):.4f}")
    assert min(gaps) > 1e-3, "a near tie on the greedy path would make parity fragile; change the seed"
    return new


def masked_features(inputs) -> list[torch.Tensor]:
    lens = inputs["feature_attention_mask"].sum(-1).tolist()
    return [inputs["input_features"][i][:, :n].contiguous() for i, n in enumerate(lens)]


def thinker_fixture(base: np.ndarray) -> None:
    with Fixture(NAME, __file__, seed=SEED, params={"config": config_dict(), "max_new_tokens": MAX_NEW}) as fx:
        tok, proc = prepare(fx)
        generation = {"bos_token_id": IDS["endoftext"], "eos_token_id": [IDS["im_end"], IDS["endoftext"]],
                      "pad_token_id": IDS["endoftext"], "do_sample": True, "temperature": 0.7, "top_p": 0.8,
                      "top_k": 20, "repetition_penalty": 1.3, "suppress_tokens": [], "transformers_version": "5.24.0"}
        model = tiny_model(SEED)
        audio = clips(base)
        inputs = process(proc, CONVERSATION, audio)
        thinker = model.thinker
        plain = GenerationConfig(eos_token_id=generation["eos_token_id"], pad_token_id=IDS["endoftext"])
        greedy_plain = greedy(thinker, inputs, plain, MAX_NEW)
        assert len(greedy_plain) == MAX_NEW, "the random model stopped early; change the seed"
        # Suppress the first plain greedy token so the defaults visibly matter.
        generation["suppress_tokens"] = [int(greedy_plain[0]), int(greedy_plain[3])]
        write_checkpoint(fx, model, tok, generation)

        model = Qwen3OmniMoeForConditionalGeneration.from_pretrained(fx.dir, dtype=torch.float32).eval()
        model.thinker.config._attn_implementation = "eager"
        thinker = model.thinker
        with torch.no_grad():
            out = thinker(**inputs, output_hidden_states=True)
            audio_embeds = thinker.get_audio_features(inputs["input_features"],
                                                      inputs["feature_attention_mask"]).last_hidden_state
        again = greedy(thinker, inputs, plain, MAX_NEW)
        assert torch.equal(again, greedy_plain), "reloading the saved checkpoint changed the output"
        defaults = greedy(thinker, inputs, GenerationConfig.from_pretrained(fx.dir), MAX_NEW)
        assert not torch.equal(defaults, greedy_plain), "the generation config made no difference"
        tensors = {f"clip.{i}": torch.from_numpy(c) for i, c in enumerate(audio)}
        tensors.update({f"features.{i}": f for i, f in enumerate(masked_features(inputs))})
        tensors.update({"input_ids": inputs["input_ids"][0], "audio_embeds": audio_embeds, "logits": out.logits[0],
                        "greedy_plain": greedy_plain, "greedy_defaults": defaults})
        for i, h in enumerate(out.hidden_states):
            tensors[f"hidden_states.{i}"] = h[0]
        fx.save_tensors(tensors)
        fx.save_json({"messages": CONVERSATION, "tools": None, "kwargs": {},
                      "text": tok.decode(inputs["input_ids"][0]),
                      "greedy_plain_text": tok.decode(greedy_plain),
                      "greedy_defaults_text": tok.decode(defaults)}, "cases.json")
        record_sources(fx)


def train(model, inputs, target: torch.Tensor, steps: int = 300) -> None:
    thinker = model.thinker
    ids = torch.cat([inputs["input_ids"], target[None]], dim=1)
    labels = torch.cat([torch.full_like(inputs["input_ids"], -100), target[None]], dim=1)
    opt = torch.optim.Adam(thinker.parameters(), lr=3e-3)
    thinker.train()
    for step in range(steps):
        opt.zero_grad()
        out = thinker(input_ids=ids, attention_mask=torch.ones_like(ids), input_features=inputs["input_features"],
                      feature_attention_mask=inputs["feature_attention_mask"], labels=labels)
        out.loss.backward()
        opt.step()
        if step % 100 == 0 or step == steps - 1:
            print(f"  step {step}: loss {out.loss.item():.4f}")
    thinker.eval()


def tool_fixture(base: np.ndarray) -> None:
    with Fixture(TOOL_NAME, __file__, seed=TOOL_SEED, params={"config": config_dict(), "reply": TOOL_REPLY,
                                                               "max_new_tokens": TOOL_MAX_NEW}) as fx:
        tok, proc = prepare(fx)
        generation = {"bos_token_id": IDS["endoftext"], "eos_token_id": [IDS["im_end"], IDS["endoftext"]],
                      "pad_token_id": IDS["endoftext"], "do_sample": False, "repetition_penalty": 1.0,
                      "transformers_version": "5.24.0"}
        model = tiny_model(TOOL_SEED)
        audio = [clips(base)[0]]
        inputs = process(proc, TOOL_CONVERSATION, audio, tools=[WEATHER], kwargs=TOOL_KWARGS)
        target = torch.tensor(tok.encode(TOOL_REPLY, add_special_tokens=False))
        train(model, inputs, target)
        write_checkpoint(fx, model, tok, generation)
        model = Qwen3OmniMoeForConditionalGeneration.from_pretrained(fx.dir, dtype=torch.float32).eval()
        model.thinker.config._attn_implementation = "eager"
        out = greedy(model.thinker, inputs, GenerationConfig.from_pretrained(fx.dir), TOOL_MAX_NEW)
        text = tok.decode(out)
        print(f"  reply: {text!r}")
        assert '<tool_call>\n{"name": "get_weather", "arguments": {"city": "Paris"}}\n</tool_call>' in text, text
        tensors = {"clip.0": torch.from_numpy(audio[0]), "input_ids": inputs["input_ids"][0], "greedy": out}
        tensors.update({f"features.{i}": f for i, f in enumerate(masked_features(inputs))})
        fx.save_tensors(tensors)
        fx.save_json({"messages": TOOL_CONVERSATION, "tools": [WEATHER], "kwargs": TOOL_KWARGS,
                      "text": tok.decode(inputs["input_ids"][0]), "greedy_text": text}, "cases.json")
        record_sources(fx)


def record_sources(fx: Fixture) -> None:
    fx.extra["sources"] = {
        p.relative_to(ROOT).as_posix(): sha256_file(p)
        for p in [Path(__file__).resolve(), HERE / "common.py", HERE / "tokenizer_bpe.py", HERE / "processor.py",
                  HERE / "logmel.py", TEMPLATE]
    }


def main() -> None:
    wanted = [n for n in (NAME, TOOL_NAME) if only_requested(n)]
    if not wanted:
        return
    base = espeak_clip()
    if NAME in wanted:
        thinker_fixture(base)
    if TOOL_NAME in wanted:
        tool_fixture(base)


if __name__ == "__main__":
    main()
