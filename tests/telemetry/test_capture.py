"""Content capture (off by default, per mode, redaction, truncation)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from sidecar.config import CaptureConfig
from sidecar.genai.content import RequestContent
from sidecar.genai.observations import (
    OutputKind,
    RequestInfo,
)
from sidecar.telemetry.capture import Redactor, fit
from tests.steps import FinishReason, OutputChunk, StreamComplete, ToolCall
from tests.telemetry.conftest import MakeSink, Sink, chat
from tests.telemetry.test_recorder_metrics import run

SECRET = "sk-abcdefghijklmnopqrstuvwxyz012345"
DETAILS = "gen_ai.client.inference.operation.details"


def conversation() -> RequestInfo:
    body = {
        "system": "You are terse.",
        "messages": [
            {"role": "user", "content": "Say hello"},
            {"role": "assistant", "content": "Hello"},
            {"role": "user", "content": "Again"},
        ],
    }
    return chat(content=RequestContent("anthropic", body))


def user_says(*texts: str) -> RequestInfo:
    messages = [{"role": "user", "content": text} for text in texts]
    return chat(content=RequestContent("openai_chat", {"messages": messages}))


SCRIPT: list[tuple[float, Any]] = [
    (1000.1, OutputChunk(kind=OutputKind.REASONING, text="thinking")),
    (1000.2, OutputChunk(kind=OutputKind.TEXT, text="Hel")),
    (1000.3, OutputChunk(kind=OutputKind.TEXT, text="lo!")),
    (1000.4, FinishReason(reason="stop")),
    (1000.4, StreamComplete()),
]


def events(sink: Sink, name: str) -> list[Any]:
    return [r for r in sink.logs.get_finished_logs() if r.log_record.event_name == name]


def all_exported_text(sink: Sink) -> str:
    parts = [repr(dict(s.attributes)) for s in sink.spans.get_finished_spans()]
    for record in sink.logs.get_finished_logs():
        parts.append(repr(record.log_record.body))
        parts.append(repr(dict(record.log_record.attributes or {})))
    return "\n".join(parts)


def test_no_content_by_default(sink: Sink) -> None:
    run(sink, SCRIPT, request=conversation())
    attrs = sink.span().attributes
    for key in ("gen_ai.input.messages", "gen_ai.output.messages", "gen_ai.system_instructions"):
        assert key not in attrs
    assert events(sink, DETAILS) == []
    exported = all_exported_text(sink)
    assert "Say hello" not in exported
    assert "Hel" not in exported


def test_span_only_puts_semconv_json_on_the_span(make_sink: MakeSink) -> None:
    sink = make_sink(capture=CaptureConfig(mode="SPAN_ONLY"))
    run(sink, SCRIPT, request=conversation())
    attrs = sink.span().attributes
    assert json.loads(str(attrs["gen_ai.system_instructions"])) == [
        {"type": "text", "content": "You are terse."}
    ]
    assert json.loads(str(attrs["gen_ai.input.messages"])) == [
        {"role": "user", "parts": [{"type": "text", "content": "Say hello"}]},
        {"role": "assistant", "parts": [{"type": "text", "content": "Hello"}]},
        {"role": "user", "parts": [{"type": "text", "content": "Again"}]},
    ]
    assert json.loads(str(attrs["gen_ai.output.messages"])) == [
        {
            "role": "assistant",
            "parts": [
                {"type": "reasoning", "content": "thinking"},
                {"type": "text", "content": "Hello!"},
            ],
            "finish_reason": "stop",
        }
    ]
    assert events(sink, DETAILS) == []


def test_event_only_emits_structured_details_event(make_sink: MakeSink) -> None:
    sink = make_sink(capture=CaptureConfig(mode="EVENT_ONLY"))
    run(sink, SCRIPT, request=conversation())
    assert "gen_ai.input.messages" not in sink.span().attributes
    (event,) = events(sink, DETAILS)
    attrs = event.log_record.attributes
    assert attrs["gen_ai.operation.name"] == "chat"
    assert attrs["gen_ai.response.finish_reasons"] == ("stop",)
    output = attrs["gen_ai.output.messages"]
    assert output[0]["parts"][1] == {"type": "text", "content": "Hello!"}
    assert attrs["gen_ai.input.messages"][0]["parts"][0]["content"] == "Say hello"
    span = sink.span()
    assert event.log_record.trace_id == span.context.trace_id
    assert event.log_record.span_id == span.context.span_id


def test_span_and_event(make_sink: MakeSink) -> None:
    sink = make_sink(capture=CaptureConfig(mode="SPAN_AND_EVENT"))
    run(sink, SCRIPT, request=conversation())
    assert "gen_ai.output.messages" in sink.span().attributes
    assert len(events(sink, DETAILS)) == 1


def test_env_variable_opts_in(make_sink: MakeSink) -> None:
    sink = make_sink(environ={"OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT": "span_only"})
    run(sink, SCRIPT, request=conversation())
    assert "gen_ai.input.messages" in sink.span().attributes


def test_premature_output_has_error_finish_reason(make_sink: MakeSink) -> None:
    sink = make_sink(capture=CaptureConfig(mode="SPAN_ONLY"))
    run(sink, SCRIPT[:3], status=500)
    (message,) = json.loads(str(sink.span().attributes["gen_ai.output.messages"]))
    assert message["finish_reason"] == "error"


def test_redaction_builtin_and_configured(make_sink: MakeSink) -> None:
    capture = CaptureConfig(mode="SPAN_ONLY", redact_patterns=(r"\b\d{3}-\d{2}-\d{4}\b",))
    sink = make_sink(capture=capture)
    content = (
        f"key {SECRET}, mail jane.doe@example.com, header Authorization: Bearer abc.def.ghijklmnop, "
        "api_key=12345678 and ssn 123-45-6789"
    )
    request = user_says(content)
    output = [(1000.1, OutputChunk(kind=OutputKind.TEXT, text=f"your key is {SECRET}"))]
    run(sink, output, request=request)
    exported = all_exported_text(sink)
    for secret in (SECRET, "jane.doe@example.com", "abc.def.ghijklmnop", "12345678", "123-45-6789"):
        assert secret not in exported
    captured = json.loads(str(sink.span().attributes["gen_ai.input.messages"]))
    text = captured[0]["parts"][0]["content"]
    assert text.startswith("key [REDACTED], mail [REDACTED]")
    assert "api_key=[REDACTED]" in text


def test_tool_call_arguments_and_results_are_redacted_whatever_their_keys(make_sink: MakeSink) -> None:
    """Arguments and tool results are content all through: a value under a key named ``id`` or
    ``name`` inside them is redacted like any other, while the part's own id and name stay."""
    sink = make_sink(capture=CaptureConfig(mode="SPAN_ONLY"))
    call = {
        "id": "call_1",
        "type": "function",
        "function": {"name": "login", "arguments": json.dumps({"id": SECRET})},
    }
    body = {
        "messages": [
            {"role": "assistant", "tool_calls": [call]},
            {
                "role": "tool",
                "tool_call_id": "call_1",
                "content": json.dumps({"name": "jane.doe@example.com"}),
            },
        ]
    }
    request = chat(content=RequestContent("openai_chat", body))
    output = [
        (1000.1, OutputChunk(kind=OutputKind.TOOL_CALL)),
        (1000.1, ToolCall(id="call_2", name="login", arguments={"name": SECRET})),
    ]
    run(sink, output, request=request)
    exported = all_exported_text(sink)
    assert SECRET not in exported
    assert "jane.doe@example.com" not in exported
    attrs = sink.span().attributes
    (assistant, _) = json.loads(str(attrs["gen_ai.input.messages"]))
    assert assistant["parts"][0] == {
        "type": "tool_call",
        "id": "call_1",
        "name": "login",
        "arguments": {"id": "[REDACTED]"},
    }
    (message,) = json.loads(str(attrs["gen_ai.output.messages"]))
    assert message["parts"] == [
        {"type": "tool_call", "id": "call_2", "name": "login", "arguments": {"name": "[REDACTED]"}}
    ]


