"""Building the plugin manager."""

from __future__ import annotations

from collections.abc import Iterable
from functools import cache
from importlib.metadata import entry_points

import pluggy

from soberana.plugins import hookspecs

ENTRY_POINT_GROUP = "soberana"
hookimpl = pluggy.HookimplMarker("soberana")


@cache
def installed_plugins() -> tuple[tuple[str, object], ...]:
    """Third-party plugins of the ``soberana`` entry-point group, loaded once per process."""
    return tuple((ep.name, ep.load()) for ep in entry_points(group=ENTRY_POINT_GROUP))


def make_plugin_manager(builtin: Iterable[object] = (), *, load_entry_points: bool = True) -> pluggy.PluginManager:
    """A plugin manager with the built-in plugins given and, optionally, installed third-party ones."""
    manager = pluggy.PluginManager("soberana")
    manager.add_hookspecs(hookspecs)
    for plugin in builtin:
        manager.register(plugin)
    if load_entry_points:
        for name, plugin in installed_plugins():
            if manager.get_plugin(name) is None:
                manager.register(plugin, name=name)
    return manager
