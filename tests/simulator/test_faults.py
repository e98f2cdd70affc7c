"""Each x-sim-fault behaves as documented, on the wire and through the official SDKs."""

from __future__ import annotations

import json

import aiohttp
import anthropic
import ollama
import openai
import pytest

from sidecar.simulator import RunningSimulator
from tests.simulator.streams import APIS, Api, fetch

TOKENS = {"x-sim-tokens": "6"}
API_IDS = [api.name for api in APIS]


def parsed(api: Api, body: bytes) -> tuple[list[object], int]:
    """Payloads of the frames that parse, and how many did not."""
    payloads: list[object] = []
    bad = 0
    for frame in api.frames(body):
        try:
            payloads.append(api.payload(frame))
        except ValueError:
            bad += 1
    return payloads, bad


@pytest.mark.parametrize("api", APIS, ids=API_IDS)
async def test_clean_stream_has_all_tokens_and_terminal(http: aiohttp.ClientSession, api: Api) -> None:
    received = await fetch(http, api, TOKENS)
    payloads, bad = parsed(api, received.body)
    assert received.error is None
    assert bad == 0
    assert sum(api.is_token(p) for p in payloads) == 6
    assert api.is_terminal(payloads[-1])


@pytest.mark.parametrize("api", APIS, ids=API_IDS)
async def test_crash_cuts_after_half_the_tokens(
    http: aiohttp.ClientSession, sim: RunningSimulator, api: Api
) -> None:
    received = await fetch(http, api, {**TOKENS, "x-sim-fault": "crash"})
    payloads, bad = parsed(api, received.body)
    assert isinstance(received.error, aiohttp.ClientPayloadError)
    assert bad == 0
    assert sum(api.is_token(p) for p in payloads) == 3
    assert not any(api.is_terminal(p) for p in payloads)
    assert sim.state.active_streams == 0


@pytest.mark.parametrize("api", APIS, ids=API_IDS)
async def test_malformed_adds_one_bad_frame_mid_stream(http: aiohttp.ClientSession, api: Api) -> None:
    received = await fetch(http, api, {**TOKENS, "x-sim-fault": "malformed"})
    frames = api.frames(received.body)
    bad = []
    for index, frame in enumerate(frames):
        try:
            api.payload(frame)
        except ValueError:
            bad.append(index)
    payloads, _ = parsed(api, received.body)
    tokens_before = sum(api.is_token(api.payload(f)) for f in frames[: bad[0]]) if bad else -1
    assert len(bad) == 1
    assert tokens_before == 3
    assert sum(api.is_token(p) for p in payloads) == 6
    assert api.is_terminal(payloads[-1])
    assert received.error is None


@pytest.mark.parametrize("api", APIS, ids=API_IDS)
async def test_oversize_sends_one_huge_valid_line(http: aiohttp.ClientSession, api: Api) -> None:
    size = 300_000
    received = await fetch(
        http, api, {**TOKENS, "x-sim-fault": "oversize", "x-sim-oversize-bytes": str(size)}
    )
    lines = received.body.split(b"\n")
    huge = [i for i, line in enumerate(lines) if len(line) > size]
    # Responses' closing events repeat the whole text, so they are huge too; the first is the delta.
    assert len(huge) == (5 if api.name == "openai-responses" else 1)
    assert api.is_token(api.payload(lines[huge[0]]))
    assert max(len(line) for line in lines) < size + 1000
    payloads, bad = parsed(api, received.body)
    assert bad == 0
    assert sum(api.is_token(p) for p in payloads) == 6
    assert api.is_terminal(payloads[-1])


@pytest.mark.parametrize("api", APIS, ids=API_IDS)
async def test_stall_holds_after_first_token_then_closes(
    http: aiohttp.ClientSession, sim: RunningSimulator, api: Api
) -> None:
    received = await fetch(http, api, {**TOKENS, "x-sim-fault": "stall", "x-sim-stall-ms": "300"})
    payloads, _ = parsed(api, received.body)
    assert sum(api.is_token(p) for p in payloads) == 1
    assert not any(api.is_terminal(p) for p in payloads)
    assert isinstance(received.error, aiohttp.ClientPayloadError)
    # The hold starts after the first token left the server, so after the request was sent: a
    # bound measured from the client's own start, which the token's arrival delay cannot shift.
    assert received.ended - received.started >= 0.3
    assert sim.state.active_streams == 0


