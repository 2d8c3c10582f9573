"""The real ``soberana`` command, run as a subprocess against both databases."""

from __future__ import annotations

import asyncio
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from soberana.audit.service import AuditLog
from soberana.errors import RevokedApiKey
from soberana.settings import Settings, ensure_secret_key
from soberana.storage.db import Database
from soberana.wiring import build_platform

KEY_RE = re.compile(r"sob_[0-9A-Z]{12}_[A-Za-z0-9_-]{43}")


class Cli:
    def __init__(self, data_dir: Path, database_url: str | None) -> None:
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("SOBERANA_")}
        self.env.update({"SOBERANA_DATA_DIR": str(data_dir), "COLUMNS": "200", "NO_COLOR": "1"})
        if database_url:
            self.env["SOBERANA_DATABASE_URL"] = database_url
        self.data_dir = data_dir
        self.database_url = database_url

    def __call__(
        self, *args: str, ok: bool = True, stdin: str | None = None, env: dict[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            [sys.executable, "-m", "soberana", *args],
            capture_output=True,
            text=True,
            timeout=120,
            env={**self.env, **(env or {})},
            input=stdin,
            check=False,
        )
        if ok:
            assert result.returncode == 0, f"{args}: {result.stdout}\n{result.stderr}"
        return result

    def authenticate(self, key: str) -> str:
        settings = ensure_secret_key(Settings(data_dir=self.data_dir, database_url=self.database_url))

        async def go() -> str:
            platform = build_platform(settings)
            try:
                return (await platform.authenticator.authenticate_key(key)).label
            finally:
                await platform.db.dispose()

        return asyncio.run(go())


def test_setup_is_idempotent_and_prints_the_admin_key_once(cli: Cli) -> None:
    first = cli("db", "upgrade")
    assert "upgraded from empty to revision" in first.stdout
    assert "already at revision" in cli("db", "upgrade").stdout
    assert "(current)" in cli("db", "current").stdout

    seeded = cli("demo", "seed")
    keys = KEY_RE.findall(seeded.stdout)
    assert len(set(keys)) == 1
    again = cli("demo", "seed")
    assert "already present" in again.stdout
    assert not KEY_RE.search(again.stdout)
    assert cli.authenticate(keys[0]) == "admin@demo.example"


def test_admin_commands_end_to_end(cli: Cli) -> None:
    cli("db", "upgrade")
    cli("orgs", "create", "ministry-of-health", "--name", "Ministry of Health", "--kind", "ministry")
    cli(
        "orgs",
        "create",
        "health-data-agency",
        "--name",
        "Health Data Agency",
        "--kind",
        "agency",
        "--parent",
        "ministry-of-health",
    )
    listing = cli("orgs", "list").stdout
    assert "health-data-agency" in listing
    assert "ministry-of-health" in listing

    cli("users", "create", "ana@health.example", "--org", "health-data-agency", "--name", "Ana", "--role", "org_admin")
    assert "ana@health.example" in cli("users", "list", "--org", "health-data-agency").stdout

    quiet = cli("keys", "create", "--org", "health-data-agency", "--name", "portal", "--quiet")
    assert KEY_RE.fullmatch(quiet.stdout.strip()), quiet.stdout  # only the key, for scripts
    key = quiet.stdout.strip()
    assert cli.authenticate(key) == "portal"
    user_key = KEY_RE.search(
        cli(
            "keys",
            "create",
            "--org",
            "health-data-agency",
            "--name",
            "ana-admin",
            "--user",
            "ana@health.example",
            "--scope",
            "admin",
            "--scope",
            "audit",
        ).stdout
    )
    assert user_key is not None
    assert cli.authenticate(user_key.group(0)) == "ana@health.example"

    listed = cli("keys", "list", "--org", "health-data-agency").stdout
    assert key not in listed
    assert key[:16] in listed
    accounts = cli("service-accounts", "list").stdout
    assert "portal" in accounts

    cli("keys", "revoke", key[:16])
    with pytest.raises(RevokedApiKey):
        cli.authenticate(key)

    denied = cli("users", "create", "ana@health.example", "--org", "health-data-agency", "--name", "Ana", ok=False)
    assert denied.returncode == 1
    assert "already exists" in denied.stderr
    assert "Traceback" not in denied.stderr
    missing = cli("orgs", "create", "x", "--name", "X", "--parent", "no-such-org", ok=False)
    assert missing.returncode == 1
    assert "No organisation with slug 'no-such-org'" in missing.stderr

    cli("users", "revoke", "ana@health.example")
    assert "no" in cli("users", "list").stdout.split("ana@health.example")[1].split("\n")[0]
    cli("orgs", "revoke", "health-data-agency")

    audit = cli("audit", "list", "--limit", "50").stdout
    for action in (
        "organisation.create",
        "user.create",
        "service_account.create",
        "api_key.create",
        "api_key.revoke",
        "user.update",
        "organisation.update",
    ):
        assert action in audit


def test_audit_verify_export_and_tamper_detection(cli: Cli, tmp_path: Path) -> None:
    cli("db", "upgrade")
    cli("demo", "seed")
    cli("orgs", "create", "city", "--name", "City")
    ok = cli("audit", "verify")
    assert ok.stdout.startswith("OK: 4 entries")
    head = cli("audit", "head").stdout.strip()
    assert re.fullmatch(r"\d+:[0-9a-f]{64}", head)
    assert cli("audit", "verify", "--anchor", head).returncode == 0

    out = tmp_path / "audit.jsonl"
    cli("audit", "export", "--output", str(out))
    entries = [json.loads(line) for line in out.read_text().splitlines()]
    assert [e["action"] for e in entries[:3]] == ["organisation.create", "user.create", "api_key.create"]

    async def alter() -> None:
        db = Database(cli.database_url or "")
        async with db.write_session() as session:
            connection = await session.connection()
            if db.dialect == "postgresql":
                await connection.exec_driver_sql("ALTER TABLE audit_log DISABLE TRIGGER audit_log_append_only")
            else:
                await connection.exec_driver_sql("DROP TRIGGER audit_log_no_update")
            await connection.exec_driver_sql("UPDATE audit_log SET actor_label = 'someone else' WHERE seq = 2")
            await session.commit()
        await db.dispose()

    asyncio.run(alter())
    broken = cli("audit", "verify", ok=False)
    assert broken.returncode == 1
    assert "BROKEN: entry 2 was altered" in broken.stdout


def test_retention_purge_deletes_old_usage_and_the_chain_still_verifies(cli: Cli) -> None:
    from datetime import timedelta

    from sqlalchemy import func, select

    from soberana.auth.models import User
    from soberana.core.clock import utcnow
    from soberana.gateway.metering import UsageMeter
    from soberana.workspace.models import WorkspaceConversation
    from tests.privacy.test_retention import usage

    cli("db", "upgrade")
    cli("demo", "seed")
    settings = ensure_secret_key(Settings(data_dir=cli.data_dir, database_url=cli.database_url))

    async def record() -> None:
        db = Database.from_settings(settings)
        meter = UsageMeter(db, AuditLog(settings.secret_key_bytes), flush_seconds=1, flush_records=10)
        for age in (500, 1):  # days: past the default 400-day retention, and recent
            meter.record(usage("org_01JD0000000000000000000000", timedelta(days=age)))
        await meter.flush()
        async with db.write_session() as session:  # a staff conversation past the 90-day retention, and a recent one
            admin = (await session.scalars(select(User))).one()
            for name, age in (("old", 100), ("recent", 1)):
                session.add(
                    WorkspaceConversation(
                        id=f"wsc_01JD000000000000000000000{age % 10}",
                        org_id=admin.org_id,
                        user_id=admin.id,
                        title=name,
                        model="m",
                        turns=[],
                        updated_at=utcnow() - timedelta(days=age),
                    )
                )
            await session.commit()
        await db.dispose()

    async def staff_conversations() -> int:
        db = Database.from_settings(settings)
        async with db.session() as session:
            count = await session.scalar(select(func.count()).select_from(WorkspaceConversation))
        await db.dispose()
        return int(count or 0)

    asyncio.run(record())
    purged = cli("retention", "purge")
    assert re.search(r"usage\W+1\b", purged.stdout), purged.stdout
    assert re.search(r"\bconversations\W+0\b", purged.stdout)
    # the command deletes what the server's purge deletes: staff conversations too (it once forgot them)
    assert re.search(r"workspace_conversations\W+1\b", purged.stdout), purged.stdout
    assert asyncio.run(staff_conversations()) == 1
    assert cli("audit", "verify").stdout.startswith("OK: ")  # the purged batch was re-anchored
    again = cli("retention", "purge")
    assert re.search(r"usage\W+0\b", again.stdout)


def test_settings_masks_secrets_and_reads_the_same_variables(cli: Cli) -> None:
    env = {"SOBERANA_SECRET_KEY": "a-very-secret-value-that-is-long-enough-123", "SOBERANA_PORT": "9123"}
    shown = cli("settings", "--json", env=env)
    values = json.loads(shown.stdout)
    assert values["port"] == 9123
    assert values["secret_key"] == "****"
    assert "a-very-secret-value" not in shown.stdout
    assert values["data_dir"] == str(cli.data_dir)


def test_production_refuses_to_start_with_a_default_secret(cli: Cli) -> None:
    result = cli("serve", ok=False, env={"SOBERANA_ENVIRONMENT": "production", "SOBERANA_SECRET_KEY": "changeme"})
    assert result.returncode == 2
    assert "refusing to run in production" in result.stderr
    assert "Traceback" not in result.stderr


def test_version_and_help(cli: Cli) -> None:
    from soberana import __version__

    assert cli("version").stdout.strip() == __version__
    helped = cli("--help").stdout
    for command in ("serve", "settings", "db", "orgs", "users", "keys", "audit", "demo"):
        assert command in helped


def test_ingest_reports_a_broken_file_and_answers_from_the_others(cli: Cli, tmp_path: Path) -> None:
    cli("db", "upgrade")
    cli("demo", "seed")
    cli("collections", "create", "handbook", "--title", "Staff handbook")
    folder = tmp_path / "docs"
    (folder / "hr").mkdir(parents=True)
    (folder / "leave.md").write_text(
        "# Annual leave\n\nStaff have 25 working days of annual leave a year. Request leave in the HR portal "
        "at least two weeks ahead.\n"
    )
    (folder / "hr" / "expenses.txt").write_text(
        "Travel expenses\n\nTrain tickets are reimbursed in second class. Claims are filed within 30 days."
    )
    (folder / "hr" / "broken.pdf").write_bytes(b"%PDF-1.7 not really a pdf")
    first = cli("ingest", str(folder), "--collection", "handbook")
    assert "3 files: 2 documents added" in first.stdout
    assert "failed: hr/broken.pdf" in first.stdout
    again = cli("ingest", str(folder), "--collection", "handbook")
    assert "0 documents added, 0 updated, 2 unchanged" in again.stdout
    listing = cli("collections", "list").stdout
    assert re.search(r"handbook\s+.*Staff handbook\s+.*internal\s+.*2\s+.*(\d+)\s+.*\1", listing)
    answer = cli("ask", "How many days of annual leave do staff have?", "--collection", "handbook").stdout
    assert "25 working days" in answer and "[1]" in answer
    missing = cli("ingest", str(folder), "--collection", "nope", ok=False)
    assert missing.returncode == 1 and "No collection 'nope'" in missing.stderr


def test_make_run_demo_collection_answers_in_three_languages(tmp_path: Path) -> None:
    """What `make run` seeds, on the embedded SQLite database: the demo pages, asked in es, is and en."""
    cli = Cli(tmp_path / "var", None)
    cli("db", "upgrade")
    match = KEY_RE.search(cli("demo", "seed").stdout)
    assert match is not None
    seeded = cli("demo", "knowledge")
    assert "21 pages added" in seeded.stdout
    refused = cli("demo", "governance", ok=False)  # the evaluation gate enforced: no approval without evidence
    assert refused.returncode != 0 and "soberana eval run" in refused.stdout + refused.stderr
    warn = {"SOBERANA_EVALUATIONS_GATE": "warn"}  # as `make run` seeds it: the gaps recorded with the approval
    registered = cli("demo", "governance", env=warn).stdout
    assert "approved and live" in registered and "api_key bound" in registered
    assert "already present" in cli("demo", "governance", env=warn).stdout
    assert demo_traffic_allowed(cli, match.group(0)) == ({}, {}, "use_case_unbound")
    es = cli("ask", "¿Cuánto cuesta la licencia de obra menor?", "-c", "city-services").stdout
    assert "60 €" in es and "/es/services/minor-works-permit" in es
    icelandic = cli("ask", "Hvað kostar að láta sækja grófan úrgang?", "-c", "city-services").stdout
    assert "25 €" in icelandic and "/is/services/waste-collection" in icelandic
    off_topic = cli("ask", "Who won the football world cup in 2010?", "-c", "city-services").stdout
    assert "do not cover this question" in off_topic
    assert "0 pages added, 21 unchanged" in cli("demo", "knowledge").stdout


def demo_traffic_allowed(cli: Cli, key: str) -> tuple[dict[str, str], dict[str, str], str]:
    """With enforcement on, what the demo seeded may run: its key's calls and its public assistant; an
    unbound key (the operator's own, made here) is refused."""
    from soberana.auth.principal import cli_principal
    from soberana.auth.schemas import ApiKeyCreate
    from soberana.errors import UseCaseRefused

    settings = ensure_secret_key(
        Settings(data_dir=cli.data_dir, database_url=cli.database_url, governance_enforcement="enforce")
    )

    async def go() -> tuple[dict[str, str], dict[str, str], str]:
        platform = build_platform(settings)
        try:
            await platform.enforcer.start()
            principal = await platform.authenticator.authenticate_key(key)
            model = platform.gateway_service.catalog.entries()[0].alias
            allowed_key = (await platform.enforcer.admit(principal, model)).headers
            async with platform.db.session() as session:
                collection = (await platform.knowledge.list_collections(session, principal))[0]
            allowed_assistant = await platform.enforcer.admit_assistant(collection.id, collection.org_id)
            async with platform.db.write_session() as session:
                _, other = await platform.admin.create_key(
                    session,
                    cli_principal("pytest"),
                    ApiKeyCreate(name="unbound", user_id=principal.id, scopes=["inference"]),
                )
            try:
                await platform.enforcer.admit(await platform.authenticator.authenticate_key(other), model)
            except UseCaseRefused as refused:
                return allowed_key, allowed_assistant, refused.code
            return allowed_key, allowed_assistant, "allowed"
        finally:
            await platform.enforcer.stop()
            await platform.db.dispose()

    return asyncio.run(go())
