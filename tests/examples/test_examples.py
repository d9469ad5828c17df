"""The runnable examples against a live system: a real nats-server, the actor host and the
edge (``tests/edge/conftest.py``), fed by the synthetic market.

``curl-examples.sh``, ``subscribe-example.js`` (node) and ``python_client.py`` run as
processes; ``nats-examples.sh`` needs the ``nats`` CLI, which is not installable here, so
each of its ``nats`` lines is replayed with nats-py (stream/consumer/KV reads, ``$SRV``
requests for ``nats micro``, requests, publishes and bounded subscriptions).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import shlex
import shutil
import sys
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import msgspec
import nats
import pytest
from nats.js import api

from tests.edge.conftest import Edge, EdgeFactory, edge, edge_factory, fed_edge
from tests.feeding import START_NS, STEP_NS, market, session

# The edge fixtures of tests/edge/conftest.py, imported so pytest finds them here too;
# listing them marks the imports as used.
__all__ = ["edge", "edge_factory", "fed_edge"]

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
NODE = shutil.which("node")
PROCESS_TIMEOUT_S = 60.0
SUB_WAIT_S = 20.0  # ceiling for a `nats sub` that must see its --count messages
OPTIONAL_SUB_WAIT_S = 0.5  # a `timeout N nats sub ... || true` line may see nothing
FEED_STEPS = 4  # what the fed_edge fixture published


class _Steps:
    """Market steps continuing the fixture's seeded session, one batch at a time."""

    def __init__(self) -> None:
        self.market = market()
        session(self.market, FEED_STEPS)
        self.index = FEED_STEPS

    def next(self, n: int = 1) -> list[Any]:
        out: list[Any] = []
        for _ in range(n):
            self.index += 1
            out.extend(self.market.step(START_NS + self.index * STEP_NS))
        return out


@contextlib.asynccontextmanager
async def _feeding(edge: Edge, steps: _Steps) -> AsyncIterator[None]:
    """Keep publishing market steps (each waited for until applied) inside the block."""
    stop = asyncio.Event()

    async def loop() -> None:
        while not stop.is_set():
            await edge.feed_messages(steps.next())

    task = asyncio.create_task(loop())
    try:
        yield
    finally:
        stop.set()
        await task


async def _run(*argv: str, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        *argv,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env={**os.environ, **(env or {})},
    )
    out, err = await asyncio.wait_for(proc.communicate(), PROCESS_TIMEOUT_S)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


