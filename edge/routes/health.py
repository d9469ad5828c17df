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
from edge.errors import EdgeError, UpstreamError
from edge.metrics import ActorHostMetrics, HostRecompute
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
    host_id: str = ""
    healthy: bool = False
    escalation: str | None = None
    chains: int = 0
    chains_down: list[str] = []
    warnings: list[str] = []
    recompute: HostRecompute | None = None


class _Hosts(msgspec.Struct, frozen=True):
    partitions: int
    unanswered: list[int]
    hosts: list[_ActorHealth]


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


async def _actor_hosts(st: EdgeState) -> _Hosts:
    """Every actor host's health (``EdgeError`` when the service does not answer)."""
    try:
        return msgspec.json.decode(await st.snapshots.hosts(), type=_Hosts)
    except msgspec.DecodeError as exc:
        raise UpstreamError("the actor service sent a malformed hosts reply") from exc


async def _actor_check(st: EdgeState) -> tuple[bool, str]:
    try:
        found = await _actor_hosts(st)
    except EdgeError as exc:
        return False, f"actor host: {exc.detail}"
    hosts = found.hosts
    several = len(hosts) > 1
    for h in hosts:
        if not h.healthy:
            who = f"actor host {h.host_id}" if several else "actor host"
            return False, f"{who} unhealthy: {h.escalation or 'escalated'}"
    down = sorted(c for h in hosts for c in h.chains_down)
    problems = [f"chains down {', '.join(down[:10])}"] if down else []
    problems += [w for h in hosts for w in h.warnings][:5]
    if found.unanswered:
        # Ready (the other partitions serve), but these chains have no live owner right now.
        listed = ", ".join(str(k) for k in found.unanswered)
        problems.append(f"FEED partition(s) {listed} of {found.partitions} without an owner")
    if problems:
        return True, f"degraded: {'; '.join(problems)}"
    chains = sum(h.chains for h in hosts)
    return True, f"ok ({chains} chains on {len(hosts)} host{'s' if several else ''})"


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
    hosts: list[ActorHostMetrics] | None = None
    if st.nc.is_connected:
        await _stream_check(st, subjects.DLQ_STREAM)
        try:
            found = await asyncio.wait_for(_actor_hosts(st), CHECK_TIMEOUT_S)
        except (EdgeError, TimeoutError):
            pass  # the actor series are left out; /health says why
        else:
            hosts = [ActorHostMetrics(h.host_id, h.healthy, h.chains, h.recompute)
                     for h in found.hosts]  # fmt: skip
    return Response(st.metrics.render(hosts), media_type=CONTENT_TYPE_LATEST)


routes = [
    Route("/health", health, methods=["GET"]),
    Route("/health/live", live, methods=["GET"]),
    Route("/metrics", metrics, methods=["GET"]),
]