@pytest.mark.parametrize("api", APIS, ids=API_IDS)
async def test_error_event_mid_stream(http: aiohttp.ClientSession, api: Api) -> None:
    received = await fetch(http, api, {**TOKENS, "x-sim-fault": "error-event"})
    payloads, bad = parsed(api, received.body)
    assert received.status == 200
    assert received.error is None
    assert bad == 0
    errors = [i for i, p in enumerate(payloads) if api.is_error(p)]
    assert len(errors) == 1
    assert sum(api.is_token(p) for p in payloads[: errors[0]]) == 3
    assert sum(api.is_token(p) for p in payloads) == 3
    trailing = payloads[errors[0] + 1 :]
    assert trailing == (["[DONE]"] if api.name.startswith("openai-c") else [])


async def test_error_event_shapes(http: aiohttp.ClientSession) -> None:
    by_name = {api.name: api for api in APIS}
    shapes = {}
    for name in ("anthropic", "ollama-chat", "openai-chat", "openai-responses", "llamacpp"):
        api = by_name[name]
        received = await fetch(http, api, {**TOKENS, "x-sim-fault": "error-event"})
        frame = next(f for f in api.frames(received.body) if api.is_error(api.payload(f)))
        shapes[name] = frame
    assert shapes["anthropic"].startswith(b"event: error\n")
    assert json.loads(shapes["anthropic"].split(b"data: ")[1])["error"]["type"] == "overloaded_error"
    assert isinstance(json.loads(shapes["ollama-chat"])["error"], str)
    assert shapes["openai-chat"].startswith(b'data: {"error":{')
    assert shapes["openai-responses"].startswith(b"event: error\n")
    assert json.loads(shapes["llamacpp"].removeprefix(b"data: "))["error"]["type"] == "server_error"


@pytest.mark.parametrize("status", [429, 500])
@pytest.mark.parametrize("api", APIS, ids=API_IDS)
async def test_http_error_before_streaming(http: aiohttp.ClientSession, api: Api, status: int) -> None:
    async with http.post(api.path, json=api.body, headers={"x-sim-fault": str(status)}) as resp:
        assert resp.status == status
        assert resp.content_type == "application/json"
        body = await resp.json()
    if api.name == "anthropic":
        expected = "rate_limit_error" if status == 429 else "api_error"
        assert body["type"] == "error"
        assert body["error"]["type"] == expected
    elif api.name.startswith("ollama"):
        assert isinstance(body["error"], str)
    elif api.name == "llamacpp":
        assert body["error"] == {"code": status, "message": body["error"]["message"], "type": "server_error"}
    else:
        assert body["error"]["type"] == ("requests" if status == 429 else "server_error")
        assert set(body["error"]) == {"message", "type", "param", "code"}


async def test_bad_control_is_a_400_in_the_api_format(http: aiohttp.ClientSession) -> None:
    by_name = {api.name: api for api in APIS}
    for name, headers in [
        ("openai-chat", {"x-sim-tokens": "many"}),
        ("anthropic", {"x-sim-fault": "explode"}),
        ("ollama-chat", {"x-sim-ttfc-ms": "-5"}),
        ("openai-responses", {"x-sim-finish": "maybe"}),
    ]:
        api = by_name[name]
        async with http.post(api.path, json=api.body, headers=headers) as resp:
            assert resp.status == 400, name
            body = await resp.json()
        assert "error" in body


# --- the same faults through the official SDKs -------------------------------------------------


@pytest.mark.parametrize(
    ("status", "error"), [(429, openai.RateLimitError), (500, openai.InternalServerError)]
)
async def test_openai_sdk_http_errors(
    openai_client: openai.AsyncOpenAI, status: int, error: type[Exception]
) -> None:
    with pytest.raises(error):
        await openai_client.chat.completions.create(
            model="m",
            messages=[{"role": "user", "content": "x"}],
            stream=True,
            extra_headers={"x-sim-fault": str(status)},
        )
    with pytest.raises(error):
        await openai_client.responses.create(model="m", input="x", extra_headers={"x-sim-fault": str(status)})


@pytest.mark.parametrize(
    ("status", "error"), [(429, anthropic.RateLimitError), (500, anthropic.InternalServerError)]
)
async def test_anthropic_sdk_http_errors(
    anthropic_client: anthropic.AsyncAnthropic, status: int, error: type[Exception]
) -> None:
    with pytest.raises(error):
        await anthropic_client.messages.create(
            model="m",
            max_tokens=10,
            messages=[{"role": "user", "content": "x"}],
            extra_headers={"x-sim-fault": str(status)},
        )


