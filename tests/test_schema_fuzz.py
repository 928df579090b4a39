"""The running server fuzzed from its own ``/openapi.json`` with schemathesis: every documented
operation, with valid and invalid data drawn from its documented parameters and bodies, sent with
a valid key (the admin token on /admin): no 5xx, and every answer's status, content type and body
as documented (errors: ``{request_id, code, message}``, documented on every route).

Bounded: ``EXAMPLES`` per operation and generation mode. What the schema does not document is not
fuzzed here (tests/test_fuzz.py mutates the DashScope bodies by hand)."""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode, checks

from conftest import Server

ADMIN = "schema-fuzz-admin"
EXAMPLES = 30
CHECKS = [
    checks.not_a_server_error,
    checks.status_code_conformance,
    checks.content_type_conformance,
    checks.response_schema_conformance,
]


@pytest.fixture(scope="module")
def live(tmp_path_factory) -> Server:
    s = Server(
        tmp_path_factory.mktemp("schema"), env={"IMAGESCOPE_ADMIN_TOKEN": ADMIN, "IMAGESCOPE_SUBMIT_RPS": "100000"}
    ).start()
    yield s
    s.stop()


def test_every_documented_operation_answers_as_documented_and_never_5xx(live):
    schema = schemathesis.openapi.from_url(f"{live.url}/openapi.json")
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 20  # every route family is documented
    failures: list[str] = []
    for operation in operations:
        token = ADMIN if operation.path.startswith("/admin") else live.key

        @given(
            operation.as_strategy(generation_mode=GenerationMode.POSITIVE)
            | operation.as_strategy(generation_mode=GenerationMode.NEGATIVE)
        )
        @settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), database=None)
        def exercise(case: schemathesis.Case) -> None:
            # Run right below, within this iteration: the loop's token is the one meant.
            response = case.call(headers={"Authorization": f"Bearer {token}"}, timeout=30)  # noqa: B023
            case.validate_response(response, checks=CHECKS)

        try:
            exercise()
        except Exception as exc:  # one operation's failures; the others still run
            failures.append(f"{operation.label}: {str(exc)[:1500]}")
    assert not failures, "\n\n".join(failures)
    # Still up (with a new key: the fuzz may well have revoked key 1 through the admin API).
    done = live.run(
        {"model": "wan2.2-t2i-flash", "input": {"prompt": "still up"}, "parameters": {"n": 1, "size": "512*512"}},
        key=live.new_key(),
    )
    assert done["output"]["task_status"] == "SUCCEEDED"
