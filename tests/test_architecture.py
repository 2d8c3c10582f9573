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


# Modules allowed over the size limit, with their size when they were listed: the list only shrinks
# (a listed module that has come under the limit, or grown, fails the test).
MAX_MODULE_LINES = 600
OVERSIZED: dict[str, int] = {}


def test_no_module_is_over_600_lines() -> None:
    sizes = {
        str(p.relative_to(ROOT)): len(p.read_text(encoding="utf-8").splitlines())
        for p in (ROOT / "soberana").rglob("*.py")
    }
    over = {path: lines for path, lines in sizes.items() if lines > MAX_MODULE_LINES and path not in OVERSIZED}
    assert not over, f"split these modules along their responsibilities: {over}"
    for path, listed in OVERSIZED.items():
        assert sizes.get(path, 0) > MAX_MODULE_LINES, f"{path} is under the limit now: take it off OVERSIZED"
        assert sizes[path] <= listed, f"{path} grew from {listed} to {sizes[path]} lines"


# What only the composition root (soberana/wiring.py) constructs, and the builders allowed to build
# their own parts (the gateway's runtime builds its service and admin; privacy its policy and
# retention parts).
SERVICES = {
    "AdminService", "Authenticator", "AuditLog", "CitizenAssistant", "Database", "GatewayAdmin", "GatewayClient",
    "GatewayRuntime", "GatewayService", "GovernanceService", "HandoffQueue", "IngestionJobs", "KnowledgeChat",
    "KnowledgeEngine", "KnowledgeService", "MemoryCounters", "OidcService", "PolicyAdmin", "PrivacyService",
    "RedisCounters", "RetentionPurge", "SandboxedParser", "SessionStore", "WorkspaceService", "Evaluations",
    "TrainingService",
}  # fmt: skip
PART_BUILDERS = {
    "soberana/gateway/runtime.py": {"GatewayService", "GatewayAdmin"},
    "soberana/privacy/service.py": {"PolicyAdmin", "RetentionPurge"},
}


def _constructions(path: Path) -> list[tuple[int, str]]:
    import ast

    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        if isinstance(func, ast.Attribute) and func.attr == "from_settings":
            func = func.value  # Authenticator.from_settings(…) builds one too
        name = func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else ""
        if name in SERVICES:
            found.append((node.lineno, name))
    return found


def test_services_are_built_in_one_place() -> None:
    """Every service is built once, by soberana/wiring.py, which the web application and every command
    use: a second composition root would drift from it (the CLI's retention purge once forgot the staff
    conversations)."""
    stray = []
    for path in sorted((ROOT / "soberana").rglob("*.py")):
        relative = path.relative_to(ROOT).as_posix()
        if relative == "soberana/wiring.py":
            continue
        allowed = PART_BUILDERS.get(relative, set())
        stray += [f"{relative}:{line} builds {name}" for line, name in _constructions(path) if name not in allowed]
    assert not stray, "build services in soberana/wiring.py only:\n" + "\n".join(stray)
    assert _constructions(ROOT / "soberana" / "wiring.py"), "the composition root builds the services"


def test_migrations_are_frozen() -> None:
    """A migration imports only Alembic, SQLAlchemy and the standard library: code of the application
    changes later, a migration must do tomorrow exactly what it did when it was written."""
    import ast

    allowed_roots = {"alembic", "sqlalchemy", "__future__", *sys.stdlib_module_names}
    offenders = []
    for path in sorted((ROOT / "soberana" / "storage" / "alembic" / "versions").glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            offenders += [f"{path.name}: {n}" for n in names if n.split(".")[0] not in allowed_roots]
    assert not offenders, offenders