@pytest.mark.parametrize("status", [429, 500])
async def test_ollama_sdk_http_errors(sim: RunningSimulator, status: int) -> None:
    async with ollama.AsyncClient(host=sim.url, headers={"x-sim-fault": str(status)}) as client:
        with pytest.raises(ollama.ResponseError) as info:
            await client.chat(model="m", messages=[{"role": "user", "content": "x"}])
    assert info.value.status_code == status


async def test_openai_sdk_stream_faults(openai_client: openai.AsyncOpenAI) -> None:
    async def consume(fault: str) -> int:
        stream = await openai_client.chat.completions.create(
            model="m",
            messages=[{"role": "user", "content": "x"}],
            stream=True,
            extra_headers={**TOKENS, "x-sim-fault": fault},
        )
        return len([chunk async for chunk in stream])

    with pytest.raises(openai.APIConnectionError):
        await consume("crash")
    with pytest.raises(openai.APIError, match="overloaded"):
        await consume("error-event")
    with pytest.raises(json.JSONDecodeError):
        await consume("malformed")
    assert await consume("oversize") == 1 + 6 + 1  # role, tokens, finish


async def test_openai_sdk_responses_error_event(openai_client: openai.AsyncOpenAI) -> None:
    stream = await openai_client.responses.create(
        model="m", input="x", stream=True, extra_headers={**TOKENS, "x-sim-fault": "error-event"}
    )
    events = [event async for event in stream]
    assert events[-1].type == "error"
    assert sum(e.type == "response.output_text.delta" for e in events) == 3
    assert not any(e.type == "response.completed" for e in events)


async def test_anthropic_sdk_stream_faults(anthropic_client: anthropic.AsyncAnthropic) -> None:
    async def consume(fault: str) -> str:
        async with anthropic_client.messages.stream(
            model="m",
            max_tokens=100,
            messages=[{"role": "user", "content": "x"}],
            extra_headers={**TOKENS, "x-sim-fault": fault},
        ) as stream:
            return "".join([text async for text in stream.text_stream])

    with pytest.raises(anthropic.APIStatusError) as info:
        await consume("error-event")
    assert isinstance(info.value.body, dict)
    assert info.value.body["error"]["type"] == "overloaded_error"
    with pytest.raises(Exception, match=r"incomplete chunked read|Connection error"):
        await consume("crash")
    with pytest.raises(json.JSONDecodeError):
        await consume("malformed")
    text = await consume("oversize")
    assert len(text.split()) == 6
    assert len(text) > 2 * 1024 * 1024


async def test_ollama_sdk_stream_faults(sim: RunningSimulator) -> None:
    async def consume(fault: str) -> list[ollama.ChatResponse]:
        headers = {**TOKENS, "x-sim-fault": fault}
        async with ollama.AsyncClient(host=sim.url, headers=headers) as client:
            stream = await client.chat(model="m", messages=[{"role": "user", "content": "x"}], stream=True)
            return [part async for part in stream]

    with pytest.raises(ollama.ResponseError, match="overloaded"):
        await consume("error-event")
    with pytest.raises(Exception, match="incomplete chunked read"):
        await consume("crash")
    with pytest.raises(json.JSONDecodeError):
        await consume("malformed")
    parts = await consume("oversize")
    assert parts[-1].eval_count == 6


async def test_non_stream_faults(openai_client: openai.AsyncOpenAI, http: aiohttp.ClientSession) -> None:
    body = {"model": "m", "messages": [{"role": "user", "content": "x"}]}
    with pytest.raises(openai.APIConnectionError):
        await openai_client.chat.completions.create(
            model="m", messages=[{"role": "user", "content": "x"}], extra_headers={"x-sim-fault": "crash"}
        )
    with pytest.raises(openai.InternalServerError):
        await openai_client.chat.completions.create(
            model="m",
            messages=[{"role": "user", "content": "x"}],
            extra_headers={"x-sim-fault": "error-event"},
        )
    async with http.post("/v1/chat/completions", json=body, headers={"x-sim-fault": "malformed"}) as r:
        assert r.status == 200
        raw = await r.read()
    with pytest.raises(json.JSONDecodeError):
        json.loads(raw)
    stall = {"x-sim-fault": "stall", "x-sim-stall-ms": "100"}
    with pytest.raises(aiohttp.ServerDisconnectedError):
        async with http.post("/api/chat", json={**body, "stream": False}, headers=stall) as r:
            await r.read()


