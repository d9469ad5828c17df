"""schemathesis against the live edge: no 500, every answer conforms to /api/docs."""

from __future__ import annotations

import asyncio
from typing import Any

import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_schema_conformance,
    status_code_conformance,
)

from tests.edge.conftest import Edge

MAX_EXAMPLES = 30
CHECKS = (
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    negative_data_rejection,
)


def _fuzz(doc: dict[str, Any], base_url: str) -> list[str]:
    schema = schemathesis.openapi.from_dict(doc)
    ran = []
    for result in schema.get_all_operations():
        operation = result.ok()

        @settings(
            max_examples=MAX_EXAMPLES,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        @given(case=operation.as_strategy())
        def check(case: Any) -> None:
            case.call_and_validate(base_url=base_url, checks=CHECKS)

        check()
        ran.append(operation.label)
    return ran


async def test_every_operation_conforms_to_the_document(fed_edge: Edge) -> None:
    async with fed_edge.client() as c:
        doc = (await c.get("/api/docs")).json()
    assert doc["openapi"].startswith("3.")
    # schemathesis is synchronous: run it in a thread so the server keeps serving here.
    ran = await asyncio.to_thread(_fuzz, doc, fed_edge.url)
    assert len(ran) == sum(len(ops) for ops in doc["paths"].values())
