"""The worker process of :class:`~soberana.knowledge.parsing.sandbox.SandboxedParser`.

Started as ``python -m soberana.knowledge.parsing.worker MEMORY_MB TARGET`` (``TARGET``: the parse
function, ``module:name``), a fresh interpreter that imports nothing of the server. It limits its own
address space to ``MEMORY_MB`` (``RLIMIT_AS``, libraries included: about 60 MB of it once they are
loaded) and writes no core files, then reads requests on standard input and answers on standard output:

- worker → server, once: ``{"ready": pid}``;
- server → worker: a request, one frame of ``[{"name", "type", "size"}, …]`` followed by the bytes of
  those files, one after the other;
- worker → server: one frame per file, in order: ``{"documents": […]}`` or
  ``{"error": kind, "message": …, "type": …}``, ``kind`` being ``unreadable`` (a
  :class:`DocumentParseError`), ``unsupported``, ``memory`` (the memory limit was reached) or
  ``failed`` (a parser bug); ``"last": true`` when the worker exits after this reply (after reaching
  the memory limit, or coming within a tenth of it).

A frame is a 4-byte big-endian length and ASCII JSON. Replies are plain data, never pickles: a worker that a
crafted file took over can at worst misreport that file — it cannot run code in the server. The
server enforces the time limit by killing the worker. The worker exits when its standard input closes
or its parent process goes away (checked every second, even while a parse runs).
"""

from __future__ import annotations

import importlib
import json
import logging
import os
import resource
import signal
import struct
import sys
import threading
import time
import traceback
from collections.abc import Callable, Sequence
from typing import IO, Any, Final, TypeVar

from soberana.errors import SoberanaError
from soberana.knowledge.parsing.common import Block, DocumentParseError, ParsedDocument, UnsupportedFormat

_LENGTH: Final = struct.Struct(">I")
MAX_FRAME_BYTES: Final = 1 << 30
PRELOAD: Final = ("pypdf", "docx", "selectolax.lexbor", "markdown_it")  # not timed as part of a first file
_NEAR_LIMIT: Final = 0.9  # a peak above this share of the memory limit retires the worker

Parse = Callable[[bytes, str, str | None], list[ParsedDocument]]
T = TypeVar("T")


# --- frames and the document codec, used on both sides ----------------------------------------------


def frame(payload: object) -> bytes:
    # ASCII JSON: a lone surrogate (a file name from the file system, text from a broken PDF font) is
    # escaped and comes back as it went, where UTF-8 could not carry it.
    body = json.dumps(payload, separators=(",", ":")).encode("ascii")
    return _LENGTH.pack(len(body)) + body


def frame_length(header: bytes) -> int:
    (length,) = _LENGTH.unpack(header)
    if length > MAX_FRAME_BYTES:
        raise ValueError(f"a frame of {length} bytes")
    return int(length)


def encode_documents(documents: Sequence[ParsedDocument]) -> list[dict[str, Any]]:
    return [
        {
            "key": document.key,
            "title": document.title,
            "blocks": [[block.kind, block.text, block.level, block.page] for block in document.blocks],
            "source_url": document.source_url,
            "language": document.language,
            "published": document.published,
            "modified": document.modified,
            "page_count": document.page_count,
            "metadata": document.metadata,
        }
        for document in documents
    ]


def decode_documents(payload: object) -> list[ParsedDocument]:
    """Documents from a worker's reply, checked field by field (a ``ValueError`` when malformed)."""
    if not isinstance(payload, list):
        raise ValueError("documents are not a list")
    return [_decode_document(item) for item in payload]


def _decode_document(item: object) -> ParsedDocument:
    if not isinstance(item, dict):
        raise ValueError("a document is not an object")
    blocks = [_decode_block(block) for block in _typed(item.get("blocks"), list)]
    metadata = _typed(item.get("metadata"), dict)
    if not all(isinstance(key, str) and isinstance(value, str) for key, value in metadata.items()):
        raise ValueError("metadata is not text")
    return ParsedDocument(
        key=_typed(item.get("key"), str),
        title=_optional(item.get("title"), str),
        blocks=blocks,
        source_url=_optional(item.get("source_url"), str),
        language=_optional(item.get("language"), str),
        published=_optional(item.get("published"), str),
        modified=_optional(item.get("modified"), str),
        page_count=_optional(item.get("page_count"), int),
        metadata=metadata,
    )


