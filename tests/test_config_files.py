"""The shipped configuration files load and mean what they say: nats-server accepts its
configs, and every metric the Prometheus rules and the Grafana dashboard query is one the
code exports."""

from __future__ import annotations

import io
import json
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import crossplane
import pytest
import structlog
import yaml
from prometheus_client import CollectorRegistry

import actors.metrics
from actors.log_events import CORE_FIELDS
from actors.log_setup import configure_logging, reset_logging
from actors.natsserver import find_binary
from actors.products import DEFAULT_PRODUCTS, load_products
from edge.metrics import EdgeMetrics

ROOT = Path(__file__).resolve().parent.parent
CONFIG = ROOT / "config"
_METRIC_REF = re.compile(r"\bdeltastream_[a-z0-9_]+\b")
_SUFFIXES = {
    "counter": ("_total", "_created"),
    "histogram": ("_bucket", "_count", "_sum", "_created"),
    "gauge": ("",),
    "summary": ("", "_count", "_sum", "_created"),
}


def _yaml(name: str) -> Any:
    return yaml.safe_load((CONFIG / name).read_text())


def _nats_check(path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [find_binary(), "-c", str(path), "-t"],
        capture_output=True,
        text=True,
        timeout=30,
        env={**os.environ, **env},
    )


def test_the_products_file_lists_the_built_in_products_with_the_same_specs() -> None:
    assert load_products(ROOT / "config" / "products.toml") == DEFAULT_PRODUCTS


def test_the_nats_server_config_is_accepted_by_nats_server(tmp_path: Path) -> None:
    conf = (ROOT / "config" / "nats-server.conf").read_text()
    conf = conf.replace("./data/jetstream", str(tmp_path / "js"))
    path = tmp_path / "nats-server.conf"
    path.write_text(conf)
    result = _nats_check(path)
    assert result.returncode == 0, result.stderr
    assert 'sync_interval: "1s"' in conf


def test_the_cluster_config_is_accepted_for_each_node_and_routes_to_all_three() -> None:
    path = CONFIG / "nats-cluster.conf"
    for name in ("nats-1", "nats-2", "nats-3"):
        result = _nats_check(path, NATS_SERVER_NAME=name)
        assert result.returncode == 0, result.stderr
    without_name = _nats_check(path)
    assert without_name.returncode != 0 and "NATS_SERVER_NAME" in without_name.stderr
    text = path.read_text()
    assert re.findall(r"nats-route://(nats-\d):6222", text) == ["nats-1", "nats-2", "nats-3"]
    assert 'sync_interval: "1s"' in text


def test_nats_server_rejects_a_config_with_a_mistake(tmp_path: Path) -> None:
    # The check above can fail: an unknown key in the cluster block is refused.
    text = (CONFIG / "nats-cluster.conf").read_text().replace("name: deltastream", "nme: x")
    path = tmp_path / "broken.conf"
    path.write_text(text)
    assert _nats_check(path, NATS_SERVER_NAME="nats-1").returncode != 0


# ------------------------------------------------------------ metrics named in the configs


def _exported_names() -> set[str]:
    registries: list[CollectorRegistry] = [EdgeMetrics().registry, actors.metrics.LOG_REGISTRY]
    families = [m for r in registries for m in r.collect()]
    for name in actors.metrics.__all__:
        obj = getattr(actors.metrics, name)
        if hasattr(obj, "describe"):
            families.extend(obj.describe())
    names = set()
    for family in families:
        names.update(family.name + suffix for suffix in _SUFFIXES[family.type])
    return names


def _dashboard() -> dict[str, Any]:
    data: dict[str, Any] = json.loads((CONFIG / "grafana/dashboards/deltastream.json").read_text())
    return data


def _dashboard_exprs() -> list[str]:
    return [t["expr"] for p in _dashboard()["panels"] for t in p.get("targets", [])]


def _rule_exprs() -> list[str]:
    return [str(r["expr"]) for g in _yaml("prometheus-rules.yml")["groups"] for r in g["rules"]]


def test_every_metric_the_dashboard_and_the_rules_query_is_exported_by_the_code() -> None:
    exported = _exported_names()
    assert "deltastream_feed_accepted_total" in exported  # the name shapes are right
    assert "deltastream_recompute_seconds_bucket" in exported
    exprs = _dashboard_exprs() + _rule_exprs()
    used = {name for expr in exprs for name in _METRIC_REF.findall(expr)}
    assert used, "no deltastream metric found in the configs"
    assert used - exported == set()