async def _run_while_feeding(edge: Edge, steps: _Steps, *argv: str, ready: str) -> list[str]:
    """Run a live client; once it prints ``ready`` feed the market until it exits."""
    proc = await asyncio.create_subprocess_exec(
        *argv, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    assert proc.stdout is not None and proc.stderr is not None
    lines: list[str] = []
    async with asyncio.timeout(PROCESS_TIMEOUT_S):
        while not any(ready in line for line in lines):
            raw = await proc.stdout.readline()
            assert raw, f"exited before {ready!r}: {lines} {(await proc.stderr.read()).decode()}"
            lines.append(raw.decode().rstrip())
        async with _feeding(edge, steps):
            rest, err = await proc.communicate()
    lines.extend(rest.decode().splitlines())
    assert proc.returncode == 0, f"{lines}\n{err.decode()}"
    return lines


# ---------------------------------------------------------------- curl

_REQUEST_COUNT = re.compile(
    r'^deltastream_edge_http_request_seconds_count\{method="(?P<method>[A-Z]+)",'
    r'route="(?P<route>[^"]+)",status="(?P<status>\d+)"\} (?P<count>\S+)$',
    re.MULTILINE,
)


@pytest.mark.parametrize("auth_required", [False, True], ids=["open", "auth-required"])
async def test_curl_examples_call_every_route(
    edge_factory: EdgeFactory, auth_required: bool
) -> None:
    live = await edge_factory(auth_required=auth_required)
    await live.feed(steps=FEED_STEPS)
    code, out, err = await _run(
        "bash", str(EXAMPLES / "curl-examples.sh"), env={"DS_URL": live.url}
    )
    assert code == 0, err + out
    async with live.client() as c:
        doc = (await c.get("/api/docs")).json()
        metrics = (await c.get("/metrics")).text
    answered = {
        (m["method"], m["route"])
        for m in _REQUEST_COUNT.finditer(metrics)
        if m["status"].startswith("2") and float(m["count"]) > 0
    }
    documented = {(method.upper(), path) for path, ops in doc["paths"].items() for method in ops}
    assert documented - answered == set()  # every route answered 2xx at least once
    assert ("GET", "/") in answered
    assert '"token_type": "Bearer"' in out and "HTTP 201" in out
    assert '"valid": true' in out
    assert re.search(r'"symbol": "NIFTY26D\d\d\d+CE"', out)
    assert '"right": "C"' in out and '"atm_iv": 0.1' in out
    assert '"error": "not_found"' in out
    assert "dashboard: HTTP 200 text/html" in out


# ---------------------------------------------------------------- Socket.IO clients


@pytest.mark.skipif(NODE is None, reason="node is not installed")
async def test_node_subscribe_example_prints_the_snapshot_and_live_summaries(
    fed_edge: Edge,
) -> None:
    assert NODE is not None
    script = str(EXAMPLES / "subscribe-example.js")
    lines = await _run_while_feeding(
        fed_edge, _Steps(), NODE, script, fed_edge.url, "nifty", "3", ready="subscribed:"
    )
    snapshots = [line for line in lines if line.startswith("snapshot NIFTY ")]
    live = [line for line in lines if line.startswith("live ")]
    assert len(snapshots) == 3  # one summary per expiry of the fixture's market
    assert any(line.startswith("snapshot underlying NIFTY price=") for line in lines)
    assert [line.split()[1] for line in live] == ["1/3", "2/3", "3/3"]
    assert all(re.search(r"atm_iv=\d+\.\d\d% pcr_oi=\d\.\d{3}", line) for line in live)
    assert lines[-1] == "done: 3 live chain_summary events"


async def test_python_client_prints_live_summaries_and_exits(fed_edge: Edge) -> None:
    script = str(EXAMPLES / "python_client.py")
    argv = (sys.executable, script, "--url", fed_edge.url, "--product", "NIFTY", "--count", "6")
    lines = await _run_while_feeding(fed_edge, _Steps(), *argv, ready="subscribed to")
    rows = [line for line in lines if line.startswith("#")]
    assert len(rows) == 6 and rows[-1].startswith("#6 NIFTY ")
    seqs: dict[str, list[int]] = {}
    for row in rows:
        seqs.setdefault(row.split()[2], []).append(int(re.findall(r"seq=(\d+)", row)[0]))
    assert any(len(s) > 1 and s[-1] > s[0] for s in seqs.values())  # live after the snapshot


async def test_python_client_exits_1_for_an_unknown_product(fed_edge: Edge) -> None:
    script = str(EXAMPLES / "python_client.py")
    code, _, err = await _run(sys.executable, script, "--url", fed_edge.url, "--product", "NOPE")
    assert code == 1 and "unknown_product" in err


# ---------------------------------------------------------------- nats CLI


_VARIABLE = re.compile(r"\$\{?(PRODUCT|NATS_URL)\}?")


@dataclass
class _NatsLine:
    argv: list[str]
    optional_wait_s: float | None  # set for `timeout N nats ... || true`
    text: str


def _nats_lines(script: Path, env: dict[str, str]) -> Iterator[_NatsLine]:
    for raw in script.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        tokens = shlex.split(_VARIABLE.sub(lambda m: env[m[1]], line))
        optional = None
        if tokens[:1] == ["timeout"]:
            optional = float(tokens[1])
            tokens = tokens[2:]
        if tokens[:1] != ["nats"]:
            continue
        for stop in ("|", "||"):
            if stop in tokens:
                tokens = tokens[: tokens.index(stop)]
        yield _NatsLine(tokens[1:], optional, line)


@dataclass
class _Replayer:
    nc: Any
    edge: Edge
    steps: _Steps
    kinds: set[str] = field(default_factory=set)

    async def run(self, line: _NatsLine) -> str:
        js = self.nc.jetstream()
        argv = line.argv
        grouped = argv[0] in {"stream", "consumer", "kv", "micro"}
        self.kinds.add(" ".join(argv[:2]) if grouped else argv[0])
        match argv:
            case ["stream", "info", name]:
                info = await js.stream_info(name)
                return f"{name} subjects={info.config.subjects} messages={info.state.messages}"
            case ["stream", "get", name, "--last-for", subject]:
                msg = await js.get_msg(name, subject=subject, direct=True)
                return str(msg.data.decode())
            case ["stream", "view", name, *size]:
                info = await js.stream_info(name)
                first, last = info.state.first_seq, info.state.last_seq
                shown = []
                for seq in range(first, min(last, first + int((size or ["10"])[0]) - 1) + 1):
                    msg = await js.get_msg(name, seq)
                    shown.append(f"[{seq}] {msg.subject} {dict(msg.headers or {})} {msg.data!r}")
                return "\n".join(shown)
            case ["consumer", "info", stream, name]:
                ci = await js.consumer_info(stream, name)
                return (
                    f"{ci.stream_name} > {ci.name} ack_policy={ci.config.ack_policy} "
                    f"max_deliver={ci.config.max_deliver} delivered={ci.delivered.stream_seq} "
                    f"pending={ci.num_pending}"
                )
            case ["kv", "ls", bucket]:
                return "\n".join(sorted(await (await js.key_value(bucket)).keys()))
            case ["kv", "get", bucket, key, *_]:
                entry = await (await js.key_value(bucket)).get(key)
                return repr(msgspec.msgpack.decode(entry.value))
            case ["micro", "ls"]:
                return str((await self.nc.request("$SRV.PING", b"", timeout=5)).data.decode())
            case ["micro", ("info" | "stats") as verb, name]:
                subject = f"$SRV.{verb.upper()}.{name}"
                return str((await self.nc.request(subject, b"", timeout=5)).data.decode())
            case ["req", subject, body]:
                reply = await self.nc.request(subject, body.encode(), timeout=5)
                return str(reply.data.decode())
            case ["pub", subject, body, "--jetstream"]:
                ack = await js.publish(subject, body.encode())
                return f"published to {ack.stream} seq {ack.seq}"
            case ["sub", subject, *flags]:
                return await self._sub(subject, flags, line.optional_wait_s)
        raise AssertionError(f"no nats-py equivalent for: {line.text}")

    async def _sub(self, subject: str, flags: list[str], optional_wait_s: float | None) -> str:
        count = int(flags[flags.index("--count") + 1]) if "--count" in flags else 1
        headers_only = "--headers-only" in flags
        got: list[str] = []
        done = asyncio.Event()

        async def cb(msg: Any) -> None:
            body = "" if headers_only else msg.data.decode()
            got.append(f"{msg.subject} {dict(msg.headers or {})} {body}".rstrip())
            if len(got) >= count:
                done.set()

        if "--last" in flags:
            sub = await self.nc.jetstream().subscribe(
                subject, cb=cb, ordered_consumer=True, deliver_policy=api.DeliverPolicy.LAST
            )
        else:
            sub = await self.nc.subscribe(subject, cb=cb)
        try:
            if optional_wait_s is not None:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(done.wait(), min(optional_wait_s, OPTIONAL_SUB_WAIT_S))
            elif "--last" in flags:
                await asyncio.wait_for(done.wait(), SUB_WAIT_S)
            else:
                async with _feeding(self.edge, self.steps):
                    await asyncio.wait_for(done.wait(), SUB_WAIT_S)
        finally:
            await sub.unsubscribe()
        return "\n".join(got[:count])


async def test_nats_examples_each_line_has_a_working_nats_py_equivalent(fed_edge: Edge) -> None:
    await fed_edge.host.checkpoint()  # the snapshots bucket holds chains and a checkpoint
    script = EXAMPLES / "nats-examples.sh"
    code, _, _ = await _run("bash", "-n", str(script))
    assert code == 0
    lines = list(_nats_lines(script, {"PRODUCT": "NIFTY", "NATS_URL": fed_edge.nats_url}))
    nc = await nats.connect(fed_edge.nats_url)
    try:
        replay = _Replayer(nc, fed_edge, _Steps())
        out = {line.text: await replay.run(line) for line in lines}
    finally:
        await nc.close()

    def answer(prefix: str) -> str:
        return next(v for k, v in out.items() if k.startswith(prefix))

    assert {"stream info", "stream view", "consumer info", "kv ls", "kv get", "micro ls"} <= (
        replay.kinds
    )
    assert {"micro info", "micro stats", "req", "sub", "pub"} <= replay.kinds
    assert int(answer("nats stream info FEED").rsplit("=", 1)[1]) > 0
    assert json.loads(answer("nats stream get ANALYTICS"))["product"] == "NIFTY"
    assert "> ingress " in answer("nats consumer info FEED ingress")
    keys = answer("nats kv ls").splitlines()
    assert "checkpoint" in keys and any(k.startswith("chain.NIFTY.") for k in keys)
    assert answer("nats kv get deltastream_snapshots checkpoint")
    assert json.loads(answer("nats micro ls"))["name"] == "deltastream-snapshots"
    info = json.loads(answer("nats micro info"))
    assert "deltastream.svc.summary" in {e["subject"] for e in info["endpoints"]}
    stats = json.loads(answer("nats micro stats"))
    assert stats["name"] == "deltastream-snapshots" and len(stats["endpoints"]) == len(
        info["endpoints"]
    )
    assert all(e["num_errors"] == 0 for e in stats["endpoints"])
    products = json.loads(answer("nats req deltastream.svc.products"))
    assert "NIFTY" in {p["product"] for p in products}
    assert json.loads(answer("nats req deltastream.svc.summary"))["product"] == "NIFTY"
    assert json.loads(answer("nats req deltastream.svc.max_pain"))["strike"] is not None
    assert json.loads(answer("nats req deltastream.svc.health"))["healthy"] is True
    hosts = json.loads(answer("nats req deltastream.svc.hosts"))
    assert [h["healthy"] for h in hosts["hosts"]] == [True] and hosts["unanswered"] == []
    ticks = answer('nats sub "deltastream.analytics.underlying.').splitlines()
    assert len(ticks) == 3 and all('"product":"NIFTY"' in t for t in ticks)
    assert len(answer('nats sub "deltastream.analytics.summary.').splitlines()) == 3
    assert '"expiries"' in answer('nats sub "deltastream.analytics.surface.')
    assert "subjects=['deltastream.logs.*']" in answer("nats stream info LOGS")
    assert "hello_from_nats" in answer("nats sub 'deltastream.logs.*' --last")
    dead = answer("nats sub 'deltastream.dlq.>' --last")
    assert "'Deltastream-Reason': 'schema_invalid'" in dead
    assert "schema_invalid" in answer("nats stream view DLQ") and "b'not json'" in answer(
        "nats stream view DLQ"
    )


@pytest.mark.skipif(shutil.which("nats") is not None, reason="the nats CLI is installed here")
async def test_nats_examples_say_when_the_cli_is_missing() -> None:
    code, _, err = await _run(
        "bash", str(EXAMPLES / "nats-examples.sh"), env={"PATH": "/usr/bin:/bin"}
    )
    assert code == 1 and "nats CLI is not installed" in err


_NAMED_SETTING = re.compile(r"\bDELTASTREAM_[A-Z0-9_]*[A-Z0-9]\b")
_DOCUMENTS = ("README.md", "subjects.md", "DESIGN.md", "docker-compose.yml")


def test_every_deltastream_variable_the_examples_and_documents_name_is_a_setting() -> None:
    # Every ``deltastream`` command refuses a DELTASTREAM_* variable it does not know, so a
    # client variable under that prefix, exported as an example shows, would stop them all.
    from actors.settings import ENV_PREFIX, Settings

    root = EXAMPLES.parent
    files = [root / name for name in _DOCUMENTS]
    files += [p for p in sorted(EXAMPLES.rglob("*")) if p.is_file()]
    files += sorted((root / "k8s").glob("*.yaml")) + sorted((root / "config").glob("*"))
    named = {
        (m.group(0), path.relative_to(root).as_posix())
        for path in files
        if path.is_file()
        for m in _NAMED_SETTING.finditer(path.read_text(errors="replace"))
    }
    assert named, "the scan found no DELTASTREAM_* name at all"
    unknown = sorted(
        (name, where)
        for name, where in named
        if name.removeprefix(ENV_PREFIX).lower() not in Settings.__struct_fields__
    )
    assert unknown == []
