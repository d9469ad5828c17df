"""FEED partitions: the server's subject mapping and the hosts' ``partition_of`` agree; the
stream takes only the contract's subject shapes; the layout is checked at start-up."""

from __future__ import annotations

import string
from pathlib import Path

import nats
import nats.errors
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from actors import subjects
from actors.errors import ConfigError
from actors.feeds.recording import read_recording, record
from actors.natsserver import NatsServer
from actors.settings import Settings, nats_servers
from actors.streams import ensure_streams, feed_layout_of
from edge.cli import main
from tests.conftest import test_settings

PRODUCT_CHARS = string.ascii_uppercase + string.digits + "_-"


def _products(n: int) -> list[str]:
    # deterministic and varied: lengths 1..12, every allowed character
    out = []
    for i in range(n):
        token = "".join(PRODUCT_CHARS[(i * 7 + j * 13) % len(PRODUCT_CHARS)] for j in range(i % 12))
        out.append(f"P{token}{i}")
    return out


@pytest.mark.parametrize("partitions", [2, 7])
async def test_the_server_puts_each_product_in_the_partition_hosts_compute(
    nats_server: NatsServer, partitions: int
) -> None:
    products = ["NIFTY", "BANKNIFTY", "FINNIFTY", "MIDCPNIFTY", *_products(120)]
    nc = await nats.connect(nats_server.url)
    try:
        js = nc.jetstream()
        await ensure_streams(js, test_settings(nats_server.url, partitions=partitions))
        layout = subjects.FeedLayout(partitions)
        for product in products:
            for subject in (
                subjects.feed_chain(product, "2026-12-29"),
                subjects.feed_quotes(product, "2026-12-29"),
                subjects.feed_underlying(product),
            ):
                ack = await js.publish(subject, b"{}")
                stored = (await js.get_msg(subjects.FEED_STREAM, ack.seq)).subject
                assert layout.canonical(stored) == subject
                assert layout.stored_partition(stored) == subjects.partition_of(
                    product, partitions
                ), (subject, stored)
    finally:
        await nc.close()


@pytest.mark.parametrize("partitions", [2, 7])
async def test_keyed_by_chain_the_server_puts_each_chain_in_the_partition_hosts_compute(
    nats_server: NatsServer, partitions: int
) -> None:
    products = ["NIFTY", "BANKNIFTY", *_products(30)]
    expiries = ["2026-12-01", "2026-12-08", "2026-12-29", "2027-03-30"]
    nc = await nats.connect(nats_server.url)
    try:
        js = nc.jetstream()
        settings = test_settings(nats_server.url, partitions=partitions, partition_key="chain")
        await ensure_streams(js, settings)
        info = await js.stream_info(subjects.FEED_STREAM)
        assert feed_layout_of(info.config) == subjects.FeedLayout(partitions, "chain")
        layout = settings.feed_layout()
        seen: set[int] = set()
        for product in products:
            for expiry in expiries:
                for subject in (
                    subjects.feed_chain(product, expiry),
                    subjects.feed_quotes(product, expiry),
                ):
                    ack = await js.publish(subject, b"{}")
                    stored = (await js.get_msg(subjects.FEED_STREAM, ack.seq)).subject
                    assert layout.canonical(stored) == subject
                    k = layout.stored_partition(stored)
                    assert k == layout.chain_partition(product, expiry), (subject, stored)
                    assert stored in layout.chain_filters(product, expiry)
                    seen.add(k)
            # ticks are every partition's: none is singled out
            ack = await js.publish(subjects.feed_underlying(product), b"{}")
            stored = (await js.get_msg(subjects.FEED_STREAM, ack.seq)).subject
            assert layout.stored_partition(stored) is None
        assert seen == set(range(partitions))
    finally:
        await nc.close()


async def test_a_partitioned_feed_refuses_subjects_outside_the_contract(
    nats_server: NatsServer,
) -> None:
    nc = await nats.connect(nats_server.url)
    try:
        js = nc.jetstream()
        await ensure_streams(js, test_settings(nats_server.url, partitions=4))
        for subject in (
            "deltastream.feed.bad",
            "deltastream.feed.quotes.NIFTY",
            "deltastream.feed.chain.NIFTY.2026-12-29.3",  # would pose as a stored subject
            "deltastream.feed.underlying.NIFTY.extra",
        ):
            with pytest.raises(nats.errors.Error):
                await js.publish(subject, b"{}", timeout=2)
        info = await js.stream_info(subjects.FEED_STREAM)
        assert info.state.messages == 0
    finally:
        await nc.close()


async def test_changing_the_partition_count_of_a_feed_with_messages_is_refused(
    nats_server: NatsServer,
) -> None:
    nc = await nats.connect(nats_server.url)
    try:
        js = nc.jetstream()
        await ensure_streams(js, test_settings(nats_server.url, partitions=1))
        # an empty FEED may change layout; it is re-read from the stream's own config
        await ensure_streams(js, test_settings(nats_server.url, partitions=3))
        info = await js.stream_info(subjects.FEED_STREAM)
        assert feed_layout_of(info.config).partitions == 3
        await js.publish(subjects.feed_underlying("NIFTY"), b"{}")
        with pytest.raises(ConfigError, match=r"PARTITIONS=5.*3 partition"):
            await ensure_streams(js, test_settings(nats_server.url, partitions=5))
        await ensure_streams(js, test_settings(nats_server.url, partitions=3))  # same: fine
        with pytest.raises(ConfigError, match=r"PARTITION_KEY=chain.*keyed by product"):
            await ensure_streams(
                js, test_settings(nats_server.url, partitions=3, partition_key="chain")
            )
    finally:
        await nc.close()


