"""Record FEED to JSONL and replay it into a fresh server: the same messages, byte for byte."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import msgspec
import nats
import pytest

from actors import subjects
from actors.feeds.recording import (
    RecordedMessage,
    SequenceGaps,
    read_recording,
    record,
    replay,
)
from actors.natsserver import NatsServer
from actors.stream_reads import read_range
from actors.streams import FEED_SUBJECTS, ensure_streams
from tests.conftest import WAIT_S, test_settings
from tests.feeding import market, publish, session

NOT_UTF8 = b'\xff\xfe{"ts": 1}\x80'
ODD_PAYLOADS = [
    (subjects.feed_underlying("NIFTY"), NOT_UTF8),
    (subjects.feed_quotes("NIFTY", "2026-12-29"), b""),
    (subjects.feed_underlying("NIFTY"), '{"note": "₹ naïve"}'.encode()),
]


async def _streams(url: str) -> None:
    nc = await nats.connect(url)
    try:
        await ensure_streams(nc.jetstream(), test_settings(url))
    finally:
        await nc.close()


async def _publish_raw(url: str, messages: list[tuple[str, bytes]]) -> None:
    nc = await nats.connect(url)
    try:
        js = nc.jetstream()
        for subject, data in messages:
            await js.publish(subject, data)
    finally:
        await nc.close()


async def _feed_contents(url: str) -> list[tuple[str, bytes]]:
    nc = await nats.connect(url)
    try:
        js = nc.jetstream()
        info = await js.stream_info(subjects.FEED_STREAM)
        return [
            (m.subject, m.data)
            async for m in read_range(
                js,
                stream=subjects.FEED_STREAM,
                filter_subjects=FEED_SUBJECTS,
                first_seq=1,
                last_seq=info.state.last_seq,
            )
        ]
    finally:
        await nc.close()


@pytest.fixture
async def recorded_feed(nats_server: NatsServer, tmp_path: Path) -> AsyncIterator[Path]:
    """A small synthetic session plus odd payloads, published to FEED and recorded."""
    await _streams(nats_server.url)
    await publish(nats_server.url, session(market(strikes_each_side=4, rows_per_batch=3), 3))
    await _publish_raw(nats_server.url, ODD_PAYLOADS)
    path = tmp_path / "feed.jsonl"
    await record(nats_server.url, path)
    yield path


@pytest.fixture
async def second_server(tmp_path: Path) -> AsyncIterator[NatsServer]:
    server = NatsServer(tmp_path / "js-replay")
    server.start()
    try:
        await _streams(server.url)
        yield server
    finally:
        server.stop()


async def test_a_recording_replays_into_a_fresh_server_byte_for_byte(
    nats_server: NatsServer, recorded_feed: Path, second_server: NatsServer
) -> None:
    await replay(second_server.url, recorded_feed, speed=0)
    original = await _feed_contents(nats_server.url)
    assert await _feed_contents(second_server.url) == original


async def test_record_writes_one_line_per_feed_message_in_sequence_order(
    nats_server: NatsServer, recorded_feed: Path
) -> None:
    original = await _feed_contents(nats_server.url)
    lines = list(read_recording(recorded_feed))
    assert [(r.seq, r.subject, r.data()) for r in lines] == [
        (seq, subject, data) for seq, (subject, data) in enumerate(original, 1)
    ]


async def test_a_non_utf8_payload_is_recorded_as_base64_and_decodes_to_the_same_bytes(
    recorded_feed: Path,
) -> None:
    kept = [r for r in read_recording(recorded_feed) if r.payload_b64 is not None]
    assert [(r.payload, r.data()) for r in kept] == [(None, NOT_UTF8)]


async def test_replay_returns_the_number_of_messages_published(
    recorded_feed: Path, second_server: NatsServer
) -> None:
    lines = sum(1 for _ in read_recording(recorded_feed))
    assert await replay(second_server.url, recorded_feed, speed=0) == lines


def _line(seq: int, **fields: object) -> bytes:
    body = {"seq": seq, "ts_ns": 0, "subject": subjects.feed_underlying("NIFTY"), **fields}
    return msgspec.json.encode(body) + b"\n"


GOOD_LINE = _line(1, payload='{"ts": 1, "product": "NIFTY", "price": 5}')


@pytest.mark.parametrize(
    "corrupt",
    [
        b"{not json\n",
        b'{"seq": 2, "ts_ns": 0}\n',  # subject missing
        b'{"seq": "two", "ts_ns": 0, "subject": "x"}\n',
        b"[1, 2, 3]\n",
        GOOD_LINE[:20] + b"\n",  # truncated
    ],
)
async def test_a_corrupt_line_makes_replay_raise_value_error_naming_the_line(
    nats_server: NatsServer, tmp_path: Path, corrupt: bytes
) -> None:
    await _streams(nats_server.url)
    path = tmp_path / "bad.jsonl"
    path.write_bytes(GOOD_LINE + b"\n" + corrupt + GOOD_LINE)  # blank line 2, corrupt line 3
    with pytest.raises(ValueError, match=r"bad\.jsonl:3:"):
        await replay(nats_server.url, path, speed=0)


@pytest.mark.parametrize(
    "corrupt",
    [_line(2, payload_b64="QUJD!!!!"), _line(2, payload_b64="@@not base64!!"), _line(2)],
    ids=["junk-in-base64", "undecodable-base64", "no-payload"],
)
def test_a_line_without_a_decodable_payload_raises_value_error_naming_the_line(
    tmp_path: Path, corrupt: bytes
) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_bytes(GOOD_LINE + corrupt)
    with pytest.raises(ValueError, match=r"bad\.jsonl:2"):
        [r.data() for r in read_recording(path)]


async def test_replay_does_not_count_messages_that_feed_refused(
    nats_server: NatsServer, tmp_path: Path
) -> None:
    path = tmp_path / "feed.jsonl"
    path.write_bytes(GOOD_LINE + _line(2, payload="{}"))
    assert await replay(nats_server.url, path, speed=0) == 0  # no FEED stream on this server


@pytest.mark.parametrize("speed", [-1.0, -1e-9])
async def test_a_negative_speed_is_a_value_error(tmp_path: Path, speed: float) -> None:
    path = tmp_path / "feed.jsonl"
    path.write_bytes(GOOD_LINE)
    with pytest.raises(ValueError, match="speed"):
        await replay("nats://127.0.0.1:1", path, speed=speed)


def test_a_recorded_line_round_trips_through_the_jsonl_schema() -> None:
    rec = RecordedMessage(seq=7, ts_ns=123, subject="deltastream.feed.underlying.X", payload="")
    line = msgspec.json.encode(rec)
    assert (msgspec.json.decode(line, type=RecordedMessage), rec.data()) == (rec, b"")


def test_sequence_gaps_names_each_hole_once() -> None:
    holes = SequenceGaps(next=5)
    assert [holes.see(seq) for seq in (5, 6, 9, 10, 10, 14)] == [
        None, None, (7, 8), None, None, (11, 13)
    ]  # fmt: skip
    assert holes.gaps == [(7, 8), (11, 13)]
    assert SequenceGaps(next=5).see(8) == (5, 7)  # the first message read may be late too


async def _feed_of_ten(url: str) -> None:
    await _streams(url)
    await _publish_raw(
        url, [(subjects.feed_underlying("NIFTY"), b'{"n": %d}' % i) for i in range(1, 11)]
    )


async def _delete(url: str, *seqs: int) -> None:
    nc = await nats.connect(url)
    try:
        for seq in seqs:
            await nc.jetstream().delete_msg(subjects.FEED_STREAM, seq)
    finally:
        await nc.close()


async def test_record_reports_feed_messages_that_were_gone_before_it_read_them(
    nats_server: NatsServer, tmp_path: Path
) -> None:
    await _feed_of_ten(nats_server.url)
    # Seq 1 gone before the recording starts is not a hole (the recording begins at FEED's
    # first message); 4, 5 and 8 inside the range are, as a full FEED's drops would be.
    await _delete(nats_server.url, 1, 4, 5, 8)
    path = tmp_path / "feed.jsonl"
    result = await record(nats_server.url, path)
    assert [r.seq for r in read_recording(path)] == [2, 3, 6, 7, 9, 10]
    assert (result.written, result.gaps, result.missed) == (6, ((4, 5), (8, 8)), 3)


async def test_a_complete_recording_reports_no_gaps(
    nats_server: NatsServer, tmp_path: Path
) -> None:
    await _feed_of_ten(nats_server.url)
    result = await record(nats_server.url, tmp_path / "feed.jsonl")
    assert (result.written, result.gaps) == (10, ())


def test_the_record_command_names_the_missing_sequences_and_exits_1(
    nats_server: NatsServer, tmp_path: Path, in_process: Callable[..., tuple[int, str, str]]
) -> None:
    async def prepare() -> None:
        await _feed_of_ten(nats_server.url)
        await _delete(nats_server.url, 4, 5, 8)

    asyncio.run(prepare())
    path = tmp_path / "feed.jsonl"
    code, _, err = in_process("record", str(path), "--nats", nats_server.url)
    assert code == 1
    assert f"recorded 7 FEED messages to {path}" in err
    assert "lacks 3 FEED messages (sequences 4-5, 8)" in err
    code, _, err = in_process("record", str(tmp_path / "whole.jsonl"), "--nats", nats_server.url)
    assert code == 1  # the same holes are in FEED for any later recording


def test_the_record_command_exits_0_for_a_complete_recording(
    nats_server: NatsServer, tmp_path: Path, in_process: Callable[..., tuple[int, str, str]]
) -> None:
    asyncio.run(_feed_of_ten(nats_server.url))
    path = tmp_path / "feed.jsonl"
    code, _, err = in_process("record", str(path), "--nats", nats_server.url)
    assert (code, "lacks" in err) == (0, False)
    assert f"recorded 10 FEED messages to {path}" in err


def test_replaying_a_recording_with_holes_names_them_and_still_publishes_the_rest(
    nats_server: NatsServer, tmp_path: Path, in_process: Callable[..., tuple[int, str, str]]
) -> None:
    asyncio.run(_streams(nats_server.url))
    path = tmp_path / "holes.jsonl"
    path.write_bytes(b"".join(_line(seq, payload="{}") for seq in (7, 8, 11, 12, 20)))
    code, _, err = in_process("feed", "replay", str(path), "--nats", nats_server.url)
    assert code == 0
    gaps = [
        e
        for e in map(msgspec.json.decode, err.splitlines())
        if e["event"] == "replay_recording_gap"
    ]
    assert [(e["first_seq"], e["last_seq"], e["missed"]) for e in gaps] == [(9, 10, 2), (13, 19, 7)]
    assert (
        asyncio.run(_feed_contents(nats_server.url))
        == [(subjects.feed_underlying("NIFTY"), b"{}")] * 5
    )


_REPLAY_LOOP = """
import sys
import edge.cli
for _ in range(50):
    assert edge.cli.main(["feed", "replay", sys.argv[1], "--nats", sys.argv[2]]) == 0
"""


def test_fifty_replays_in_one_process_all_return(nats_server: NatsServer, tmp_path: Path) -> None:
    """``deltastream feed replay`` used to hang at exit now and then: its log shipper waited
    without bound for a task whose cancellation nats-py's connect had swallowed (3 to 28
    replays into a loop like this one, in four runs). In a child process, so a hang fails
    the test at the time-out instead of stalling the suite."""
    asyncio.run(_streams(nats_server.url))
    path = tmp_path / "five.jsonl"
    path.write_bytes(b"".join(_line(seq, payload="{}") for seq in range(1, 6)))
    done = subprocess.run(
        [sys.executable, "-c", _REPLAY_LOOP, str(path), nats_server.url],
        capture_output=True,
        timeout=WAIT_S,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
