"""The root of the tree, and the failures of the installation itself: its configuration and
its storage.

The tree is drawn in :mod:`garrison.errors`; import every class from there.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "ConfigurationError",
    "GarrisonError",
    "SchemaOutOfDate",
    "StorageError",
]


class GarrisonError(Exception):
    """Base of every error Garrison raises on purpose.

    ``message`` is safe to show to the operator who caused it (CLI, admin API).
    ``detail`` holds structured context for the audit trail and logs; adapters on
    untrusted paths never echo it to the client.
    """

    code = "garrison-error"

    def __init__(self, message: str = "", **detail: Any) -> None:
        super().__init__(message or self.__class__.__doc__ or self.code)
        self.message = message or (self.__class__.__doc__ or self.code).strip().splitlines()[0]
        self.detail: dict[str, Any] = detail

    def __str__(self) -> str:
        return self.message


class ConfigurationError(GarrisonError):
    """The configuration is missing a required value or holds an invalid one."""

    code = "configuration-invalid"


class StorageError(GarrisonError):
    """The storage backend failed."""

    code = "storage-error"


class SchemaOutOfDate(StorageError):
    """The database schema is older than this release; run `garrison db upgrade`."""

    code = "schema-out-of-date"
