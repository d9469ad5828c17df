"""Start-up (the actor host's and the edge's) waits for JetStream to answer instead of exiting
on the first time-out."""

from __future__ import annotations

import nats.errors
import nats.js.errors
import pytest

from actors.jetstream_ready import when_ready


async def test_a_step_is_tried_again_while_jetstream_is_not_answering() -> None:
    failures = [
        nats.errors.TimeoutError(),
        nats.js.errors.ServiceUnavailableError(),
        nats.errors.NoRespondersError(),
        nats.js.errors.NoStreamResponseError(),  # a stream with no leader yet
    ]
    calls = 0

    async def step() -> str:
        nonlocal calls
        calls += 1
        if failures:
            raise failures.pop(0)
        return "ready"

    assert await when_ready("streams", step) == "ready"
    assert calls == 5


async def test_any_other_error_is_not_retried() -> None:
    calls = 0

    async def step() -> None:
        nonlocal calls
        calls += 1
        raise nats.js.errors.BadRequestError()

    with pytest.raises(nats.js.errors.BadRequestError):
        await when_ready("streams", step)
    assert calls == 1