def test_the_dashboard_shows_ingest_latency_dlq_clients_recompute_and_restarts() -> None:
    text = "\n".join(_dashboard_exprs())
    for metric in (
        "deltastream_feed_accepted_total",
        "deltastream_edge_feed_latency_seconds_bucket",
        "deltastream_feed_rejected_total",
        "deltastream_edge_socket_clients",
        "deltastream_recompute_seconds_bucket",
        "deltastream_supervisor_restarts_total",
    ):
        assert metric in text, metric
    dash = _dashboard()
    ids = [p["id"] for p in dash["panels"]]
    assert len(ids) == len(set(ids)) and dash["uid"] == "deltastream"


def test_grafana_provisioning_points_at_the_dashboard_and_its_data_sources() -> None:
    sources = yaml.safe_load(
        (CONFIG / "grafana/provisioning/datasources/deltastream.yml").read_text()
    )
    uids = {d["uid"] for d in sources["datasources"]}
    used = {p["datasource"]["uid"] for p in _dashboard()["panels"]}
    assert used <= uids
    providers = yaml.safe_load(
        (CONFIG / "grafana/provisioning/dashboards/deltastream.yml").read_text()
    )
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    mounts = compose["services"]["grafana"]["volumes"]
    assert (
        f"./config/grafana/dashboards:{providers['providers'][0]['options']['path']}:ro" in mounts
    )


def test_prometheus_scrapes_the_edges_and_actor_hosts_where_they_serve_metrics() -> None:
    config = _yaml("prometheus.yml")
    jobs = {j["job_name"]: j for j in config["scrape_configs"]}
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]
    edge_port = int(compose["edge"]["environment"]["DELTASTREAM_HTTP_PORT"])
    actors_port = int(compose["actors"]["environment"]["DELTASTREAM_ACTORS_HTTP_PORT"])
    for job, service, port in (
        ("deltastream-edge", "edge", edge_port),
        ("deltastream-actors", "actors", actors_port),
    ):
        (sd,) = jobs[job]["dns_sd_configs"]
        assert sd["names"] == [service] and sd["port"] == port and sd["type"] == "A"
        assert jobs[job]["metrics_path"] == "/metrics"
    (rules,) = config["rule_files"]
    mounted = compose["prometheus"]["volumes"]
    assert f"./config/{Path(rules).name}:{rules}:ro" in mounted


PROMTOOL = shutil.which("promtool")
needs_promtool = pytest.mark.skipif(PROMTOOL is None, reason="promtool: run `just test-deps`")


def _promtool(*args: str) -> subprocess.CompletedProcess[str]:
    assert PROMTOOL is not None
    return subprocess.run([PROMTOOL, *args], capture_output=True, text=True, timeout=60)


@needs_promtool
def test_promtool_accepts_the_prometheus_config_and_its_rules(tmp_path: Path) -> None:
    rules = _yaml("prometheus.yml")["rule_files"][0]
    config = (CONFIG / "prometheus.yml").read_text().replace(rules, str(tmp_path / "rules.yml"))
    (tmp_path / "prometheus.yml").write_text(config)
    shutil.copy(CONFIG / "prometheus-rules.yml", tmp_path / "rules.yml")
    result = _promtool("check", "config", str(tmp_path / "prometheus.yml"))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "7 rules found" in result.stdout


@needs_promtool
def test_the_alerts_fire_when_and_only_when_their_unit_tests_say() -> None:
    result = _promtool("test", "rules", str(CONFIG / "prometheus-rules.test.yml"))
    assert result.returncode == 0, result.stdout + result.stderr


@needs_promtool
def test_the_alert_unit_tests_catch_a_changed_threshold(tmp_path: Path) -> None:
    rules = (CONFIG / "prometheus-rules.yml").read_text()
    assert "deltastream_feed_rejected_total[5m])) > 1\n" in rules
    (tmp_path / "prometheus-rules.yml").write_text(
        rules.replace("deltastream_feed_rejected_total[5m])) > 1\n", "x[5m])) > 100\n")
    )
    shutil.copy(CONFIG / "prometheus-rules.test.yml", tmp_path)
    result = _promtool("test", "rules", str(tmp_path / "prometheus-rules.test.yml"))
    assert result.returncode != 0 and "DeltastreamDeadLetters" in result.stdout + result.stderr


