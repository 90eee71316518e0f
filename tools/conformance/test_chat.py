"""Chat completions through the official SDK: text, whole and streamed audio,
tool calls, multi-turn with audio ids."""

import base64
import json

import pytest

from conftest import MODEL, RAW_ARGS, b64, decoded_seconds, ffmpeg_tone


def user_audio(data: bytes, fmt: str, text=None):
    parts = [{"type": "input_audio", "input_audio": {"data": b64(data), "format": fmt}}]
    if text:
        parts.append({"type": "text", "text": text})
    return {"role": "user", "content": parts}


def test_text_chat(client):
    r = client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "Say hello."}])
    assert r.object == "chat.completion"
    assert r.id.startswith("chatcmpl-")
    assert len(r.choices) == 1
    c = r.choices[0]
    assert c.message.role == "assistant"
    assert isinstance(c.message.content, str)
    assert c.finish_reason in ("stop", "length")
    u = r.usage
    assert u.total_tokens == u.prompt_tokens + u.completion_tokens
    assert u.prompt_tokens_details.text_tokens is not None
    assert u.completion_tokens_details.audio_tokens is not None


@pytest.mark.parametrize("in_fmt,codec", [("wav", []), ("mp3", ["-c:a", "libmp3lame"])])
@pytest.mark.parametrize("out_fmt", ["wav", "mp3", "flac", "opus", "pcm16"])
def test_whole_audio_chat(client, in_fmt, codec, out_fmt):
    question = ffmpeg_tone(1.5, 16000, in_fmt, codec)
    r = client.chat.completions.create(
        model=MODEL,
        modalities=["text", "audio"],
        audio={"voice": "alloy", "format": out_fmt},
        messages=[user_audio(question, in_fmt)],
    )
    msg = r.choices[0].message
    assert msg.content is None
    assert msg.audio is not None
    assert msg.audio.id.startswith("audio_")
    assert msg.audio.expires_at > r.created
    assert isinstance(msg.audio.transcript, str)
    data = base64.b64decode(msg.audio.data)
    seconds = decoded_seconds(data, RAW_ARGS.get(out_fmt, ()))
    assert seconds > 0  # some audio: a demo reply may be a single frame
    assert r.usage.prompt_tokens_details.audio_tokens > 0
    assert r.usage.completion_tokens_details.audio_tokens > 0


def test_whole_audio_transcript_reflects_the_input(client, scripted):
    question = ffmpeg_tone(1.5, 16000, "wav")
    r = client.chat.completions.create(
        model=MODEL, modalities=["text", "audio"], audio={"voice": "alloy", "format": "wav"},
        messages=[user_audio(question, "wav")],
    )
    assert r.choices[0].message.audio.transcript == "I heard 1.50 seconds of audio."


def collect_stream(stream):
    chunks = list(stream)
    assert chunks, "no chunks"
    return chunks


@pytest.mark.parametrize("fmt", ["pcm16", "wav", "opus", "mulaw"])
def test_streamed_audio_chat(client, fmt):
    question = ffmpeg_tone(1.0, 24000, "wav")
    stream = client.chat.completions.create(
        model=MODEL, modalities=["text", "audio"], audio={"voice": "alloy", "format": fmt},
        messages=[user_audio(question, "wav", "Answer briefly.")],
        stream=True, stream_options={"include_usage": True},
    )
    chunks = collect_stream(stream)
    first = chunks[0].choices[0].delta
    assert first.role == "assistant"
    usage_chunk = chunks[-1]
    assert usage_chunk.choices == []
    assert usage_chunk.usage.completion_tokens_details.audio_tokens > 0
    audio_id, transcript, data, covered_ms, expires_at = None, "", b"", 0, None
    finish = None
    next_start = 0
    for ch in chunks[:-1]:
        assert ch.usage is None
        delta = ch.choices[0].delta
        if ch.choices[0].finish_reason:
            finish = ch.choices[0].finish_reason
        audio = delta.audio
        if audio is None:
            continue
        if audio.id and audio_id is None:
            audio_id = audio.id
        if audio.id:
            assert audio.id == audio_id, "one audio id per reply"
        if audio.transcript:
            transcript += audio.transcript
        if audio.data:
            data += base64.b64decode(audio.data)
            extra = audio.model_extra or {}
            if fmt == "pcm16":
                assert "start_ms" not in extra and "duration_ms" not in extra
            else:
                assert extra["start_ms"] == next_start
                next_start = extra["start_ms"] + extra["duration_ms"]
                covered_ms += extra["duration_ms"]
        if audio.expires_at:
            expires_at = audio.expires_at
            assert finish is not None, "expires_at comes after the finish chunk"
    assert audio_id and audio_id.startswith("audio_")
    assert finish in ("stop", "length")
    assert expires_at and expires_at > chunks[0].created
    seconds = decoded_seconds(data, RAW_ARGS.get(fmt, ()))
    assert seconds > 0  # some audio: a demo reply may be a single frame
    if fmt == "pcm16":
        assert len(data) % 2 == 0
        assert abs(seconds - len(data) / 2 / 24000) < 1e-3
    else:
        tolerance_ms = 30 if fmt == "opus" else 2
        assert abs(seconds * 1000 - covered_ms) <= tolerance_ms, (seconds, covered_ms)


