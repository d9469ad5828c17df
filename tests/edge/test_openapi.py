"""schemathesis over the whole OpenAPI document against the live edge: several hundred
generated requests per operation, no 500, every answer conforms to /api/docs, and no body
carries a stack trace or Python exception text; a shorter run does the same on an edge that
requires auth, as a token holder. Methods and routes outside the document get JSON 404/405,
never a 500. The document and the app's routes list the same paths and methods, but for an
explicit allow-list of pages that are not API."""

from __future__ import annotations

import asyncio
import json
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
from starlette.routing import BaseRoute, Mount, Route, WebSocketRoute

from edge.app import create_app
from edge.auth.passwords import PasswordHasher
from tests.conftest import test_settings
from tests.edge.conftest import Edge, EdgeFactory

MAX_EXAMPLES = 300
AUTH_MAX_EXAMPLES = 50  # the auth-required run repeats the above: a sample is enough
# Python's own words: a traceback, a frame line, an exception class name, a repr.
PYTHON_TEXT = re.compile(
    r"Traceback \(most recent call last\)|File \"[^\"]+\", line \d+|"
    r"\b[A-Z][A-Za-z]*(?:Error|Exception)\b|<(?:class|function|object) [^>]*>|\bNoneType\b"
)


def no_python_text(ctx: Any, response: Any, case: Any) -> bool | None:
    """No stack trace or exception text in a body, whatever the status; words the request
    itself sent are not the server's (an error may quote the bad value, e.g.
    ``from=ConfigError``)."""
    sent = json.dumps(
        [case.path_parameters, case.query, case.body, case.headers, case.cookies], default=str
    )
    for found in PYTHON_TEXT.finditer(response.text or ""):
        if found.group() not in sent:
            raise AssertionError(
                f"{case.operation.label}: Python text {found.group()!r} in the body"
            )
    return None


CHECKS = (
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    negative_data_rejection,
    no_python_text,
)


def _fuzz(
    doc: dict[str, Any],
    base_url: str,
    *,
    max_examples: int = MAX_EXAMPLES,
    headers: dict[str, str] | None = None,
) -> list[str]:
    schema = schemathesis.openapi.from_dict(doc)
    ran = []
    with requests.Session() as session:  # keep-alive: one connection for every case
        for result in schema.get_all_operations():
            operation = result.ok()

            @settings(
                max_examples=max_examples,
                deadline=None,
                database=None,
                suppress_health_check=list(HealthCheck),
            )
            @given(case=operation.as_strategy())
            def check(case: Any) -> None:
                case.call_and_validate(
                    base_url=base_url, session=session, headers=headers, checks=CHECKS
                )

            check()
            ran.append(operation.label)
    return ran


def _cheap_hasher() -> PasswordHasher:
    return PasswordHasher(argon2.PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1))


async def _fuzzable_edge(
    edge_factory: EdgeFactory, monkeypatch: pytest.MonkeyPatch, **settings: object
) -> Edge:
    """A fed edge whose argon2 is cheap: generated registrations and logins are hundreds of
    requests, and the fuzz is about HTTP, not about the cost of a hash."""
    monkeypatch.setattr("edge.app.PasswordHasher", _cheap_hasher)
    edge = await edge_factory(login_attempts_per_minute=1_000_000, **settings)
    await edge.feed(steps=4)
    return edge


@pytest.fixture
async def fuzzed_edge(edge_factory: EdgeFactory, monkeypatch: pytest.MonkeyPatch) -> Edge:
    return await _fuzzable_edge(edge_factory, monkeypatch)


async def test_every_operation_conforms_to_the_document(fuzzed_edge: Edge) -> None:
    async with fuzzed_edge.client() as c:
        doc = (await c.get("/api/docs")).json()
    assert doc["openapi"].startswith("3.")
    # schemathesis is synchronous: run it in a thread so the server keeps serving here.
    ran = await asyncio.to_thread(_fuzz, doc, fuzzed_edge.url)
    assert len(ran) == sum(len(ops) for ops in doc["paths"].values())


