"""Shared fixtures.

Storage-backed tests run on both databases: ``db_url`` is parametrised over SQLite (a fresh file
per test, copied from a migrated template) and PostgreSQL (a fresh database per test, created from a
migrated template database with ``CREATE DATABASE … TEMPLATE``). PostgreSQL comes from
``SOBERANA_TEST_POSTGRES_URL`` (default: the server at 127.0.0.1:5432); set it to an empty string to
run SQLite only, which the test report header then says.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import shutil
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from sqlalchemy.engine import make_url

from soberana.auth.principal import Role, Scope, cli_principal
from soberana.auth.schemas import ApiKeyCreate, OrganisationCreate, ServiceAccountCreate, UserCreate
from soberana.settings import Settings
from soberana.storage import migrate
from soberana.storage.db import Database

DEFAULT_PG_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
PG_URL = os.environ.get("SOBERANA_TEST_POSTGRES_URL", DEFAULT_PG_URL)
BACKENDS = ["sqlite", "postgresql"] if PG_URL else ["sqlite"]
TEST_SECRET = "test-secret-key-that-is-long-enough-0123456789"
_counter = itertools.count()


def pytest_report_header(config: pytest.Config) -> list[str]:
    if PG_URL:
        shown = make_url(PG_URL).render_as_string(hide_password=True)
        return [f"soberana storage backends: sqlite and postgresql ({shown}); storage tests run on both"]
    return ["soberana storage backends: sqlite ONLY (SOBERANA_TEST_POSTGRES_URL is empty)"]


def _asyncpg_dsn(url: str, database: str | None = None) -> str:
    parsed = make_url(url).set(drivername="postgresql")
    if database:
        parsed = parsed.set(database=database)
    return parsed.render_as_string(hide_password=False)


def _sqla_url(url: str, database: str) -> str:
    return make_url(url).set(drivername="postgresql+asyncpg", database=database).render_as_string(hide_password=False)


async def _admin_execute(*statements: str, url: str = PG_URL) -> None:
    connection = await asyncpg.connect(_asyncpg_dsn(url))
    try:
        for statement in statements:
            await connection.execute(statement)
    finally:
        await connection.close()


async def _drop_stale_databases() -> None:
    """Drop test databases left by earlier runs whose process is gone."""
    connection = await asyncpg.connect(_asyncpg_dsn(PG_URL))
    try:
        names = [
            r["datname"]
            for r in await connection.fetch("SELECT datname FROM pg_database WHERE datname LIKE 'soberana_test_%'")
        ]
        for name in names:
            pid = name.split("_")[2]
            if pid.isdigit() and not Path(f"/proc/{pid}").exists():  # noqa: ASYNC240 - test set-up
                await connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await connection.close()


@pytest.fixture(scope="session")
def pg_template() -> Iterator[str]:
    """A PostgreSQL database migrated to head, used as the template of each test's database."""
    name = f"soberana_test_{os.getpid()}_template"

    async def create() -> None:
        await _drop_stale_databases()
        await _admin_execute(f'DROP DATABASE IF EXISTS "{name}"', f'CREATE DATABASE "{name}"')
        db = Database(_sqla_url(PG_URL, name))
        await migrate.upgrade(db)
        await db.dispose()

    asyncio.run(create())
    yield name
    asyncio.run(_admin_execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("sqlite-template") / "soberana.db"

    async def create() -> None:
        db = Database(f"sqlite+aiosqlite:///{path}")
        await migrate.upgrade(db)
        await db.dispose()

    asyncio.run(create())
    return path


@pytest.fixture(scope="session")
def pgvector_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A PostgreSQL 16 server with pgvector (the ``pgserver`` wheel), started for this test session.

    The system PostgreSQL has no pgvector; knowledge tests use this server as a third backend.
    """
    runtime = tmp_path_factory.mktemp("xdg-runtime")  # platformdirs warns on pgserver's import when it is unset
    os.environ.setdefault("XDG_RUNTIME_DIR", str(runtime))
    import pgserver

    server = pgserver.get_server(tmp_path_factory.mktemp("pgvector"), cleanup_mode="stop")
    yield make_url(server.get_uri()).set(drivername="postgresql+asyncpg").render_as_string(hide_password=False)
    server.cleanup()


@pytest.fixture(scope="session")
def pgvector_template(pgvector_url: str) -> str:
    """A migrated template database on the pgvector server."""
    name = "soberana_template"

    async def create() -> None:
        await _admin_execute(f'CREATE DATABASE "{name}"', url=pgvector_url)
        db = Database(make_url(pgvector_url).set(database=name).render_as_string(hide_password=False))
        await migrate.upgrade(db)
        await db.dispose()

    asyncio.run(create())
    return name


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def db_url(backend: str, request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A migrated, empty database of the parametrised backend, used by this test alone."""
    if backend == "sqlite":
        template: Path = request.getfixturevalue("sqlite_template")
        path = tmp_path / "soberana.db"
        shutil.copy(template, path)
        yield f"sqlite+aiosqlite:///{path}"
        return
    if backend == "pgvector":
        server: str = request.getfixturevalue("pgvector_url")
        template: str = request.getfixturevalue("pgvector_template")
        name = f"soberana_test_{next(_counter)}"
        asyncio.run(_admin_execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"', url=server))
        yield make_url(server).set(database=name).render_as_string(hide_password=False)
        asyncio.run(_admin_execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)', url=server))
        return
    template_name: str = request.getfixturevalue("pg_template")
    name = f"soberana_test_{os.getpid()}_{next(_counter)}"
    asyncio.run(_admin_execute(f'CREATE DATABASE "{name}" TEMPLATE "{template_name}"'))
    yield _sqla_url(PG_URL, name)
    asyncio.run(_admin_execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture
def empty_db_url(backend: str, tmp_path: Path) -> Iterator[str]:
    """A database with no tables at all (for migration tests)."""
    if backend == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'empty.db'}"
        return
    name = f"soberana_test_{os.getpid()}_{next(_counter)}"
    asyncio.run(_admin_execute(f'CREATE DATABASE "{name}"'))
    yield _sqla_url(PG_URL, name)
    asyncio.run(_admin_execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests never see the developer's SOBERANA_* variables."""
    for name in list(os.environ):
        if name.startswith("SOBERANA_") and name != "SOBERANA_TEST_POSTGRES_URL":
            monkeypatch.delenv(name)


MOCK_DEPLOYMENT = {
    "alias": "mock-chat",
    "provider": "mock",
    "capabilities": ["chat", "embeddings"],
    "price_input_per_mtok": 1.0,
    "price_output_per_mtok": 2.0,
    "params_billion": 1.0,
}


@pytest.fixture
def settings(db_url: str, tmp_path: Path) -> Settings:
    return Settings(
        data_dir=tmp_path / "data",
        database_url=db_url,
        secret_key=TEST_SECRET,
        demo_models=False,
        deployments=[MOCK_DEPLOYMENT],
        evaluations_gate="off",  # approvals without evaluation evidence; tests/evaluations turn the gate on
    )


@pytest.fixture
async def db(settings: Settings) -> AsyncIterator[Database]:
    database = Database.from_settings(settings)
    yield database
    await database.dispose()


@pytest.fixture
async def app(settings: Settings) -> AsyncIterator[Any]:
    from soberana.web.app import create_app

    application = create_app(settings)
    async with application.router.lifespan_context(application):
        yield application


@pytest.fixture
async def client(app: Any) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app, client=("203.0.113.7", 4321))
    async with httpx.AsyncClient(transport=transport, base_url="http://soberana.test") as http:
        yield http


@dataclass
class Tenant:
    """An organisation with an admin user, a staff user, an auditor, a service account and keys."""

    org_id: str
    slug: str
    admin_id: str
    staff_id: str
    auditor_id: str
    service_account_id: str
    admin_key: str
    admin_key_id: str
    staff_key: str
    staff_key_id: str
    auditor_key: str

    def headers(self, which: str = "admin") -> dict[str, str]:
        return {"Authorization": f"Bearer {getattr(self, which + '_key')}"}


async def make_tenant(app: Any, slug: str, *, parent_id: str | None = None) -> Tenant:
    admin = app.state.platform.admin
    db: Database = app.state.platform.db
    root = cli_principal("pytest")
    async with db.write_session() as s:
        org = await admin.create_organisation(
            s, root, OrganisationCreate(slug=slug, name=slug.title(), kind="agency", parent_id=parent_id)
        )
    ids: dict[str, str] = {}
    keys: dict[str, tuple[str, str]] = {}
    for role in (Role.ORG_ADMIN, Role.STAFF, Role.AUDITOR):
        async with db.write_session() as s:
            user = await admin.create_user(
                s,
                root,
                UserCreate(org_id=org.id, email=f"{role}@{slug}.example", display_name=f"{slug} {role}", role=role),
            )
        ids[role] = user.id
        scopes = {
            Role.ORG_ADMIN: [Scope.ADMIN, Scope.AUDIT, Scope.INFERENCE, Scope.KNOWLEDGE],
            Role.STAFF: [Scope.INFERENCE, Scope.KNOWLEDGE],
            Role.AUDITOR: [Scope.AUDIT],
        }[role]
        async with db.write_session() as s:
            key, plaintext = await admin.create_key(
                s, root, ApiKeyCreate(name=f"{role}-key", user_id=user.id, scopes=scopes)
            )
        keys[role] = (key.id, plaintext)
    async with db.write_session() as s:
        account = await admin.create_service_account(s, root, ServiceAccountCreate(org_id=org.id, name="portal"))
    return Tenant(
        org_id=org.id,
        slug=slug,
        admin_id=ids[Role.ORG_ADMIN],
        staff_id=ids[Role.STAFF],
        auditor_id=ids[Role.AUDITOR],
        service_account_id=account.id,
        admin_key=keys[Role.ORG_ADMIN][1],
        admin_key_id=keys[Role.ORG_ADMIN][0],
        staff_key=keys[Role.STAFF][1],
        staff_key_id=keys[Role.STAFF][0],
        auditor_key=keys[Role.AUDITOR][1],
    )


@pytest.fixture
async def tenant_a(app: Any) -> Tenant:
    return await make_tenant(app, "agency-a")


@pytest.fixture
async def tenant_b(app: Any) -> Tenant:
    return await make_tenant(app, "agency-b")


async def make_platform_key(app: Any) -> str:
    """A platform administrator's key (in an organisation of its own)."""
    admin = app.state.platform.admin
    root = cli_principal("pytest")
    async with app.state.platform.db.write_session() as s:
        org = await admin.create_organisation(s, root, OrganisationCreate(slug="platform", name="Platform team"))
    async with app.state.platform.db.write_session() as s:
        user = await admin.create_user(
            s,
            root,
            UserCreate(org_id=org.id, email="ops@platform.example", display_name="Ops", role=Role.PLATFORM_ADMIN),
        )
    async with app.state.platform.db.write_session() as s:
        _, plaintext = await admin.create_key(
            s, root, ApiKeyCreate(name="ops", user_id=user.id, scopes=[Scope.ADMIN, Scope.AUDIT])
        )
    return str(plaintext)


@pytest.fixture
async def platform_key(app: Any) -> str:
    """A platform administrator's key (in an organisation of its own)."""
    return await make_platform_key(app)