def test_truncation_keeps_valid_json_within_budget(make_sink: MakeSink) -> None:
    sink = make_sink(capture=CaptureConfig(mode="SPAN_ONLY", max_bytes=300))
    long = "é" * 2000
    request = user_says(long, long, long)
    chunks = [(1000.0 + i / 1000, OutputChunk(kind=OutputKind.TEXT, text="word ")) for i in range(500)]
    run(sink, chunks, request=request)
    attrs = sink.span().attributes
    for key in ("gen_ai.input.messages", "gen_ai.output.messages"):
        raw = str(attrs[key])
        assert len(raw.encode()) <= 300
        parsed = json.loads(raw)
        assert parsed[0]["role"] in ("user", "assistant")
        assert parsed[0]["parts"][0]["content"].endswith("...[truncated]")


def test_fit_drops_trailing_entries_when_structure_alone_is_too_big() -> None:
    items = [{"role": "user", "parts": [{"type": "text", "content": "x" * 50}]} for _ in range(20)]
    fitted = fit(items, 120)
    assert 1 <= len(fitted) < 20
    assert len(json.dumps(fitted, separators=(",", ":"))) <= 120


def test_fit_leaves_small_content_alone() -> None:
    items = [{"type": "text", "content": "short"}]
    assert fit(items, 1000) == items


