"""Server side: admit a client's public evaluation context, and cache it under an id.

A context is admitted only if it is public and exactly what the deployment needs:

1. at most ``max_bytes`` and a well-formed TenSEAL context message (read by
   :mod:`garrison.he._proto`; TenSEAL never parses the client's bytes);
2. no secret key (refused, never stored), public-key encryption;
3. the deployment's encryption parameters and scale;
4. the public key, the relinearization keys only if the sigmoid needs them, and either
   no Galois keys (batch only) or exactly those of single mode's rotations;
5. rebuilt as a canonical message around the deployment's own parameter blob, loaded
   by TenSEAL/SEAL (which validate every key against the parameters), and checked again:
   ``is_private()`` must be false and ``has_secret_key()`` false.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

import tenseal as ts

from garrison.errors import HEContextNotFound, InvalidHEContext, PayloadTooLarge
from garrison.he import _proto, _seal
from garrison.he.params import HEParams
from garrison.he.wire import context_id_for

__all__ = ["ContextCache", "PublicContext", "load_public_context"]

DEFAULT_MAX_CONTEXT_BYTES = 64 * 1024 * 1024


@dataclass(frozen=True, eq=False)
class PublicContext:
    """An admitted public context and the SEAL key objects the circuits use."""

    context_id: str
    params_fingerprint: str
    context: ts.Context
    nbytes: int
    single: bool

    @property
    def public_key(self) -> Any:
        return self.context.public_key().data

    @property
    def galois_keys(self) -> Any:
        return self.context.galois_keys().data if self.single else None

    @property
    def relin_keys(self) -> Any:
        return self.context.relin_keys().data if self.context.has_relin_keys() else None


def _sound(blob: bytes, what: str) -> bytes:
    try:
        _proto.check_seal_header(blob, version=_seal.seal_version(), what=what)
    except _proto.ProtoError as exc:
        raise InvalidHEContext(f"malformed context: {exc}") from exc
    return blob


def _check_parameters(message: _proto.ContextMessage, params: HEParams) -> bytes:
    n, bits = params.poly_modulus_degree, params.coeff_mod_bit_sizes
    canonical = _seal.parameters_blob(n, bits)
    if message.encryption_parameters != canonical:
        _sound(message.encryption_parameters, "encryption parameters")
        try:
            theirs = _seal.parameters_of(message.encryption_parameters)
        except (RuntimeError, ValueError) as exc:
            raise InvalidHEContext("malformed context: unreadable encryption parameters") from exc
        if theirs != (n, bits):
            raise InvalidHEContext(
                f"the context's parameters (N={theirs[0]}, coefficient bits {list(theirs[1])}) "
                f"differ from the deployment's (N={n}, coefficient bits {list(bits)})"
            )
    if message.scale != params.scale:
        raise InvalidHEContext(
            f"the context's scale {message.scale!r} differs from the deployment's "
            f"2^{params.scale_bits}"
        )
    return canonical


def load_public_context(data: bytes, params: HEParams, *,
                        max_bytes: int = DEFAULT_MAX_CONTEXT_BYTES) -> PublicContext:
    """Admit ``data`` as a public context for ``params``; raise :class:`InvalidHEContext`."""
    limit = min(max_bytes, params.max_context_bytes(single=True))
    if len(data) > limit:
        raise PayloadTooLarge(f"the context is larger than {limit} bytes")
    try:
        message = _proto.decode_context(data)
    except _proto.ProtoError as exc:
        raise InvalidHEContext(f"malformed context: {exc}") from exc
    if message.secret_key:
        raise InvalidHEContext(
            "the context carries a secret key; it was refused and not stored. Treat that key "
            "pair as exposed and generate a new one; send only the public context"
        )
    if message.encryption_type != 0:
        raise InvalidHEContext("only public-key (asymmetric) contexts are supported")
    canonical_parameters = _check_parameters(message, params)
    if not message.public_key:
        raise InvalidHEContext("the context lacks its public key")
    _sound(message.public_key, "public key")
    if bool(message.relin_keys) != params.needs_relin_keys:
        state = "needs" if params.needs_relin_keys else "must not carry"
        raise InvalidHEContext(f"this deployment {state} relinearization keys")
    if message.relin_keys:
        _sound(message.relin_keys, "relinearization keys")
    single = bool(message.galois_keys)
    if single:
        if not params.galois_steps:
            raise InvalidHEContext("this deployment needs no Galois keys; send none")
        _sound(message.galois_keys, "Galois keys")
    canonical = _proto.encode_public_context(
        _proto.ContextMessage(
            encryption_parameters=canonical_parameters, public_key=message.public_key,
            auto_flags=message.auto_flags & 0b111, scale=params.scale,
            relin_keys=message.relin_keys, galois_keys=message.galois_keys, encryption_type=0,
        )
    )
    try:
        context = ts.Context.load(canonical, n_threads=1)
    except Exception as exc:  # TenSEAL raises bare ValueError/RuntimeError from C++.
        raise InvalidHEContext(
            "the context's keys do not load under the deployment's parameters"
        ) from exc
    if context.is_private() or context.has_secret_key() or not context.has_public_key():
        raise InvalidHEContext("the context is not a public context")
    if single:
        keys = context.galois_keys().data
        n = params.poly_modulus_degree
        wanted = [_seal.galois_element(step, n) for step in params.galois_steps]
        if keys.size() != len(wanted) or not all(keys.has_key(elt) for elt in wanted):
            raise InvalidHEContext(
                f"the Galois keys must be exactly those of rotations by {list(params.galois_steps)}"
            )
    fingerprint = params.fingerprint()
    return PublicContext(context_id_for(fingerprint, data), fingerprint, context, len(data), single)


class ContextCache:
    """Bounded LRU of admitted contexts, keyed by ``(owner, context_id)``.

    ``owner`` is the principal that registered the context: another principal cannot
    use it. Bounds: ``max_entries`` contexts and ``max_bytes`` of serialized context
    (the in-memory size is close to it); the least recently used go first.
    """

    def __init__(self, *, max_entries: int = 64, max_bytes: int = 1024 * 1024 * 1024,
                 max_context_bytes: int = DEFAULT_MAX_CONTEXT_BYTES) -> None:
        if max_entries < 1 or max_bytes < 1:
            raise ValueError("cache bounds must be positive")
        self.max_entries = max_entries
        self.max_bytes = max_bytes
        self.max_context_bytes = min(max_context_bytes, max_bytes)
        self._entries: OrderedDict[tuple[str, str], PublicContext] = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._entries)

    @property
    def total_bytes(self) -> int:
        return sum(entry.nbytes for entry in self._entries.values())

    def register(self, data: bytes, params: HEParams, *, owner: str = "") -> str:
        """Admit and cache a context (idempotent); return its id."""
        key = (owner, context_id_for(params.fingerprint(), data))
        with self._lock:
            if key in self._entries:
                self._entries.move_to_end(key)
                return key[1]
        entry = load_public_context(data, params, max_bytes=self.max_context_bytes)
        with self._lock:
            self._entries[key] = entry
            self._entries.move_to_end(key)
            while len(self._entries) > self.max_entries or self.total_bytes > self.max_bytes:
                self._entries.popitem(last=False)
        return entry.context_id

    def get(self, context_id: str, params: HEParams, *, owner: str = "") -> PublicContext:
        with self._lock:
            entry = self._entries.get((owner, context_id))
            if entry is not None:
                self._entries.move_to_end((owner, context_id))
        if entry is None:
            raise HEContextNotFound("no such encryption context; register it (again) first")
        if entry.params_fingerprint != params.fingerprint():
            raise InvalidHEContext("that context was registered for other parameters")
        return entry

    def forget(self, context_id: str, *, owner: str = "") -> None:
        with self._lock:
            self._entries.pop((owner, context_id), None)
