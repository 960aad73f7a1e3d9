"""Private: thin glue over the SEAL bindings that ship with TenSEAL (``tenseal.sealapi``).

.. warning::
   Hazmat. Nothing here checks that an operation makes cryptographic sense; the
   public modules (:mod:`garrison.he.server`, :mod:`garrison.he.client`) do. SEAL's
   Python bindings only (de)serialize through file paths, so objects travel through an
   anonymous in-memory file (``memfd_create``; a private temporary directory where the
   platform lacks it) and never touch a disk.
"""

from __future__ import annotations

import os
import tempfile
from functools import lru_cache
from typing import Any, TypeVar

import tenseal as ts
from tenseal import sealapi

from garrison.errors import ConfigurationError

__all__ = [
    "CKKS",
    "galois_element",
    "load",
    "make_context",
    "parameters_blob",
    "parameters_of",
    "seal_version",
    "to_bytes",
]

CKKS = sealapi.SCHEME_TYPE.CKKS
T = TypeVar("T")


def _memfd_path(fd: int) -> str:
    return f"/proc/self/fd/{fd}"


def to_bytes(obj: Any) -> bytes:
    """Serialize a SEAL object (SEAL header + compressed body)."""
    if hasattr(os, "memfd_create"):
        fd = os.memfd_create("garrison-he", os.MFD_CLOEXEC)
        try:
            obj.save(_memfd_path(fd))
            return os.pread(fd, os.fstat(fd).st_size, 0)
        finally:
            os.close(fd)
    with tempfile.TemporaryDirectory(prefix="garrison-he-") as tmp:  # pragma: no cover
        path = os.path.join(tmp, "obj")
        obj.save(path)
        with open(path, "rb") as fh:
            return fh.read()


def load(obj: T, context: Any, data: bytes) -> T:
    """Load ``data`` into the empty SEAL object ``obj`` (validated against ``context``)."""
    if hasattr(os, "memfd_create"):
        fd = os.memfd_create("garrison-he", os.MFD_CLOEXEC)
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
            if context is None:
                obj.load(_memfd_path(fd))  # type: ignore[attr-defined]
            else:
                obj.load(context, _memfd_path(fd))  # type: ignore[attr-defined]
            return obj
        finally:
            os.close(fd)
    with tempfile.TemporaryDirectory(prefix="garrison-he-") as tmp:  # pragma: no cover
        path = os.path.join(tmp, "obj")
        with open(path, "wb") as fh:
            fh.write(data)
        if context is None:
            obj.load(path)  # type: ignore[attr-defined]
        else:
            obj.load(context, path)  # type: ignore[attr-defined]
        return obj


def _encryption_parameters(n: int, bits: tuple[int, ...]) -> Any:
    parms = sealapi.EncryptionParameters(CKKS)
    parms.set_poly_modulus_degree(n)
    parms.set_coeff_modulus(sealapi.CoeffModulus.Create(n, list(bits)))
    return parms


@lru_cache(maxsize=16)
def make_context(n: int, bits: tuple[int, ...]) -> Any:
    """A key-less SEAL context for ``(n, bits)``; SEAL itself enforces 128-bit security."""
    context = sealapi.SEALContext(
        _encryption_parameters(n, bits), True, sealapi.SEC_LEVEL_TYPE.TC128
    )
    if not context.parameters_set():
        raise ConfigurationError(
            f"SEAL refuses N={n}, coefficient bits {list(bits)}: "
            f"{context.parameters_error_message()}"
        )
    return context


@lru_cache(maxsize=16)
def parameters_blob(n: int, bits: tuple[int, ...]) -> bytes:
    """The canonical serialization of the encryption parameters (what TenSEAL writes)."""
    return to_bytes(_encryption_parameters(n, bits))


def parameters_of(blob: bytes) -> tuple[int, tuple[int, ...]]:
    """Read ``(poly_modulus_degree, coefficient bit sizes)`` from a serialized parameter set."""
    parms = load(sealapi.EncryptionParameters(CKKS), None, blob)
    return int(parms.poly_modulus_degree()), tuple(m.bit_count() for m in parms.coeff_modulus())


@lru_cache(maxsize=1)
def seal_version() -> tuple[int, int]:
    """``(major, minor)`` of the SEAL serialization format this TenSEAL build writes."""
    blob = parameters_blob(8192, (60, 40, 60))
    return blob[3], blob[4]


def galois_element(step: int, n: int) -> int:
    """The Galois element SEAL uses for a left rotation of CKKS slots by ``step``."""
    if not 0 < abs(step) < n // 2:
        raise ValueError("rotation step out of range")
    exponent = step if step > 0 else n // 2 + step
    return pow(3, exponent, 2 * n)


def max_coeff_bits(n: int) -> int:
    """SEAL's own bound for 128-bit security (the HomomorphicEncryption.org table)."""
    return int(sealapi.CoeffModulus.MaxBitCount(n, sealapi.SEC_LEVEL_TYPE.TC128))


def new_keygen(context: ts.Context) -> Any:
    """A SEAL key generator bound to ``context``'s secret key (client side only)."""
    return ts._ts_cpp.KeyGenerator(context.seal_context().data, context.secret_key().data)
