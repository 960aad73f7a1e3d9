"""Run every check of a gate policy against a candidate model (and production, if any)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pandas as pd

from garrison.errors import GarrisonError, InvalidInput, UnsupportedModel
from garrison.gates._context import build_context
from garrison.gates.checks import CHECKS
from garrison.gates.policy import GatePolicy
from garrison.gates.results import CheckResult, GateResult

__all__ = ["evaluate"]

Progress = Callable[[str, int, int], None]


def evaluate(
    candidate: Any,
    production: Any | None,
    holdout: pd.DataFrame,
    policy: GatePolicy,
    training: pd.DataFrame | None = None,
    *,
    seed: int = 0,
    progress: Progress | None = None,
) -> GateResult:
    """Judge ``candidate`` on ``holdout`` under ``policy``; every check appears in the result.

    ``candidate`` and ``production`` are loaded models with ``predict`` (and
    ``predict_proba`` for probabilistic classifiers); ``production`` is ``None`` when no
    version is in production. ``training`` is the training set recorded in the
    candidate's lineage (features and label), or ``None``. The result depends only on
    the inputs and ``seed``. ``progress(check, done, total)`` is called after each check.

    Bad inputs (a missing label column, an empty holdout set) raise ``InvalidInput``.
    A model that fails while a check queries it fails that check, with the reason, and
    the other checks still run: one broken check never hides the others' verdicts.
    """
    if not isinstance(policy, GatePolicy):
        raise InvalidInput("evaluate needs a GatePolicy")
    try:
        ctx = build_context(candidate, production, holdout, policy, training, seed)
    except UnsupportedModel as exc:  # the model answers in a shape no check can use
        return _all_failed(policy, f"the model's outputs are unusable: {exc.message}")
    except GarrisonError:
        raise
    except Exception as exc:  # the model itself failed on the holdout rows
        return _all_failed(policy, f"the model failed on the holdout rows ({type(exc).__name__})")
    results: list[CheckResult] = []
    for done, (name, check) in enumerate(CHECKS.items(), start=1):
        thresholds = getattr(policy, name)
        if not thresholds.enabled:
            results.append(CheckResult(name, True, "skipped: disabled by the policy", skipped=True))
        else:
            try:
                results.append(check(ctx, thresholds))
            except GarrisonError as exc:  # our own message, safe to show
                results.append(CheckResult(name, False, f"the check could not run: {exc.message}"))
            except Exception as exc:  # one failing check must not hide the others
                # Only the type: a model's message may quote holdout values.
                reason = f"the check could not run ({type(exc).__name__} from the model or data)"
                results.append(CheckResult(name, False, reason))
        if progress is not None:
            progress(name, done, len(CHECKS))
    return GateResult(tuple(results), policy_digest=policy.digest())


def _all_failed(policy: GatePolicy, reason: str) -> GateResult:
    checks = tuple(CheckResult(name, False, reason) for name in CHECKS)
    return GateResult(checks, policy_digest=policy.digest())
