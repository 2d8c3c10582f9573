"""Several ``soberana serve`` processes on one database, for tests and benchmarks of what crosses
processes (shared quotas, the register's kill switch).

::

    with serve_processes({"SOBERANA_DATABASE_URL": url, ...}, count=2) as urls:
        ...  # urls: ["http://127.0.0.1:41234", "http://127.0.0.1:41236"]

Each process gets only the ``SOBERANA_*`` variables given (none inherited from the caller); they are
stopped (SIGTERM, then waited for) when the block ends, even when it fails.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

import httpx


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def serve_processes(
    settings_env: Mapping[str, str], *, count: int = 2, timeout: float = 60.0, logs: Path | None = None
) -> Iterator[list[str]]:
    """Start ``count`` server processes and wait until each answers ``/readyz``; yield their base URLs.
    ``logs``: a directory for each process's output (``server-<port>.log``), else it is discarded."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SOBERANA_")} | dict(settings_env)
    ports = [free_port() for _ in range(count)]
    outputs = [(logs / f"server-{port}.log").open("wb") if logs else None for port in ports]
    processes = [
        subprocess.Popen(  # noqa: S603 - our own interpreter and module, no outside input
            [sys.executable, "-m", "soberana", "serve", "--port", str(port)],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=output or subprocess.DEVNULL,
        )
        for port, output in zip(ports, outputs, strict=True)
    ]
    urls = [f"http://127.0.0.1:{port}" for port in ports]
    try:
        deadline = time.monotonic() + timeout
        with httpx.Client(timeout=5) as http:
            for url, process in zip(urls, processes, strict=True):
                while True:
                    if process.poll() is not None:
                        raise RuntimeError(f"the server for {url} exited with {process.returncode}")
                    try:
                        if http.get(f"{url}/readyz").status_code == 200:
                            break
                    except httpx.TransportError:
                        pass
                    if time.monotonic() > deadline:
                        raise RuntimeError(f"the server for {url} did not start in {timeout:.0f} s")
                    time.sleep(0.1)
        yield urls
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(10)
        for output in outputs:
            if output is not None:
                output.close()