def _decode_block(block: object) -> Block:
    if not isinstance(block, list) or len(block) != 4:
        raise ValueError("a block is not [kind, text, level, page]")
    kind, text, level, page = block
    if kind not in ("heading", "paragraph", "list", "table", "code"):
        raise ValueError(f"a block of kind {kind!r}")
    return Block(kind, _typed(text, str), _typed(level, int), _optional(page, int))


def _typed(value: object, kind: type[T]) -> T:
    if not isinstance(value, kind) or isinstance(value, bool):
        raise ValueError(f"expected {kind.__name__}, got {type(value).__name__}")
    return value


def _optional(value: object, kind: type[T]) -> T | None:
    return None if value is None else _typed(value, kind)


# --- the worker ---------------------------------------------------------------------------------------


def main(argv: Sequence[str]) -> int:
    memory_mb, target = int(argv[0]), argv[1]
    limit = memory_mb << 20
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the server stops its workers itself
    # The protocol gets private descriptors; whatever a library prints goes to standard error.
    requests = os.fdopen(os.dup(0), "rb")
    replies = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)
    os.dup2(os.open(os.devnull, os.O_RDONLY), 0)
    # Libraries warn about every damaged file they recover from (pypdf does): only errors reach the log.
    logging.basicConfig(level=logging.ERROR, format="parsing worker %(process)d: %(name)s: %(message)s")
    module, _, name = target.partition(":")
    parse: Parse = getattr(importlib.import_module(module), name)
    for preload in PRELOAD:
        importlib.import_module(preload)
    _exit_with_parent(os.getppid())
    _send(replies, {"ready": os.getpid()})
    while (files := _receive(requests)) is not None:
        for filename, content_type, data in files:
            reply = _parse_one(parse, data, filename, content_type, limit)
            _send(replies, reply)
            if reply.get("last"):
                return 0
    return 0


def _parse_one(parse: Parse, data: bytes, filename: str, content_type: str | None, limit: int) -> dict[str, Any]:
    reply: dict[str, Any]
    try:
        reply = {"documents": encode_documents(parse(data, filename, content_type))}
    except BaseException as error:  # noqa: BLE001 - every failure is reported for this file alone
        if _caused_by_memory(error) or _peak_bytes() >= _NEAR_LIMIT * limit:
            return {"error": "memory", "message": "", "type": type(error).__name__, "last": True}
        kind = (
            "unreadable"
            if isinstance(error, DocumentParseError)
            else "unsupported"
            if isinstance(error, UnsupportedFormat)
            else "failed"
        )
        message = error.message if isinstance(error, SoberanaError) else str(error)
        detail = "" if kind != "failed" else "".join(traceback.format_exception(error))
        reply = {"error": kind, "message": message, "type": type(error).__name__, "traceback": detail}
    if _status_bytes(b"VmHWM:") >= _NEAR_LIMIT * limit:
        reply["last"] = True  # it came close: the next file gets a fresh worker
    return reply


def _caused_by_memory(error: BaseException | None) -> bool:
    seen = 0
    while error is not None and seen < 20:
        if isinstance(error, MemoryError):
            return True
        error, seen = error.__cause__ or error.__context__, seen + 1
    return False


def _peak_bytes() -> int:
    """The process's peak address space (``VmPeak``); 0 where /proc does not tell it."""
    return _status_bytes(b"VmPeak:")


def _status_bytes(field: bytes) -> int:
    """A size from ``/proc/self/status`` (``VmPeak``, ``VmHWM``…), in bytes; 0 where it does not tell it.

    These are this program's own peaks: unlike ``getrusage``'s ``ru_maxrss``, which Linux carries over
    from the parent through fork and exec (a server of several GB would retire every worker after
    every file), they start again when the worker program starts."""
    try:
        with open("/proc/self/status", "rb") as status:
            for line in status:
                if line.startswith(field):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError):
        pass
    return 0


def _receive(stream: IO[bytes]) -> list[tuple[str, str | None, bytes]] | None:
    header = stream.read(_LENGTH.size)
    if len(header) < _LENGTH.size:
        return None
    entries = json.loads(_read_exactly(stream, frame_length(header)))
    return [(entry["name"], entry["type"], _read_exactly(stream, entry["size"])) for entry in entries]


def _read_exactly(stream: IO[bytes], size: int) -> bytes:
    data = stream.read(size)
    if len(data) != size:
        raise EOFError("the server closed the request early")
    return data


def _send(stream: IO[bytes], payload: dict[str, Any]) -> None:
    stream.write(frame(payload))
    stream.flush()


def _exit_with_parent(parent: int) -> None:
    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(1)
        os._exit(1)

    threading.Thread(target=watch, name="exit-with-parent", daemon=True).start()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
