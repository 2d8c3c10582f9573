"""Parsing in worker processes: a file that runs out of time or memory, or kills its worker, fails alone."""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
import threading
import zipfile
from collections.abc import Iterator

import pytest

from soberana.knowledge import parsing
from soberana.knowledge.parsing import DocumentParseError, ParsedDocument, UnsupportedFormat
from soberana.knowledge.parsing.sandbox import ParseLimitExceeded, ParserUnavailable, SandboxedParser
from tests.knowledge.test_parsing import PAGE_HTML, docx_with_body, make_docx, make_pdf

TARGET = "tests.knowledge.test_sandbox:misbehave"  # imported by the workers: keep this module's imports light
GOOD = (b"Ayudas al alquiler\n\nLas solicitudes se presentan en la sede electronica.", "ayudas.txt", None)


def misbehave(data: bytes, filename: str, content_type: str | None) -> list[ParsedDocument]:
    """The parse function of the test workers: files named after a misdeed commit it, others parse."""
    if filename.startswith("hang"):
        threading.Event().wait()  # never returns: only the time limit ends it
    if filename.startswith("crash"):
        os.kill(os.getpid(), signal.SIGKILL)  # dies mid-parse, as after a segmentation fault
    if filename.startswith("hog"):
        bytearray(64 << 30)  # more than any limit a test sets
    if filename.startswith("bug"):
        raise KeyError("a parser bug")
    if filename.startswith("environment"):
        raise LookupError(" ".join(sorted(os.environ)))  # what a hostile file could read
    return parsing.parse(data, filename, content_type)


@pytest.fixture
def sandbox() -> Iterator[SandboxedParser]:
    with SandboxedParser(timeout_s=2, memory_mb=512, workers=1, target=TARGET) as parser:
        yield parser


def _documents(outcome: list[ParsedDocument] | Exception) -> list[ParsedDocument]:
    assert isinstance(outcome, list), outcome
    return outcome


def _limits(outcome: list[ParsedDocument] | Exception, filename: str, limits: str) -> None:
    assert isinstance(outcome, ParseLimitExceeded)
    assert outcome.message == f"{filename} could not be read within the limits ({limits}); it is refused."
    assert isinstance(outcome, DocumentParseError)  # reported like any unreadable file, by name


def test_every_format_parses_as_it_does_in_process() -> None:
    jsonl = json.dumps({"id": "a", "title": "Uno", "text": "Primer registro.", "url": "https://example.org/a"})
    files = [
        (make_pdf([["INFORME ANUAL", "El ayuntamiento presenta sus cuentas."]], {"/Title": "Informe"}), "i.pdf", None),
        (make_docx(), "plan.docx", None),
        (PAGE_HTML.encode("cp1252"), "ayudas.html", "text/html"),
        (b"---\ntitle: Guia\nlang: es\n---\n# Guia\n\n- uno\n- dos\n", "guia.md", None),
        GOOD,
        (jsonl.encode() + b"\n", "registros.jsonl", None),
        (GOOD[0], "caf\udce9.txt", None),  # a file name that is not UTF-8 (surrogate-escaped by the file system)
    ]
    with SandboxedParser(timeout_s=60, memory_mb=512, workers=2) as parser:
        outcomes = parser.parse_many(files)
    assert outcomes == [parsing.parse(*file) for file in files]


def test_nothing_starts_before_the_first_parse_and_close_stops_the_workers() -> None:
    parser = SandboxedParser(timeout_s=60, memory_mb=512, workers=2)
    assert parser.pids() == []
    assert _documents(parser.parse_many([GOOD, GOOD])[1])[0].title == "Ayudas al alquiler"
    pids = parser.pids()
    assert len(pids) == 2 and os.getpid() not in pids
    parser.close()
    assert parser.pids() == []
    for pid in pids:
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)
    with pytest.raises(ParserUnavailable):
        parser.parse(*GOOD)


def test_a_file_past_the_time_limit_fails_alone_and_the_pool_goes_on(sandbox: SandboxedParser) -> None:
    outcomes = sandbox.parse_many([GOOD, (b"x", "hang.txt", None), GOOD])
    assert _documents(outcomes[0]) == _documents(outcomes[2]) == parsing.parse(*GOOD)
    _limits(outcomes[1], "hang.txt", "2 s, 512 MB")
    before = sandbox.pids()
    assert _documents(sandbox.parse_many([GOOD])[0])[0].title == "Ayudas al alquiler"
    assert sandbox.pids() == before  # the worker that replaced the killed one is reused


def test_a_worker_killed_mid_parse_is_replaced(sandbox: SandboxedParser) -> None:
    sandbox.parse(*GOOD)
    first = sandbox.pids()
    outcomes = sandbox.parse_many([GOOD, (b"x", "crash.txt", None), GOOD])
    _limits(outcomes[1], "crash.txt", "2 s, 512 MB")
    assert isinstance(outcomes[0], list) and isinstance(outcomes[2], list)
    assert len(sandbox.pids()) == 1 and sandbox.pids() != first


def test_a_file_that_reaches_the_memory_limit_fails_alone(sandbox: SandboxedParser) -> None:
    outcomes = sandbox.parse_many([(b"x", "hog.txt", None), GOOD])
    _limits(outcomes[0], "hog.txt", "2 s, 512 MB")
    assert isinstance(outcomes[1], list)


