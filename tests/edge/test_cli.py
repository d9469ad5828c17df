"""The ``deltastream`` command's answers that need no servers."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from edge.cli import main

ROOT = Path(__file__).resolve().parents[2]


def test_archive_without_a_mongodb_url_is_a_message_not_a_crash(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for key in [k for k in os.environ if k.startswith("DELTASTREAM_")]:
        monkeypatch.delenv(key)
    assert main(["archive", "--nats", "nats://127.0.0.1:1"]) == 2
    assert "archive needs DELTASTREAM_MONGO_URL" in capsys.readouterr().err


def test_a_bad_archive_setting_names_the_key(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("DELTASTREAM_MONGO_URL", "mongodb://127.0.0.1:1")
    monkeypatch.setenv("DELTASTREAM_ARCHIVE_CHAIN_INTERVAL_S", "0")
    assert main(["archive"]) == 2
    assert "DELTASTREAM_ARCHIVE_CHAIN_INTERVAL_S" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("argv", "says"),
    [
        (["feed", "synthetic", "--rate", "0"], "'0' is not a finite number above 0"),
        (["feed", "synthetic", "--rate", "-1"], "'-1' is not a finite number above 0"),
        (["feed", "synthetic", "--rate", "nan"], "'nan' is not a finite number above 0"),
        (["feed", "synthetic", "--rate", "inf"], "'inf' is not a finite number above 0"),
        (["feed", "synthetic", "--rows", "0"], "'0' is not a whole number 1..100000"),
        (["feed", "synthetic", "--steps", "-3"], "'-3' is not a whole number"),
        (["feed", "replay", "f.jsonl", "--speed", "nan"], "'nan' is not a finite number 0 or"),
        (["feed", "replay", "f.jsonl", "--speed", "-1"], "'-1' is not a finite number 0 or"),
        (["up", "--port", "99999"], "'99999' is not a whole number 0..65535"),
        (["up", "--nats-port", "0"], "'0' is not a whole number 1..65535"),
        (["up", "--nats-port", "-2"], "'-2' is not a whole number 1..65535"),
        (["up", "--rate", "0"], "'0' is not a finite number above 0"),
        (["edge", "--port", "-1"], "'-1' is not a whole number 0..65535"),
        (["archive", "--metrics-port", "70000"], "'70000' is not a whole number 0..65535"),
    ],
)
def test_a_bad_number_is_one_line_and_exit_code_2_before_anything_starts(
    argv: list[str], says: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        main(argv)
    err = capsys.readouterr().err
    assert exited.value.code == 2
    assert says in err and err.count("\n") == 1 and "Traceback" not in err, err


@pytest.mark.parametrize(
    "argv",
    [
        ["feed", "synthetic", "--nats", "nats://127.0.0.1:1"],
        ["feed", "synthetic", "--nats", "notaurl"],
        ["record", "{tmp}/out.jsonl", "--nats", "nats://127.0.0.1:1"],
        ["feed", "replay", "{tmp}/in.jsonl", "--nats", "nats://127.0.0.1:1"],
    ],
)
def test_an_unreachable_nats_is_one_line_and_exit_code_1(argv: list[str], tmp_path: Path) -> None:
    # Before, these retried the first connection forever (a traceback every 2 s) and did
    # not stop on Ctrl-C. A process of its own: the command sets up logging for its process.
    (tmp_path / "in.jsonl").write_text("")
    argv = [a.replace("{tmp}", str(tmp_path)) for a in argv]
    env = {k: v for k, v in os.environ.items() if not k.startswith("DELTASTREAM_")}
    done = subprocess.run(
        [sys.executable, "-m", "edge.cli", *argv],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=120,
    )
    url = argv[argv.index("--nats") + 1]
    assert done.returncode == 1, done.stderr
    assert f"deltastream: cannot reach NATS at {url}" in done.stderr, done.stderr
    assert "Traceback" not in done.stderr
