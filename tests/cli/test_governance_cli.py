"""``soberana governance``: the register exported and imported at the command line, on both databases."""

from __future__ import annotations

import json
from pathlib import Path

from tests.cli.test_cli import Cli
from tests.governance.conftest import COMPLETE


def test_the_register_is_imported_listed_and_exported(cli: Cli, tmp_path: Path) -> None:
    cli("db", "upgrade")
    cli("orgs", "create", "housing-agency", "--name", "Housing Agency", "--kind", "agency")
    source = tmp_path / "register.json"
    source.write_text(
        json.dumps(
            {
                "format": "soberana.governance.register/1",
                "use_cases": [
                    {"organisation": "housing-agency", "fields": COMPLETE},
                    {"organisation": "housing-agency", "fields": COMPLETE | {"name": "Waiting-list triage"}},
                    {"organisation": "no-such-agency", "fields": COMPLETE},
                    {"organisation": "housing-agency", "fields": {"name": ""}},
                ],
            }
        ),
        encoding="utf-8",
    )
    imported = cli("governance", "import", str(source)).stdout
    assert "2 use cases registered as drafts, 2 skipped" in imported
    assert "no-such-agency" in imported
    again = cli("governance", "import", str(source)).stdout
    assert "0 use cases registered as drafts, 4 skipped" in again
    assert "has a use case of that name" in again

    listing = cli("governance", "list").stdout
    assert "Waiting-list triage" in listing and "draft" in listing and "unassessed" in listing

    out = tmp_path / "export.json"
    cli("governance", "export", "--out", str(out))
    exported = json.loads(out.read_text(encoding="utf-8"))
    names = sorted(u["fields"]["name"] for u in exported["use_cases"])
    assert names == [COMPLETE["name"], "Waiting-list triage"]
    assert {(u["organisation"], u["status"], u["version"]) for u in exported["use_cases"]} == {
        ("housing-agency", "draft", 1)
    }

    wrong = tmp_path / "wrong.json"
    wrong.write_text('{"use_cases": []}', encoding="utf-8")
    refused = cli("governance", "import", str(wrong), ok=False)
    assert refused.returncode == 1
    assert "not an export of the register" in refused.stderr
