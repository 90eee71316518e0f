"""Error cases as the SDK raises them: status classes, `param`, `code`."""

import openai
import pytest
from openai import OpenAI

from conftest import MODEL, assert_error_shape, b64, raw_request

HI = [{"role": "user", "content": "hi"}]


def test_n_must_be_one(client):
    with pytest.raises(openai.BadRequestError) as e:
        client.chat.completions.create(model=MODEL, messages=HI, n=2)
    assert e.value.param == "n"


def test_unknown_model(client):
    with pytest.raises(openai.NotFoundError) as e:
        client.chat.completions.create(model="gpt-nonexistent", messages=HI)
    assert e.value.code == "model_not_found"


@pytest.mark.parametrize(
    "kwargs,param",
    [
        ({"temperature": 3}, "temperature"),
        ({"modalities": ["text", "audio"]}, "audio"),
        ({"modalities": ["text", "audio"], "audio": {"voice": "alloy", "format": "aac"}}, "audio.format"),
        ({"modalities": ["text", "audio"], "audio": {"voice": "nobody", "format": "wav"}}, "audio.voice"),
        ({"stop": ["a", "b", "c", "d", "e"]}, "stop"),
        ({"logprobs": True}, "logprobs"),
        ({"messages": [{"role": "user", "content": [{"type": "input_audio", "input_audio": {"data": b64(b"noise" * 20), "format": "wav"}}]}]},
         "messages[0].content[0].input_audio.data"),
        ({"messages": [{"role": "assistant", "audio": {"id": "audio_unknown"}}, *HI]}, "messages[0].audio.id"),
    ],
)
def test_invalid_values_name_the_param(client, kwargs, param):
    args = {"model": MODEL, "messages": HI, **kwargs}
    with pytest.raises(openai.BadRequestError) as e:
        client.chat.completions.create(**args)
    assert e.value.param == param
    assert e.value.body["type"] == "invalid_request_error"


def test_wrong_key(base_url, api_key):
    if not api_key:
        pytest.skip("the server runs without keys")
    bad = OpenAI(base_url=f"{base_url}/v1", api_key="sk-wrong", max_retries=0)
    with pytest.raises(openai.AuthenticationError) as e:
        bad.models.list()
    assert e.value.code == "invalid_api_key"
    status, _, body = raw_request(base_url, "GET", "/v1/models")
    assert status == 401
    assert_error_shape(body)


def test_unparsable_body_keeps_the_shape(base_url, api_key):
    headers = {"Content-Type": "application/json", "Authorization": f"Bearer {api_key}"}
    for body in (b"{", b"not json", b"[]", b""):
        status, _, parsed = raw_request(base_url, "POST", "/v1/chat/completions", body, headers)
        assert status == 400, (body, parsed)
        assert_error_shape(parsed)


def test_audio_over_the_limit_is_413(client):
    # run.sh configures `limits.max_audio_seconds = 60`; this is 61 s of µ-law.
    long_audio = b"\xff" * (8000 * 61)
    part = {"type": "input_audio", "input_audio": {"data": b64(long_audio), "format": "mulaw"}}
    with pytest.raises(openai.APIStatusError) as e:
        client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": [part]}])
    assert e.value.status_code == 413
    assert e.value.param == "messages[0].content[0].input_audio.data"


def test_overload_is_503_with_retry_after(client, scripted):
    with pytest.raises(openai.InternalServerError) as e:
        client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "[[omnivox-test:overload]]"}])
    assert e.value.status_code == 503
    assert e.value.response.headers["retry-after"] == "2"
    assert e.value.code == "overloaded"


def test_mid_stream_error_raises_in_the_sdk(client, scripted):
    stream = client.chat.completions.create(
        model=MODEL, stream=True, messages=[{"role": "user", "content": "[[omnivox-test:error-mid-stream]]"}],
    )
    with pytest.raises(openai.APIError) as e:
        for _ in stream:
            pass
    assert "error" in str(e.value).lower()


def test_speech_errors(client):
    with pytest.raises(openai.BadRequestError) as e:
        client.audio.speech.create(model="tts-1", voice="alloy", input="x" * 5000)
    assert e.value.param == "input"
    with pytest.raises(openai.BadRequestError) as e:
        client.audio.speech.create(model="tts-1", voice="alloy", input="hi", response_format="aac")
    assert e.value.param == "response_format"


def test_transcription_errors(client):
    with pytest.raises(openai.BadRequestError) as e:
        client.audio.transcriptions.create(model="whisper-1", file=("q.wav", b"not audio"))
    assert e.value.param == "file"
