"""Print live chain summaries from a deltastream edge (python-socketio AsyncClient).

::

    python examples/python_client.py --url http://127.0.0.1:8000 --product NIFTY --count 5
    python examples/python_client.py --expiry 2026-12-29 --token "$JWT"   # one expiry, auth on

Subscribes to ``product:<P>`` and ``chain:<P>`` (or ``chain:<P>:<EXPIRY>``), prints one line
per ``chain_summary`` (the snapshot sent on subscribe first, then live ones) and exits 0
after ``--count`` summaries. Exits 1 when the edge refuses the connection or the
subscription, or sends nothing for ``--timeout`` seconds.

When the connection drops (the edge restarted, the network failed) the client reconnects
by itself and subscribes again: rooms belong to a connection, so a new connection starts
with none. The edge answers the new subscription with the current snapshot.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from typing import Any

import socketio

DEFAULT_URL = "http://127.0.0.1:8000"
DEFAULT_TIMEOUT_S = 60.0
ACK_TIMEOUT_S = 10.0
RECONNECT_DELAY_S = 0.5
RECONNECT_DELAY_MAX_S = 5.0


def _fmt(value: Any, digits: int = 2) -> str:
    return f"{value:.{digits}f}" if isinstance(value, int | float) else "-"


def _pct(value: Any) -> str:
    return f"{100 * value:.2f}%" if isinstance(value, int | float) else "-"


def summary_line(n: int, s: dict[str, Any]) -> str:
    return (
        f"#{n} {s['product']} {s['expiry']} seq={s['seq']} spot={_fmt(s.get('spot'))} "
        f"fwd={_fmt(s.get('forward'))} ({s.get('forward_source')}) atm_iv={_pct(s.get('atm_iv'))} "
        f"pcr_oi={_fmt(s.get('pcr_oi'), 3)} pcr_vol={_fmt(s.get('pcr_volume'), 3)} "
        f"max_pain={_fmt(s.get('max_pain'), 0)} straddle={_fmt(s.get('straddle'))} "
        f"exp_move={_fmt(s.get('expected_move'), 1)}"
    )


def _fail(failure: asyncio.Future[str], reason: str) -> None:
    if not failure.done():
        failure.set_result(reason)


async def _subscribe_on_connect(
    client: socketio.AsyncClient,
    connects: asyncio.Queue[None],
    request: dict[str, str],
    url: str,
    failure: asyncio.Future[str],
) -> None:
    """Subscribe after every (re)connection: a new connection has no rooms."""
    while True:
        await connects.get()
        try:
            ack = await client.call("subscribe", request, timeout=ACK_TIMEOUT_S)
        except (socketio.exceptions.TimeoutError, socketio.exceptions.BadNamespaceError):
            continue  # the connection dropped again: the next connect subscribes
        if not isinstance(ack, dict) or not ack.get("ok"):
            _fail(failure, f"subscribe refused: {ack}")
            return
        print(f"subscribed to {', '.join(ack['rooms'])} on {url}", flush=True)


async def run(args: argparse.Namespace) -> int:
    client = socketio.AsyncClient(
        reconnection=True,
        reconnection_delay=RECONNECT_DELAY_S,
        reconnection_delay_max=RECONNECT_DELAY_MAX_S,
    )
    summaries: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    connects: asyncio.Queue[None] = asyncio.Queue()
    failure: asyncio.Future[str] = asyncio.get_running_loop().create_future()

    async def on_summary(data: dict[str, Any]) -> None:
        await summaries.put(data)

    async def on_error(data: Any) -> None:
        _fail(failure, f"error event: {data}")

    async def on_connect() -> None:
        await connects.put(None)

    async def on_disconnect(reason: Any = None) -> None:
        print(f"disconnected ({reason}); reconnecting", file=sys.stderr, flush=True)

    async def on_connect_error(data: Any) -> None:
        # The edge answered but refused us (e.g. an expired token): retrying cannot help.
        if isinstance(data, dict) and data.get("message"):
            _fail(failure, f"connection refused: {data}")

    client.on("chain_summary", on_summary)
    client.on("error", on_error)
    client.on("connect", on_connect)
    client.on("disconnect", on_disconnect)
    client.on("connect_error", on_connect_error)
    auth = {"token": args.token} if args.token else None
    try:
        await client.connect(args.url, auth=auth, transports=["websocket"], wait_timeout=10)
    except socketio.exceptions.ConnectionError as exc:
        print(f"connection refused: {exc}", file=sys.stderr)
        return 1
    request = {"product": args.product} | ({"expiry": args.expiry} if args.expiry else {})
    subscriber = asyncio.create_task(
        _subscribe_on_connect(client, connects, request, args.url, failure)
    )
    try:
        for n in range(1, args.count + 1):
            got = asyncio.ensure_future(summaries.get())
            waiters: set[asyncio.Future[Any]] = {got, failure}
            done, _ = await asyncio.wait(
                waiters, timeout=args.timeout, return_when=asyncio.FIRST_COMPLETED
            )
            if got not in done:
                got.cancel()
                reason = failure.result() if failure.done() else "no summary"
                print(f"{reason} (after {n - 1} summaries)", file=sys.stderr)
                return 1
            print(summary_line(n, got.result()), flush=True)
        return 0
    finally:
        subscriber.cancel()
        await client.disconnect()


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--url", default=os.environ.get("DS_URL", DEFAULT_URL))
    p.add_argument("--product", default=os.environ.get("DS_PRODUCT", "NIFTY"))
    p.add_argument("--expiry", default=None, help="YYYY-MM-DD (default: every expiry)")
    p.add_argument("--count", type=int, default=5, help="exit 0 after this many summaries")
    p.add_argument("--token", default=os.environ.get("DS_TOKEN"), help="JWT")
    p.add_argument(
        "--timeout", type=float, default=DEFAULT_TIMEOUT_S, help="seconds to wait per summary"
    )
    return p


def main() -> int:
    args = _parser().parse_args()
    args.product = args.product.upper()
    return asyncio.run(run(args))


if __name__ == "__main__":
    sys.exit(main())
