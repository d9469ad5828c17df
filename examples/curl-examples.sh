#!/usr/bin/env bash
# Every REST route of the deltastream edge, with curl.
#
#   DS_URL=http://127.0.0.1:8000 PRODUCT=NIFTY bash examples/curl-examples.sh
#
# It registers a fresh user (or logs in as DS_USER / DS_PASSWORD), then
# sends the token on every data call, so it works whether or not the edge requires auth
# (DELTASTREAM_AUTH_REQUIRED). Long answers are pretty-printed and cut to a few lines.
set -euo pipefail

URL="${DS_URL:-http://127.0.0.1:8000}"
URL="${URL%/}"
PRODUCT="${PRODUCT:-NIFTY}"
PYTHON="${PYTHON:-python3}"
USERNAME_="${DS_USER:-demo_${RANDOM}${RANDOM}}"
PASSWORD_="${DS_PASSWORD:-Violet-Harbour-${RANDOM}x}"

# Pretty-print JSON from stdin: number arrays on one line (the first 8 values), at most $1
# lines in all (no `head`: with pipefail a closed pipe would fail the script).
show() {
  "$PYTHON" -c '
import json, sys

def fmt(v, depth=0):
    pad = "  " * depth
    if isinstance(v, dict) and v:
        items = [f"{pad}  {json.dumps(k)}: {fmt(x, depth + 1)}" for k, x in v.items()]
        return "{\n" + ",\n".join(items) + "\n" + pad + "}"
    if isinstance(v, list) and any(isinstance(x, (dict, list)) for x in v):
        return "[\n" + ",\n".join(pad + "  " + fmt(x, depth + 1) for x in v) + "\n" + pad + "]"
    if isinstance(v, list):
        more = f", ... {len(v) - 8} more" if len(v) > 8 else ""
        return "[" + ", ".join(json.dumps(x) for x in v[:8]) + more + "]"
    return json.dumps(v, ensure_ascii=False)

limit = int(sys.argv[1])
lines = fmt(json.load(sys.stdin)).splitlines()
print("\n".join(lines[:limit]))
if len(lines) > limit:
    print(f"  ... {len(lines) - limit} more lines")
' "${1:-25}"
}

# The value at a dotted path (a.b.0.c) of the JSON on stdin.
field() {
  "$PYTHON" -c '
import json, sys
value = json.load(sys.stdin)
for key in sys.argv[1].split("."):
    value = value[int(key)] if isinstance(value, list) else value[key]
print(value)
' "$1"
}

section() { printf '\n=== %s\n' "$*"; }

section "GET /health/live and /health"
curl -fsS "$URL/health/live" | show
curl -fsS "$URL/health" | show 30

section "POST /api/auth/register (201, or 409 when the user exists)"
reply=$(mktemp)
trap 'rm -f "$reply"' EXIT
status=$(curl -sS -o "$reply" -w '%{http_code}' -XPOST "$URL/api/auth/register" \
  -H 'Content-Type: application/json' \
  -d "{\"username\":\"$USERNAME_\",\"password\":\"$PASSWORD_\"}")
echo "HTTP $status"
show 12 < "$reply"
case "$status" in 201 | 409) ;; *) echo "registration failed" >&2; exit 1 ;; esac

section "POST /api/auth/login"
LOGIN=$(curl -fsS -XPOST "$URL/api/auth/login" -H 'Content-Type: application/json' \
  -d "{\"username\":\"$USERNAME_\",\"password\":\"$PASSWORD_\"}")
echo "$LOGIN" | show 12
TOKEN=$(echo "$LOGIN" | field token)
AUTH=(-H "Authorization: Bearer $TOKEN")

section "GET /api/auth/me (authorised)"
curl -fsS "${AUTH[@]}" "$URL/api/auth/me" | show

section "POST /api/auth/verify (header, then body)"
curl -fsS -XPOST "${AUTH[@]}" "$URL/api/auth/verify" | show
curl -fsS -XPOST "$URL/api/auth/verify" -H 'Content-Type: application/json' \
  -d "{\"token\":\"$TOKEN\"}" | show

section "POST /api/auth/refresh"
TOKEN=$(curl -fsS -XPOST "${AUTH[@]}" "$URL/api/auth/refresh" | field token)
AUTH=(-H "Authorization: Bearer $TOKEN")
echo "new token: ${TOKEN:0:24}…"

section "GET /api/data/products"
curl -fsS "${AUTH[@]}" "$URL/api/data/products" | show 30

section "GET /api/data/expiries/$PRODUCT"
EXPIRIES=$(curl -fsS "${AUTH[@]}" "$URL/api/data/expiries/$PRODUCT")
echo "$EXPIRIES" | show
EXPIRY=$(echo "$EXPIRIES" | field nearest_expiry)

