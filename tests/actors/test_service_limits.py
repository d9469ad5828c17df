"""The snapshot service refuses oversized requests and never echoes a large field back: an
answer too large for one NATS message made nats-server close the host's connection."""

from __future__ import annotations

from typing import Any

import nats

from actors import subjects
from actors.host import ActorHost
from actors.natsserver import NatsServer
from actors.snapshot_endpoints import MAX_REQUEST_BYTES

SUMMARY = subjects.service_subject("summary")


async def _ask(nc: Any, subject: str, data: bytes) -> tuple[str | None, str]:
    reply = await nc.request(subject, data, timeout=10)
    headers = reply.headers or {}
    return headers.get("Nats-Service-Error-Code"), headers.get("Nats-Service-Error", "")


async def test_oversized_requests_are_refused_and_the_host_keeps_answering(
    nats_server: NatsServer, actor_host: ActorHost
) -> None:
    nc = await nats.connect(nats_server.url)
    try:
        huge = b'{"product":"' + b"A" * (nc.max_payload - 64) + b'"}'
        code, text = await _ask(nc, SUMMARY, huge)
        assert code == "413" and str(MAX_REQUEST_BYTES) in text and len(text) < 200
        code, text = await _ask(nc, SUMMARY, b'{"product":"' + b"B" * 1000 + b'"}')
        assert code == "400" and "B" * 65 not in text
        code, text = await _ask(nc, SUMMARY, b'{"product":"' + b"C" * 64 + b'"}')
        assert code == "404" and len(text) <= 500
        assert actor_host.nc is not None and actor_host.nc.is_connected
        code, _ = await _ask(nc, subjects.service_subject("products"), b"{}")
        assert code is None  # still answering
    finally:
        await nc.close()
