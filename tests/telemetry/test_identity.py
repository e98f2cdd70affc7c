"""Attribution by tenant, user and API key: capped metric attributes, keyed hashes, and nothing
identifying exported in the clear (metrics, /metrics text, spans, call log, debug logs)."""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import subprocess
import sys
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from sidecar.config import ConfigError, IdentityConfig, load_config
from sidecar.telemetry.identity import HASH_CHARS, IdentityExtractor, api_key, keyed_hash, load_key
from tests.conftest import StartSidecar
from tests.proxy.upstreams import serve_handler
from tests.telemetry.conftest import MakeSink, Sink, chat

KEY = b"0123456789abcdef-test-key"
OTHER_KEY = b"fedcba9876543210-test-key"
USER = "alice@example.com"
TOKEN = "sk-live-SECRET-token-0042"
TENANT = "acme-corp"


def key_file(tmp_path: Path, key: bytes = KEY) -> str:
    path = tmp_path / "hmac.key"
    path.write_bytes(key + b"\n")
    return str(path)


def call(sink: Sink, headers: dict[str, str], **request: Any) -> None:
    recorder = sink.telemetry.start(request=chat(**request), method="POST", headers=headers, t0=1.0)
    recorder.response_started(200, 1.01)
    recorder.finish(1.5, status=200, response_bytes=10)


def series(sink: Sink, name: str, attribute: str) -> set[Any]:
    return {p.attributes.get(attribute) for p in sink.points(name)}


# ------------------------------------------------------------------------------ the hash


def test_hmac_is_stable_keyed_and_differs_between_keys() -> None:
    one = keyed_hash(KEY, b"enduser.id\x00", USER)
    assert one == keyed_hash(KEY, b"enduser.id\x00", USER)  # stable
    assert len(one) == HASH_CHARS
    assert int(one, 16) >= 0
    # it is HMAC-SHA256 under the key (anyone holding the key can recompute it, nobody else)
    assert one == hmac.new(KEY, b"enduser.id\x00" + USER.encode(), hashlib.sha256).hexdigest()[:HASH_CHARS]
    assert one != hashlib.sha256(USER.encode()).hexdigest()[:HASH_CHARS]  # keyed, not a bare hash
    assert one != keyed_hash(OTHER_KEY, b"enduser.id\x00", USER)  # another key, another hash
    assert one != keyed_hash(KEY, b"api_key\x00", USER)  # another role, another hash
    assert one != keyed_hash(KEY, b"enduser.id\x00", "bob@example.com")


def test_hash_survives_a_restart_and_changes_with_the_key(make_sink: MakeSink, tmp_path: Path) -> None:
    def user_hash(key: bytes) -> str:
        identity = IdentityConfig(user_id_header="x-user-id", hmac_key_file=key_file(tmp_path, key))
        sink = make_sink(identity=identity)
        call(sink, {"x-user-id": USER})
        value = sink.span().attributes["enduser.id"]  # type: ignore[index]
        assert isinstance(value, str)
        return value

    assert user_hash(KEY) == user_hash(KEY)
    assert user_hash(KEY) != user_hash(OTHER_KEY)


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"Authorization": f"Bearer {TOKEN}"}, TOKEN),
        ({"authorization": f"bearer  {TOKEN} "}, TOKEN),
        ({"X-Api-Key": TOKEN}, TOKEN),
        ({"api-key": TOKEN}, TOKEN),
        ({"x-goog-api-key": TOKEN}, TOKEN),
        ({"Authorization": "Basic dXNlcjpwYXNz"}, None),
        ({}, None),
    ],
)
def test_api_key_comes_from_bearer_or_key_headers(headers: dict[str, str], expected: str | None) -> None:
    assert api_key(headers) == expected


# ------------------------------------------------------------------------------ the key


def test_hashing_without_a_key_is_refused() -> None:
    for identity in (IdentityConfig(user_id_header="x-user-id"), IdentityConfig(api_key_hash=True)):
        with pytest.raises(ConfigError, match="hmac_key_env") as info:
            load_key(identity, {})
        assert "\n" not in str(info.value)
    assert load_key(IdentityConfig(metric_headers={"x-tenant": "tenant"}), {}) == b""


def test_key_from_env_or_file(tmp_path: Path) -> None:
    from_env = IdentityConfig(api_key_hash=True, hmac_key_env="SIDECAR_TEST_KEY")
    assert load_key(from_env, {"SIDECAR_TEST_KEY": KEY.decode()}) == KEY
    with pytest.raises(ConfigError, match="SIDECAR_TEST_KEY is not set"):
        load_key(from_env, {})
    from_file = IdentityConfig(api_key_hash=True, hmac_key_file=key_file(tmp_path))
    assert load_key(from_file, {}) == KEY
    with pytest.raises(ConfigError, match="at least 16 bytes"):
        load_key(IdentityConfig(api_key_hash=True, hmac_key_env="K"), {"K": "short"})
    with pytest.raises(ConfigError, match="cannot read"):
        load_key(IdentityConfig(hmac_key_file=str(tmp_path / "absent")), {})


