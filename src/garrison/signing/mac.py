"""Keyed hashes: the one place Garrison computes and checks HMAC-SHA256.

Two recipes, no knobs:

* :class:`KeyedHasher` binds a key to a *purpose*. The purpose is prefixed to every
  message (``purpose || 0x00 || message``), so a digest made for one use (say,
  pseudonymized decision inputs) never equals one made with the same key for
  another (say, pseudonym tokens). Its ``repr`` never shows the key.
* :func:`hmac_sha256` and :func:`verify_hmac_sha256` serve wire formats whose layout
  is fixed by someone else, such as the ``t=...,v1=...`` webhook signature that
  receivers check with their own code. The check compares in constant time and
  raises :class:`~garrison.errors.InvalidSignature`; it never returns a bool.
"""

from __future__ import annotations

import hmac
import re
from collections.abc import Iterable

from garrison.errors import InvalidInput, InvalidSignature
from garrison.signing import _hazmat

__all__ = ["MIN_KEY_BYTES", "KeyedHasher", "hmac_sha256", "verify_hmac_sha256"]

#: The shortest key a :class:`KeyedHasher` accepts (the HMAC-SHA256 output size).
MIN_KEY_BYTES = 32
_PURPOSE = re.compile(r"^[a-z0-9][a-z0-9.-]{0,63}$")


def hmac_sha256(key: bytes, message: bytes) -> bytes:
    """HMAC-SHA256 of ``message`` (32 bytes); for formats that fix their own layout."""
    if not key:
        raise InvalidInput("an HMAC key must not be empty")
    return _hazmat.hmac_sha256(bytes(key), bytes(message))


def verify_hmac_sha256(key: bytes, message: bytes, candidates: Iterable[bytes | str]) -> None:
    """Raise :class:`InvalidSignature` unless one candidate is the hex HMAC of ``message``.

    Every candidate is compared, in constant time, so the time taken does not depend
    on which one matched (several candidates allow a secret rotation).
    """
    expected = hmac_sha256(key, message).hex().encode("ascii")
    matched = [hmac.compare_digest(expected, c if isinstance(c, bytes) else c.encode(
        "utf-8", "replace")) for c in candidates]
    if not any(matched):
        raise InvalidSignature("the message authentication code does not match",
                               reason="mismatch")


class KeyedHasher:
    """HMAC-SHA256 under one key, for one purpose."""

    def __init__(self, key: bytes, purpose: str) -> None:
        if not isinstance(key, bytes | bytearray) or len(key) < MIN_KEY_BYTES:
            raise InvalidInput(f"a keyed hash needs a key of at least {MIN_KEY_BYTES} bytes")
        if not _PURPOSE.match(purpose):
            raise InvalidInput("a keyed hash purpose is 1-64 lowercase letters, digits, "
                               "dots or dashes")
        self._key = bytes(key)
        self._prefix = purpose.encode("ascii") + b"\x00"
        self.purpose = purpose

    def __repr__(self) -> str:
        return f"KeyedHasher(purpose={self.purpose!r}, key=<hidden>)"

    def digest(self, message: bytes) -> bytes:
        """The 32-byte HMAC-SHA256 of ``purpose || 0x00 || message``."""
        return _hazmat.hmac_sha256(self._key, self._prefix + message)

    def hexdigest(self, message: bytes) -> str:
        return self.digest(message).hex()
