"""The deployment files (docker-compose.yml, k8s/, Dockerfile) are valid for their tools and
wire the processes the way the code expects. No Docker engine or cluster runs here, so each
is checked offline: compose against the compose-spec JSON schema (bundled by the npm package
dclint, installed by `npm install`) and by dclint itself; Kubernetes objects with
kubernetes-validate against the API schemas of the version named below."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import tomllib
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
import yaml

from actors.monitoring import monitoring_app
from actors.natsserver import find_binary
from actors.settings import ENV_PREFIX, Settings
from edge.app import create_app
from edge.cli_args import parser

ROOT = Path(__file__).resolve().parent.parent
COMPOSE_SCHEMA = ROOT / "node_modules" / "dclint" / "schemas" / "compose.schema.json"
DCLINT = ROOT / "node_modules" / ".bin" / "dclint"
K8S_VERSION = "1.30.0"
IMAGE = "deltastream:latest"


def _docs(path: Path) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(path.read_text()) if d]


def _compose() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    return data


def _k8s() -> list[dict[str, Any]]:
    return [d for path in sorted((ROOT / "k8s").glob("*.yaml")) for d in _docs(path)]


def _known_setting(key: str) -> bool:
    return key.startswith(ENV_PREFIX) and (
        key.removeprefix(ENV_PREFIX).lower() in Settings.__struct_fields__
    )


def _edge_paths() -> set[str]:
    return {getattr(r, "path", "") for r in create_app(Settings()).other_asgi_app.routes}


def _actor_paths() -> set[str]:
    return {getattr(r, "path", "") for r in monitoring_app(lambda: {}).routes}


# ------------------------------------------------------------ docker-compose.yml


def test_compose_matches_the_compose_spec_schema() -> None:
    assert COMPOSE_SCHEMA.exists(), "run `npm install` (dclint brings the compose-spec schema)"
    schema = json.loads(COMPOSE_SCHEMA.read_text())
    validator = jsonschema.Draft7Validator(schema)
    compose = _compose()
    assert [e.message for e in validator.iter_errors(compose)] == []
    # The schema is strict enough to notice a misspelt key.
    broken = {**compose, "services": {**compose["services"], "edge": {"helthcheck": {}}}}
    assert list(validator.iter_errors(broken))


@pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed")
def test_compose_passes_dclint_without_errors() -> None:
    assert DCLINT.exists(), "run `npm install`"
    result = subprocess.run(
        [str(DCLINT), "--quiet", "--color", "false", str(ROOT / "docker-compose.yml")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_compose_runs_each_process_with_a_cli_command_and_known_settings() -> None:
    services = _compose()["services"]
    ours = {name: s for name, s in services.items() if s.get("image") == IMAGE}
    assert {"actors", "edge", "feed", "tools"} <= set(ours)
    for name, svc in ours.items():
        assert svc["build"] == "."
        parser().parse_args(svc["command"])  # exits on an unknown command or option
        for key in svc.get("environment", {}):
            assert _known_setting(key), (name, key)
        if name != "tools":  # a one-off command, not a long-running process
            assert svc.get("healthcheck") or name == "feed", name


def test_compose_runs_a_three_node_cluster_and_three_replicas() -> None:
    services = _compose()["services"]
    names = {
        svc["environment"]["NATS_SERVER_NAME"] for n, svc in services.items() if n[:5] == "nats-"
    }
    assert names == {"nats-1", "nats-2", "nats-3"}
    routes = re.findall(
        r"nats-route://([\w-]+):6222", (ROOT / "config/nats-cluster.conf").read_text()
    )
    assert set(routes) == names
    for name in ("actors", "edge", "feed"):
        env = services[name]["environment"]
        assert env["DELTASTREAM_REPLICAS"] == "3"
        assert env["DELTASTREAM_NATS_URL"].split(",") == [f"nats://{n}:4222" for n in sorted(names)]


def test_compose_puts_the_edges_behind_the_proxy_with_health_checks() -> None:
    services = _compose()["services"]
    edge, proxy, actors = services["edge"], services["proxy"], services["actors"]
    assert "ports" not in edge and edge["expose"] == [edge["environment"]["DELTASTREAM_HTTP_PORT"]]
    assert edge["deploy"]["replicas"] and actors["deploy"]["replicas"]
    assert proxy["ports"] == ["0.0.0.0:${PUBLISHED_PORT:-8000}:80"]
    assert "./config/nginx.conf:/etc/nginx/nginx.conf:ro" in proxy["volumes"]
    edge_port = edge["environment"]["DELTASTREAM_HTTP_PORT"]
    actors_port = actors["environment"]["DELTASTREAM_ACTORS_HTTP_PORT"]
    assert f"localhost:{edge_port}/health'" in edge["healthcheck"]["test"][-1]
    assert f"localhost:{actors_port}/health'" in actors["healthcheck"]["test"][-1]
    assert "/health" in _edge_paths() and "/health" in _actor_paths()
    assert {"redis", "mongo", "prometheus", "grafana"} <= set(services)


def test_compose_mounts_files_that_exist_and_declares_its_volumes() -> None:
    compose = _compose()
    for name, svc in compose["services"].items():
        for dep in svc.get("depends_on", {}):
            assert dep in compose["services"], (name, dep)
        for mount in svc.get("volumes", []):
            source = mount.split(":")[0]
            if source.startswith("./"):
                assert (ROOT / source).exists(), (name, source)
            elif not source.startswith("/"):
                assert source in compose["volumes"], (name, source)


def test_env_example_lists_what_compose_requires() -> None:
    required = set(re.findall(r"\$\{(\w+):\?", (ROOT / "docker-compose.yml").read_text()))
    example = (ROOT / ".env.example").read_text()
    listed = set(re.findall(r"^(\w+)=", example, re.M))
    assert required and required <= listed


# ------------------------------------------------------------ k8s/


def test_every_k8s_object_is_valid_for_the_kubernetes_api() -> None:
    kinds = []
    for doc in _k8s():
        kubernetes_validate.validate(doc, K8S_VERSION, strict=True)
        kinds.append(doc["kind"])
    assert {
        "StatefulSet", "Deployment", "Service", "ConfigMap", "PodDisruptionBudget",
        "HorizontalPodAutoscaler",
    } <= set(kinds)  # fmt: skip


def test_kubernetes_validate_refuses_a_mistake() -> None:
    (deployment,) = [d for d in _k8s() if d["metadata"]["name"] == "deltastream-edge" and
                     d["kind"] == "Deployment"]  # fmt: skip
    broken = json.loads(json.dumps(deployment))
    broken["spec"]["template"]["spec"]["containers"][0]["readinessProbe"]["httpGet"]["port"] = []
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, K8S_VERSION, strict=True)


def _by(kind: str, name: str) -> dict[str, Any]:
    (doc,) = [d for d in _k8s() if d["kind"] == kind and d["metadata"]["name"] == name]
    return doc


def test_k8s_settings_are_known_and_the_jwt_key_comes_from_a_secret() -> None:
    config = _by("ConfigMap", "deltastream")["data"]
    assert all(_known_setting(k) for k in config)
    assert "DELTASTREAM_JWT_SECRET" not in config and config["DELTASTREAM_REPLICAS"] == "3"
    edge = _by("Deployment", "deltastream-edge")["spec"]["template"]["spec"]["containers"][0]
    (jwt,) = [e for e in edge["env"] if e["name"] == "DELTASTREAM_JWT_SECRET"]
    assert jwt["valueFrom"]["secretKeyRef"]["name"] == "deltastream-jwt"


def test_k8s_probes_hit_routes_the_processes_serve_on_their_ports() -> None:
    config = _by("ConfigMap", "deltastream")["data"]
    for name, paths, port in (
        ("deltastream-edge", _edge_paths(), config["DELTASTREAM_HTTP_PORT"]),
        ("deltastream-actors", _actor_paths(), config["DELTASTREAM_ACTORS_HTTP_PORT"]),
    ):
        deployment = _by("Deployment", name)
        container = deployment["spec"]["template"]["spec"]["containers"][0]
        parser().parse_args(container["args"])
        ports = {p["name"]: p["containerPort"] for p in container["ports"]}
        for probe in ("readinessProbe", "livenessProbe"):
            get = container[probe]["httpGet"]
            assert get["path"] in paths and ports[get["port"]] == int(port), (name, probe)
        assert container["readinessProbe"]["httpGet"]["path"] == "/health"
        assert container["resources"]["requests"] and container["resources"]["limits"]
        annotations = deployment["spec"]["template"]["metadata"]["annotations"]
        assert annotations["prometheus.io/port"] == port


def test_k8s_budgets_and_the_autoscaler_target_the_right_pods() -> None:
    labels = {
        d["metadata"]["name"]: d["spec"]["template"]["metadata"]["labels"]
        for d in _k8s()
        if d["kind"] in ("Deployment", "StatefulSet")
    }
    for pdb in (d for d in _k8s() if d["kind"] == "PodDisruptionBudget"):
        selector = pdb["spec"]["selector"]["matchLabels"]
        assert any(selector.items() <= pod.items() for pod in labels.values()), pdb
    hpa = _by("HorizontalPodAutoscaler", "deltastream-edge")["spec"]
    assert hpa["scaleTargetRef"] == {
        "apiVersion": "apps/v1", "kind": "Deployment", "name": "deltastream-edge",
    }  # fmt: skip
    assert 2 <= hpa["minReplicas"] < hpa["maxReplicas"]


def test_k8s_nats_is_a_three_node_jetstream_cluster_that_nats_server_accepts(
    tmp_path: Path,
) -> None:
    sts = _by("StatefulSet", "nats")
    assert sts["spec"]["replicas"] == 3 and sts["spec"]["volumeClaimTemplates"]
    service = _by("Service", sts["spec"]["serviceName"])
    assert service["spec"]["clusterIP"] == "None"
    conf = _by("ConfigMap", "nats-config")["data"]["nats.conf"]
    routes = re.findall(r"nats-route://([\w.-]+):6222", conf)
    assert routes == [f"nats-{i}.{sts['spec']['serviceName']}" for i in range(3)]
    path = tmp_path / "nats.conf"
    path.write_text(conf)
    result = subprocess.run(
        [find_binary(), "-c", str(path), "-t"],
        capture_output=True,
        text=True,
        timeout=30,
        env={**os.environ, "POD_NAME": "nats-0"},
    )
    assert result.returncode == 0, result.stderr
    assert 'sync_interval: "1s"' in conf


# ------------------------------------------------------------ Dockerfile


def test_the_dockerfile_builds_the_image_the_deployments_run() -> None:
    text = (ROOT / "Dockerfile").read_text()
    for line in re.findall(r"^COPY (?!--from)(.+)$", text, re.M):
        *sources, _ = line.split()
        for source in sources:
            assert (ROOT / source).exists(), source
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    (entry,) = re.findall(r'^ENTRYPOINT \["(\w+)"\]$', text, re.M)
    assert entry in pyproject["project"]["scripts"]
    exposed = set(re.findall(r"^EXPOSE (.+)$", text, re.M)[0].split())
    config = _by("ConfigMap", "deltastream")["data"]
    assert {config["DELTASTREAM_HTTP_PORT"], config["DELTASTREAM_ACTORS_HTTP_PORT"]} <= exposed
    (cmd,) = re.findall(r"^CMD (\[.+\])$", text, re.M)
    parser().parse_args(json.loads(cmd))
    assert re.search(r"^USER \d+:\d+$", text, re.M)  # numeric: runAsNonRoot can check it
    images = {c["image"] for d in _k8s() if d["kind"] == "Deployment"
              for c in d["spec"]["template"]["spec"]["containers"]}  # fmt: skip
    assert images == {IMAGE}
