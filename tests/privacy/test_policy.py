"""Policy resolution and the detection engine's label filter, without a server."""

from __future__ import annotations

import orjson
import pytest

from soberana.auth.principal import Principal, Role, Scope
from soberana.gateway.protection import Shield, _text_slots
from soberana.privacy.builtin import detector_registry
from soberana.privacy.engine import PiiEngine
from soberana.privacy.policy import PolicyBook
from soberana.privacy.schemas import PolicyDocument
from soberana.settings import Settings

STAFF = Principal(
    kind="user",
    id="usr_1",
    label="s",
    org_id="org_1",
    role=Role.STAFF,
    scopes=frozenset({Scope.INFERENCE}),
    key_id="key_1",
)


def test_a_kind_left_out_never_hides_a_protected_one_inside_it() -> None:
    engine = PiiEngine(detector_registry(load_entry_points=False))
    text = "Escríbame por https://wa.me/34612345678 hoy."
    assert [e.label for e in engine.detect(text, "es")] == ["URL"]
    found = engine.detect(text, "es", labels={"PHONE", "PERSON"})
    assert [(text[e.start : e.end], e.label) for e in found] == [("34612345678", "PHONE")]


def test_unknown_levels_and_missing_rules_fail_closed() -> None:
    book = PolicyBook(Settings(privacy_rules={"secret": {"mode": "block"}}))
    # a collection classified under a level this installation does not know counts as the highest
    assert book.resolve(STAFF, floors=["Confidential"]).classification == "secret"
    # overriding one level keeps the protective defaults of the others
    assert book.resolve(STAFF, "confidential").rule.sovereignty == ["on_premises", "national_cloud"]
    assert book.resolve(STAFF, "secret").rule.mode == "block"
    # a level with no rule anywhere stays on premises
    custom = PolicyBook(Settings(privacy_classifications=["open", "restricted"], privacy_default_classification="open"))
    assert custom.resolve(STAFF, "restricted").rule.sovereignty == ["on_premises"]


def test_key_overrides_organisation_and_signature_follows_detectors() -> None:
    book = PolicyBook(Settings())
    org = PolicyDocument.model_validate({"deny_lists": [{"label": "PERSON", "terms": ["Doña Urraca"]}]})
    key = PolicyDocument.model_validate({"default_classification": "confidential"})
    book.load({"org_1": org}, {"key_1": key})
    first = book.resolve(STAFF)
    assert first.classification == "confidential"
    compiled = first.detectors
    book.load({"org_1": org}, {"key_1": key})  # reloaded unchanged: same compiled detectors, same cache key
    assert book.resolve(STAFF).detectors == compiled and book.resolve(STAFF).signature == first.signature
    changed = PolicyDocument.model_validate(
        {"deny_lists": [{"label": "PERSON", "terms": ["Doña Urraca", "Don Pelayo"]}]}
    )
    book.load({"org_1": changed}, {"key_1": key})
    assert book.resolve(STAFF).signature != first.signature


def test_every_text_a_chat_sends_is_checked_and_the_rest_is_named() -> None:
    body = {
        "messages": [
            {"role": "user", "content": [{"type": "text", "text": "hola"}, {"type": "image_url", "image_url": {}}]},
            {
                "role": "assistant",
                "tool_calls": [
                    {"id": "c", "type": "function", "function": {"name": "f", "arguments": '{"to": "Ana"}'}}
                ],
            },
            {"role": "tool", "content": "sent"},
        ]
    }
    slots, unscannable = _text_slots("chat", body)
    assert [c[k] for c, k in slots] == ["hola", '{"to": "Ana"}', "sent"]
    assert unscannable == ["image_url"]
    assert _text_slots("embeddings", {"input": [[1, 2, 3]]})[1] == ["token ids"]


async def _events(*chunks: dict[str, object], error: bool = False) -> object:
    for chunk in chunks:
        yield b"data: " + orjson.dumps(chunk) + b"\n\n"
    yield b'data: {"error": {"message": "broke"}}\n\n' if error else b"data: [DONE]\n\n"


def _shield(originals: dict[str, str]) -> Shield:
    from soberana.privacy.policy import Resolved
    from soberana.privacy.service import Protected

    shield = Shield(
        None, STAFF, Resolved("internal", Settings().privacy_rules["internal"], frozenset(), ()), "chat", {}
    )  # type: ignore[arg-type]
    shield.protected, shield.used = Protected([], "pseudonymised", originals=originals), True
    return shield


async def _collect(shield: Shield, events: object) -> tuple[str, str]:
    text, arguments = "", ""
    async for event in shield.restore_stream(events):  # type: ignore[arg-type]
        if event.startswith(b"data: {") and b'"choices"' in event:
            for choice in orjson.loads(event[6:])["choices"]:
                delta = choice["delta"]
                text += delta.get("content") or ""
                arguments += "".join(c["function"]["arguments"] for c in delta.get("tool_calls") or [])
    return text, arguments


@pytest.mark.parametrize("error", [False, True])
async def test_streamed_tool_calls_are_restored_and_nothing_held_is_lost(error: bool) -> None:
    shield = _shield({"<PERSON_1>": 'Ana "A" Ruiz'})
    base = {"id": "x", "object": "chat.completion.chunk"}
    chunks = [
        {**base, "choices": [{"index": 0, "delta": {"content": "Hola <PERS"}, "finish_reason": None}]},
        {
            **base,
            "choices": [
                {"index": 0, "delta": {"tool_calls": [{"index": 0, "function": {"arguments": '{"to": "<PER'}}]}}
            ],
        },
        {
            **base,
            "choices": [{"index": 0, "delta": {"tool_calls": [{"index": 0, "function": {"arguments": 'SON_1>"}'}}]}}],
        },
        {**base, "choices": [{"index": 0, "delta": {"content": "ON_1"}, "finish_reason": None}]},
    ]
    text, arguments = await _collect(shield, _events(*chunks, error=error))
    assert orjson.loads(arguments) == {"to": 'Ana "A" Ruiz'}
    assert text == "Hola <PERSON_1"  # an unfinished placeholder is shown as it came, not dropped
