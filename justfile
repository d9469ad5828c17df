# deltastream tasks. `just --list` shows them.
set shell := ["bash", "-euo", "pipefail", "-c"]

# Start NATS (embedded), the actor host, the edge and the synthetic feed
up *ARGS:
    deltastream up {{ARGS}}

# Install what the tests need beyond pip (Debian and npm packages), once
test-deps:
    #!/usr/bin/env bash
    set -euo pipefail
    missing=()
    command -v chromium >/dev/null || missing+=(chromium)
    command -v redis-server >/dev/null || missing+=(redis-server)
    if [ ${#missing[@]} -gt 0 ]; then
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}"
    fi
    # promtool (checks and unit-tests config/prometheus*.yml) from Debian's prometheus
    # package, unpacked rather than installed: installing would start a Prometheus daemon.
    if ! command -v promtool >/dev/null; then
        tmp=$(mktemp -d)
        (cd "$tmp" && { apt-get download -qq prometheus 2>/dev/null \
            || { apt-get update -qq && apt-get download -qq prometheus; }; })
        dpkg-deb -x "$tmp"/prometheus_*.deb "$tmp/pkg"
        install -m 0755 "$tmp/pkg/usr/bin/promtool" /usr/local/bin/promtool
        rm -rf "$tmp"
    fi
    if [ -f package.json ]; then npm install --no-audit --no-fund --loglevel=error; fi

# Lint: ruff and the import contracts (actors never imports edge; the maths does no I/O)
lint:
    ruff check .
    lint-imports

# The whole suite: lint, then every test
test: test-deps lint
    python -m pytest -q -p no:cacheprovider

# Benchmarks (print numbers; results are kept in bench/RESULTS.md)
bench:
    python bench/iv.py
    python bench/pipeline.py
