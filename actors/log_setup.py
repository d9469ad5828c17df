"""Logging of every deltastream process: one JSON object per line on stderr, and the same
events shipped to NATS (``actors.log_shipper``) when a shipper is given.

Both structlog loggers and the standard ``logging`` module (uvicorn, asyncio, libraries) go
through the same processors, so every line has the fields of ``actors.log_events``:
``timestamp``, ``level``, ``service``, ``event``, ``host``, ``pid``, ``logger``; a ``subject``
fact adds the ``product`` and ``expiry`` it names; secrets are redacted
(``actors.redaction``) before anything is written or shipped.

``service`` is the process's role (``actors``, ``edge``, ``feed``, ``record``). A process
that runs several roles (``deltastream up``) passes ``by_module=True``: each event then
takes the role of the module that logged it (``edge.*`` → edge, ``actors.feeds.*`` → feed,
other ``actors.*`` → actors).
"""

from __future__ import annotations

import logging
import os
import socket
import sys
import threading
from typing import TextIO

import structlog
from structlog.typing import EventDict, Processor, WrappedLogger

from actors.log_events import CORE_FIELDS, encode_event
from actors.log_shipper import LogShipper
from actors.redaction import redact_mapping
from actors.subjects import PREFIX

__all__ = ["add_subject_fields", "configure_logging", "reset_logging"]

_WRITE_LOCK = threading.Lock()  # one line at a time from structlog and logging alike
_MODULE_ROLES = (("edge", "edge"), ("actors.feeds", "feed"), ("actors", "actors"))
_SUBJECT_KINDS = frozenset({"feed", "analytics"})


class _LineLogger:
    """What structlog's final processor writes to: whole lines, one lock, a name."""

    def __init__(self, stream: TextIO, name: str) -> None:
        self._stream = stream
        self.name = name

    def msg(self, message: str) -> None:
        with _WRITE_LOCK:
            self._stream.write(message + "\n")
            self._stream.flush()

    debug = info = warning = warn = error = critical = exception = fatal = msg


class _LineHandler(logging.StreamHandler):  # type: ignore[type-arg]
    def emit(self, record: logging.LogRecord) -> None:
        try:
            line = self.format(record)
            with _WRITE_LOCK:
                self.stream.write(line + "\n")
                self.stream.flush()
        except Exception:  # logging's own convention: never raise from a handler
            self.handleError(record)


def _role(logger_name: str, default: str) -> str:
    for prefix, role in _MODULE_ROLES:
        if logger_name == prefix or logger_name.startswith(prefix + "."):
            return role
    return default


def _is_date(token: str) -> bool:
    return len(token) == 10 and token[4] == "-" and token[7] == "-"


def add_subject_fields(_: WrappedLogger, __: str, event: EventDict) -> EventDict:
    """``subject`` = deltastream.<feed|analytics>.<kind>.<P>[.<E>] (or its dlq mirror)
    → ``product`` and ``expiry`` facts, unless the event already has them."""
    subject = event.get("subject")
    if not isinstance(subject, str) or not subject.startswith(PREFIX + "."):
        return event
    parts = subject.split(".")
    if len(parts) > 1 and parts[1] == "dlq":
        parts = parts[:1] + parts[2:]
    if len(parts) >= 4 and parts[1] in _SUBJECT_KINDS:
        event.setdefault("product", parts[3])
        if len(parts) >= 5 and _is_date(parts[4]):
            event.setdefault("expiry", parts[4])
    return event


def _redact(_: WrappedLogger, __: str, event: EventDict) -> EventDict:
    return redact_mapping(event)


def _identity(service: str, by_module: bool) -> Processor:
    host, pid = socket.gethostname(), os.getpid()

    def add(logger: WrappedLogger, _: str, event: EventDict) -> EventDict:
        record = event.get("_record")
        name = record.name if record is not None else getattr(logger, "name", "")
        event.setdefault("logger", name)
        event.setdefault("service", _role(name, service) if by_module else service)
        event.setdefault("host", host)
        event.setdefault("pid", pid)
        return event

    return add


def _output(json: bool, shipper: LogShipper | None) -> Processor:
    console = None if json else structlog.dev.ConsoleRenderer(colors=False)

    def render(logger: WrappedLogger, method: str, event: EventDict) -> str:
        ordered = {k: event[k] for k in CORE_FIELDS if k in event}
        ordered.update(event)
        raw = encode_event(ordered)
        if shipper is not None:
            shipper.offer(str(event.get("service") or "unknown"), raw)
        if console is None:
            return raw.decode()
        return str(console(logger, method, event))

    return render


def configure_logging(
    *,
    level: str = "info",
    json: bool = True,
    service: str = "deltastream",
    by_module: bool = False,
    shipper: LogShipper | None = None,
    stream: TextIO | None = None,
    cache_loggers: bool = True,
) -> None:
    """Set up structlog and the standard library for this process (call once, early).

    ``cache_loggers=False`` (tests) keeps module-level loggers following later
    reconfigurations; a cached logger keeps the configuration it first saw."""
    out = stream if stream is not None else sys.stderr
    numeric = logging.getLevelNamesMapping().get(level.upper(), logging.INFO)
    shared: list[Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        _identity(service, by_module),
        add_subject_fields,
        structlog.processors.format_exc_info,
        _redact,
    ]
    render = _output(json, shipper)
    structlog.configure(
        processors=[*shared, render],
        wrapper_class=structlog.make_filtering_bound_logger(numeric),
        logger_factory=lambda *args: _LineLogger(out, str(args[0]) if args else ""),
        cache_logger_on_first_use=cache_loggers,
    )
    handler = _LineHandler(out)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=shared,
            processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, render],
        )
    )
    root = logging.getLogger()
    _remove_our_handlers(root)
    handler.set_name(_HANDLER_NAME)
    root.addHandler(handler)
    # Libraries chatter at INFO (uvicorn, asyncio); their warnings and errors are kept.
    root.setLevel(max(numeric, logging.WARNING))


_HANDLER_NAME = "deltastream-json-lines"


def _remove_our_handlers(root: logging.Logger) -> None:
    for h in list(root.handlers):
        if h.get_name() == _HANDLER_NAME:
            root.removeHandler(h)


def reset_logging() -> None:
    """Undo ``configure_logging`` (tests)."""
    structlog.reset_defaults()
    _remove_our_handlers(logging.getLogger())
    logging.getLogger().setLevel(logging.WARNING)
