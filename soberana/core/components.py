"""The application's components, found by their type: how routes reach the services.

:mod:`soberana.wiring` builds every service once and hands the application a :class:`Components`
registry; a route asks for the service it needs by its class, through a dependency declared next to
the route (``Depends(provider(KnowledgeService))``). The answer is typed, and checked: a component
that was never built is a clear error at the first request, never an ``AttributeError`` or a
``None`` that fails open.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, TypeVar

from starlette.requests import HTTPConnection

T = TypeVar("T")


class Components:
    """One instance per type (looked up by the exact type or, failing that, by a unique subclass)."""

    def __init__(self, instances: Iterable[object] = ()) -> None:
        self._by_type: dict[type, object] = {}
        for instance in instances:
            self.add(instance)

    def add(self, instance: object) -> None:
        kind = type(instance)
        if kind in self._by_type:
            raise ValueError(f"a {kind.__name__} is registered already")
        self._by_type[kind] = instance

    def get(self, kind: type[T]) -> T:
        found = self._by_type.get(kind)
        if found is None:
            matches = [obj for obj in self._by_type.values() if isinstance(obj, kind)]
            if len(matches) != 1:
                raise LookupError(f"no single {kind.__name__} among the application's components")
            found = matches[0]
        assert isinstance(found, kind)
        return found


def components(connection: HTTPConnection) -> Components:
    registry: Any = getattr(connection.app.state, "components", None)
    if not isinstance(registry, Components):
        raise LookupError("the application was not built by soberana.wiring (no components)")
    return registry


def provider(kind: type[T]) -> Callable[[HTTPConnection], T]:
    """A FastAPI dependency that gives a route the application's ``kind``."""

    def provide(connection: HTTPConnection) -> T:
        return components(connection).get(kind)

    provide.__name__ = f"provide_{kind.__name__}"
    return provide
