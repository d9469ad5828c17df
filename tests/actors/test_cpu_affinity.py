"""DELTASTREAM_HOST_CPUS: the CPU list it takes, what it refuses, and a pinned
``deltastream actors`` whose every thread (its actor threads included) stays on that CPU."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from actors.cpu_affinity import format_cpu_list, parse_cpu_list, pin_threads
from actors.errors import ConfigError
from actors.natsserver import NatsServer
from actors.settings import Settings
from tests.conftest import WAIT_S, feed_last_seq, wait_summary
from tests.feeding import market, publish, session

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    ("text", "cpus"),
    [("", set()), ("1", {1}), ("0,2", {0, 2}), ("4-7", {4, 5, 6, 7}), (" 0-1, 6 ", {0, 1, 6})],
)
def test_a_cpu_list_names_its_cpus(text: str, cpus: set[int]) -> None:
    assert parse_cpu_list(text) == cpus


@given(st.frozensets(st.integers(0, 300), max_size=40))
def test_formatting_then_parsing_gives_the_same_cpus(cpus: frozenset[int]) -> None:
    assert parse_cpu_list(format_cpu_list(cpus)) == cpus


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("one", "'one' is not a CPU number or range"),
        ("1,,2", "'' is not a CPU number or range"),
        ("-1", "'-1' is not a CPU number or range"),
        ("3-1", "the range '3-1' runs backwards"),
        ("1-2-3", "'1-2-3' is not a CPU number or range"),
        ("99999999", "'99999999' is not a CPU number or range"),
    ],
)
def test_a_bad_cpu_list_is_a_config_error_naming_the_setting(text: str, says: str) -> None:
    with pytest.raises(ConfigError) as raised:
        Settings.from_env({"DELTASTREAM_HOST_CPUS": text})
    assert "DELTASTREAM_HOST_CPUS" in str(raised.value) and says in str(raised.value)


def test_a_cpu_this_process_may_not_use_is_refused() -> None:
    allowed = os.sched_getaffinity(0)
    outside = max(allowed) + 1
    with pytest.raises(ConfigError, match=f"CPU {outside} is not available to this process"):
        pin_threads(frozenset({outside}))
    assert os.sched_getaffinity(0) == allowed  # nothing was changed


def _env(**settings: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DELTASTREAM_")}
    return env | {f"DELTASTREAM_{k.upper()}": v for k, v in settings.items()}


def test_the_host_refuses_to_start_on_a_cpu_it_may_not_use() -> None:
    outside = str(max(os.sched_getaffinity(0)) + 1)
    done = subprocess.run(
        [sys.executable, "-m", "edge.cli", "actors", "--nats", "nats://127.0.0.1:1"],
        capture_output=True,
        text=True,
        env=_env(host_cpus=outside),
        cwd=ROOT,
        timeout=120,
    )
    assert done.returncode == 2, done.stderr
    assert f"DELTASTREAM_HOST_CPUS: CPU {outside} is not available" in done.stderr
    assert "Traceback" not in done.stderr


def _threads_cpus(pid: int) -> dict[int, str]:
    out = {}
    for tid in os.listdir(f"/proc/{pid}/task"):
        status = Path(f"/proc/{pid}/task/{tid}/status").read_text()
        line = next(x for x in status.splitlines() if x.startswith("Cpus_allowed_list:"))
        out[int(tid)] = line.split(":", 1)[1].strip()
    return out


async def test_a_pinned_host_runs_every_thread_on_its_cpu(
    nats_server: NatsServer, analytics_nc: Any
) -> None:
    cpu = max(os.sched_getaffinity(0))  # on a one-CPU machine this still proves the path
    host = subprocess.Popen(
        [sys.executable, "-m", "edge.cli", "actors"],
        env=_env(nats_url=nats_server.url, host_cpus=str(cpu), log_nats="false"),
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        m = market(weekly=1, monthly=0)
        await publish(nats_server.url, session(m, 2))
        last = await feed_last_seq(nats_server.url)
        expiry = m.chains["NIFTY"][0].expiry.isoformat()
        # applied and published: the chain's actor thread exists
        await asyncio.wait_for(wait_summary(analytics_nc, "NIFTY", expiry, last), WAIT_S)
        threads = _threads_cpus(host.pid)
        assert len(threads) >= 3  # the loop, the product's and the chain's actors at least
        assert set(threads.values()) == {str(cpu)}, threads
    finally:
        host.terminate()
        host.wait(timeout=60)