section "GET /api/data/underlying/$PRODUCT?limit=2, then the next page with its cursor"
PAGE=$(curl -fsS "${AUTH[@]}" "$URL/api/data/underlying/$PRODUCT?limit=2")
echo "$PAGE" | show 30
CURSOR=$(echo "$PAGE" | field next_cursor)
if [ "$CURSOR" != "None" ]; then
  curl -fsS "${AUTH[@]}" "$URL/api/data/underlying/$PRODUCT?limit=2&cursor=$CURSOR" | show 30
fi

section "GET /api/data/chain/$PRODUCT?expiry=$EXPIRY&limit=3"
CHAIN=$(curl -fsS "${AUTH[@]}" "$URL/api/data/chain/$PRODUCT?expiry=$EXPIRY&limit=3")
echo "$CHAIN" | show 45
ATM=$(echo "$CHAIN" | field atm_strike)

# NSE weekly symbol: <PRODUCT><YY><M><DD><STRIKE><CE|PE>, M = 1-9, O, N, D.
SYMBOL=$("$PYTHON" -c '
import sys
product, expiry, strike = sys.argv[1], sys.argv[2], float(sys.argv[3])
yy, mm, dd = expiry[2:4], int(expiry[5:7]), expiry[8:10]
month = "123456789OND"[mm - 1]
print(f"{product}{yy}{month}{dd}{int(strike) if strike.is_integer() else strike}CE")
' "$PRODUCT" "$EXPIRY" "$ATM")
section "GET /api/data/option/quote/$SYMBOL"
curl -fsS "${AUTH[@]}" "$URL/api/data/option/quote/$SYMBOL" | show 40

section "GET /api/analytics/summary/$PRODUCT?expiry=$EXPIRY"
curl -fsS "${AUTH[@]}" "$URL/api/analytics/summary/$PRODUCT?expiry=$EXPIRY" | show 45

section "GET /api/analytics/summaries/$PRODUCT"
curl -fsS "${AUTH[@]}" "$URL/api/analytics/summaries/$PRODUCT" | show 20

section "GET /api/analytics/pcr/$PRODUCT?history=true&limit=3"
curl -fsS "${AUTH[@]}" "$URL/api/analytics/pcr/$PRODUCT?expiry=$EXPIRY&history=true&limit=3" | show 40

section "GET /api/analytics/max-pain/$PRODUCT"
curl -fsS "${AUTH[@]}" "$URL/api/analytics/max-pain/$PRODUCT?expiry=$EXPIRY" | show 15

section "GET /api/analytics/atm-iv/$PRODUCT, then its history since 2000-01-01 (a time range)"
curl -fsS "${AUTH[@]}" "$URL/api/analytics/atm-iv/$PRODUCT?expiry=$EXPIRY" | show 15
curl -fsS "${AUTH[@]}" \
  "$URL/api/analytics/atm-iv/$PRODUCT?expiry=$EXPIRY&history=true&from=2000-01-01T00:00:00Z&limit=2" \
  | show 30

section "GET /api/analytics/volatility-surface/$PRODUCT"
curl -fsS "${AUTH[@]}" "$URL/api/analytics/volatility-surface/$PRODUCT" | show 20

section "GET /api/analytics/oi-buildup/$PRODUCT"
curl -fsS "${AUTH[@]}" "$URL/api/analytics/oi-buildup/$PRODUCT?expiry=$EXPIRY" | show 30

section "GET /api/analytics/ohlc/$PRODUCT?interval=1m&limit=3"
curl -fsS "${AUTH[@]}" "$URL/api/analytics/ohlc/$PRODUCT?interval=1m&limit=3" | show 30

section "POST /api/logs (a program outside logs into the LOGS stream; one event or a list)"
curl -fsS -XPOST "${AUTH[@]}" "$URL/api/logs" -H 'Content-Type: application/json' \
  -d '{"service":"curl-example","level":"warning","message":"disk_almost_full","fields":{"free_pct":4.5}}' | show

section "GET /api/logs/curl-example?level=info&limit=3 (newest first)"
curl -fsS "${AUTH[@]}" "$URL/api/logs/curl-example?level=info&limit=3" | show 20

section "An error is JSON too: GET /api/data/chain/NOPE (404)"
curl -sS "${AUTH[@]}" "$URL/api/data/chain/NOPE" | show

section "GET /metrics (Prometheus text, edge metrics only)"
curl -fsS "$URL/metrics" | grep '^deltastream_edge_socket\|^deltastream_dlq' || true

section "GET /api/docs (OpenAPI) and /api/docs/ui"
curl -fsS "$URL/api/docs" | "$PYTHON" -c '
import json, sys
doc = json.load(sys.stdin)
for path, ops in doc["paths"].items():
    for method in ops:
        print(f"  {method.upper():5} {path}")
'
curl -fsS -o /dev/null -w 'docs ui: HTTP %{http_code} %{content_type}\n' "$URL/api/docs/ui"

section "GET / (the dashboard)"
curl -fsS -o /dev/null -w 'dashboard: HTTP %{http_code} %{content_type}\n' "$URL/"
