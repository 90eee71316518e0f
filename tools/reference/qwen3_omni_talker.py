"""Reference fixture for Qwen3-Omni's speech path: talker, code predictor and
Code2Wav behind the thinker, run end to end by transformers'
``Qwen3OmniMoeForConditionalGeneration.generate``.

``fixtures/qwen3_omni_talker/`` is a complete tiny Qwen3-Omni checkpoint in Hub
layout (``config.json``, ``model.safetensors``, ``generation_config.json``, the
tiny Qwen-style tokenizer of tokenizer_bpe.py, the chat template and a Whisper
``preprocessor_config.json``), every weight re-drawn from a seeded generator
(transformers' own init leaves the talker's MoE router at zero, so every
expert would tie). Unlike the thinker fixture's talker, the talker vocabulary
is 1056 = 1024 + 32: ``generate`` always suppresses the top 1024 ids except
codec EOS, so a vocabulary under 1024 would leave nothing but EOS to choose.
The 32 remaining ids are the codec codes (Code2Wav's ``codebook_size``). The
role names ``system``, ``user`` and ``assistant`` are added to the tiny
tokenizer as single tokens, as they are in Qwen3-Omni's vocabulary: the
reference assumes a three-token assistant header.

The conversation is the thinker fixture's (system text; a user turn with
audio then text; an assistant answer; a user turn with text then a second
clip), so the talker's user-turn selection has something to leave out.

``reference.safetensors`` holds, for each case ``{case}`` (``main``: speaker
``Ethan``, the talker stops on codec EOS; ``limit``: speaker ``chelsie``, the
talker hits ``talker_max_new_tokens``):

- ``clip.{i}`` (16 kHz samples) and ``input_ids`` (the processor's prompt);
- ``{case}.sequences``: thinker prompt + greedy reply (``generate``'s first
  output); ``{case}.talker_tokens``: every token the talker generated (EOS
  included); ``{case}.codes`` ``[num_code_groups, frames]``: the codec codes
  handed to Code2Wav; ``{case}.waveform``: the waveform ``generate`` returns
  (``chunked_decode(codes, 300, 25)``);
- ``{case}.talker_input_embeds`` ``[n, talker hidden]`` and
  ``{case}.talker_input_ids``: the talker's prompt (user turns, then the
  assistant priming block), ``{case}.trailing_text_hidden`` ``[m, hidden]``
  and ``tts_pad_embed`` ``[hidden]``: the text it consumes step by step;
- ``{case}.prefill_logits`` ``[12, talker vocab]``: the talker's logits over the
  last 12 rows of its prompt (one plain forward);
- ``{case}.cp_inputs_embeds`` ``[2, hidden]``, ``{case}.cp_scores``
  ``[groups - 1, cp vocab]`` and ``{case}.cp_codes``: the code predictor's
  first frame (its two prefill rows, each step's logits, its codes);
- ``waveform_chunked_7_3``: ``code2wav.chunked_decode(main codes, 7, 3)``
  (several chunks: tests the streamed decoder's chunked mode);
- ``thinker_hidden_accept`` ``[prompt, thinker hidden]``: thinker hidden
  state ``accept_hidden_layer`` over the prompt (the talker's input at audio
  positions).

Everything is greedy: ``thinker_do_sample=False`` and ``talker_do_sample=False``
(the talker copies its ``do_sample`` onto the code predictor in
``_prepare_generation_config``). The talker's 1.05 repetition penalty and its
suppressed ids stay in force, as in every ``generate`` call; the script
asserts that both change the codes, and that no greedy choice was a near tie.
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
from tokenizers import AddedToken

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from common import ROOT, Fixture, only_requested, sha256_file  # noqa: E402
from logmel import espeak_clip  # noqa: E402
from processor import TEMPLATE, make_processor  # noqa: E402
from tokenizer_bpe import build_tokenizer, save_and_reload  # noqa: E402
from transformers.models.qwen3_omni_moe.configuration_qwen3_omni_moe import Qwen3OmniMoeConfig  # noqa: E402
from transformers.models.qwen3_omni_moe.modeling_qwen3_omni_moe import (  # noqa: E402
    Qwen3OmniMoeForConditionalGeneration,
)

NAME = "qwen3_omni_talker"
SEED = 73
THINKER_MAX_NEW = 10
CASES = {  # case -> (speaker, talker_max_new_tokens)
    "main": ("Ethan", 64),
    "limit": ("chelsie", 9),
}
CHUNK, CONTEXT = 7, 3
PREFILL_ROWS = 12  # rows of the talker's prefill logits kept (the assistant block and the user turn's end)

# Token ids of the tiny tokenizer (tokenizer_bpe.py), plus the role names as added tokens 1233-1235: as
# in Qwen3-Omni's own vocabulary, `<|im_start|>assistant\n` is then exactly three tokens, which the reference's
# talker input construction assumes (`_get_talker_assistant_parts` takes three header rows, and `generate`'s EOS
# fix-up counts the text stream from the first generated token).
ROLES = ("system", "user", "assistant")
IDS = dict(im_end=1200, endoftext=1201, audio_pad=1202, audio_start=1203, audio_end=1204, image_pad=1205,
           video_pad=1206, vision_start=1207, vision_end=1208, im_start=1209, tts_pad=1229, tts_bos=1230,
           tts_eos=1231, system=1233, user=1234, assistant=1235)
VOCAB = 1236
CODEBOOK = 32
TALKER_VOCAB = 1024 + CODEBOOK
CODEC = dict(codec_pad_id=1030, codec_bos_id=1031, codec_eos_token_id=1032, codec_nothink_id=1033,
             codec_think_bos_id=1034, codec_think_eos_id=1035)
SPEAKERS = {"chelsie": 1040, "ethan": 1041, "aiden": 1042}


def config_dict() -> dict:
    rope = {"rope_type": "default", "rope_theta": 1000000.0}
    text = dict(vocab_size=VOCAB, hidden_size=32, intermediate_size=64, num_hidden_layers=3, num_attention_heads=4,
                num_key_value_heads=2, head_dim=16, num_experts=4, num_experts_per_tok=2, moe_intermediate_size=16,
                norm_topk_prob=True, rms_norm_eps=1e-6, max_position_embeddings=4096,
                rope_parameters={**rope, "mrope_section": [4, 2, 2], "interleaved": True})
    audio = dict(num_mel_bins=128, encoder_layers=1, encoder_attention_heads=4, encoder_ffn_dim=64, d_model=32,
                 output_dim=32, n_window=50, n_window_infer=800, downsample_hidden_size=4, max_source_positions=1500)
    vision = dict(depth=1, hidden_size=16, intermediate_size=32, num_heads=2, out_hidden_size=32, patch_size=4,
                  deepstack_visual_indexes=[0], num_position_embeddings=16)
    thinker = dict(audio_config=audio, vision_config=vision, text_config=text, audio_token_id=IDS["audio_pad"],
                   audio_start_token_id=IDS["audio_start"], audio_end_token_id=IDS["audio_end"],
                   image_token_id=IDS["image_pad"], video_token_id=IDS["video_pad"],
                   vision_start_token_id=IDS["vision_start"], vision_end_token_id=IDS["vision_end"],
                   user_token_id=IDS["user"], position_id_per_seconds=13, seconds_per_chunk=2)
    talker_text = dict(vocab_size=TALKER_VOCAB, hidden_size=16, intermediate_size=32, num_hidden_layers=2,
                       num_attention_heads=2, num_key_value_heads=1, head_dim=8, num_experts=4, num_experts_per_tok=2,
                       moe_intermediate_size=8, shared_expert_intermediate_size=16, norm_topk_prob=True,
                       rms_norm_eps=1e-6, rope_parameters={**rope, "mrope_section": [2, 1, 1], "interleaved": True})
    predictor = dict(vocab_size=CODEBOOK, hidden_size=16, intermediate_size=32, num_hidden_layers=2,
                     num_attention_heads=2, num_key_value_heads=1, head_dim=8, num_code_groups=4,
                     rope_parameters=rope)
    talker = dict(text_config=talker_text, code_predictor_config=predictor, num_code_groups=4, thinker_hidden_size=32,
                  accept_hidden_layer=2, speaker_id=SPEAKERS, spatial_merge_size=2, position_id_per_seconds=13,
                  seconds_per_chunk=2, audio_token_id=IDS["audio_pad"], audio_start_token_id=IDS["audio_start"],
                  image_token_id=IDS["image_pad"], video_token_id=IDS["video_pad"],
                  vision_start_token_id=IDS["vision_start"], **CODEC)
    code2wav = dict(codebook_size=CODEBOOK, hidden_size=16, num_attention_heads=2, num_key_value_heads=2,
                    intermediate_size=32, num_hidden_layers=1, num_quantizers=4, upsample_rates=[2, 2],
                    upsampling_ratios=[2], decoder_dim=16, sliding_window=8)
    return dict(thinker_config=thinker, talker_config=talker, code2wav_config=code2wav,
                im_start_token_id=IDS["im_start"], im_end_token_id=IDS["im_end"], tts_pad_token_id=IDS["tts_pad"],
                tts_bos_token_id=IDS["tts_bos"], tts_eos_token_id=IDS["tts_eos"], system_token_id=IDS["system"],
                user_token_id=IDS["user"], assistant_token_id=IDS["assistant"])


def redraw(model: torch.nn.Module, gen: torch.Generator) -> None:
    """Every parameter re-drawn: norm scales near 1, other vectors small,
    embeddings N(0, 1), matrices ~ 1/sqrt(fan_in) (fan_in = last dimension;
    routers x2 for clear top-k choices, the talker's and code predictor's
    heads x3 for clear greedy choices)."""
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
                if name.startswith("talker.") and ("codec_head" in name or "lm_head" in name):
                    scale = 3.0
                p.copy_(noise * scale / math.sqrt(p.shape[-1]))


SYSTEM = {"role": "system", "content": "You are Qwen, a virtual human developed by the Qwen Team."}
CONVERSATION = [
    SYSTEM,
    {"role": "user", "content": [{"type": "audio", "audio": "clip:0"}, {"type": "text", "text": "What is said?"}]},
    {"role": "assistant", "content": "Someone is reading a sentence."},
    {"role": "user", "content": [{"type": "text", "text": "And in this one?"}, {"type": "audio", "audio": "clip:1"}]},
]


def clips(base: np.ndarray) -> list[np.ndarray]:
    # 1.0 s and 0.7 s of speech: 100 and 70 mel frames (13 and 10 audio tokens).
    return [base[2_000:18_000].copy(), base[20_000:31_200].copy()]


def with_audio(messages, audio):
    out = []
    for m in messages:
        m = dict(m)
        if isinstance(m["content"], list):
            m["content"] = [dict(b, audio=audio[int(b["audio"].split(":")[1])]) if b.get("type") == "audio" else b
                            for b in m["content"]]
        out.append(m)
    return out


def top2_gap(scores: torch.Tensor) -> float:
    """Smallest gap between the best and second-best finite score of each row."""
    s = scores.reshape(-1, scores.shape[-1]).clone()
    s[~torch.isfinite(s)] = -1e30
    top = s.topk(2, dim=-1).values
    return float((top[:, 0] - top[:, 1]).min())


class Recorder:
    """Wraps the thinker's, the talker's and the code predictor's ``generate``
    to record their inputs, outputs and greedy margins."""

    def __init__(self, model):
        self.model = model
        self.thinker_scores = None
        self.talker_kwargs = None
        self.cp_calls = []
        self._generate = {"thinker": model.thinker.generate, "talker": model.talker.generate,
                          "cp": model.talker.code_predictor.generate}

    def __enter__(self):
        def thinker_generate(**kwargs):
            out = self._generate["thinker"](**dict(kwargs, output_scores=True))
            self.thinker_scores = torch.stack(out.scores, 1)[0].clone()
            return out

        def talker_generate(**kwargs):
            self.talker_kwargs = {k: v for k, v in kwargs.items() if isinstance(v, torch.Tensor)}
            return self._generate["talker"](**kwargs)

        def cp_generate(**kwargs):
            out = self._generate["cp"](**dict(kwargs, output_scores=True))
            self.cp_calls.append((kwargs["inputs_embeds"][0].clone(), torch.stack(out.scores, 1)[0].clone(),
                                  out.sequences[0].clone()))
            return out

        self.model.thinker.generate = thinker_generate
        self.model.talker.generate = talker_generate
        self.model.talker.code_predictor.generate = cp_generate
        return self

    def __exit__(self, *exc):
        del self.model.thinker.generate
        del self.model.talker.generate
        del self.model.talker.code_predictor.generate


def generate(model, inputs, speaker: str, talker_max: int):
    with torch.no_grad():
        return model.generate(**inputs, speaker=speaker, thinker_max_new_tokens=THINKER_MAX_NEW,
                              thinker_eos_token_id=IDS["im_end"], thinker_do_sample=False,
                              talker_max_new_tokens=talker_max, talker_do_sample=False)


SUPPRESSED = [i for i in range(TALKER_VOCAB - 1024, TALKER_VOCAB) if i != CODEC["codec_eos_token_id"]]


def talker_alone(model, kw: dict, talker_max: int, penalty: float = 1.05, suppress=SUPPRESSED):
    """The talker's `generate` on a recorded prompt, as the full `generate` calls it
    (greedy): its tokens, codes [groups, frames] and scores."""
    with torch.no_grad():
        out = model.talker.generate(**kw, max_new_tokens=talker_max, do_sample=False,
                                    eos_token_id=CODEC["codec_eos_token_id"], repetition_penalty=penalty,
                                    suppress_tokens=suppress, output_hidden_states=True, output_scores=True,
                                    return_dict_in_generate=True)
    codes = torch.stack([h[-1] for h in out.hidden_states if h[-1] is not None], dim=1).transpose(1, 2)[0]
    return out.sequences[0], codes, torch.stack(out.scores, 1)[0]


def run_case(model, inputs, case: str, speaker: str, talker_max: int, tensors: dict) -> dict:
    with Recorder(model) as rec:
        sequences, wav = generate(model, inputs, speaker, talker_max)
    kw = rec.talker_kwargs
    tokens, codes, scores = talker_alone(model, kw, talker_max)
    with torch.no_grad():
        again = model.code2wav.chunked_decode(codes[None], chunk_size=300, left_context_size=25)
        prefill = model.talker(inputs_embeds=kw["inputs_embeds"], attention_mask=kw["attention_mask"],
                               talker_input_ids=kw["talker_input_ids"],
                               audio_feature_lengths=kw.get("audio_feature_lengths"))
    assert torch.equal(again, wav), "the talker alone did not reproduce generate's waveform"
    speaker_id = model.config.talker_config.speaker_id[speaker.lower()]
    gaps = {"thinker": top2_gap(rec.thinker_scores), "talker": top2_gap(scores),
            "code_predictor": min(top2_gap(s) for _, s, _ in rec.cp_calls)}
    print(f"  {case}: speaker {speaker} (id {speaker_id}), {len(tokens)} talker tokens, last {int(tokens[-1])}, "
          f"{codes.shape[1]} frames, {wav.shape[-1]} samples; greedy gaps {gaps}")
    assert min(gaps.values()) > 1e-3, "a near tie on the greedy path would make parity fragile; change the seed"
    if case == "main":
        for what, changed in [("repetition penalty", talker_alone(model, kw, talker_max, penalty=1.0)[1]),
                              ("suppressed ids", talker_alone(model, kw, talker_max, suppress=None)[1])]:
            assert changed.shape != codes.shape or not torch.equal(changed, codes), f"the {what} changed nothing"
    tensors.update({
        f"{case}.sequences": sequences[0], f"{case}.talker_tokens": tokens, f"{case}.codes": codes,
        f"{case}.waveform": wav.reshape(-1),
        f"{case}.talker_input_embeds": kw["inputs_embeds"][0], f"{case}.talker_input_ids": kw["talker_input_ids"][0],
        f"{case}.trailing_text_hidden": kw["trailing_text_hidden"][0], "tts_pad_embed": kw["tts_pad_embed"].reshape(-1),
        f"{case}.prefill_logits": prefill.logits[0, -PREFILL_ROWS:],
        f"{case}.cp_inputs_embeds": rec.cp_calls[0][0], f"{case}.cp_scores": rec.cp_calls[0][1],
        f"{case}.cp_codes": rec.cp_calls[0][2],
    })
    return {"speaker": speaker, "speaker_id": speaker_id, "talker_max_new_tokens": talker_max,
            "talker_tokens": len(tokens), "frames": int(codes.shape[1]),
            "stopped_on_eos": int(tokens[-1]) == CODEC["codec_eos_token_id"], "greedy_gaps": gaps}


def main() -> None:
    if not only_requested(NAME):
        return
    base = espeak_clip()
    params = {"config": config_dict(), "thinker_max_new_tokens": THINKER_MAX_NEW, "cases": CASES,
              "chunked": [CHUNK, CONTEXT]}
    with Fixture(NAME, __file__, seed=SEED, params=params) as fx:
        tok = build_tokenizer()
        tok.add_tokens([AddedToken(r, special=False, normalized=False) for r in ROLES])
        tok = save_and_reload(tok, fx.dir)
        assert [tok.convert_tokens_to_ids(r) for r in ROLES] == [IDS[r] for r in ROLES]
        template = json.loads(TEMPLATE.read_text())["chat_template"]
        fe, proc = make_processor(tok, template)
        fe.save_pretrained(str(fx.dir))
        shutil.copyfile(TEMPLATE, fx.dir / "chat_template.json")

        cfg = Qwen3OmniMoeConfig(**copy.deepcopy(config_dict()))
        model = Qwen3OmniMoeForConditionalGeneration(cfg).eval()
        redraw(model, torch.Generator().manual_seed(SEED))
        model.save_pretrained(fx.dir)
        generation = {"bos_token_id": IDS["endoftext"], "eos_token_id": [IDS["im_end"], IDS["endoftext"]],
                      "pad_token_id": IDS["endoftext"], "transformers_version": "5.24.0"}
        (fx.dir / "generation_config.json").write_text(json.dumps(generation, indent=2, sort_keys=True) + "\n")

        model = Qwen3OmniMoeForConditionalGeneration.from_pretrained(fx.dir, dtype=torch.float32).eval()
        audio = clips(base)
        inputs = proc.apply_chat_template(with_audio(CONVERSATION, audio), add_generation_prompt=True,
                                          tokenize=True, return_dict=True, return_tensors="pt")
        tensors = {f"clip.{i}": torch.from_numpy(c) for i, c in enumerate(audio)}
        tensors["input_ids"] = inputs["input_ids"][0]
        summary = {}
        for case, (speaker, talker_max) in CASES.items():
            summary[case] = run_case(model, inputs, case, speaker, talker_max, tensors)
        assert summary["main"]["stopped_on_eos"], "the main case must end on codec EOS; change the seed"
        assert not summary["limit"]["stopped_on_eos"], "the limit case must end on the token limit"

        with torch.no_grad():
            thinker_out = model.thinker(**inputs, output_hidden_states=True)
            accept = model.config.talker_config.accept_hidden_layer
            tensors["thinker_hidden_accept"] = thinker_out.hidden_states[accept][0]
            chunked = model.code2wav.chunked_decode(tensors["main.codes"][None], chunk_size=CHUNK,
                                                    left_context_size=CONTEXT)
            whole = model.code2wav.chunked_decode(tensors["main.codes"][None])
        assert torch.equal(whole.reshape(-1), tensors["main.waveform"]), "generate decodes with chunked_decode"
        tensors[f"waveform_chunked_{CHUNK}_{CONTEXT}"] = chunked.reshape(-1)
        fx.save_tensors(tensors)
        fx.save_json({"messages": CONVERSATION, "tools": None, "kwargs": {}, "text": tok.decode(inputs["input_ids"][0]),
                      "reply": {c: tok.decode(tensors[f"{c}.sequences"][len(inputs["input_ids"][0]):])
                                for c in CASES},
                      "cases": summary}, "cases.json")
        fx.extra["sources"] = {
            p.relative_to(ROOT).as_posix(): sha256_file(p)
            for p in [Path(__file__).resolve(), HERE / "common.py", HERE / "tokenizer_bpe.py", HERE / "processor.py",
                      HERE / "logmel.py", TEMPLATE]
        }


if __name__ == "__main__":
    main()