# --- stream variants of real servers -----------------------------------------------------------


@pytest.mark.parametrize("api", [a for a in APIS if a.name.startswith("openai-c")], ids=lambda a: a.name)
async def test_no_done_variant_ends_after_the_finish_without_done(
    http: aiohttp.ClientSession, api: Api
) -> None:
    received = await fetch(http, api, {**TOKENS, "x-sim-stream": "no-done"})
    payloads, bad = parsed(api, received.body)
    assert (received.error, bad) == (None, 0)
    assert "[DONE]" not in payloads
    assert sum(api.is_token(p) for p in payloads) == 6
    last = payloads[-1]
    assert isinstance(last, dict)
    assert last["choices"][0]["finish_reason"] == "stop"


async def test_error_usage_variant_is_openrouters_error_chunk(http: aiohttp.ClientSession) -> None:
    api = next(a for a in APIS if a.name == "openai-chat")
    headers = {**TOKENS, "x-sim-fault": "error-event", "x-sim-stream": "error-usage"}
    payloads, _ = parsed(api, (await fetch(http, api, headers)).body)
    (error,) = [p for p in payloads if api.is_error(p)]
    assert isinstance(error, dict)
    assert error["choices"][0]["finish_reason"] == "error"
    # Half the 6 tokens were sent before the error; the chunk's usage counts them.
    assert error["usage"]["completion_tokens"] == 3
    assert payloads[-1] == "[DONE]"


@pytest.mark.parametrize(("n_predict", "flag"), [(None, "stopped_eos"), (2, "stopped_limit")])
async def test_stopped_flags_variant_is_an_older_llamacpp(
    http: aiohttp.ClientSession, n_predict: int | None, flag: str
) -> None:
    api = next(a for a in APIS if a.name == "llamacpp")
    body = {**api.body, **({"n_predict": n_predict} if n_predict is not None else {})}
    async with http.post(api.path, json=body, headers={**TOKENS, "x-sim-stream": "stopped-flags"}) as resp:
        payloads, _ = parsed(api, await resp.read())
    final = payloads[-1]
    assert isinstance(final, dict)
    assert "stop_type" not in final
    flags = {k: v for k, v in final.items() if k.startswith("stopped_")}
    assert flags == {f: f == flag for f in ("stopped_eos", "stopped_word", "stopped_limit")}
    assert final["tokens_predicted"] == (n_predict or 6)


async def test_n_streams_every_choice(http: aiohttp.ClientSession) -> None:
    api = next(a for a in APIS if a.name == "openai-chat")
    body = {**api.body, "n": 3, "stream_options": {"include_usage": True}}
    async with http.post(api.path, json=body, headers=TOKENS) as resp:
        payloads, _ = parsed(api, await resp.read())
    chunks = [p for p in payloads if isinstance(p, dict) and p["choices"]]
    text = {
        i: "".join(
            c["choices"][0]["delta"].get("content") or "" for c in chunks if c["choices"][0]["index"] == i
        )
        for i in range(3)
    }
    assert len(set(text.values())) == 1
    assert all(len(t.split()) == 6 for t in text.values())
    finishes = [c["choices"][0]["finish_reason"] for c in chunks if c["choices"][0]["finish_reason"]]
    assert finishes == ["stop", "stop", "stop"]
    usage = next(p for p in payloads if isinstance(p, dict) and not p["choices"])["usage"]
    assert usage["completion_tokens"] == 18


@pytest.mark.parametrize(
    ("path", "body", "headers"),
    [
        ("/v1/chat/completions", {"model": "m", "messages": [], "n": 0}, {}),
        ("/v1/chat/completions", {"model": "m", "messages": [], "n": 17}, {}),
        ("/v1/chat/completions", {"model": "m", "messages": []}, {"x-sim-stream": "no-done,sometimes"}),
        ("/completion", {"prompt": "hi"}, {"x-sim-finish": "content_filter"}),
    ],
)
async def test_variant_requests_the_server_would_refuse_are_400(
    http: aiohttp.ClientSession, path: str, body: dict[str, object], headers: dict[str, str]
) -> None:
    async with http.post(path, json=body, headers=headers) as resp:
        assert resp.status == 400
        assert "error" in await resp.json()
