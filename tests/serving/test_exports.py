"""The package re-exports exactly the public names of its modules."""

from __future__ import annotations

import garrison.serving as serving
from garrison.serving import limits, output, resilience, validation


def test_every_public_name_is_exported() -> None:
    public = set()
    for module in (limits, output, resilience, validation):
        public.update(module.__all__)
        for name in module.__all__:
            assert hasattr(module, name), f"{module.__name__}.{name} is listed but missing"
    assert public == set(serving.__all__)
    for name in serving.__all__:
        assert getattr(serving, name) is not None
