"""Building the plugin manager."""

from __future__ import annotations

from collections.abc import Iterable

import pluggy

from soberana.plugins import hookspecs

ENTRY_POINT_GROUP = "soberana"
hookimpl = pluggy.HookimplMarker("soberana")


def make_plugin_manager(builtin: Iterable[object] = (), *, load_entry_points: bool = True) -> pluggy.PluginManager:
    """A plugin manager with the built-in plugins given and, optionally, installed third-party ones."""
    manager = pluggy.PluginManager("soberana")
    manager.add_hookspecs(hookspecs)
    for plugin in builtin:
        manager.register(plugin)
    if load_entry_points:
        manager.load_setuptools_entrypoints(ENTRY_POINT_GROUP)
    return manager