def test_one_partition_keeps_the_historical_names() -> None:
    layout = subjects.FeedLayout(1)
    assert layout.stream_subjects() == ["deltastream.feed.>"]
    assert layout.transform() is None
    assert layout.consumer_filters(0) == ["deltastream.feed.>"]
    assert subjects.ingress_consumer(0, 1) == "ingress"
    assert subjects.checkpoint_key(0, 1) == "checkpoint"
    stored = "deltastream.feed.quotes.NIFTY.2026-12-29.3"  # a malformed publish, kept as is
    assert layout.canonical(stored) == stored
    assert layout.stored_partition(stored) is None


def test_several_partitions_have_one_consumer_and_checkpoint_each() -> None:
    assert subjects.ingress_consumer(3, 8) == "ingress-3"
    assert subjects.checkpoint_key(3, 8) == "checkpoint.3"
    assert subjects.lease_key(3) == "lease.3"
    assert subjects.partition_service_subject(3, "summary") == "deltastream.svc.partition.3.summary"
    layout = subjects.FeedLayout(8)
    assert layout.consumer_filters(3) == [
        "deltastream.feed.underlying.*",
        "deltastream.feed.*.*.*.3",
    ]
    k = subjects.partition_of("NIFTY", 8)
    assert layout.chain_filters("NIFTY", "2026-12-29") == [
        f"deltastream.feed.chain.NIFTY.2026-12-29.{k}",
        f"deltastream.feed.quotes.NIFTY.2026-12-29.{k}",
    ]


@given(st.text(alphabet=PRODUCT_CHARS, min_size=1, max_size=32), st.integers(1, 256))
@settings(max_examples=200)
def test_every_product_has_exactly_one_partition_in_range(product: str, n: int) -> None:
    k = subjects.partition_of(product, n)
    assert 0 <= k < n
    assert subjects.partition_of(product, n) == k
    for key in ("product", "chain"):
        c = subjects.FeedLayout(n, key).chain_partition(product, "2026-12-29")
        assert 0 <= c < n
    assert subjects.FeedLayout(n, "product").chain_partition(product, "2026-12-29") == k


@pytest.mark.parametrize(
    ("env", "names"),
    [
        ({"DELTASTREAM_PARTITIONS": "0"}, "PARTITIONS"),
        ({"DELTASTREAM_PARTITIONS": "257"}, "PARTITIONS"),
        ({"DELTASTREAM_HOST_ID": "a.b"}, "HOST_ID"),
        ({"DELTASTREAM_HOST_ID": ""}, "HOST_ID"),
        ({"DELTASTREAM_LEASE_TTL_S": "1.5"}, "LEASE_RENEW_S"),
        ({"DELTASTREAM_LEASE_RENEW_S": "0"}, "LEASE_RENEW_S"),
        ({"DELTASTREAM_NATS_URL": " , "}, "NATS_URL"),
        ({"DELTASTREAM_PARTITION_KEY": "expiry"}, "PARTITION_KEY"),
    ],
)
def test_bad_scale_out_settings_are_config_errors_naming_the_key(
    env: dict[str, str], names: str
) -> None:
    with pytest.raises(ConfigError, match=names):
        Settings.from_env(env)


def test_a_nats_url_may_list_the_servers_of_a_cluster() -> None:
    s = Settings.from_env({"DELTASTREAM_NATS_URL": "nats://a:1, nats://b:2,nats://c:3"})
    assert nats_servers(s.nats_url) == ["nats://a:1", "nats://b:2", "nats://c:3"]


@pytest.mark.parametrize(
    ("argv", "names"),
    [
        (["actors", "--partitions", "0"], "PARTITIONS"),
        (["actors", "--partitions", "300"], "PARTITIONS"),
        (["actors", "--host-id", "not one token"], "HOST_ID"),
        (["actors", "--partition-key", "expiry"], "PARTITION_KEY"),
    ],
)
def test_bad_actors_options_are_refused_with_a_message(
    argv: list[str], names: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(argv) == 2
    assert names in capsys.readouterr().err


async def test_a_recording_of_a_partitioned_feed_keeps_the_published_subjects(
    nats_server: NatsServer, tmp_path: Path
) -> None:
    nc = await nats.connect(nats_server.url)
    try:
        await ensure_streams(nc.jetstream(), test_settings(nats_server.url, partitions=4))
        published = [subjects.feed_quotes("NIFTY", "2026-12-29"), subjects.feed_underlying("NIFTY")]
        for subject in published:
            await nc.jetstream().publish(subject, b"{}")
    finally:
        await nc.close()
    path = tmp_path / "feed.jsonl"
    assert (await record(nats_server.url, path)).written == 2
    assert [r.subject for r in read_recording(path)] == published
