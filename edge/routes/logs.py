"""``/api/logs``: programs outside post log events into LOGS and anyone allowed reads them.

``POST /api/logs`` takes one event or a list of up to ``MAX_BATCH`` events, each
``{"service", "level", "message", "fields"?, "ts_ns"?}``; the whole body is at most
``MAX_BODY_BYTES``. Each is stored on ``deltastream.logs.<service>`` as the same flat event
our own processes write (``actors.log_events``), with ``origin: "api"``, the client's
address and, when auth is on, its user; secrets in fields and text are redacted. Rate
limited per client address (``log_posts_per_minute`` requests). The answer (202) comes once
JetStream stored every event.

``GET /api/logs/{service}?level=&limit=`` answers the newest events first, at or above
``level`` (``edge.log_history``).
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Annotated, Any

import msgspec
import nats.errors
import nats.js.errors
from msgspec import Meta
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from actors import subjects
from actors.log_events import CORE_FIELDS, SERVICE_PATTERN, Level, encode_event
from actors.redaction import redact_mapping, redact_text
from edge.errors import RateLimited, Unavailable, UpstreamTimeout
from edge.log_history import recent_logs
from edge.routes.params import json_body, json_response, query
from edge.state import edge_state, require_auth

__all__ = [
    "MAX_BATCH",
    "MAX_BODY_BYTES",
    "MAX_FIELDS",
    "MAX_MESSAGE_CHARS",
    "LogEntry",
    "LogsQuery",
    "get_logs",
    "post_logs",
    "routes",
]

MAX_BODY_BYTES = 64 * 1024
MAX_BATCH = 100
MAX_MESSAGE_CHARS = 4096
MAX_FIELDS = 32
MAX_FIELD_CHARS = 1024
MAX_READ = 1000
FIELD_NAME_PATTERN = r"^[A-Za-z_][A-Za-z0-9_]{0,63}\Z"
# Keys the edge sets itself: a posted field may not pose as one of them.
RESERVED_FIELDS = frozenset({*CORE_FIELDS, "origin", "client", "user", "client_ts_ns"})
_PUBLISH_TIMEOUT_S = 5.0
_SERVICE_RE = re.compile(SERVICE_PATTERN)

ServiceName = Annotated[str, Meta(pattern=SERVICE_PATTERN)]
FieldName = Annotated[str, Meta(pattern=FIELD_NAME_PATTERN)]
FieldValue = Annotated[str, Meta(max_length=MAX_FIELD_CHARS)] | int | float | bool | None


class LogEntry(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    service: ServiceName
    level: Level
    message: Annotated[str, Meta(min_length=1, max_length=MAX_MESSAGE_CHARS)]
    fields: Annotated[dict[FieldName, FieldValue], Meta(max_length=MAX_FIELDS)] = {}
    ts_ns: Annotated[int, Meta(ge=0)] | None = None


_Body = LogEntry | Annotated[list[LogEntry], Meta(min_length=1, max_length=MAX_BATCH)]


class LogsQuery(msgspec.Struct, frozen=True):
    level: Level = "debug"
    limit: Annotated[int, Meta(ge=1, le=MAX_READ)] = 100


def _service_param(request: Request) -> str:
    service = str(request.path_params["service"])
    if not _SERVICE_RE.match(service):
        raise msgspec.ValidationError(
            f"Expected a service name matching {SERVICE_PATTERN} - at `path.service`"
        )
    return service


def _event(entry: LogEntry, *, client: str, user: str | None, now: str) -> dict[str, Any]:
    for name in entry.fields:
        if name in RESERVED_FIELDS:
            raise msgspec.ValidationError(f"field name is reserved - at `body.fields.{name}`")
    event: dict[str, Any] = {
        "timestamp": now,
        "level": entry.level,
        "service": entry.service,
        "event": redact_text(entry.message),
        "origin": "api",
        "client": client,
    }
    if user is not None:
        event["user"] = user
    if entry.ts_ns is not None:
        event["client_ts_ns"] = entry.ts_ns
    event.update(redact_mapping(entry.fields))
    return event


async def post_logs(request: Request) -> Response:
    st = edge_state(request)
    claims = require_auth(request)
    client = request.client.host if request.client else "unknown"
    wait = st.log_limiter.retry_after_s(client)
    if wait is not None:
        raise RateLimited(
            "too many log posts from this address; try again later", retry_after_s=wait
        )
    st.log_limiter.hit(client)
    body = await json_body(request, _Body, max_bytes=MAX_BODY_BYTES)
    entries = [body] if isinstance(body, LogEntry) else body
    now = dt.datetime.now(dt.UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")
    user = claims.username if claims is not None else None
    events = [_event(e, client=client, user=user, now=now) for e in entries]
    try:
        for event in events:
            await st.js.publish(
                subjects.logs(event["service"]), encode_event(event), timeout=_PUBLISH_TIMEOUT_S
            )
    except nats.js.errors.NoStreamResponseError as exc:
        raise Unavailable("the LOGS stream does not exist") from exc
    except nats.errors.TimeoutError as exc:
        raise UpstreamTimeout("storing the log events timed out") from exc
    except nats.errors.Error as exc:
        raise Unavailable("JetStream is not reachable") from exc
    return json_response({"accepted": len(events)}, status_code=202)


async def get_logs(request: Request) -> Response:
    st = edge_state(request)
    require_auth(request)
    service = _service_param(request)
    q = query(request, LogsQuery)
    page = await recent_logs(st.js, service=service, min_level=q.level, limit=q.limit)
    return json_response({"service": service, "level": q.level, "events": page.events})


routes = [
    Route("/api/logs", post_logs, methods=["POST"]),
    Route("/api/logs/{service}", get_logs, methods=["GET"]),
]
