"""Hook specifications: the extension points of Soberana.

Each hook receives a registry object and adds to it: model providers, personal-data detectors and
commands (see docs/plugins.md). ``register_evaluators`` is reserved for the evaluation capability:
nothing calls it yet.
"""

from __future__ import annotations

from typing import Any

import pluggy

hookspec = pluggy.HookspecMarker("soberana")


@hookspec
def register_commands(cli: Any) -> None:
    """Add commands to the ``soberana`` command line (``cli`` is its ``typer.Typer``)."""


@hookspec
def register_providers(registry: Any) -> None:
    """Add model providers (chat, embeddings) to the provider registry."""


@hookspec
def register_pii_detectors(registry: Any) -> None:
    """Add personal-data detectors to the detector registry."""


@hookspec
def register_evaluators(registry: Any) -> None:
    """Add evaluators (red-team, grounding…) to the evaluation registry."""
