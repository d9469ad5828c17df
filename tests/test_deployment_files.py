"""The deployment files parse and wire the processes the way the code expects."""

from __future__ import annotations

from pathlib import Path

import yaml

from actors.settings import ENV_PREFIX, Settings

ROOT = Path(__file__).resolve().parent.parent


def _docs(path: Path) -> list[dict]:
    return [d for d in yaml.safe_load_all(path.read_text()) if d]


def test_compose_runs_each_process_with_a_known_command_and_known_settings() -> None:
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    services = compose["services"]
    assert {"nats", "actors", "edge", "feed"} <= set(services)
    for name in ("actors", "edge", "feed"):
        svc = services[name]
        assert svc["command"][0] in {"actors", "edge", "feed"}
        for key in svc.get("environment", {}):
            assert key.startswith(ENV_PREFIX)
            assert key.removeprefix(ENV_PREFIX).lower() in Settings.__struct_fields__, key


def test_every_k8s_object_has_the_basic_fields_and_known_settings() -> None:
    kinds = []
    for path in sorted((ROOT / "k8s").glob("*.yaml")):
        for doc in _docs(path):
            assert {"apiVersion", "kind", "metadata"} <= set(doc), path
            kinds.append(doc["kind"])
            if doc["kind"] == "ConfigMap":
                for key in doc["data"]:
                    assert key.removeprefix(ENV_PREFIX).lower() in Settings.__struct_fields__
    assert {"StatefulSet", "Deployment", "Service", "ConfigMap", "PodDisruptionBudget"} <= set(
        kinds
    )


def test_edge_probes_point_at_routes_the_edge_serves() -> None:
    from edge.app import create_app

    paths = {getattr(r, "path", None) for r in create_app(Settings()).other_asgi_app.routes}
    for doc in _docs(ROOT / "k8s" / "edge.yaml"):
        if doc["kind"] != "Deployment":
            continue
        container = doc["spec"]["template"]["spec"]["containers"][0]
        for probe in ("readinessProbe", "livenessProbe"):
            assert container[probe]["httpGet"]["path"] in paths
