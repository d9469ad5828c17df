"""Partition leases in a real KV bucket: hosts converge on fair shares, a taken lease is
lost by compare-and-set, a late renewal pauses instead of stopping, leaving gives leases back."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import nats
import nats.js.errors
import pytest

from actors import subjects
from actors.errors import ConfigError
from actors.lease_records import fair_share
from actors.leases import LeaseKeeper
from actors.natsserver import NatsServer
from actors.settings import Settings
from actors.streams import open_lease_bucket

WAIT_S = 30.0
TTL_S, RENEW_S = 2.0, 0.5


class Owner:
    """Records what the keeper asks of the host, in order."""

    def __init__(self) -> None:
        self.running: set[int] = set()
        self.calls: list[tuple[str, int, bool]] = []

    async def start_partition(self, partition: int) -> None:
        self.calls.append(("start", partition, True))
        self.running.add(partition)

    async def stop_partition(self, partition: int, *, graceful: bool) -> None:
        self.calls.append(("stop", partition, graceful))
        self.running.discard(partition)


Connect = Callable[[], Awaitable[Any]]


@pytest.fixture
async def connect(nats_server: NatsServer) -> AsyncIterator[Connect]:
    """Open NATS connections (one per simulated host), closed at the end."""
    opened: list[Any] = []

    async def open_one() -> Any:
        nc = await nats.connect(nats_server.url)
        opened.append(nc)
        return nc

    yield open_one
    for nc in opened:
        await nc.close()


async def _keeper(nc: Any, host_id: str, partitions: int, url: str) -> tuple[LeaseKeeper, Owner]:
    js = nc.jetstream()
    kv = await open_lease_bucket(js, Settings(nats_url=url, lease_ttl_s=TTL_S))
    owner = Owner()
    keeper = LeaseKeeper(
        js, kv, owner, partitions=partitions, host_id=host_id, ttl_s=TTL_S, renew_s=RENEW_S
    )
    return keeper, owner


@pytest.mark.parametrize(
    ("partitions", "hosts", "shares"),
    [
        (6, ["a", "b", "c"], [2, 2, 2]),
        (4, ["c", "a", "b"], [2, 1, 1]),
        (2, ["a", "b", "c"], [1, 1, 0]),
    ],
)
def test_fair_shares_add_up_and_differ_by_at_most_one(
    partitions: int, hosts: list[str], shares: list[int]
) -> None:
    got = [fair_share(partitions, hosts, h) for h in sorted(hosts)]
    assert got == shares and sum(got) == partitions


async def test_three_hosts_converge_on_one_partition_each_and_a_leaver_gives_its_back(
    nats_server: NatsServer, connect: Connect
) -> None:
    keepers: list[tuple[LeaseKeeper, Owner]] = []
    tasks = []
    try:
        for host_id in ("h1", "h2", "h3"):
            keeper, owner = await _keeper(await connect(), host_id, 3, nats_server.url)
            await keeper.round()
            await keeper.settled()
            tasks.append(asyncio.create_task(keeper.run()))
            keepers.append((keeper, owner))
        first, _ = keepers[0]
        assert first.partitions == 3
        for keeper, _ in keepers:
            await asyncio.wait_for(keeper.wait_owned(lambda o: len(o) == 1), WAIT_S)
        owned = sorted(k for keeper, _ in keepers for k in keeper.owned())
        assert owned == [0, 1, 2]
        for keeper, owner in keepers:
            assert owner.running == set(keeper.owned())

        leaver, leaver_owner = keepers.pop()
        gone = leaver.owned()
        await leaver.stop()
        assert leaver_owner.calls[-1] == ("stop", gone[0], True)  # a graceful hand-over
        takers = [asyncio.create_task(k.wait_owned(lambda o: gone[0] in o)) for k, _ in keepers]
        done, pending = await asyncio.wait(takers, timeout=WAIT_S, return_when="FIRST_COMPLETED")
        for t in pending:
            t.cancel()
        assert done, f"nobody took partition {gone[0]} over"
        assert sorted(k for keeper, _ in keepers for k in keeper.owned()) == [0, 1, 2]
    finally:
        for keeper, _ in keepers:
            await keeper.stop()
        for task in tasks:
            task.cancel()


async def test_a_lease_taken_by_another_host_is_lost_and_its_partition_stopped_at_once(
    nats_server: NatsServer, connect: Connect
) -> None:
    nc = await connect()
    keeper, owner = await _keeper(nc, "victim", 1, nats_server.url)
    await keeper.round()
    await keeper.settled()
    assert keeper.owned() == [0] and owner.running == {0}
    # Someone else's write to the lease (as after an expiry and a takeover):
    kv = await nc.jetstream().key_value(subjects.KV_LEASES)
    await kv.put(subjects.lease_key(0), b'{"host":"thief","acquired_ns":1,"renewed_ns":1}')
    await keeper.renew_round()
    await keeper.settled()
    assert keeper.owned() == [] and not keeper.held(0)
    assert owner.calls[-1] == ("stop", 0, False) and keeper.lost == 1
    await keeper.stop()


async def test_a_late_renewal_pauses_the_partition_without_stopping_it(
    nats_server: NatsServer, connect: Connect
) -> None:
    nc = await connect()
    keeper, owner = await _keeper(nc, "slow", 1, nats_server.url)
    await keeper.round()
    await keeper.settled()
    assert keeper.held(0)
    keeper._held[0].valid_until = 0.0  # as if the renewals had stalled past the deadline
    assert not keeper.held(0)
    await keeper.renew_round()  # the renewal still succeeds: nobody took the lease
    assert keeper.held(0) and owner.running == {0} and keeper.overdue == 1
    assert [c[0] for c in owner.calls] == ["start"]
    await keeper.stop()
    with pytest.raises(nats.js.errors.KeyNotFoundError):
        await (await nc.jetstream().key_value(subjects.KV_LEASES)).get(subjects.lease_key(0))


async def test_a_second_host_with_a_live_hosts_id_is_refused(
    nats_server: NatsServer, connect: Connect
) -> None:
    first, _ = await _keeper(await connect(), "twin", 2, nats_server.url)
    await first.round()
    running = asyncio.create_task(first.run())
    second, owner = await _keeper(await connect(), "twin", 2, nats_server.url)
    try:
        with pytest.raises(ConfigError, match="twin"):
            await asyncio.wait_for(second.claim_identity(), WAIT_S)
        assert owner.calls == []
    finally:
        await first.stop()
        running.cancel()
    # once the first has left, the id is free again
    await asyncio.wait_for(second.claim_identity(), WAIT_S)
