"""Schemathesis against the live OpenAPI document: generated requests (valid and invalid)
to every operation; none may end in a 5xx, and every response must match the document."""

from __future__ import annotations

import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.api.conftest import open_order

EXAMPLES = {GenerationMode.POSITIVE: 40, GenerationMode.NEGATIVE: 15}
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_headers_conformance,
          response_schema_conformance]


def test_generated_requests_get_no_server_error_and_match_the_document(app, client, engine, token):
    _view, secret = engine.create_token(
        integration="fuzz", groups=("customer_service", "dispatcher", "technician", "call_center"),
        roles=("staff", "admin", "analyst"))
    auth = {"Authorization": f"Bearer {secret}"}
    for _ in range(3):
        open_order(client, token("kefu"))
    schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", app)
    sent = {"count": 0, "by_status": {}}
    for result in schema.get_all_operations():
        operation = result.ok()
        for mode, examples in EXAMPLES.items():
            if mode is GenerationMode.NEGATIVE and not _has_inputs(operation):
                continue
            strategy = operation.as_strategy(generation_mode=mode)
            checks = CHECKS + ([negative_data_rejection] if mode is GenerationMode.NEGATIVE else [])

            @settings(max_examples=examples, deadline=None, database=None, derandomize=True,
                      suppress_health_check=list(HealthCheck))
            @given(case=strategy)
            def call(case):
                response = case.call(headers=auth)
                case.validate_response(response, checks=checks)  # noqa: B023 - called right below
                sent["count"] += 1
                sent["by_status"][response.status_code] = sent["by_status"].get(response.status_code, 0) + 1

            call()
    print(f"schemathesis: {sent['count']} requests, by status {dict(sorted(sent['by_status'].items()))}")
    assert sent["count"] >= 1000
    assert not any(status >= 500 for status in sent["by_status"])


def _has_inputs(operation) -> bool:
    d = operation.definition.raw
    return bool(d.get("parameters") or d.get("requestBody"))