@pytest.mark.parametrize(
    ("text", "kept"),
    [
        ("Bearer eyJhbGciOiJIUzI1NiJ9.payload.sig", ""),
        ("AKIAIOSFODNN7EXAMPLE", ""),
        ("ghp_" + "a" * 36, ""),
        ("password: hunter2", "password: "),
        ("plain words stay", "plain words stay"),
    ],
)
def test_builtin_patterns(text: str, kept: str) -> None:
    redacted = Redactor()(text)
    if kept == text:
        assert redacted == text
    else:
        assert redacted == kept + "[REDACTED]"


JWT = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U"
PEM_BODY = "MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC7"
AWS_SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
GITHUB_PAT = "github_pat_11ABCDEFG0123456789_abcdefghijklmnopqrstuvwxyzABCDEFGH"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # JSON "api_key": "..." (and other credential names, quoted keys and values)
        ('{"api_key": "abc123xyz"}', '{"api_key": "[REDACTED]"}'),
        ("{'client_secret': 'x y z'}", "{'client_secret': '[REDACTED]'}"),
        ('{"secret": "a \\"quoted\\" b", "n": 1}', '{"secret": "[REDACTED]", "n": 1}'),
        # quoted passwords, spaces inside included
        ('password = "correct horse battery"', 'password = "[REDACTED]"'),
        ("PASSWORD: 'hunter two'", "PASSWORD: '[REDACTED]'"),
        # JWTs, bare
        (f"token {JWT} end", "token [REDACTED] end"),
        # AWS secret access keys, bare and quoted
        (f"aws_secret_access_key={AWS_SECRET}", "aws_secret_access_key=[REDACTED]"),
        (f'aws_secret_access_key = "{AWS_SECRET}"', 'aws_secret_access_key = "[REDACTED]"'),
        # PEM private keys, whole or cut before END
        (
            f"key:\n-----BEGIN RSA PRIVATE KEY-----\n{PEM_BODY}\n-----END RSA PRIVATE KEY-----\nthanks",
            "key:\n[REDACTED]\nthanks",
        ),
        (f"-----BEGIN OPENSSH PRIVATE KEY-----\n{PEM_BODY}", "[REDACTED]"),
        (
            f"-----BEGIN ENCRYPTED PRIVATE KEY-----\n{PEM_BODY}\n-----END ENCRYPTED PRIVATE KEY-----",
            "[REDACTED]",
        ),
        # GitHub fine-grained tokens
        (f"use {GITHUB_PAT} now", "use [REDACTED] now"),
    ],
)
def test_credential_patterns_redact(text: str, expected: str) -> None:
    assert Redactor()(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        '{"api_key_hint": "set it in the environment"}',  # a longer name is not the credential
        '{"password_policy": "at least 12 characters"}',
        "the api key is in the vault",  # a name without a value
        "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0",  # two segments: no signature, not a JWT
        "see docs.example.io/eyJustin.html",
        f"-----BEGIN CERTIFICATE-----\n{PEM_BODY}\n-----END CERTIFICATE-----",  # public material
        f"-----BEGIN PUBLIC KEY-----\n{PEM_BODY}\n-----END PUBLIC KEY-----",
        "set aws_secret_access_key in ~/.aws/credentials",
        "github_pat_ tokens start like this: github_pat_short",
    ],
)
def test_credential_patterns_leave_lookalikes(text: str) -> None:
    assert Redactor()(text) == text


def test_a_configured_pattern_may_redact_only_its_secret_group() -> None:
    redactor = Redactor([r"ticket (?P<secret>\d{6})", r"account-\d+"])
    assert redactor("ticket 123456 for account-42") == "ticket [REDACTED] for [REDACTED]"
