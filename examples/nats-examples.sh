#!/usr/bin/env bash
# Look inside a running deltastream with the `nats` CLI (natscli): streams, the ingress
# consumer, the snapshots bucket, the `deltastream-snapshots` micro service, live subjects,
# logs and dead letters. Names and payloads: subjects.md.
#
#   NATS_URL=nats://127.0.0.1:4222 PRODUCT=NIFTY bash examples/nats-examples.sh
#
# Read-only except for one log event (section "Logs") and one deliberately malformed feed
# message (section "Dead letters"), which shows how a rejected message lands in the DLQ.
# One `nats` command per line: tests/examples/test_examples.py replays each with nats-py.
set -euo pipefail

export NATS_URL="${NATS_URL:-nats://127.0.0.1:4222}"
PRODUCT="${PRODUCT:-NIFTY}"

if ! command -v nats >/dev/null; then
  echo "the nats CLI is not installed (natscli, from your package manager or its releases)" >&2
  exit 1
fi

section() { printf '\n=== %s\n' "$*"; }

section "Streams: FEED (the source of truth), ANALYTICS (published results), DLQ"
nats stream info FEED
nats stream info ANALYTICS
nats stream info DLQ
nats stream get ANALYTICS --last-for "deltastream.analytics.underlying.$PRODUCT"

section "The actor host's durable pull consumer on FEED"
nats consumer info FEED ingress

section "Snapshots bucket (chain state and the FEED checkpoint they cover)"
nats kv ls deltastream_snapshots
nats kv get deltastream_snapshots checkpoint --raw | python3 -c 'import sys, msgspec; print(msgspec.msgpack.decode(sys.stdin.buffer.read()))'

section "Micro service deltastream-snapshots"
nats micro ls
nats micro info deltastream-snapshots
nats micro stats deltastream-snapshots
nats req deltastream.svc.products '{}'
nats req deltastream.svc.summary "{\"product\":\"$PRODUCT\"}"
nats req deltastream.svc.max_pain "{\"product\":\"$PRODUCT\"}"
nats req deltastream.svc.health '{}'
nats req deltastream.svc.hosts '{}'

section "Live analytics (each exits after --count messages)"
nats sub "deltastream.analytics.underlying.$PRODUCT" --count 3
nats sub "deltastream.analytics.summary.$PRODUCT.>" --count 3
nats sub "deltastream.analytics.surface.$PRODUCT" --count 1

section "Logs of every process: stream LOGS, subjects deltastream.logs.<service>"
nats stream info LOGS
# Any program may log there too: one JSON object, the same fields deltastream's processes use.
nats pub deltastream.logs.nats-example '{"timestamp":"2026-11-26T09:15:00.000000Z","level":"info","service":"nats-example","event":"hello_from_nats"}' --jetstream
nats sub 'deltastream.logs.*' --last --count 1

section "Dead letters: a malformed tick, rejected as schema_invalid"
nats pub "deltastream.feed.underlying.$PRODUCT" 'not json' --jetstream
# --last: the newest dead letter (ours, once the ingress rejected it), headers only.
nats sub 'deltastream.dlq.>' --last --count 1 --headers-only
nats stream view DLQ 5
# Emitted by the server when a message was delivered max_deliver times (rare: wait 5 s).
timeout 5 nats sub '$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES.FEED.ingress' --count 1 || true
