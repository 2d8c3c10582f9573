"""Retrieval metrics as small pure functions.

Every set has exactly one relevant document per query (binary gain), so each metric reduces to a
function of the rank of that document: Recall@k is 1 when it is in the top k, MRR@10 is 1/rank,
nDCG@10 is 1/log2(rank + 1) (the ideal DCG is 1). All are averaged over all queries of a set.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence

RECALL_CUTOFFS = (1, 5, 10)
METRIC_NAMES = ("recall@1", "recall@5", "recall@10", "mrr@10", "ndcg@10")

_WHITESPACE = re.compile(r"\s+")


def rank_of(ranking: Iterable[str], relevant: str) -> int | None:
    """1-based rank of ``relevant`` in ``ranking``, or None when it is absent."""
    for position, doc_id in enumerate(ranking, start=1):
        if doc_id == relevant:
            return position
    return None


def recall_at(rank: int | None, k: int) -> float:
    """1.0 when the relevant document is in the top ``k``."""
    return 1.0 if rank is not None and rank <= k else 0.0


def reciprocal_rank_at(rank: int | None, k: int = 10) -> float:
    """1/rank when the relevant document is in the top ``k``, else 0."""
    return 1.0 / rank if rank is not None and rank <= k else 0.0


def ndcg_at(rank: int | None, k: int = 10) -> float:
    """nDCG@k with binary gain and one relevant document: 1/log2(rank + 1) within the top ``k``."""
    return 1.0 / math.log2(rank + 1) if rank is not None and rank <= k else 0.0


def query_metrics(ranking: Sequence[str], relevant: str) -> dict[str, float]:
    """All metrics of :data:`METRIC_NAMES` for one query."""
    rank = rank_of(ranking, relevant)
    scores = {f"recall@{k}": recall_at(rank, k) for k in RECALL_CUTOFFS}
    scores["mrr@10"] = reciprocal_rank_at(rank, 10)
    scores["ndcg@10"] = ndcg_at(rank, 10)
    return scores


def mean_metrics(per_query: Sequence[dict[str, float]]) -> dict[str, float]:
    """Average each metric over all queries (0.0 for every metric of an empty list)."""
    if not per_query:
        return dict.fromkeys(METRIC_NAMES, 0.0)
    return {name: sum(q[name] for q in per_query) / len(per_query) for name in METRIC_NAMES}


def normalise_whitespace(text: str) -> str:
    """Collapse every whitespace run to one space and strip the ends."""
    return _WHITESPACE.sub(" ", text).strip()


def evidence_hit(passages: Iterable[str], evidence_texts: Iterable[str]) -> bool:
    """True when some passage contains some evidence text, both whitespace-normalised.

    Empty evidence strings never count as a hit.
    """
    evidence = [e for e in (normalise_whitespace(t) for t in evidence_texts) if e]
    if not evidence:
        return False
    return any(e in p for p in (normalise_whitespace(t) for t in passages) for e in evidence)


def percentile(values: Sequence[float], q: float) -> float | None:
    """The ``q``-th percentile (0-100) with linear interpolation, as numpy's default; None when empty."""
    if not values:
        return None
    ordered = sorted(values)
    position = (len(ordered) - 1) * q / 100
    low = math.floor(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def ndcg_target(best_baseline: float, reduction: float = 0.75) -> float:
    """The target nDCG@10: remove ``reduction`` of the best baseline's remaining error, ``1 - 0.75 (1 - best)``."""
    return 1.0 - reduction * (1.0 - best_baseline)