def test_start_up_without_a_key_exits_2_with_one_line(tmp_path: Path) -> None:
    config = tmp_path / "sidecar.toml"
    config.write_text('[telemetry.identity]\nuser_id_header = "x-user-id"\nhmac_key_env = "NO_SUCH_VAR_X"\n')
    for command in (["check-config", str(config)], ["run", "--config", str(config)]):
        done = subprocess.run(
            [sys.executable, "-m", "sidecar", *command], capture_output=True, text=True, timeout=60
        )
        assert done.returncode == 2, done.stderr
        (line,) = done.stderr.strip().splitlines()
        assert "telemetry.identity.hmac_key_env" in line
        assert "NO_SUCH_VAR_X" in line


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ('metric_headers = { "Authorization" = "auth" }', "telemetry.identity.metric_headers"),
        ('headers = { "x-api-key" = "key" }', "telemetry.identity.headers"),
        ('metric_headers = { "x-tenant" = "Tenant Name" }', "telemetry.identity.metric_headers"),
        ('metric_headers = { "x-k" = "api_key.hash" }', "telemetry.identity.metric_headers"),
        ("max_values = 0", "telemetry.identity.max_values"),
        ("user_id_max_values = -1", "telemetry.identity.user_id_max_values"),
        ('user_id_header = "cookie"', "telemetry.identity.user_id_header"),
        ('hmac_key_env = "A"\nhmac_key_file = "/k"', "telemetry.identity.hmac_key_file"),
        ('hmac_key = "inline"', "telemetry.identity.hmac_key"),
    ],
)
def test_bad_identity_config_names_the_key(tmp_path: Path, text: str, key: str) -> None:
    path = tmp_path / "c.toml"
    path.write_text(f"[telemetry.identity]\n{text}\n")
    with pytest.raises(ConfigError) as info:
        load_config(str(path), environ={})
    assert info.value.key == key


# ------------------------------------------------------------------------------ the caps


def test_ten_thousand_tenants_give_at_most_cap_plus_one_series(make_sink: MakeSink) -> None:
    cap = 20
    identity = IdentityConfig(metric_headers={"x-tenant": "tenant"}, max_values=cap)
    sink = make_sink(identity=identity)
    for i in range(10_000):
        call(sink, {"x-tenant": f"tenant-{i}"})
    tenants = series(sink, "gen_ai.client.operation.duration", "genai_sidecar.tenant")
    assert len(tenants) == cap + 1
    assert "_OTHER" in tenants
    assert {f"tenant-{i}" for i in range(cap)} <= tenants  # the first ones keep their name
    text = sink.telemetry.prometheus_exposition()[0].decode()
    lines = [
        ln for ln in text.splitlines() if ln.startswith("gen_ai_client_operation_duration_seconds_count{")
    ]
    assert len(lines) == cap + 1


def test_ten_thousand_users_and_keys_are_capped(make_sink: MakeSink, tmp_path: Path) -> None:
    identity = IdentityConfig(
        user_id_header="x-user-id",
        user_id_max_values=7,
        api_key_hash=True,
        max_values=5,
        hmac_key_file=key_file(tmp_path),
    )
    sink = make_sink(identity=identity)
    for i in range(10_000):
        call(sink, {"x-user-id": f"user-{i}", "authorization": f"Bearer sk-{i}"})
    name = "gen_ai.client.operation.duration"
    assert len(series(sink, name, "enduser.id")) == 7 + 1
    assert len(series(sink, name, "genai_sidecar.api_key.hash")) == 5 + 1


def test_user_id_stays_off_metrics_without_its_own_cap(make_sink: MakeSink, tmp_path: Path) -> None:
    identity = IdentityConfig(user_id_header="x-user-id", hmac_key_file=key_file(tmp_path))
    sink = make_sink(identity=identity)
    call(sink, {"x-user-id": USER})
    assert "enduser.id" in sink.span().attributes  # type: ignore[operator]
    for point in sink.points("gen_ai.client.operation.duration"):
        assert "enduser.id" not in point.attributes


def test_long_values_are_other_on_metrics_and_truncated_on_spans(make_sink: MakeSink) -> None:
    identity = IdentityConfig(metric_headers={"x-tenant": "tenant"}, max_value_chars=8)
    sink = make_sink(identity=identity)
    call(sink, {"x-tenant": "x" * 1000})
    assert series(sink, "gen_ai.client.operation.duration", "genai_sidecar.tenant") == {"_OTHER"}
    assert sink.span().attributes["genai_sidecar.tenant"] == "x" * 256  # type: ignore[index]


