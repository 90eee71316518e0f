"""The examples of docs/api.md ("## Examples") are executed as written:
every `sh` block with bash (curl failing on HTTP errors), every `python`
block with this venv's Python (its base URL and key substituted). Audio files
a block writes must decode with ffmpeg."""

import os
import pathlib
import re
import subprocess
import sys

import pytest

from conftest import decoded_seconds, ffmpeg_tone

DOCS = pathlib.Path(os.environ.get("OMNIVOX_DOCS", pathlib.Path(__file__).parents[2] / "docs" / "api.md"))
AUDIO_SUFFIXES = {".wav", ".mp3", ".ogg", ".opus", ".flac"}


def example_blocks():
    text = DOCS.read_text()
    section = text.split("\n## Examples", 1)
    assert len(section) == 2, "docs/api.md has no '## Examples' section"
    blocks = re.findall(r"```(sh|python)\n(.*?)```", section[1], re.S)
    assert blocks, "no examples found"
    return blocks


BLOCKS = example_blocks()


@pytest.mark.parametrize("index", range(len(BLOCKS)))
def test_example(index, tmp_path, base_url, api_key):
    lang, code = BLOCKS[index]
    (tmp_path / "question.wav").write_bytes(ffmpeg_tone(1.5, 16000, "wav"))
    before = set(tmp_path.iterdir())
    env = {**os.environ, "OMNIVOX_URL": base_url, "OMNIVOX_API_KEY": api_key}
    if lang == "sh":
        script = "set -euo pipefail\ncurl() { command curl --fail-with-body \"$@\"; }\n" + code
        cmd = ["bash", "-c", script]
    else:
        code = code.replace("http://127.0.0.1:8000/v1", f"{base_url}/v1").replace('api_key="KEY"', f'api_key="{api_key}"')
        cmd = [sys.executable, "-c", code]
    r = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, f"example {index} failed:\n{code}\n--- stdout\n{r.stdout}\n--- stderr\n{r.stderr}"
    assert r.stdout.strip() or set(tmp_path.iterdir()) != before, f"example {index} produced nothing"
    for f in set(tmp_path.iterdir()) - before:
        if f.suffix in AUDIO_SUFFIXES:
            # Some audio, however short: the demo model's replies have random
            # lengths, and one spoken token makes one frame (57 ms).
            assert decoded_seconds(f.read_bytes()) > 0, f"{f.name} does not decode"