# ------------------------------------------------------------ logs: Loki, promtail, Filebeat


def _a_log_line() -> dict[str, Any]:
    stream = io.StringIO()
    configure_logging(service="actors", stream=stream, cache_loggers=False)
    try:
        structlog.get_logger("actors.x").info(
            "probe", subject="deltastream.feed.chain.NIFTY.2026-12-29"
        )
    finally:
        reset_logging()
    line: dict[str, Any] = json.loads(stream.getvalue())
    return line


def _deltastream_services() -> set[str]:
    services = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]
    return {name for name, svc in services.items() if svc.get("image") == "deltastream:latest"}


def test_promtail_parses_our_json_lines_into_labels_and_timestamps() -> None:
    config = _yaml("promtail.yml")
    (job,) = config["scrape_configs"]
    (match,) = [s["match"] for s in job["pipeline_stages"] if "match" in s]
    selected = re.search(r'compose_service=~"([^"]+)"', match["selector"])
    assert selected and set(selected.group(1).split("|")) == _deltastream_services()
    stages = {k: v for s in match["stages"] for k, v in s.items()}
    line = _a_log_line()
    assert set(stages["json"]["expressions"].values()) <= set(line)
    assert set(stages["labels"]) == {"level", "service"}
    assert stages["timestamp"] == {"source": "timestamp", "format": "RFC3339Nano"}
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z", line["timestamp"])
    assert config["clients"][0]["url"] == "http://loki:3100/loki/api/v1/push"


def test_loki_keeps_logs_as_long_as_the_logs_stream() -> None:
    config = _yaml("loki.yml")
    assert config["limits_config"]["retention_period"] == "168h"
    assert config["compactor"]["retention_enabled"] is True
    assert config["schema_config"]["configs"][0]["schema"] == "v13"


def test_filebeat_decodes_our_json_lines_with_our_timestamp_layout() -> None:
    config = _yaml("filebeat.yml")
    (source,) = config["filebeat.inputs"]
    parsers = {k: v for p in source["parsers"] for k, v in p.items()}
    assert parsers["ndjson"]["target"] == "" and parsers["container"]["format"] == "docker"
    processors = {k: v for p in source["processors"] for k, v in p.items()}
    services = processors["drop_event"]["when"]["not"]["regexp"][
        "container.labels.com_docker_compose_service"
    ]
    assert set(services.strip("^()$").split("|")) == _deltastream_services()
    (layout,) = processors["timestamp"]["layouts"]
    assert processors["timestamp"]["field"] == "timestamp" in CORE_FIELDS
    # Go layout 2006-01-02T15:04:05.999999Z: six fraction digits and a literal Z, as we write.
    assert layout == "2006-01-02T15:04:05.999999Z"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z", _a_log_line()["timestamp"])


# ------------------------------------------------------------ the reverse proxy


def test_the_proxy_config_parses_and_keeps_socket_io_sessions_on_one_edge() -> None:
    parsed = crossplane.parse(str(CONFIG / "nginx.conf"), check_ctx=True, check_args=True)
    assert parsed["status"] == "ok", parsed["errors"]
    (config,) = parsed["config"]

    def walk(block: list[dict[str, Any]]) -> list[dict[str, Any]]:
        out = []
        for d in block:
            out.append(d)
            if d["directive"] != "map":  # a map's lines are key/value pairs, not directives
                out.extend(walk(d.get("block", [])))
        return out

    directives = walk(config["parsed"])
    known = set(crossplane.analyzer.DIRECTIVES)
    assert {d["directive"] for d in directives} <= known  # no misspelt directive
    (upstream,) = [d for d in directives if d["directive"] == "upstream"]
    inside = {d["directive"]: d["args"] for d in upstream["block"]}
    assert "ip_hash" in inside and inside["server"][0] == "edge:8000"
    (sio,) = [
        d for d in directives if d["directive"] == "location" and d["args"] == ["/socket.io/"]
    ]
    headers = [d["args"] for d in sio["block"] if d["directive"] == "proxy_set_header"]
    assert ["Upgrade", "$http_upgrade"] in headers and [
        "Connection",
        "$connection_upgrade",
    ] in headers
    assert ["X-Forwarded-For", "$proxy_add_x_forwarded_for"] in headers