def test_conversation_id_from_a_configured_header(make_sink: MakeSink) -> None:
    sink = make_sink(identity=IdentityConfig(conversation_id_header="x-conversation-id"))
    call(sink, {"X-Conversation-Id": "conv-7"})
    assert sink.span().attributes["gen_ai.conversation.id"] == "conv-7"  # type: ignore[index]
    for point in sink.points("gen_ai.client.operation.duration"):
        assert "gen_ai.conversation.id" not in point.attributes


@pytest.mark.parametrize(
    ("headers", "body", "expected"),
    [
        ({"x-conversation-id": "from-header"}, "from-body", "from-header"),  # the operator's header wins
        ({}, "from-body", "from-body"),  # else the request's own field (Responses `conversation`)
        ({}, None, None),  # else nothing: never made up
    ],
)
def test_conversation_id_header_wins_over_the_body_and_nothing_is_invented(
    make_sink: MakeSink, headers: dict[str, str], body: str | None, expected: str | None
) -> None:
    sink = make_sink(identity=IdentityConfig(conversation_id_header="x-conversation-id"))
    call(sink, headers, conversation_id=body)
    assert sink.span().attributes.get("gen_ai.conversation.id") == expected  # type: ignore[union-attr]


def test_disabled_extractor_adds_nothing() -> None:
    extractor = IdentityExtractor(IdentityConfig(), b"")
    assert not extractor.enabled
    found = extractor.attributes({"x-tenant": "a", "authorization": f"Bearer {TOKEN}"})
    assert found.span == {}
    assert found.metric == {}


# ------------------------------------------------------------ nothing in the clear, end to end


async def test_no_raw_user_id_or_key_in_any_exported_byte(
    start_sidecar: StartSidecar,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    capfd: pytest.CaptureFixture[str],
) -> None:
    """Through the real proxy with call log on stdout and debug logging: spans, metrics, the
    /metrics text, the call log and the log records carry hashes, never the raw user id or key."""

    async def upstream(request: web.Request) -> web.StreamResponse:
        await request.read()
        body = b'{"model":"llama3","message":{"role":"assistant","content":"yo"},"done":true,'
        body += b'"prompt_eval_count":3,"eval_count":2}'
        return web.Response(body=body, content_type="application/json")

    identity = {
        "metric_headers": {"x-tenant": "tenant"},
        "user_id_header": "x-user-id",
        "user_id_max_values": 10,
        "api_key_hash": True,
        "hmac_key_file": key_file(tmp_path),
    }
    caplog.set_level(logging.DEBUG)
    async with serve_handler(upstream) as url:
        sidecar = await start_sidecar(
            url, **{"telemetry.identity": identity, "telemetry": {"call_log": "stdout"}}
        )
        headers = {"x-tenant": TENANT, "x-user-id": USER, "authorization": f"Bearer {TOKEN}"}
        async with aiohttp.ClientSession() as session:
            body = {"model": "llama3", "stream": False, "messages": [{"role": "user", "content": "hi"}]}
            async with session.post(sidecar.url + "/api/chat", json=body, headers=headers) as response:
                assert response.status == 200
                await response.read()
            async with session.get(sidecar.admin_url + "/metrics") as response:
                metrics_text = await response.text()
    sink = sidecar.sink
    (span,) = sink.spans.get_finished_spans()
    stdout = capfd.readouterr().out
    exported = [
        span.to_json(),
        metrics_text,
        str(sink.metrics.get_metrics_data()),
        *(r.to_json() for r in sink.logs.get_finished_logs()),
        stdout,
        caplog.text,
    ]
    blob = "\n".join(exported)
    assert TENANT in metrics_text
    assert f'genai_sidecar_tenant="{TENANT}"' in metrics_text
    user_hash = keyed_hash(KEY, b"enduser.id\x00", USER)
    key_hash = keyed_hash(KEY, b"api_key\x00", TOKEN)
    assert span.attributes is not None
    assert span.attributes["enduser.id"] == user_hash
    assert span.attributes["genai_sidecar.api_key.hash"] == key_hash
    assert f'enduser_id="{user_hash}"' in metrics_text
    assert f'genai_sidecar_api_key_hash="{key_hash}"' in metrics_text
    (line,) = [json.loads(ln) for ln in stdout.splitlines() if '"genai_sidecar.call"' in ln]
    assert line["genai_sidecar.tenant"] == TENANT  # the call log says who, hashed where it must
    assert line["enduser.id"] == user_hash
    assert line["genai_sidecar.api_key.hash"] == key_hash
    for secret in (USER, TOKEN, "SECRET"):
        assert secret not in blob
