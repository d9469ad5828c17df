"""The Node socket.io-client (npm ``socket.io-client``, installed into the project's
node_modules by the test command) against the live edge."""

from __future__ import annotations

import asyncio
import json
import shutil
from pathlib import Path

import pytest

from tests.edge.conftest import Edge, EdgeFactory

SCRIPT = Path(__file__).parent / "node" / "client.mjs"
NODE = shutil.which("node")
pytestmark = pytest.mark.skipif(NODE is None, reason="node is not installed")


async def _run(*args: str) -> dict:  # type: ignore[type-arg]
    assert NODE is not None
    proc = await asyncio.create_subprocess_exec(
        NODE, str(SCRIPT), *args,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(proc.communicate(), 30)
    assert proc.returncode == 0, err.decode()
    return json.loads(out.decode().strip().splitlines()[-1])  # type: ignore[no-any-return]


async def test_node_client_gets_the_snapshot_and_an_error_event(fed_edge: Edge) -> None:
    seen = await _run(fed_edge.url, "chain:NIFTY:2026-12-08")
    assert seen["ack"] == {"ok": True, "rooms": ["chain:NIFTY:2026-12-08"]}
    assert seen["summary"]["expiry"] == "2026-12-08" and seen["summary"]["product"] == "NIFTY"
    assert seen["chain"] == {"expiry": "2026-12-08", "strikes": 41}
    assert seen["errors"][0]["error"] == "invalid_payload"


async def test_node_client_is_refused_without_a_token_when_auth_is_on(
    edge_factory: EdgeFactory,
) -> None:
    edge = await edge_factory(auth_required=True)
    seen = await _run(edge.url, "general")
    assert seen["connect_error"] == "unauthorized"
    assert seen["data"]["error"] == "unauthorized" and "token" in seen["data"]["detail"]
