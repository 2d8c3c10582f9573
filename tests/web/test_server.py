"""`soberana serve`: the real server (uvicorn, uvloop, httptools) over real HTTP."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_serve_answers_over_http(empty_db_url: str, tmp_path: Path) -> None:
    port = _free_port()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("SOBERANA_")},
        "SOBERANA_DATA_DIR": str(tmp_path / "var"),
        "SOBERANA_DATABASE_URL": empty_db_url,
        "SOBERANA_PORT": str(port),
        "COLUMNS": "200",
    }

    def soberana(*args: str) -> str:
        return subprocess.run(
            [sys.executable, "-m", "soberana", *args],
            env=env,
            capture_output=True,
            text=True,
            check=True,
            timeout=120,
        ).stdout

    soberana("db", "upgrade")
    key_match = re.search(r"sob_[0-9A-Z]{12}_[A-Za-z0-9_-]{43}", soberana("demo", "seed"))
    assert key_match is not None
    server = subprocess.Popen(
        [sys.executable, "-m", "soberana", "serve"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                if time.monotonic() > deadline or server.poll() is not None:
                    raise
                time.sleep(0.2)
        assert httpx.get(f"{base}/readyz").json()["status"] == "ready"
        me = httpx.get(f"{base}/admin/me", headers={"Authorization": f"Bearer {key_match.group(0)}"})
        assert me.status_code == 200
        assert me.json()["role"] == "platform_admin"
        refused = httpx.get(f"{base}/admin/me", headers={"Authorization": "Bearer nope"})
        assert refused.status_code == 401
        assert refused.json()["error"]["code"] == "invalid_api_key"
        assert "Soberana" in httpx.get(base).text
        assert "server" not in refused.headers  # no server banner
    finally:
        server.terminate()
        output, _ = server.communicate(timeout=30)
    assert key_match.group(0) not in output  # the key never reaches the server's logs
    assert "Traceback" not in output
