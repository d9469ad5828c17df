"""The ANALYTICS bridge's own life cycle against a real nats-server."""

from __future__ import annotations

import nats

from actors.natsserver import NatsServer
from edge.bridge import Bridge
from edge.metrics import EdgeMetrics
from edge.sockets import SocketHub


async def test_stopping_after_the_connection_closed_ends_quietly(nats_server: NatsServer) -> None:
    # The connection can close first (an auth failure, reconnects given up): the shutdown
    # that follows must not fail on the subscription the connection took with it.
    metrics = EdgeMetrics()
    nc = await nats.connect(nats_server.url)
    bridge = Bridge(nc, SocketHub(metrics=metrics, auth_required=False), metrics)
    await bridge.start()
    await nc.close()
    await bridge.stop()
    await bridge.stop()  # and twice is harmless
