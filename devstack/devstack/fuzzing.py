"""The properties every service's API must hold, as one reusable pytest test: no 5xx for any
input, and no status its OpenAPI does not declare (a schema-driven client or fuzzer meets
only documented answers).

    openapi_schema, test_no_input_makes_orders_answer_5xx = no_server_error_fuzz("running_orders")

`running_orders` is a fixture that yields the base URL of the service running under uvicorn;
schemathesis reads its /openapi.json and sends generated requests, valid and invalid, to every
operation. Any 5xx, or an undeclared status, fails the test with the request that caused it.
"""

from collections.abc import Callable
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error, status_code_conformance


def no_server_error_fuzz(
    url_fixture: str, *, max_examples: int = 60, timeout: float = 10.0
) -> tuple[Callable[..., Any], Callable[..., None]]:
    """Returns (schema fixture, test); assign both at module level of a test file."""
    schema_fixture_name = f"{url_fixture}_openapi_schema"

    @pytest.fixture(scope="module", name=schema_fixture_name)
    def openapi_schema(request: pytest.FixtureRequest) -> Any:
        base_url = request.getfixturevalue(url_fixture)
        return schemathesis.openapi.from_url(f"{base_url}/openapi.json")

    lazy_schema = schemathesis.pytest.from_fixture(schema_fixture_name)

    @lazy_schema.parametrize()
    @settings(
        max_examples=max_examples,
        deadline=None,
        suppress_health_check=[
            HealthCheck.too_slow,
            HealthCheck.filter_too_much,
            HealthCheck.function_scoped_fixture,
        ],
    )
    def test_no_input_answers_5xx(case: schemathesis.Case) -> None:
        case.call_and_validate(
            checks=[not_a_server_error, status_code_conformance], timeout=timeout
        )

    return openapi_schema, test_no_input_answers_5xx
