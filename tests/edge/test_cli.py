"""The ``deltastream`` command's answers that need no servers."""

from __future__ import annotations

import os

import pytest

from edge.cli import main


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