@pytest.fixture
async def fuzzed_auth_edge(edge_factory: EdgeFactory, monkeypatch: pytest.MonkeyPatch) -> Edge:
    """As ``fuzzed_edge``, with ``auth_required`` on."""
    return await _fuzzable_edge(edge_factory, monkeypatch, auth_required=True)


async def test_with_auth_required_every_operation_conforms_for_a_token_holder(
    fuzzed_auth_edge: Edge,
) -> None:
    async with fuzzed_auth_edge.client() as c:
        doc = (await c.get("/api/docs")).json()
        # Without a token the data is closed: the fuzz below runs against a guarded edge.
        assert (await c.get("/api/analytics/summary/NIFTY")).status_code == 401
        reg = await c.post(
            "/api/auth/register", json={"username": "fuzzer", "password": "a long passphrase"}
        )
        assert reg.status_code == 201, reg.text
    guarded = [
        op
        for path, ops in doc["paths"].items()
        if path.startswith(("/api/data/", "/api/analytics/"))
        for op in ops.values()
    ]
    assert guarded and all(op["security"] == [{"bearerAuth": []}] for op in guarded)
    assert all("401" in op["responses"] for op in guarded)
    bearer = {"Authorization": f"Bearer {reg.json()['token']}"}
    ran = await asyncio.to_thread(
        _fuzz, doc, fuzzed_auth_edge.url, max_examples=AUTH_MAX_EXAMPLES, headers=bearer
    )
    assert len(ran) == sum(len(ops) for ops in doc["paths"].values())


# Served on purpose but not API, so not in the document: the dashboard page, its static
# files and the document's own HTML listing. (Socket.IO at /socket.io is no Starlette route:
# socketio.ASGIApp answers it before the Starlette app sees the request.)
NOT_IN_THE_DOCUMENT = frozenset({"/", "/api/docs/ui", "/static/{path}"})


def _served(routes: list[BaseRoute], prefix: str = "") -> dict[str, set[str]]:
    """Path → methods of every HTTP route, Mounts walked, with ``{name:convertor}``
    written as OpenAPI writes it, ``{name}``."""
    served: dict[str, set[str]] = {}
    for route in routes:
        if isinstance(route, Mount):
            assert route.routes, f"{route.path}: a mounted app whose routes cannot be listed"
            for path, methods in _served(route.routes, prefix + route.path).items():
                served.setdefault(path, set()).update(methods)
        elif isinstance(route, Route):
            assert route.methods is not None, f"{route.path}: give the route its methods"
            path = re.sub(r"\{(\w+):\w+\}", r"{\1}", prefix + route.path)
            # Starlette answers HEAD for every GET route; the document lists the GET.
            served.setdefault(path, set()).update(route.methods - {"HEAD"})
        elif not isinstance(route, WebSocketRoute):  # OpenAPI 3.0 cannot describe those
            raise AssertionError(f"a route of unknown type: {route!r}")
    return served


async def test_every_served_route_is_documented_with_its_methods_and_vice_versa(
    edge: Edge,
) -> None:
    async with edge.client() as c:
        doc = (await c.get("/api/docs")).json()
    documented = {
        path: {method.upper() for method in ops if method.upper() in METHODS}
        for path, ops in doc["paths"].items()
    }
    app = create_app(test_settings(edge.nats_url)).other_asgi_app  # never started
    served = _served(app.routes)
    # A stale allow-list entry (a page gone, or documented since) fails here.
    assert NOT_IN_THE_DOCUMENT <= served.keys()
    assert not NOT_IN_THE_DOCUMENT & documented.keys()
    api = {path: methods for path, methods in served.items() if path not in NOT_IN_THE_DOCUMENT}
    assert api == documented


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
