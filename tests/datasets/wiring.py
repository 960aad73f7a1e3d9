"""Wires this area's services into ``Services`` the way app.py is asked to."""

from __future__ import annotations

from typing import Any

from garrison.app import Services
from garrison.datasets import DatasetService, PseudonymizationService, PseudonymKeys
from garrison.detection.poisoning import PoisonCheckConfig
from garrison.lineage import LineageRecorder
from garrison.registry import RegistryService
from garrison.signing import MasterKeys
from garrison.storage import LocalArtifactStore
from garrison.storage.datasets_repo import SQLDatasetStore, SQLLineageStore

__all__ = ["WiredServices", "wire"]


class WiredServices:
    """``Services`` with this area's services added (or replaced), as app.py will wire them.

    Attributes not set here come from the wrapped ``Services``, so the wrapper keeps
    working whatever fields ``Services`` gains.
    """

    def __init__(self, base: Services, **extra: Any) -> None:
        self._base = base
        self.__dict__.update(extra)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._base, name)


def wire(services: Services) -> WiredServices:
    settings = services.settings
    lineage_store = SQLLineageStore(services.store)
    registry = RegistryService(
        services.store,
        LocalArtifactStore(settings.artifacts, MasterKeys.load_or_create(settings.keys_dir)),
        services.keyring, services.guard, services.clock,
        servability=services.registry.servability, policy=services.registry.policy,
        lineage=LineageRecorder(lineage_store),
    )
    return WiredServices(
        services,
        registry=registry,
        datasets=DatasetService(SQLDatasetStore(services.store), lineage_store, services.guard,
                                services.clock, sample_size=2000,
                                poison_config=PoisonCheckConfig(checks=("label-issue",), folds=3)),
        pseudonyms=PseudonymizationService(PseudonymKeys(settings.keys_dir), services.guard),
        lineage_store=lineage_store,
    )
