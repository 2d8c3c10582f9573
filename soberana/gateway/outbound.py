"""What the gateway sends to deployments outside the installation's jurisdiction (``foreign_cloud``), for the
principals someone watches: an evaluation checks that nothing protected reaches them. Only the watched
principals' requests are kept, in memory, until read."""

from __future__ import annotations

from typing import Any

import orjson

FOREIGN = "foreign_cloud"


class OutboundLog:
    def __init__(self) -> None:
        self._watched: dict[str, list[str]] = {}

    def watch(self, principal_id: str) -> None:
        self._watched.setdefault(principal_id, [])

    def unwatch(self, principal_id: str) -> None:
        self._watched.pop(principal_id, None)

    def sent(self, principal_id: str) -> list[str]:
        """What was sent abroad for ``principal_id`` since it was watched or last read (then forgotten)."""
        texts = self._watched.get(principal_id, [])
        if principal_id in self._watched:
            self._watched[principal_id] = []
        return texts

    def note(self, principal_id: str, sovereignty: str, body: dict[str, Any]) -> None:
        """Called with the body of each request as it leaves for a deployment."""
        if sovereignty == FOREIGN and principal_id in self._watched:
            self._watched[principal_id].append(orjson.dumps(body).decode())
