"""`audio.speech` and `audio.transcriptions` through the official SDK."""

import base64
import io
import json

import pytest

from conftest import RAW_ARGS, decoded_seconds, ffmpeg_tone


@pytest.mark.parametrize("fmt", ["mp3", "opus", "flac", "wav", "pcm"])
def test_speech(client, fmt):
    r = client.audio.speech.create(model="tts-1", voice="alloy", input="Hello from omnivox.", response_format=fmt)
    data = r.read()
    assert decoded_seconds(data, RAW_ARGS.get(fmt, ())) > 0.2


def test_speech_streamed_response(client):
    with client.audio.speech.with_streaming_response.create(
        model="gpt-4o-mini-tts", voice="coral", input="Streaming speech.", response_format="wav",
    ) as r:
        assert r.headers["content-type"] == "audio/wav"
        data = b"".join(r.iter_bytes())
    assert decoded_seconds(data) > 0.2


def test_speech_speed(client, scripted):
    normal = client.audio.speech.create(model="tts-1", voice="alloy", input="abcdefghij", response_format="wav").read()
    fast = client.audio.speech.create(model="tts-1", voice="alloy", input="abcdefghij", response_format="wav", speed=2.0).read()
    assert abs(decoded_seconds(fast) - decoded_seconds(normal) / 2) < 0.01


def test_speech_sse(client):
    with client.audio.speech.with_streaming_response.create(
        model="gpt-4o-mini-tts", voice="alloy", input="Events please.", response_format="pcm", stream_format="sse",
    ) as r:
        text = r.read().decode()
    events = [json.loads(line[len("data: "):]) for line in text.splitlines() if line.startswith("data: ")]
    assert events[-1]["type"] == "speech.audio.done"
    assert "total_tokens" in events[-1]["usage"]
    pcm = b"".join(base64.b64decode(e["audio"]) for e in events[:-1] if e["type"] == "speech.audio.delta")
    assert decoded_seconds(pcm, RAW_ARGS["pcm"]) > 0.2


@pytest.fixture(scope="module")
def recording():
    return ffmpeg_tone(2.5, 16000, "wav")


def test_transcription_json(client, recording):
    t = client.audio.transcriptions.create(model="whisper-1", file=("q.wav", io.BytesIO(recording)))
    assert isinstance(t.text, str)


def test_transcription_text(client, recording):
    t = client.audio.transcriptions.create(model="whisper-1", file=("q.wav", io.BytesIO(recording)), response_format="text")
    assert isinstance(t, str)


def test_transcription_verbose(client, recording):
    t = client.audio.transcriptions.create(
        model="whisper-1", file=("q.wav", io.BytesIO(recording)), response_format="verbose_json",
        timestamp_granularities=["segment"],
    )
    assert abs(t.duration - 2.5) < 0.01
    assert t.segments, "segment timestamps"
    assert t.segments[0].start == 0.0
    assert all(s.end >= s.start for s in t.segments)
    assert t.segments[-1].end <= t.duration + 1e-6


@pytest.mark.parametrize("fmt,header", [("srt", "1\n00:00:00,000 --> "), ("vtt", "WEBVTT\n\n00:00:00.000 --> ")])
def test_transcription_subtitles(client, recording, fmt, header):
    t = client.audio.transcriptions.create(model="whisper-1", file=("q.wav", io.BytesIO(recording)), response_format=fmt)
    assert t.startswith(header), t


def test_transcription_of_ogg_opus(client, scripted):
    ogg = ffmpeg_tone(1.0, 48000, "ogg", ["-c:a", "libopus"])
    t = client.audio.transcriptions.create(model="whisper-1", file=("q.ogg", io.BytesIO(ogg)))
    assert t.text == "Transcript of 1.00 seconds of audio."
