"""Architecture rules: import-linter contracts, and no work at import time."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_import_linter_contracts_hold() -> None:
    lint_imports = Path(sys.executable).parent / "lint-imports"
    result = subprocess.run(
        [str(lint_imports), "--no-cache"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


def test_importing_every_module_reads_no_settings_and_touches_nothing(tmp_path: Path) -> None:
    """Import each module with settings that would fail if read and a data dir that must stay empty."""
    modules = sorted(
        ".".join(p.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")
        for p in (ROOT / "soberana").rglob("*.py")
        if "alembic" not in p.parts
    )
    code = (
        "import importlib, sys\nfor m in sys.argv[1:]: importlib.import_module(m)\nprint('imported', len(sys.argv) - 1)"
    )
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("SOBERANA_")},
        "SOBERANA_DATA_DIR": str(tmp_path / "data"),
        "SOBERANA_PORT": "not-a-number",
        "SOBERANA_DATABASE_URL": "postgresql://nobody@127.0.0.1:1/none",
    }
    modules = [m for m in modules if m != "soberana.__main__"]
    result = subprocess.run(
        [sys.executable, "-c", code, *modules],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert f"imported {len(modules)}" in result.stdout
    assert not (tmp_path / "data").exists()
