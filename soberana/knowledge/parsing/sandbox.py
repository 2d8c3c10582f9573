"""Parsing uploads in worker processes with memory and time limits.

A crafted PDF that loops or a DOCX that inflates to gigabytes must fail *that file*, not the server:
:class:`SandboxedParser` parses in a small pool of long-lived worker processes
(:mod:`soberana.knowledge.parsing.worker`), each of which limits its own address space
(``RLIMIT_AS``) when it starts. A file that runs past the time limit has its worker killed; a worker
that reaches the memory limit or dies (a segmentation fault, the kernel's out-of-memory killer) fails
only the file it was parsing. That file fails with :class:`ParseLimitExceeded`, naming it and the
limits, and the group's other files go on in a fresh worker.

Overhead is kept close to nothing: workers are started once (lazily, on the first parse) and reused;
a whole group of files goes to a worker in one message and comes back one reply per file, so the
time limit applies to each file while a group costs one round trip. A worker that has parsed other
files before it fails on memory or dies gets a second chance alone in a fresh worker (what an earlier
file left behind may have contributed), so a file is failed only by a worker that had parsed nothing
else.

Workers are fresh interpreters started with :mod:`subprocess` (fork and exec, safe in a server with
threads and an event loop, like multiprocessing's ``spawn``), ``python -m
soberana.knowledge.parsing.worker``. The pool libraries were considered and not taken: Pebble
(LGPL-3.0, maintained) has the per-task timeout and the worker replacement wanted, and loky (BSD,
maintained) a robust executor without per-task timeouts, its whole executor breaking when a worker
dies. Both start workers through :mod:`multiprocessing`, whose ``spawn`` and ``forkserver`` children
re-import the server's ``__main__`` (the ``soberana`` command, with the web application), and both
pass results back as pickles, which a worker taken over by a crafted file could use to run code in
the server. Here replies are JSON, checked field by field, and a worker imports only the parsers.
"""

from __future__ import annotations

import builtins
import json
import os
import queue
import select
import subprocess
import sys
import threading
import time
import weakref
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Final, Literal

from soberana.errors import ServiceUnavailable
from soberana.knowledge.parsing.common import DocumentParseError, ParsedDocument, UnsupportedFormat
from soberana.knowledge.parsing.worker import decode_documents, frame, frame_length

DEFAULT_TARGET: Final = "soberana.knowledge.parsing:parse"
_START_SECONDS: Final = 60.0  # a worker's start (an interpreter and the parsing libraries)
_STOP_SECONDS: Final = 2.0  # a worker asked to exit gets this long before it is killed
_CHUNK: Final = 1 << 16

Outcome = list[ParsedDocument] | Exception
StopReason = Literal["unsent", "time", "memory", "died", "retired"]


class ParseLimitExceeded(DocumentParseError):
    """A file needed more time or memory to parse than the limits allow; the message names it."""

    default_code = "document_limits_exceeded"


class ParserUnavailable(ServiceUnavailable):
    """No worker process could be started (or the parser was closed): files are not parsed."""

    default_code = "parser_unavailable"


@dataclass(slots=True)
class _Item:
    data: bytes
    filename: str
    content_type: str | None
    outcome: Outcome | None = None
    retried: bool = False


@dataclass(frozen=True, slots=True)
class _Stop:
    """Why a worker stopped before the end of a request, at which file."""

    index: int
    reason: StopReason


_INHERITED = ("PATH", "LANG", "LC_ALL", "LC_CTYPE", "TMPDIR", "TZ", "VIRTUAL_ENV")


