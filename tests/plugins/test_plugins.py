"""Plugins extend Soberana through pluggy hooks."""

from __future__ import annotations

import typer
from typer.testing import CliRunner

from soberana.plugins import hookimpl, make_plugin_manager


class HelloPlugin:
    @hookimpl
    def register_commands(self, cli: typer.Typer) -> None:
        @cli.command("hello")
        def hello() -> None:
            """Say hello from a plugin."""
            typer.echo("hello from a plugin")


def test_a_plugin_adds_a_command() -> None:
    cli = typer.Typer()

    @cli.command()
    def base() -> None:
        """A built-in command."""

    manager = make_plugin_manager([HelloPlugin()], load_entry_points=False)
    manager.hook.register_commands(cli=cli)
    result = CliRunner().invoke(cli, ["hello"])
    assert result.exit_code == 0
    assert result.output.strip() == "hello from a plugin"


def test_hook_specifications_are_declared() -> None:
    manager = make_plugin_manager(load_entry_points=False)
    for hook in ("register_commands", "register_providers", "register_pii_detectors", "register_evaluators"):
        assert hasattr(manager.hook, hook)
