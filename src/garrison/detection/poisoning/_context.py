"""Shared, lazily computed facts about one training set that several checks use."""

from __future__ import annotations

from functools import cached_property
from typing import Any

import numpy as np
from sklearn.neighbors import NearestNeighbors

from garrison.detection.poisoning._oof import ModelChoice, select_model
from garrison.detection.poisoning._prepare import Prepared
from garrison.detection.poisoning.config import PoisonCheckConfig

__all__ = ["CheckContext"]


class CheckContext:
    """The encoded data plus out-of-fold probabilities and a neighbour index, built on demand.

    A check that does not need the model (the duplicate check) never pays for it.
    """

    def __init__(self, prepared: Prepared, config: PoisonCheckConfig, random_state: int) -> None:
        self.prepared = prepared
        self.config = config
        self.random_state = random_state

    @property
    def labels(self) -> np.ndarray:
        return self.prepared.labels

    def class_name(self, code: int) -> str:
        return str(self.prepared.classes[int(code)])

    def rng(self, salt: int) -> np.random.Generator:
        """A generator derived from the seed, distinct per caller (``salt``)."""
        return np.random.default_rng([self.random_state, salt])

    @cached_property
    def model_choice(self) -> ModelChoice:
        """The out-of-fold model (chosen among the candidates with ``model="auto"``)."""
        return select_model(
            self.prepared.matrix,
            self.labels,
            self.prepared.n_classes,
            kind=self.config.model,
            folds=self.config.folds,
            random_state=self.random_state,
        )

    @property
    def models(self) -> tuple[str, ...]:
        return self.model_choice.models

    @property
    def model_description(self) -> str:
        return f"{self.model_choice.name}, {self.model_choice.folds}-fold out-of-fold"

    @property
    def oof_proba(self) -> np.ndarray:
        """Out-of-fold class probabilities, shape ``(n_rows, n_classes)``."""
        return self.model_choice.proba

    @property
    def model_too_weak(self) -> bool:
        """Whether the model is too weak to tell a wrong label from a hard row.

        ``min_model_skill = 0`` turns the refusal off (skill can be below 0).
        """
        minimum = self.config.min_model_skill
        return minimum > 0 and self.model_choice.skill < minimum

    def weak_model_warning(self) -> str:
        choice = self.model_choice
        return (
            f"labels not judged: the best out-of-fold model ({choice.name}) has skill "
            f"{choice.skill:.2f} (0 = chance, 1 = perfect), below the minimum of "
            f"{self.config.min_model_skill:g}. Either the classes overlap in these features "
            "or many labels are wrong; the label checks cannot tell which, so they flagged "
            "nothing. Review the labels, add features, or choose another model (--model)."
        )

    @cached_property
    def given_proba(self) -> np.ndarray:
        """Out-of-fold probability of each row's given label."""
        return self.oof_proba[np.arange(self.prepared.n_rows), self.labels]

    @cached_property
    def _neighbour_index(self) -> tuple[NearestNeighbors, np.ndarray]:
        n = self.prepared.n_rows
        if n > self.config.neighbour_sample:
            reference = np.sort(
                self.rng(17).choice(n, size=self.config.neighbour_sample, replace=False)
            )
        else:
            reference = np.arange(n)
        index = NearestNeighbors(algorithm="auto").fit(self.prepared.matrix[reference])
        return index, reference

    def neighbours(self, rows: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """The ``k`` nearest other rows of each of ``rows``: (positions, distances).

        On sets larger than ``neighbour_sample`` rows the neighbours are searched in a
        seeded random sample of that size.
        """
        index, reference = self._neighbour_index
        k = min(k, len(reference) - 1)
        if len(rows) == 0 or k < 1:
            return np.zeros((len(rows), 0), dtype=np.int64), np.zeros((len(rows), 0))
        distance, found = index.kneighbors(self.prepared.matrix[rows], n_neighbors=k + 1)
        positions = reference[found]
        # Drop each row itself from its own neighbour list (or the farthest if absent).
        is_self = positions == np.asarray(rows)[:, None]
        keep = np.ones_like(is_self)
        has_self = is_self.any(axis=1)
        keep[has_self] = ~is_self[has_self]
        keep[~has_self, -1] = False
        positions = positions[keep].reshape(len(rows), k)
        distance = distance[keep].reshape(len(rows), k)
        return positions, distance

    def describe(self) -> dict[str, Any]:
        return {"rows": self.prepared.n_rows, "classes": self.prepared.n_classes}
