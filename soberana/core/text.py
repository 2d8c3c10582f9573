"""Small text helpers."""

from __future__ import annotations

import re
import unicodedata

_SLUG_RE = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$")


def slugify(value: str) -> str:
    """Lower-case ASCII slug: accents folded (``Reykjavíkurborg`` → ``reykjavikurborg``)."""
    folded = unicodedata.normalize("NFKD", value).encode("ascii", "ignore").decode("ascii")
    slug = re.sub(r"[^a-z0-9]+", "-", folded.lower()).strip("-")
    return slug[:63].strip("-")


def is_slug(value: str) -> bool:
    """True when ``value`` is a valid slug: 1-63 characters of ``a-z``, ``0-9`` and inner hyphens."""
    return bool(_SLUG_RE.match(value))


def mask_secret(value: str, visible: int = 0) -> str:
    """Mask a secret for display, optionally keeping its first ``visible`` characters."""
    if not value:
        return ""
    return value[:visible] + "****"
