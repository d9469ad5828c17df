"""The shipped configuration files load and mean what they say."""

from __future__ import annotations

import subprocess
from pathlib import Path

from actors.natsserver import find_binary
from actors.products import DEFAULT_PRODUCTS, load_products

ROOT = Path(__file__).resolve().parent.parent


def test_the_products_file_lists_the_built_in_products_with_the_same_specs() -> None:
    assert load_products(ROOT / "config" / "products.toml") == DEFAULT_PRODUCTS


def test_the_nats_server_config_is_accepted_by_nats_server(tmp_path: Path) -> None:
    conf = (ROOT / "config" / "nats-server.conf").read_text()
    conf = conf.replace("./data/jetstream", str(tmp_path / "js"))
    path = tmp_path / "nats-server.conf"
    path.write_text(conf)
    result = subprocess.run(
        [find_binary(), "-c", str(path), "-t"], capture_output=True, text=True, timeout=30
    )
    assert result.returncode == 0, result.stderr
    assert 'sync_interval: "1s"' in conf
