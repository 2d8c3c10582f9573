"""What every command needs: the settings and the platform (every service, built by :mod:`soberana.wiring`)."""

from __future__ import annotations

import asyncio
import getpass
import sys
from collections.abc import Coroutine
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING, Any, NoReturn, TypeVar

import typer
from rich.console import Console

from soberana.audit.service import AuditLog
from soberana.auth.principal import Origin, Principal, cli_principal
from soberana.auth.service import AdminService
from soberana.errors import ConfigurationError, SoberanaError
from soberana.settings import Settings, ensure_secret_key, load_settings
from soberana.storage.db import Database

if TYPE_CHECKING:  # the services (NumPy, the indexes, the detectors) load when a command needs them
    from soberana.wiring import Platform

T = TypeVar("T")
# Wide enough for ids when the output goes to a file or a pipe rather than a terminal.
console = Console(width=None if sys.stdout.isatty() else 160)
err_console = Console(stderr=True, width=None if sys.stderr.isatty() else 160)


def fail(message: str, code: int = 1) -> NoReturn:
    err_console.print(f"[bold red]Error:[/] {message}", highlight=False)
    raise typer.Exit(code)


@dataclass
class CliContext:
    """The platform for one command invocation, built on first use (by :mod:`soberana.wiring`, like the
    server's)."""

    @cached_property
    def settings(self) -> Settings:
        try:
            return ensure_secret_key(load_settings())
        except ConfigurationError as exc:
            fail(exc.message, code=2)

    @cached_property
    def platform(self) -> Platform:
        from soberana.wiring import build_platform

        return build_platform(self.settings)

    @property
    def db(self) -> Database:
        return self.platform.db

    @property
    def audit(self) -> AuditLog:
        return self.platform.audit

    @property
    def admin(self) -> AdminService:
        return self.platform.admin

    @cached_property
    def principal(self) -> Principal:
        return cli_principal(getpass.getuser())

    @property
    def origin(self) -> Origin:
        return Origin(ip="cli")

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        """Run ``coro``, turning Soberana errors into a message and exit status 1."""

        async def wrapped() -> T:
            try:
                return await coro
            finally:
                if "platform" in self.__dict__:
                    await self.platform.close()

        try:
            return asyncio.run(wrapped())
        except ConfigurationError as exc:
            fail(exc.message, code=2)
        except SoberanaError as exc:
            fail(exc.message)
        except OSError as exc:
            fail(f"{exc.strerror or exc} — is the database reachable? ({type(exc).__name__})")


def ctx(typer_ctx: typer.Context) -> CliContext:
    obj = typer_ctx.find_root().obj
    if not isinstance(obj, CliContext):  # pragma: no cover - set by the root callback
        obj = typer_ctx.find_root().obj = CliContext()
    return obj


def is_interactive() -> bool:
    return sys.stdin.isatty()
