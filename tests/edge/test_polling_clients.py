"""Long-polling Socket.IO clients (POSTs in, GETs out) that ask without reading: held back,
never buffered without bound."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from edge.conflation import MAX_UNREAD_ANSWERS
from tests.edge.conftest import EdgeFactory, metric
from tests.edge.sio import EVENT_TIMEOUT_S

POLL_PACKETS_MAX = 16  # python-engineio decodes at most 16 packets of one POST
_RECORD_SEPARATOR = "\x1e"  # between the packets of one engine.io v4 polling payload
_HOLD_POLL_S = 0.01


async def test_a_polling_client_that_posts_requests_without_polling_is_held_back(
    edge_factory: EdgeFactory, edge_apps: list[Any]
) -> None:
    # Over long-polling a client sends in POSTs and receives in GETs. One that posts request
    # after request and never polls for the answers would have the edge keep one per request
    # in python-engineio's queue until its ping time-out; instead, once MAX_UNREAD_ANSWERS
    # wait there, the next answer waits until the client polls, and with it the POST and
    # the client's next requests. Every request is still answered, once it polls.
    edge = await edge_factory()
    (app,) = edge_apps
    sockets = app.other_asgi_app.state.edge.hub.sio.eio.sockets
    base = "/socket.io/?EIO=4&transport=polling"
    request = '42["get_products",{}]'
    posts = MAX_UNREAD_ANSWERS // POLL_PACKETS_MAX + 1
    async with edge.client() as c:
        opened = (await c.get(base)).text
        assert opened.startswith("0"), opened
        eio_sid = json.loads(opened[1:])["sid"]
        polling = f"{base}&sid={eio_sid}"
        assert (await c.post(polling, content="40")).text == "OK"
        assert (await c.get(polling)).text.startswith("40")
        queue = sockets[eio_sid].queue
        payload = _RECORD_SEPARATOR.join([request] * POLL_PACKETS_MAX)
        for _ in range(posts - 1):  # answered at once, into engine.io's queue
            assert (await c.post(polling, content=payload)).text == "OK"
        posted = asyncio.create_task(c.post(polling, content=payload))
        # The last POST's first answer waits; the test can only see it by looking (the
        # gauge), so it polls, with a ceiling.
        async with asyncio.timeout(EVENT_TIMEOUT_S):
            while await metric(edge, "deltastream_edge_socket_answers_held") != 1:
                await asyncio.sleep(_HOLD_POLL_S)  # the gauge is the only view (noqa: sleep-ok)
        held = (queue.qsize(), posted.done())
        answers = 0
        async with asyncio.timeout(EVENT_TIMEOUT_S):
            while answers < posts * POLL_PACKETS_MAX:
                packets = (await c.get(polling)).text.split(_RECORD_SEPARATOR)
                answers += sum(p.startswith('42["products",') for p in packets)
            response = await posted
    assert held == (MAX_UNREAD_ANSWERS, False)
    assert response.text == "OK"
    assert await metric(edge, "deltastream_edge_socket_answers_held") == 0