@dataclass(eq=False)
class _Worker:
    process: subprocess.Popen[bytes]
    parsed: int = 0  # files this worker has answered for
    _buffer: bytearray = field(default_factory=bytearray)

    @classmethod
    def start(cls, memory_mb: int, target: str) -> _Worker:
        paths = [path for path in sys.path if path]
        # nothing of the server's environment (its secret key, database address, upstream keys) reaches
        # a process that reads untrusted files: only where Python and its libraries are, and the locale
        env = {name: os.environ[name] for name in _INHERITED if name in os.environ}
        env["PYTHONPATH"] = os.pathsep.join(paths)
        try:
            process = subprocess.Popen(  # noqa: S603 - this interpreter, this package, fixed arguments
                [sys.executable, "-m", "soberana.knowledge.parsing.worker", str(memory_mb), target],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                env=env,
                start_new_session=True,  # a terminal's Ctrl-C is for the server, which stops its workers
            )
        except OSError as error:
            raise ParserUnavailable(f"The document parser could not start ({error.strerror}).") from error
        assert process.stdin is not None
        os.set_blocking(process.stdin.fileno(), False)
        worker = cls(process)
        try:
            ready = worker.read(time.monotonic() + _START_SECONDS)
        except TimeoutError:
            ready = None
        if not isinstance(ready, dict) or "ready" not in ready:
            worker.kill()
            raise ParserUnavailable(f"The document parser could not start (exit status {process.poll()}).")
        return worker

    def run(self, items: Sequence[_Item], timeout_s: float) -> _Stop | None:
        """Parse ``items`` in this worker, each within ``timeout_s``, filling in their outcomes; where
        the worker stopped before the end, and why."""
        header = [{"name": item.filename, "type": item.content_type, "size": len(item.data)} for item in items]
        try:
            deadline = time.monotonic() + timeout_s
            self.write(frame(header), deadline)
            for item in items:
                self.write(item.data, deadline)
        except (OSError, TimeoutError):
            return _Stop(0, "unsent")
        for index, item in enumerate(items):
            try:
                reply = self.read(time.monotonic() + timeout_s)
            except TimeoutError:
                return _Stop(index, "time")
            if not isinstance(reply, dict):
                return _Stop(index, "died")
            if reply.get("error") == "memory":
                return _Stop(index, "memory")
            try:
                item.outcome = _outcome(reply)
            except ValueError:  # a malformed reply: the worker is not to be trusted any more
                return _Stop(index, "died")
            self.parsed += 1
            if reply.get("last"):
                return _Stop(index + 1, "retired")
        return None

    def write(self, data: bytes, deadline: float) -> None:
        assert self.process.stdin is not None
        descriptor = self.process.stdin.fileno()
        view = memoryview(data)
        while view:
            _wait(descriptor, select.POLLOUT, deadline)
            view = view[os.write(descriptor, view[:_CHUNK]) :]

    def read(self, deadline: float) -> Any:
        """The next reply (decoded JSON); None when the worker closed its output (it died)."""
        try:
            header = self._read_exactly(4, deadline)
            body = None if header is None else self._read_exactly(frame_length(header), deadline)
            return None if body is None else json.loads(body)
        except TimeoutError:
            raise
        except (OSError, ValueError):  # closed under us (the parser is closing), a bad length, bad JSON
            return None

    def _read_exactly(self, size: int, deadline: float) -> bytes | None:
        assert self.process.stdout is not None
        descriptor = self.process.stdout.fileno()
        while len(self._buffer) < size:
            _wait(descriptor, select.POLLIN, deadline)
            chunk = os.read(descriptor, max(_CHUNK, size - len(self._buffer)))
            if not chunk:
                return None
            self._buffer += chunk
        data = bytes(self._buffer[:size])
        del self._buffer[:size]
        return data

    def stop(self) -> None:
        """Ask the worker to exit (its input closes); kill it if it has not within a moment."""
        if self.process.stdin is not None:
            self.process.stdin.close()
        try:
            self.process.wait(_STOP_SECONDS)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self._close_output()

    def kill(self) -> None:
        self.process.kill()
        self.process.wait()
        if self.process.stdin is not None:
            self.process.stdin.close()
        self._close_output()

    def _close_output(self) -> None:
        if self.process.stdout is not None:
            self.process.stdout.close()


def _wait(descriptor: int, event: int, deadline: float) -> None:
    poller = select.poll()
    poller.register(descriptor, event)
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError
        if poller.poll(remaining * 1000):
            return


def _kill_all(workers: set[_Worker]) -> None:
    for worker in list(workers):
        worker.kill()
    workers.clear()


def _outcome(reply: dict[str, Any]) -> Outcome:
    error = reply.get("error")
    if error is None:
        return decode_documents(reply.get("documents"))
    message = reply.get("message")
    if not isinstance(message, str):
        raise ValueError("an error without a message")
    if error == "unreadable":
        return DocumentParseError(message)
    if error == "unsupported":
        return UnsupportedFormat(message)
    # A parser bug: the built-in exception it raised (the server logs it), with the worker's traceback.
    found = getattr(builtins, str(reply.get("type")), None)
    kind = found if isinstance(found, type) and issubclass(found, Exception) else RuntimeError
    exception = kind(message)
    exception.add_note(f"Raised in the parsing worker:\n{reply.get('traceback', '')}")
    return exception


