"""The gateway fits model-based detection for a pipeline over numeric and category inputs.

Before issue 19 the monitor refused a model with a category input, and the gateway
silently fell back to the detectors that ignore the model, so evasion of the models
people deploy (a OneHotEncoder pipeline) went unseen at the gateway.
"""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np

from garrison.serving.deployment import DeploymentConfig
from garrison.serving.runtime import runtime_for
from garrison.serving.table import GATEWAY_DETECTORS, TableBuilder
from tests.detection.attacks import mixed_case


def test_gateway_monitor_looks_through_a_mixed_pipeline() -> None:
    case = mixed_case(attacks=40, seed=3, rows=2400)
    names = list(case.reference.columns)
    runtime = runtime_for(case.model, "joblib", names)
    builder = TableBuilder.__new__(TableBuilder)
    builder._registry = SimpleNamespace(reference_frame=lambda v: case.reference)
    deployed = SimpleNamespace(runtime=runtime)
    config = DeploymentConfig(detection="flag", detection_fpr=0.05)
    monitor = builder._fit_monitor(SimpleNamespace(), deployed, config)
    assert set(monitor.detectors) == set(GATEWAY_DETECTORS)
    assert "perturbation-instability" in monitor.detectors
    # The gateway scores validated rows one at a time and in batches; both see the attacks.
    rows = case.adversarial.to_dict(orient="records")
    one = np.mean([monitor.score_row(r).anomalous for r in rows])
    batch = np.mean([v.anomalous for v in monitor.score_batch(
        case.adversarial[names].to_numpy(dtype=object))])
    normal = np.mean([v.anomalous for v in monitor.score_frame(case.normal)])
    print(f"\ngateway monitor, mixed pipeline: caught {one:.0%} per row, {batch:.0%} in a "
          f"batch; normal rows flagged {normal:.1%} (target 5%)")
    assert one >= 0.75 and batch >= 0.75
    assert normal <= 0.1
