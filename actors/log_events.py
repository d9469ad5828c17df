"""One log event as it travels: a flat JSON object, the same on stderr and on NATS.

::

    {"timestamp": "2026-11-26T09:15:02.120Z", "level": "info", "service": "actors",
     "event": "chain_started", "host": "actors-7d9c", "pid": 12, "logger": "actors.supervisor",
     "product": "NIFTY", "expiry": "2026-11-26", ...facts}

``event`` is a snake_case name, facts are keys (STYLE.md). Levels are ordered as in the
``logging`` module; a filter "level ≥ warning" keeps warning, error and critical.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, Literal

import msgspec

__all__ = [
    "CORE_FIELDS",
    "LEVELS",
    "MAX_EVENT_BYTES",
    "SERVICE_PATTERN",
    "Level",
    "encode_event",
    "is_service_name",
    "level_rank",
]

Level = Literal["debug", "info", "warning", "error", "critical"]
LEVELS: tuple[Level, ...] = ("debug", "info", "warning", "error", "critical")
# A service name is one NATS subject token: lower case, no dots or wildcards.
SERVICE_PATTERN = r"^[a-z][a-z0-9_-]{0,31}\Z"
CORE_FIELDS = ("timestamp", "level", "service", "event", "host", "pid", "logger")
# Far below LOGS' per-message limit; a traceback fits, a runaway dump does not.
MAX_EVENT_BYTES = 16 * 1024
_MAX_TEXT_CHARS = 4000

_SERVICE_RE = re.compile(SERVICE_PATTERN)
_RANK = {name: 10 * (i + 1) for i, name in enumerate(LEVELS)}
_ALIASES = {"warn": "warning", "exception": "error", "fatal": "critical", "critical": "critical"}
_encoder = msgspec.json.Encoder(enc_hook=repr)


def is_service_name(name: str) -> bool:
    return _SERVICE_RE.match(name) is not None


def level_rank(level: object) -> int:
    """10 (debug) … 50 (critical); an unknown level counts as info."""
    if not isinstance(level, str):
        return _RANK["info"]
    name = level.lower()
    return _RANK.get(_ALIASES.get(name, name), _RANK["info"])


def _plain(value: Any) -> Any:
    """A copy that any JSON encoder takes: string keys, lists, repr() for the rest."""
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_plain(v) for v in value]
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return repr(value)


def _shortened(event: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in event.items():
        if isinstance(value, str) and len(value) > _MAX_TEXT_CHARS:
            value = value[:_MAX_TEXT_CHARS] + "…"
        out[key] = value
    out["truncated"] = True
    return out


def encode_event(event: Mapping[str, Any]) -> bytes:
    """JSON bytes of ``event``, at most ``MAX_EVENT_BYTES``: long strings are cut first,
    then only the core fields are kept (``"truncated": true`` says so)."""
    try:
        raw = _encoder.encode(event)
    except (TypeError, msgspec.EncodeError, ValueError):
        event = _plain(event)
        raw = _encoder.encode(event)
    if len(raw) <= MAX_EVENT_BYTES:
        return raw
    raw = _encoder.encode(_plain(_shortened(event)))
    if len(raw) <= MAX_EVENT_BYTES:
        return raw
    core = {k: event[k] for k in CORE_FIELDS if k in event}
    return _encoder.encode(_plain(_shortened(core)))
