"""The ``cli`` fixture: the real ``soberana`` command on an empty database of each backend."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.cli.test_cli import Cli


@pytest.fixture
def cli(empty_db_url: str, tmp_path: Path) -> Cli:
    return Cli(tmp_path / "var", empty_db_url)
