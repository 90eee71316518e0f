"""Shared fixtures of the OpenAI-SDK conformance suite.

The suite talks to a running omnivox server (started by run.sh) through the
official `openai` Python SDK, exactly as a user's code would. Audio inputs are
made by ffmpeg and audio outputs are decoded by ffmpeg: the reference peer.

Environment (set by run.sh):
  OMNIVOX_BASE_URL   e.g. http://127.0.0.1:8123
  OMNIVOX_API_KEY    the key the server was started with

Tests whose expectations depend on the scripted test engine (exact
transcripts, failure directives) use the `scripted` fixture, which skips them
when the server serves a real model; every other test runs against any model.
"""

import base64
import json
import os
import shutil
import subprocess
import urllib.request

import pytest
from openai import OpenAI

MODEL = "gpt-4o-audio-preview"


@pytest.fixture(scope="session")
def base_url() -> str:
    url = os.environ.get("OMNIVOX_BASE_URL")
    if not url:
        pytest.fail("OMNIVOX_BASE_URL is not set: run tools/conformance/run.sh")
    return url.rstrip("/")


@pytest.fixture(scope="session")
def api_key() -> str:
    return os.environ.get("OMNIVOX_API_KEY", "")


@pytest.fixture(scope="session")
def client(base_url, api_key) -> OpenAI:
    return OpenAI(base_url=f"{base_url}/v1", api_key=api_key or "unused", max_retries=0, timeout=120)


@pytest.fixture(scope="session")
def served_ids(client) -> list:
    return [m.id for m in client.models.list().data]


@pytest.fixture(scope="session")
def scripted(served_ids) -> bool:
    if "omnivox-scripted" not in served_ids:
        pytest.skip("this expectation holds only for the scripted test engine")
    return True


def require(tool: str) -> str:
    path = shutil.which(tool)
    if path is None:
        pytest.fail(f"`{tool}` is required by the conformance suite: apt-get install ffmpeg")
    return path


def ffmpeg_tone(seconds: float, rate: int, fmt: str, codec_args=()) -> bytes:
    """A 220 Hz tone encoded by ffmpeg."""
    cmd = [
        require("ffmpeg"), "-hide_banner", "-loglevel", "error",
        "-f", "lavfi", "-i", f"sine=frequency=220:sample_rate={rate}:duration={seconds}",
        "-ac", "1", *codec_args, "-f", fmt, "pipe:1",
    ]
    return subprocess.run(cmd, check=True, capture_output=True).stdout


def ffmpeg_decode(data: bytes, input_args=()) -> int:
    """Decodes `data` with ffmpeg; returns the number of samples at 24 kHz mono."""
    cmd = [
        require("ffmpeg"), "-hide_banner", "-loglevel", "error", *input_args,
        "-i", "pipe:0", "-f", "f32le", "-ac", "1", "-ar", "24000", "pipe:1",
    ]
    out = subprocess.run(cmd, input=data, check=True, capture_output=True).stdout
    return len(out) // 4


def decoded_seconds(data: bytes, input_args=()) -> float:
    return ffmpeg_decode(data, input_args) / 24000.0


RAW_ARGS = {
    "pcm16": ["-f", "s16le", "-ar", "24000", "-ac", "1"],
    "pcm": ["-f", "s16le", "-ar", "24000", "-ac", "1"],
    "mulaw": ["-f", "mulaw", "-ar", "8000", "-ac", "1"],
}


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def raw_request(base_url: str, method: str, path: str, body: bytes = b"", headers=None):
    """A request outside the SDK (for malformed bodies and missing keys).
    Returns (status, headers, parsed JSON or text)."""
    req = urllib.request.Request(f"{base_url}{path}", data=body or None, method=method)
    for k, v in (headers or {}).items():
        req.add_header(k, v)
    try:
        with urllib.request.urlopen(req, timeout=60) as r:
            status, hdrs, payload = r.status, dict(r.headers), r.read()
    except urllib.error.HTTPError as e:
        status, hdrs, payload = e.code, dict(e.headers), e.read()
    try:
        return status, hdrs, json.loads(payload)
    except ValueError:
        return status, hdrs, payload.decode(errors="replace")


def assert_error_shape(body, status_expected=None):
    assert isinstance(body, dict) and "error" in body, body
    err = body["error"]
    for key in ("message", "type", "param", "code"):
        assert key in err, f"error lacks {key}: {err}"
    assert isinstance(err["message"], str) and err["message"]
    return err
