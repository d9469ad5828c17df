"""Chains tell a product actor in another partition through core NATS notes: what goes on
the wire, what is repeated, and what a malformed note does."""

from __future__ import annotations

import msgspec
import pytest

from actors import subjects
from actors.commands import ChainTotals, Flush, SmileUpdate
from actors.messages import SmileSlice
from actors.product_notes import RemoteProduct, decode_note, note_command


def _smile(expiry: str, atm_iv: float) -> SmileSlice:
    return SmileSlice(
        expiry=expiry,
        t_years=0.05,
        forward=24_010.0,
        strikes=[23_950.0, 24_000.0, 24_050.0],
        log_moneyness=[-0.0025, -0.0004, 0.0017],
        iv=[0.15, None, 0.14],
        atm_iv=atm_iv,
        rr25=None,
        bf25=None,
    )


def _totals(expiry: str, call_oi: int) -> ChainTotals:
    return ChainTotals(expiry=expiry, call_oi=call_oi, put_oi=7, call_volume=3, put_volume=4)


def test_a_tell_is_published_and_decodes_to_the_same_command() -> None:
    sent: list[tuple[str, bytes]] = []
    remote = RemoteProduct("NIFTY", lambda subject, payload: sent.append((subject, payload)))
    smile = SmileUpdate(smile=_smile("2026-12-29", 0.15))
    totals = _totals("2026-12-29", 10)
    remote.tell(smile)
    remote.tell(totals)
    assert [s for s, _ in sent] == [subjects.product_note("NIFTY")] * 2
    assert [note_command(decode_note(p)) for _, p in sent] == [smile, totals]
    assert all(decode_note(p).product == "NIFTY" for _, p in sent)


def test_repeat_sends_each_chains_latest_notes_only() -> None:
    sent: list[bytes] = []
    remote = RemoteProduct("NIFTY", lambda _, payload: sent.append(payload))
    remote.tell(_totals("2026-12-29", 10))
    remote.tell(_totals("2026-12-29", 11))
    remote.tell(_totals("2027-01-26", 12))
    remote.tell(SmileUpdate(smile=_smile("2026-12-29", 0.16)))
    sent.clear()
    assert remote.repeat() == 3
    repeated = sorted(
        (type(c).__name__, getattr(c, "expiry", None) or c.smile.expiry, getattr(c, "call_oi", 0))
        for c in (note_command(decode_note(p)) for p in sent)
    )
    assert repeated == [
        ("ChainTotals", "2026-12-29", 11),
        ("ChainTotals", "2027-01-26", 12),
        ("SmileUpdate", "2026-12-29", 0),
    ]


def test_a_remote_product_takes_only_the_chains_notes() -> None:
    remote = RemoteProduct("NIFTY", lambda *_: None)
    with pytest.raises(TypeError, match="Flush"):
        remote.tell(Flush(now_ns=1))


@pytest.mark.parametrize(
    "data",
    [
        b"{not json",
        b'{"product": "NIFTY"}',  # neither smile nor totals
        b'{"product": 5, "totals": null}',
        b'{"product": "NIFTY", "totals": {"expiry": "2026-12-29"}}',
        b'{"product": "NIFTY", "totals": null, "extra": 1}',
    ],
)
def test_a_malformed_note_is_refused(data: bytes) -> None:
    with pytest.raises((msgspec.DecodeError, msgspec.ValidationError)):
        decode_note(data)


def test_a_note_with_both_smile_and_totals_is_refused() -> None:
    both = msgspec.json.encode(
        {
            "product": "NIFTY",
            "smile": msgspec.to_builtins(_smile("2026-12-29", 0.15)),
            "totals": msgspec.to_builtins(_totals("2026-12-29", 1)),
        }
    )
    with pytest.raises(msgspec.ValidationError, match="exactly one"):
        decode_note(both)
