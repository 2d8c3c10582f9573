"""Small helpers for asynchronous iterators."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TypeVar

T = TypeVar("T")


@asynccontextmanager
async def closing_stream(stream: AsyncIterator[T]) -> AsyncIterator[AsyncIterator[T]]:
    """Iterate ``stream`` and close it when the block ends, however it ends (an error, a client that
    went away, a ``break``), so that its ``finally`` clauses run now rather than when the garbage
    collector finds it: a model's capacity is released, a call is metered."""
    try:
        yield stream
    finally:
        close = getattr(stream, "aclose", None)
        if close is not None:
            await close()