def test_a_docx_that_passes_the_zip_check_but_not_the_memory_limit_fails_alone() -> None:
    # 18 MB of empty paragraphs (a 60 kB upload, well under the 64 MiB inflation cap): lxml's tree of
    # them takes several hundred MB. In the server process that memory would be the server's.
    paragraphs = b"<w:p/>" * 3_000_000
    namespace = b'xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"'
    bomb = docx_with_body(b"<w:document " + namespace + b"><w:body>" + paragraphs + b"</w:body></w:document>")
    assert len(bomb) < 200_000
    with SandboxedParser(timeout_s=60, memory_mb=256, workers=1) as parser:
        outcomes = parser.parse_many([(bomb, "bomba.docx", None), (make_docx(), "plan.docx", None)])
    _limits(outcomes[0], "bomba.docx", "60 s, 256 MB")
    assert _documents(outcomes[1])[0].title == "Plan de Acción Digital"


def test_a_zip_bomb_fails_by_name_and_the_batch_goes_on() -> None:
    bomb = docx_with_body(b"<w:document>" + b" " * (65 << 20) + b"</w:document>")
    with SandboxedParser(timeout_s=60, memory_mb=512, workers=1) as parser:
        outcomes = parser.parse_many([(bomb, "bomba.docx", None), (make_docx(), "plan.docx", None)])
    assert isinstance(outcomes[0], DocumentParseError)
    assert outcomes[0].message == "bomba.docx unzips to more than 64 MiB; it is refused."
    assert _documents(outcomes[1])[0].title == "Plan de Acción Digital"


def test_errors_keep_their_kind(sandbox: SandboxedParser) -> None:
    unreadable, unsupported, bug = sandbox.parse_many(
        [(b"%PDF-1.7 broken", "roto.pdf", None), (b"\x00\x01", "datos.bin", None), (b"x", "bug.txt", None)]
    )
    assert isinstance(unreadable, DocumentParseError) and unreadable.message == "roto.pdf is not a readable PDF."
    assert isinstance(unsupported, UnsupportedFormat) and "datos.bin" in unsupported.message
    assert isinstance(bug, KeyError)  # a parser bug stays a bug (logged as one), with the worker's traceback
    assert any("Raised in the parsing worker" in note for note in bug.__notes__)
    with pytest.raises(DocumentParseError, match=r"roto\.pdf"):
        sandbox.parse(b"%PDF-1.7 broken", "roto.pdf")


def test_a_worker_that_cannot_start_fails_the_files_as_unavailable() -> None:
    with SandboxedParser(timeout_s=60, memory_mb=512, workers=1, target="tests.knowledge.no_such_module:parse") as p:
        outcomes = p.parse_many([GOOD, GOOD])
    assert all(isinstance(outcome, ParserUnavailable) for outcome in outcomes)


def test_prepare_many_parses_through_the_sandbox_and_reports_failures_by_file(sandbox: SandboxedParser) -> None:
    from soberana.knowledge.ingest import prepare_many  # here: the test workers import this module
    from soberana.knowledge.text import LanguageDetector

    files = [GOOD, (b"x", "hang.txt", None), (zipfile_of_nothing(), "vacio.docx", None)]
    detector = LanguageDetector(["es", "en"])
    outcomes = prepare_many(files, detector, target_words=160, max_words=280, parse_many=sandbox.parse_many)
    prepared = outcomes[0]
    assert isinstance(prepared, list) and prepared[0].title == "Ayudas al alquiler" and prepared[0].chunks
    _limits(outcomes[1], "hang.txt", "2 s, 512 MB")
    assert isinstance(outcomes[2], DocumentParseError) and "vacio.docx" in outcomes[2].message
    in_process = prepare_many([GOOD], detector, target_words=160, max_words=280)
    assert in_process[0] == prepared


def zipfile_of_nothing() -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("hello.txt", "not a Word document")
    return out.getvalue()


def test_a_large_server_process_does_not_make_its_workers_retire() -> None:
    """A worker retires when it comes close to its memory limit; the peak it reads is its own, not the
    server's it was started from (``ru_maxrss`` carries the parent's over: a server of a few GB made
    every worker retire after every file, a process start per page)."""
    script = (
        "from soberana.knowledge.parsing.sandbox import SandboxedParser\n"
        "ballast = b'x' * 700_000_000  # the server's own memory, well over the workers' limit\n"
        "with SandboxedParser(timeout_s=60, memory_mb=512, workers=1) as parser:\n"
        "    data = (b'# Ayudas\\n\\nTexto.\\n', 'a.md', None)\n"
        "    parser.parse(*data)\n"
        "    first = parser.pids()\n"
        "    parser.parse(*data)\n"
        "    print(first == parser.pids() and len(first) == 1)\n"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "True"


def test_a_worker_sees_nothing_of_the_servers_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SOBERANA_SECRET_KEY", "the-server-secret-0123456789abcdef")
    monkeypatch.setenv("SOBERANA_UPSTREAM_KEY_NATIONAL", "sk-upstream")
    with SandboxedParser(timeout_s=10, memory_mb=512, workers=1, target=TARGET) as parser:
        (outcome,) = parser.parse_many([(b"x", "environment.txt", None)])
    assert isinstance(outcome, LookupError)
    seen = str(outcome).split()
    assert "PATH" in seen  # the worker runs, with what Python needs
    assert not [name for name in seen if name.startswith("SOBERANA_")]
