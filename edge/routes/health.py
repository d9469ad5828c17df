"""``/health`` (readiness with named checks), ``/health/live`` (the process answers) and
``/metrics`` (Prometheus text).

Readiness needs NATS, the streams and the actor host (else 503). Redis and MongoDB are
optional: when configured they appear as checks ``redis`` and ``mongo``, "ok" or "degraded:
<reason>" — the edge then serves without them (no cache, local limits, history from the
stream), so it stays ready and ``status`` says ``degraded``.
"""

from __future__ import annotations

import asyncio
from typing import Any

import msgspec
import nats.errors
import nats.js.errors
from prometheus_client import CONTENT_TYPE_LATEST
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from actors import subjects
from edge.errors import EdgeError
from edge.routes.params import json_response
from edge.state import EdgeState, edge_state

__all__ = [
    "health",
    "live",
    "metrics",
    "routes",
]

CHECK_TIMEOUT_S = 2.0
STREAMS = (subjects.FEED_STREAM, subjects.ANALYTICS_STREAM, subjects.DLQ_STREAM)


class _ActorHealth(msgspec.Struct, frozen=True):
    healthy: bool
    escalation: str | None = None
    chains: int = 0
    chains_down: list[str] = []
    warnings: list[str] = []


async def _stream_check(st: EdgeState, name: str) -> tuple[bool, str]:
    try:
        info = await asyncio.wait_for(st.js.stream_info(name), CHECK_TIMEOUT_S)
    except nats.js.errors.NotFoundError:
        return False, f"stream {name} is missing"
    except (TimeoutError, nats.errors.Error) as exc:
        return False, f"stream {name} could not be read ({type(exc).__name__})"
    if name == subjects.DLQ_STREAM:
        st.metrics.dlq_messages.set(info.state.messages)
    return True, "ok"


async def _actor_check(st: EdgeState) -> tuple[bool, str]:
    try:
        health = msgspec.json.decode(await st.snapshots.health(), type=_ActorHealth)
    except EdgeError as exc:
        return False, f"actor host: {exc.detail}"
    except msgspec.DecodeError:
        return False, "actor host sent a malformed health reply"
    if not health.healthy:
        return False, f"actor host unhealthy: {health.escalation or 'escalated'}"
    problems = [f"chains down {', '.join(health.chains_down[:10])}"] if health.chains_down else []
    problems += health.warnings[:5]
    if problems:
        return True, f"degraded: {'; '.join(problems)}"
    return True, f"ok ({health.chains} chains)"


async def health(request: Request) -> Response:
    st = edge_state(request)
    connected = bool(st.nc.is_connected)
    st.metrics.nats_connected.set(1 if connected else 0)
    checks: dict[str, dict[str, Any]] = {
        "nats": {"ok": connected, "detail": "connected" if connected else "disconnected"}
    }
    if connected:
        results = await asyncio.gather(
            *(_stream_check(st, name) for name in STREAMS), _actor_check(st)
        )
        for name, (ok, detail) in zip([*STREAMS, "actors"], results, strict=True):
            checks[name if name == "actors" else f"stream:{name}"] = {"ok": ok, "detail": detail}
    for dep in (st.redis, st.mongo):
        if dep is not None:
            checks[dep.name] = dep.check()
    failing = [f"{name}: {c['detail']}" for name, c in checks.items() if not c["ok"]]
    degraded = [
        f"{name}: {c['detail']}"
        for name, c in checks.items()
        if c["ok"] and c["detail"].startswith("degraded")
    ]
    status = "unavailable" if failing else "degraded" if degraded else "ok"
    body: dict[str, Any] = {
        "status": status,
        "checks": checks,
        "degraded": degraded,
    }
    if failing:
        body.update(error="not_ready", detail="; ".join(failing))
        return json_response(body, status_code=503)
    return json_response(body)


async def live(request: Request) -> Response:
    return json_response({"status": "ok"})


async def metrics(request: Request) -> Response:
    st = edge_state(request)
    st.metrics.nats_connected.set(1 if st.nc.is_connected else 0)
    if st.nc.is_connected:
        await _stream_check(st, subjects.DLQ_STREAM)
    return Response(st.metrics.render(), media_type=CONTENT_TYPE_LATEST)


routes = [
    Route("/health", health, methods=["GET"]),
    Route("/health/live", live, methods=["GET"]),
    Route("/metrics", metrics, methods=["GET"]),
]
