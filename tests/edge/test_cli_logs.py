"""``deltastream logs`` and the log shipping every CLI process does: a real feed process's
events reach LOGS under its service, the tail prints them as plain lines and follows new
ones; bad arguments are one line and exit code 2."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import Callable

import msgspec
import nats
import pytest

from actors import subjects
from actors.natsserver import NatsServer
from actors.settings import Settings
from actors.streams import ensure_logs_stream
from edge import cli
from edge.log_tail import format_event, tail_logs
from tests.conftest import WAIT_S

PROCESS_TIMEOUT_S = 120.0


async def _publish(url: str, service: str, *events: dict[str, object]) -> None:
    nc = await nats.connect(url)
    try:
        js = nc.jetstream()
        await ensure_logs_stream(js, Settings(nats_url=url))
        for event in events:
            await js.publish(subjects.logs(service), msgspec.json.encode(event))
    finally:
        await nc.close()


def test_a_feed_process_ships_its_log_and_the_tail_prints_it(
    nats_server: NatsServer, in_process: Callable[..., tuple[int, str, str]]
) -> None:
    feed = subprocess.run(
        [sys.executable, "-m", "edge.cli", "feed", "synthetic", "--steps", "1",
         "--nats", nats_server.url],
        capture_output=True, text=True, timeout=PROCESS_TIMEOUT_S,
        env={**os.environ, "DELTASTREAM_LOG_LEVEL": "info"},
    )  # fmt: skip
    assert feed.returncode == 0, feed.stderr
    lines = [line for line in feed.stderr.splitlines() if line.startswith("{")]
    written = [msgspec.json.decode(line) for line in lines]
    assert any(e["event"] == "synthetic_feed_stopped" for e in written)
    assert all(e["service"] == "feed" and e["pid"] and e["host"] for e in written)
    code, out, err = in_process("logs", "--service", "feed", "--nats", nats_server.url)
    assert code == 0, err
    (line,) = [x for x in out.splitlines() if "synthetic_feed_stopped" in x]
    assert line.split()[1] == "INFO" and line.split()[2].startswith("feed@")
    assert "messages=" in line


async def test_the_tail_filters_by_level_then_follows_new_events(
    nats_server: NatsServer,
) -> None:
    url = nats_server.url
    base = {"timestamp": "2026-11-26T09:15:00Z", "service": "edge", "host": "h1", "pid": 3}
    await _publish(
        url,
        "edge",
        {**base, "level": "info", "event": "edge_started"},
        {**base, "level": "error", "event": "request_failed", "exception": "Traceback\n  boom"},
        {**base, "level": "warning", "event": "nats_disconnected"},
    )
    await _publish(url, "actors", {**base, "service": "actors", "level": "error", "event": "x"})
    lines: list[str] = []
    history, got_live = asyncio.Event(), asyncio.Event()

    def write(text: str) -> None:
        lines.append(text)
        if len(lines) == 2:
            history.set()
        if "live_one" in text:
            got_live.set()

    stop = asyncio.Event()
    task = asyncio.create_task(
        tail_logs(url, service="edge", min_level="warning", limit=5, follow=True, stop=stop,
                  write=write)
    )  # fmt: skip
    async with asyncio.timeout(WAIT_S):
        # Published after the history was read: the follow starts at the next stream
        # sequence, so these arrive whether or not its subscription is set up yet.
        await history.wait()
        await _publish(url, "edge", {**base, "level": "debug", "event": "quiet"})
        await _publish(url, "edge", {**base, "level": "critical", "event": "live_one"})
        await got_live.wait()
    stop.set()
    printed = await asyncio.wait_for(task, WAIT_S)
    assert printed == 3
    assert lines[0].startswith("2026-11-26T09:15:00Z ERROR    edge@h1 request_failed")
    assert lines[0].endswith("\n    Traceback\n      boom")
    assert "nats_disconnected" in lines[1] and "CRITICAL" in lines[2]


def test_the_tail_says_in_one_line_when_nats_or_logs_is_missing(
    nats_server: NatsServer, in_process: Callable[..., tuple[int, str, str]]
) -> None:
    code, out, err = in_process("logs", "--nats", nats_server.url)
    assert (code, out) == (1, "")
    assert err == (f"deltastream logs: the LOGS stream does not exist yet (at {nats_server.url})\n")
    code, out, err = in_process("logs", "--nats", "nats://127.0.0.1:1")
    assert (code, out) == (1, "")
    assert err == "deltastream logs: cannot reach NATS at nats://127.0.0.1:1\n"


@pytest.mark.parametrize(
    ("argv", "says"),
    [
        (["logs", "--level", "loud"], "argument --level: invalid choice: 'loud'"),
        (["logs", "--service", "Edge.1"], "argument --service: 'Edge.1' is not a service name"),
        (["logs", "-n", "0"], "argument -n/--limit: '0' is not a whole number 1..1000"),
        (["logs", "-n", "many"], "argument -n/--limit: 'many' is not a whole number"),
        (["logs", "--bogus"], "unrecognized arguments: --bogus"),
        ([], "the following arguments are required: command"),
    ],
)
def test_bad_arguments_are_one_line_and_exit_code_2(
    argv: list[str], says: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        cli.main(argv)
    err = capsys.readouterr().err
    assert exited.value.code == 2
    assert err.count("\n") == 1 and err.startswith("deltastream") and says in err


def test_a_line_shows_the_facts_and_quotes_values_with_spaces() -> None:
    line = format_event(
        {"timestamp": "T", "level": "warning", "service": "actors", "host": "h", "pid": 1,
         "logger": "actors.ingress", "event": "feed_rejected", "reason": "crossed_quote",
         "detail": "bid above ask", "stream_seq": 7}
    )  # fmt: skip
    assert line == (
        'T WARNING  actors@h feed_rejected reason=crossed_quote detail="bid above ask" stream_seq=7'
    )


def test_control_characters_are_shown_escaped_never_sent_to_the_terminal() -> None:
    # Anything may publish to LOGS: an ANSI sequence or a bell printed raw would act on the
    # reader's terminal.
    line = format_event(
        {"timestamp": "T", "level": "info", "service": "evil", "event": "\x1b[31mRED\x1b[0m\x07",
         "note": "tab\there", "exception": "Traceback\n  line \x1b]0;title\x07"}
    )  # fmt: skip
    assert "\x1b" not in line and "\x07" not in line and "\t" not in line
    assert line.splitlines() == [
        'T INFO     evil \\x1b[31mRED\\x1b[0m\\x07 note="tab\\there"',
        "    Traceback",
        "      line \\x1b]0;title\\x07",
    ]
    assert format_event({"timestamp": "T", "level": "info", "service": "s", "event": "é ✓"}) == (
        "T INFO     s é ✓"
    )
