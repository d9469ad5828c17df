"""schemathesis over the whole OpenAPI document against the live edge: several hundred
generated requests per operation, no 500, every answer conforms to /api/docs, and no body
carries a stack trace or Python exception text. Methods and routes outside the document
get JSON 404/405, never a 500."""

from __future__ import annotations

import asyncio
import re
from typing import Any

import argon2
import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_schema_conformance,
    status_code_conformance,
)

from edge.auth.passwords import PasswordHasher
from tests.edge.conftest import Edge, EdgeFactory

MAX_EXAMPLES = 300
# Python's own words: a traceback, a frame line, an exception class name, a repr.
PYTHON_TEXT = re.compile(
    r"Traceback \(most recent call last\)|File \"[^\"]+\", line \d+|"
    r"\b[A-Z][A-Za-z]*(?:Error|Exception)\b|<(?:class|function|object) [^>]*>|\bNoneType\b"
)


def no_python_text(ctx: Any, response: Any, case: Any) -> bool | None:
    """No stack trace or exception text in a body, whatever the status."""
    found = PYTHON_TEXT.search(response.text or "")
    if found is not None:
        raise AssertionError(f"{case.operation.label}: Python text {found.group()!r} in the body")
    return None


CHECKS = (
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    negative_data_rejection,
    no_python_text,
)


def _fuzz(doc: dict[str, Any], base_url: str) -> list[str]:
    schema = schemathesis.openapi.from_dict(doc)
    ran = []
    with requests.Session() as session:  # keep-alive: one connection for every case
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
                case.call_and_validate(base_url=base_url, session=session, checks=CHECKS)

            check()
            ran.append(operation.label)
    return ran


def _cheap_hasher() -> PasswordHasher:
    return PasswordHasher(argon2.PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1))


@pytest.fixture
async def fuzzed_edge(edge_factory: EdgeFactory, monkeypatch: pytest.MonkeyPatch) -> Edge:
    """A fed edge whose argon2 is cheap: generated registrations and logins are hundreds of
    requests, and the fuzz is about HTTP, not about the cost of a hash."""
    monkeypatch.setattr("edge.app.PasswordHasher", _cheap_hasher)
    edge = await edge_factory(login_attempts_per_minute=1_000_000)
    await edge.feed(steps=4)
    return edge


async def test_every_operation_conforms_to_the_document(fuzzed_edge: Edge) -> None:
    async with fuzzed_edge.client() as c:
        doc = (await c.get("/api/docs")).json()
    assert doc["openapi"].startswith("3.")
    # schemathesis is synchronous: run it in a thread so the server keeps serving here.
    ran = await asyncio.to_thread(_fuzz, doc, fuzzed_edge.url)
    assert len(ran) == sum(len(ops) for ops in doc["paths"].values())


METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE")
UNDOCUMENTED = ("/", "/api/docs/ui", "/static/app.js", "/nope", "/api/data", "/api/..%2f..%2fetc")


async def test_every_method_on_every_route_answers_json_never_500(fed_edge: Edge) -> None:
    async with fed_edge.client() as c:
        doc = (await c.get("/api/docs")).json()
        paths = [re.sub(r"\{[^}]+\}", "NIFTY", p) for p in doc["paths"]] + list(UNDOCUMENTED)
        for path in paths:
            for method in METHODS:
                r = await c.request(method, path)
                assert r.status_code < 500, (method, path, r.status_code)
                assert PYTHON_TEXT.search(r.text) is None, (method, path, r.text[:200])
                if r.status_code in (404, 405) and method != "HEAD":
                    assert r.json()["error"] in ("not_found", "method_not_allowed"), (method, path)


async def test_digits_that_int_refuses_are_a_400_not_a_500(fed_edge: Edge) -> None:
    """str.isdigit() says yes to "³" and "①", int() says no: found by the fuzz above."""
    async with fed_edge.client() as c:
        doc = (await c.get("/api/docs")).json()
        checked = 0
        for path, ops in doc["paths"].items():
            names = {p["name"] for p in ops.get("get", {}).get("parameters", [])}
            history = {"history": "true"} if "history" in names else {}
            for name in names & {"from", "to", "limit"}:
                for text in ("³", "①", "٣"):
                    url = re.sub(r"\{[^}]+\}", "NIFTY", path)
                    r = await c.get(url, params={**history, name: text})
                    assert r.status_code in (400, 422), (path, name, text, r.status_code)
                    checked += 1
    assert checked >= 9
