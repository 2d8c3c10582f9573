"""Plugin system (pluggy). Third-party packages extend Soberana through the ``soberana`` entry point group.

A plugin is a module or object with functions marked ``@hookimpl`` whose names match the hook
specifications in :mod:`soberana.plugins.hookspecs`. Built-in plugins are registered explicitly
by the composition roots; nothing is discovered by building module names from strings.
"""

from soberana.plugins.manager import ENTRY_POINT_GROUP, hookimpl, make_plugin_manager

__all__ = ["ENTRY_POINT_GROUP", "hookimpl", "make_plugin_manager"]
