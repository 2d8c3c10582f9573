"""Server-Sent Events framing: ``data: …`` lines, an optional ``event:`` name, a blank line."""

from __future__ import annotations

from typing import Any

import orjson

DONE = b"data: [DONE]\n\n"  # the end of an OpenAI-style stream


def frame(data: Any, event: str | None = None) -> bytes:
    """One event: ``data`` as JSON (bytes are sent as they are), named ``event`` if given."""
    payload = data if isinstance(data, bytes) else orjson.dumps(data)
    head = b"event: " + event.encode() + b"\n" if event else b""
    return head + b"data: " + payload + b"\n\n"
