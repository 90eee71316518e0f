"""Reference fixture for Qwen3-Omni's multimodal rotary position ids.

``qwen3_omni_rope_index/cases.json``: for varied single-sequence inputs, what
``Qwen3OmniMoeThinkerForConditionalGeneration.get_rope_index`` (transformers
5.24) returns: the three position streams (temporal, height, width; floats,
as the reference computes them) and ``mrope_position_deltas``.

Inputs cover text only and audio + text (the reference's plain path, taken
whenever no image or video grid is given: 0, 1, 2, ...), and the per-token
path that image or video grids switch on, with audio, images, videos
(``second_per_grids`` that make fractional temporal positions) and audio
interleaved in video (``use_audio_in_video``), for ``position_id_per_seconds``
25 (the transformers default) and 13 (the Hub checkpoints' value).
"""

from __future__ import annotations

import sys
from pathlib import Path

import torch

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from common import Fixture, only_requested  # noqa: E402
from qwen3_omni_thinker import IDS, config_dict  # noqa: E402
from transformers.models.qwen3_omni_moe.configuration_qwen3_omni_moe import Qwen3OmniMoeThinkerConfig  # noqa: E402
from transformers.models.qwen3_omni_moe.modeling_qwen3_omni_moe import (  # noqa: E402
    Qwen3OmniMoeThinkerForConditionalGeneration,
    _get_feat_extract_output_lengths,
)

NAME = "qwen3_omni_rope_index"
T = 500  # a plain text token


def audio(frames: int) -> list[int]:
    n = int(_get_feat_extract_output_lengths(torch.tensor(frames), 50))
    return [IDS["audio_start"]] + [IDS["audio_pad"]] * n + [IDS["audio_end"]]


def image(grid: list[int], merge: int = 2) -> list[int]:
    n = grid[0] * grid[1] * grid[2] // (merge * merge)
    return [IDS["vision_start"]] + [IDS["image_pad"]] * n + [IDS["vision_end"]]


def video(grid: list[int], merge: int = 2) -> list[int]:
    n = grid[0] * grid[1] * grid[2] // (merge * merge)
    return [IDS["vision_start"]] + [IDS["video_pad"]] * n + [IDS["vision_end"]]


def audio_in_video(grid: list[int], frames: int, merge: int = 2) -> list[int]:
    nv = grid[0] * grid[1] * grid[2] // (merge * merge)
    na = int(_get_feat_extract_output_lengths(torch.tensor(frames), 50))
    body = [IDS["video_pad"]] * nv + [IDS["audio_pad"]] * na
    return [IDS["vision_start"], IDS["audio_start"]] + body + [IDS["audio_end"], IDS["vision_end"]]


def text(n: int) -> list[int]:
    return [T] * n


CASES = {
    "text_only": dict(ids=text(9)),
    "audio_text": dict(ids=text(5) + audio(245) + text(4) + audio(130) + text(3), audio=[245, 130]),
    "image_audio": dict(ids=text(3) + image([1, 4, 6]) + text(2) + audio(310) + text(4),
                        images=[[1, 4, 6]], audio=[310]),
    "audio_image": dict(ids=text(2) + audio(99) + image([1, 2, 2]) + text(3), images=[[1, 2, 2]], audio=[99]),
    "two_images": dict(ids=image([1, 2, 4]) + text(1) + image([1, 6, 2]), images=[[1, 2, 4], [1, 6, 2]]),
    "video": dict(ids=text(4) + video([3, 4, 4]) + text(2), videos=[[3, 4, 4]], seconds=[2.0]),
    "video_fractional": dict(ids=text(1) + video([4, 2, 2]) + audio(57) + text(2), videos=[[4, 2, 2]],
                             seconds=[0.5], audio=[57]),
    "audio_in_video": dict(ids=text(3) + audio_in_video([3, 2, 4], 300) + text(2), videos=[[3, 2, 4]],
                           seconds=[1.0], audio=[300], use_audio_in_video=True),
    "audio_in_video_long": dict(ids=audio_in_video([2, 4, 4], 1234) + text(1), videos=[[2, 4, 4]],
                                seconds=[2.0], audio=[1234], use_audio_in_video=True),
    "everything": dict(ids=text(2) + image([1, 2, 2]) + audio(1001) + video([2, 2, 2]) + text(3),
                       images=[[1, 2, 2]], videos=[[2, 2, 2]], seconds=[1.5], audio=[1001]),
}


def main() -> None:
    if not only_requested(NAME):
        return
    with Fixture(NAME, __file__, seed=0, params={"ids": IDS}) as fx:
        thinker_cfg = dict(config_dict()["thinker_config"])
        thinker_cfg["text_config"] = dict(thinker_cfg["text_config"], num_hidden_layers=1)
        model = Qwen3OmniMoeThinkerForConditionalGeneration(Qwen3OmniMoeThinkerConfig(**thinker_cfg)).eval()
        out = []
        for pps in (25, 13):
            model.config.position_id_per_seconds = pps
            for name, case in CASES.items():
                ids = torch.tensor([case["ids"]])
                grid = lambda k: torch.tensor(case[k]) if k in case else None  # noqa: E731
                seconds = torch.tensor(case["seconds"]) if "seconds" in case else None
                pos, delta = model.get_rope_index(
                    ids, image_grid_thw=grid("images"), video_grid_thw=grid("videos"),
                    attention_mask=torch.ones_like(ids), use_audio_in_video=case.get("use_audio_in_video", False),
                    audio_seqlens=grid("audio"), second_per_grids=seconds)
                assert pos.shape == (3, 1, ids.shape[1])
                out.append({"name": name, "position_id_per_seconds": pps, "input_ids": case["ids"],
                            "audio_frames": case.get("audio", []), "image_grids": case.get("images", []),
                            "video_grids": case.get("videos", []), "video_seconds_per_grid": case.get("seconds", []),
                            "use_audio_in_video": case.get("use_audio_in_video", False),
                            "positions": pos[:, 0, :].tolist(), "delta": float(delta.reshape(-1)[0])})
        fx.save_json({"spatial_merge_size": model.spatial_merge_size, "n_window": 50, "ids": IDS, "cases": out},
                     "cases.json")
        fx.extra["sources"] = {
            p.relative_to(fx.script.parents[2]).as_posix(): __import__("common").sha256_file(p)
            for p in [Path(__file__).resolve(), HERE / "common.py", HERE / "qwen3_omni_thinker.py"]
        }


if __name__ == "__main__":
    main()
