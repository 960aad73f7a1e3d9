"""The input schema of a model version: the data-minimization contract.

Captured at registration (usually derived from the reference profile), stored with
the version, and enforced by the gateway: a request may carry exactly these
features, each of the declared type and within the declared range or categories.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from garrison.errors import InvalidInput

__all__ = ["FeatureSpec", "FeatureType", "InputSchema"]

FeatureType = Literal["float", "int", "bool", "category", "string"]
_TYPES = ("float", "int", "bool", "category", "string")


@dataclass(frozen=True)
class FeatureSpec:
    """One input feature.

    ``minimum``/``maximum`` bound numeric features (inclusive); ``categories`` lists
    the allowed values of a ``category`` feature; ``nullable`` says whether a
    missing value (JSON null) is accepted; ``allow_nan`` whether NaN/inf may appear
    (never, by default: JSON cannot carry them and they are a classic evasion).
    """

    name: str
    type: FeatureType = "float"
    minimum: float | None = None
    maximum: float | None = None
    categories: tuple[str, ...] | None = None
    nullable: bool = False
    allow_nan: bool = False
    description: str = ""

    def __post_init__(self) -> None:
        if not self.name or not isinstance(self.name, str):
            raise InvalidInput("feature name must be a non-empty string")
        if self.type not in _TYPES:
            raise InvalidInput(f"feature {self.name!r}: unknown type {self.type!r}")
        if (
            self.minimum is not None
            and self.maximum is not None
            and self.minimum > self.maximum
        ):
            raise InvalidInput(f"feature {self.name!r}: minimum is above maximum")
        if self.type == "category" and not self.categories:
            raise InvalidInput(f"feature {self.name!r}: a category feature needs categories")

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name, "type": self.type}
        if self.minimum is not None:
            out["minimum"] = self.minimum
        if self.maximum is not None:
            out["maximum"] = self.maximum
        if self.categories is not None:
            out["categories"] = list(self.categories)
        if self.nullable:
            out["nullable"] = True
        if self.allow_nan:
            out["allow_nan"] = True
        if self.description:
            out["description"] = self.description
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FeatureSpec:
        if not isinstance(data, dict):
            raise InvalidInput("feature spec must be an object")
        unknown = set(data) - {
            "name", "type", "minimum", "maximum", "categories", "nullable", "allow_nan",
            "description",
        }
        if unknown:
            raise InvalidInput(f"unknown feature spec keys: {sorted(unknown)}")
        cats = data.get("categories")
        return cls(
            name=data.get("name", ""),
            type=data.get("type", "float"),
            minimum=data.get("minimum"),
            maximum=data.get("maximum"),
            categories=tuple(str(c) for c in cats) if cats is not None else None,
            nullable=bool(data.get("nullable", False)),
            allow_nan=bool(data.get("allow_nan", False)),
            description=str(data.get("description", "")),
        )


@dataclass(frozen=True)
class InputSchema:
    """Ordered features of a model; the order is the model's column order."""

    features: tuple[FeatureSpec, ...]
    version: int = 1
    _index: dict[str, int] = field(default_factory=dict, compare=False, repr=False)

    def __post_init__(self) -> None:
        if not self.features:
            raise InvalidInput("an input schema needs at least one feature")
        index = {f.name: i for i, f in enumerate(self.features)}
        if len(index) != len(self.features):
            raise InvalidInput("feature names must be unique")
        object.__setattr__(self, "_index", index)

    @property
    def names(self) -> list[str]:
        return [f.name for f in self.features]

    def position(self, name: str) -> int:
        return self._index[name]

    def __contains__(self, name: object) -> bool:
        return name in self._index

    def __getitem__(self, name: str) -> FeatureSpec:
        return self.features[self._index[name]]

    def to_dict(self) -> dict[str, Any]:
        return {"version": self.version, "features": [f.to_dict() for f in self.features]}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> InputSchema:
        if not isinstance(data, dict) or not isinstance(data.get("features"), list):
            raise InvalidInput("input schema must be an object with a 'features' list")
        return cls(
            features=tuple(FeatureSpec.from_dict(f) for f in data["features"]),
            version=int(data.get("version", 1)),
        )