class SandboxedParser:
    """Parses uploaded files in ``workers`` processes, each file within ``timeout_s`` seconds and every
    worker within ``memory_mb`` MiB of address space.

    Blocking: call it from a worker thread. Safe to share between threads (at most ``workers`` files
    are parsed at once). No process starts until the first parse; :meth:`close` stops them all.
    ``target`` (``module:function``, the function taking ``data, filename, content_type``) is for tests.
    """

    def __init__(self, timeout_s: float, memory_mb: int, workers: int, *, target: str = DEFAULT_TARGET) -> None:
        if timeout_s <= 0 or memory_mb <= 0 or workers <= 0:
            raise ValueError("the time limit, the memory limit and the number of workers must be positive")
        self.timeout_s = timeout_s
        self.memory_mb = memory_mb
        self.workers = workers
        self.target = target
        self._slots: queue.LifoQueue[_Worker | None] = queue.LifoQueue()
        for _ in range(workers):
            self._slots.put(None)  # a slot whose worker starts when first needed
        self._live: set[_Worker] = set()
        self._lock = threading.Lock()
        self._executor: ThreadPoolExecutor | None = None
        self._closed = False
        # Forgotten without close() (or at interpreter exit): its workers are killed all the same.
        weakref.finalize(self, _kill_all, self._live)

    def __enter__(self) -> SandboxedParser:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def parse(self, data: bytes, filename: str, content_type: str | None = None) -> list[ParsedDocument]:
        """Like :func:`soberana.knowledge.parsing.parse`, in a worker; :class:`ParseLimitExceeded` when
        the file needs more time or memory than the limits."""
        outcome = self.parse_many([(data, filename, content_type)])[0]
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    def parse_many(self, files: Sequence[tuple[bytes, str, str | None]]) -> list[Outcome]:
        """The documents of each of ``files`` (``(data, filename, content_type)``), or the exception
        that file failed with; the files are shared out between the workers, in groups."""
        items = [_Item(data, filename, content_type) for data, filename, content_type in files]
        groups = [items[start :: self.workers] for start in range(min(self.workers, len(items)))]
        if len(groups) == 1:
            self._run(groups[0])
        elif groups:
            try:
                pool = self._pool()
            except ParserUnavailable as error:
                return [error for _ in items]
            for future in [pool.submit(self._run, group) for group in groups]:
                future.result()
        return [item.outcome if item.outcome is not None else RuntimeError("not parsed") for item in items]

    def pids(self) -> list[int]:
        """The process ids of the running workers."""
        with self._lock:
            return sorted(worker.process.pid for worker in self._live)

    def close(self) -> None:
        """Stop every worker (a parse in progress fails with :class:`ParserUnavailable`)."""
        with self._lock:
            self._closed = True
            workers = list(self._live)
            self._live.clear()
            executor, self._executor = self._executor, None
        for worker in workers:
            worker.stop()
        if executor is not None:
            executor.shutdown(wait=True)

    # -- internals ---------------------------------------------------------------------------------

    def _pool(self) -> ThreadPoolExecutor:
        with self._lock:
            if self._closed:
                raise ParserUnavailable("The document parser is closed.")
            if self._executor is None:
                self._executor = ThreadPoolExecutor(self.workers, thread_name_prefix="parse")
            return self._executor

    def _run(self, items: list[_Item]) -> None:
        pending = items
        unsent = 0
        while pending:
            try:
                worker = self._checkout()
            except ParserUnavailable as error:
                for item in pending:
                    item.outcome = error
                return
            answered_before = worker.parsed
            stop: _Stop | None = _Stop(0, "died")
            try:
                stop = worker.run(pending, self.timeout_s)
            except Exception as error:  # noqa: BLE001 - not the files' doing: they fail with it, others go on
                for item in pending:
                    if item.outcome is None:
                        item.outcome = error
                return
            finally:
                self._checkin(worker, keep=stop is None)
            if stop is None:
                return
            if self._closed:  # the worker was stopped by close(), not by the file
                for item in pending:
                    if item.outcome is None:
                        item.outcome = ParserUnavailable("The document parser is closed.")
                return
            if stop.reason == "unsent":  # the worker was gone before it read the request
                unsent += 1
                if unsent > 1:
                    for item in pending:
                        item.outcome = ParserUnavailable("The document parser stopped unexpectedly.")
                    return
                continue
            unsent = 0
            if stop.reason == "retired":  # it answered, then exited near its memory limit
                pending = pending[stop.index :]
                continue
            failed = pending[stop.index]
            alone = answered_before == 0 and stop.index == 0
            if stop.reason != "time" and not alone and not failed.retried:
                failed.retried = True  # once more, first in a fresh worker
                pending = pending[stop.index :]
                continue
            failed.outcome = ParseLimitExceeded(
                f"{failed.filename} could not be read within the limits "
                f"({self.timeout_s:g} s, {self.memory_mb} MB); it is refused."
            )
            pending = pending[stop.index + 1 :]

    def _checkout(self) -> _Worker:
        worker = self._slots.get()
        try:
            if self._closed:
                raise ParserUnavailable("The document parser is closed.")
            if worker is None or worker.process.poll() is not None:
                if worker is not None:
                    self._forget(worker)
                    worker.kill()
                worker = _Worker.start(self.memory_mb, self.target)
                with self._lock:
                    self._live.add(worker)
            return worker
        except BaseException:
            self._slots.put(None)
            raise

    def _checkin(self, worker: _Worker, *, keep: bool) -> None:
        if keep and not self._closed:
            self._slots.put(worker)
            return
        self._forget(worker)
        worker.kill()
        self._slots.put(None)

    def _forget(self, worker: _Worker) -> None:
        with self._lock:
            self._live.discard(worker)
