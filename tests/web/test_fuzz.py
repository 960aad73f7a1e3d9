"""Property-based fuzzing from the OpenAPI document (schemathesis): no input gets a 500,
and every answer matches the documented status codes, headers and schemas."""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, settings

from garrison.web import build_openapi, create_web_app, operations

schema = schemathesis.openapi.from_dict(build_openapi(operations()))


@pytest.fixture(scope="module")
def fuzz_app(seeded):
    inst, _ = seeded
    return inst, create_web_app(inst.services)


@schema.parametrize()
@settings(max_examples=15, deadline=None, suppress_health_check=list(HealthCheck))
def test_no_input_breaks_the_api(case, fuzz_app) -> None:
    inst, app = fuzz_app
    # ignored_auth probes through its own transport and cannot reach an in-process app;
    # authentication has its own tests (test_errors.py).
    excluded = [schemathesis.checks.ignored_auth]
    if case.operation.method.upper() == "POST" and case.operation.path.endswith("/versions"):
        # A schema-valid upload is still refused (422) when it is not a safe model.
        excluded.append(schemathesis.checks.positive_data_acceptance)
    if case.operation.method.upper() == "PUT" and case.operation.path.endswith("/gate-policy"):
        # The schema states a policy's shape; its keys, ranges and holdout dataset are
        # checked by the service (400 naming the key), which the schema cannot express.
        excluded.append(schemathesis.checks.positive_data_acceptance)
    case.call_and_validate(app=app, base_url="http://testserver", headers=inst.auth("root"),
                           excluded_checks=excluded)