def test_streamed_text_chat(client):
    stream = client.chat.completions.create(
        model=MODEL, messages=[{"role": "user", "content": "Count to three."}], stream=True,
    )
    chunks = collect_stream(stream)
    text = "".join(ch.choices[0].delta.content or "" for ch in chunks if ch.choices)
    assert isinstance(text, str)
    assert chunks[-1].choices[0].finish_reason in ("stop", "length")


WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Current weather for a city.",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}},
            "required": ["city"],
        },
    },
}


def test_tool_call_whole_then_answer(client):
    r = client.chat.completions.create(
        model=MODEL, tools=[WEATHER], tool_choice="required",
        messages=[{"role": "user", "content": "What's the weather in Paris?"}],
    )
    c = r.choices[0]
    assert c.finish_reason == "tool_calls"
    call = c.message.tool_calls[0]
    assert call.type == "function"
    assert call.function.name == "get_weather"
    args = json.loads(call.function.arguments)
    assert isinstance(args.get("city"), str)
    follow = client.chat.completions.create(
        model=MODEL, tools=[WEATHER],
        messages=[
            {"role": "user", "content": "What's the weather in Paris?"},
            {"role": "assistant", "content": None, "tool_calls": [call.model_dump()]},
            {"role": "tool", "tool_call_id": call.id, "content": "sunny, 21 C"},
        ],
    )
    assert follow.choices[0].finish_reason in ("stop", "length", "tool_calls")


def test_tool_call_streamed(client):
    stream = client.chat.completions.create(
        model=MODEL, tools=[WEATHER], tool_choice={"type": "function", "function": {"name": "get_weather"}},
        messages=[{"role": "user", "content": "Weather in Oslo?"}], stream=True,
    )
    calls = {}
    finish = None
    for ch in stream:
        if not ch.choices:
            continue
        finish = ch.choices[0].finish_reason or finish
        for tc in ch.choices[0].delta.tool_calls or []:
            entry = calls.setdefault(tc.index, {"id": None, "name": "", "arguments": ""})
            if tc.id:
                entry["id"] = tc.id
            if tc.function and tc.function.name:
                entry["name"] += tc.function.name
            if tc.function and tc.function.arguments:
                entry["arguments"] += tc.function.arguments
    assert finish == "tool_calls"
    assert calls[0]["name"] == "get_weather" and calls[0]["id"]
    assert isinstance(json.loads(calls[0]["arguments"])["city"], str)


def test_multi_turn_with_audio_id(client):
    first = client.chat.completions.create(
        model=MODEL, modalities=["text", "audio"], audio={"voice": "alloy", "format": "wav"},
        messages=[{"role": "user", "content": "Tell me a short fact."}],
    )
    audio_id = first.choices[0].message.audio.id
    second = client.chat.completions.create(
        model=MODEL, modalities=["text", "audio"], audio={"voice": "alloy", "format": "wav"},
        messages=[
            {"role": "user", "content": "Tell me a short fact."},
            {"role": "assistant", "audio": {"id": audio_id}},
            {"role": "user", "content": "Say it again."},
        ],
    )
    assert second.choices[0].message.audio.id != audio_id


def test_multi_turn_resolves_the_transcript(client, scripted):
    first = client.chat.completions.create(
        model=MODEL, modalities=["text", "audio"], audio={"voice": "alloy", "format": "wav"},
        messages=[{"role": "user", "content": "remember this"}],
    )
    audio = first.choices[0].message.audio
    second = client.chat.completions.create(
        model=MODEL,
        messages=[
            {"role": "user", "content": "remember this"},
            {"role": "assistant", "audio": {"id": audio.id}},
        ],
    )
    assert second.choices[0].message.content == f"Earlier I said: {audio.transcript}"


def test_sdk_stream_helper_accumulates_audio(client):
    """The SDK's `chat.completions.stream()` helper builds a final message.
    (On a reply cut by its length the helper raises, by design, with the
    accumulated completion attached.)"""
    import openai

    try:
        with client.chat.completions.stream(
            model=MODEL, modalities=["text", "audio"], audio={"voice": "alloy", "format": "pcm16"},
            messages=[{"role": "user", "content": "Hi"}],
        ) as stream:
            for _ in stream:
                pass
            final = stream.get_final_completion()
    except openai.LengthFinishReasonError as e:
        final = e.completion
    assert final.choices[0].finish_reason in ("stop", "length")
