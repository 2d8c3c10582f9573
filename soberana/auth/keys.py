"""API key format, generation and digests.

A key looks like ``sob_3KQ7M2X9PA4T_<43 random characters>``: the literal ``sob_``, a 12-character
public prefix that identifies the key (shown in lists and logs), an underscore, then 256 bits of
secret. The database stores the prefix and ``HMAC-SHA256(server secret, key)`` — never the key. A
stolen database therefore yields no usable key, and without the server secret not even a way to
test guesses offline.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass

from soberana.core.crypto import hmac_sha256_hex

KEY_PREFIX = "sob_"
PUBLIC_PREFIX_LENGTH = 12
_PUBLIC_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_KEY_RE = re.compile(
    rf"^{KEY_PREFIX}(?P<prefix>[{_PUBLIC_ALPHABET}]{{{PUBLIC_PREFIX_LENGTH}}})_(?P<secret>[A-Za-z0-9_-]{{43}})$"
)


@dataclass(frozen=True)
class NewKey:
    """A freshly generated key: ``plaintext`` is shown once, then only ``prefix`` and ``digest`` remain."""

    plaintext: str
    prefix: str
    digest: str


def generate_key(server_secret: bytes) -> NewKey:
    prefix = "".join(secrets.choice(_PUBLIC_ALPHABET) for _ in range(PUBLIC_PREFIX_LENGTH))
    plaintext = f"{KEY_PREFIX}{prefix}_{secrets.token_urlsafe(32)}"
    return NewKey(plaintext=plaintext, prefix=prefix, digest=key_digest(server_secret, plaintext))


def key_digest(server_secret: bytes, plaintext: str) -> str:
    return hmac_sha256_hex(server_secret, plaintext)


def parse_prefix(plaintext: str) -> str | None:
    """The public prefix of a well-formed key, or ``None`` when the string is not a Soberana key."""
    match = _KEY_RE.match(plaintext)
    return match.group("prefix") if match else None


def display_prefix(prefix: str) -> str:
    """How a key is shown once its secret is gone: ``sob_3KQ7M2X9PA4T…``."""
    return f"{KEY_PREFIX}{prefix}…"
