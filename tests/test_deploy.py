"""deploy/: Kubernetes manifests validated offline against the API schemas, and checked against
each other and the server; the Dockerfile linted structurally (no Docker engine here)."""

from __future__ import annotations

import argparse
import shlex
import socket
from pathlib import Path

import pytest
import yaml

DEPLOY = Path(__file__).resolve().parents[1] / "deploy"
K8S = DEPLOY / "k8s"


def load_manifests():
    docs = {}
    for path in sorted(K8S.glob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            if doc and doc.get("kind") != "Kustomization":
                docs[doc["kind"]] = doc
    return docs


@pytest.fixture(scope="module")
def manifests():
    return load_manifests()


@pytest.fixture
def no_network(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("the validation tried to use the network")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)


def test_every_manifest_validates_offline_against_the_kubernetes_schema(manifests, no_network):
    kv = pytest.importorskip("kubernetes_validate")
    assert set(manifests) == {"Deployment", "Service", "HorizontalPodAutoscaler", "PodDisruptionBudget"}
    for kind, doc in manifests.items():
        kv.validate(doc, kv.latest_version(), strict=True)  # raises on an unknown or mistyped field


def test_schema_validation_really_rejects_mistakes(manifests, no_network):
    kv = pytest.importorskip("kubernetes_validate")
    import copy

    bad = copy.deepcopy(manifests["Deployment"])
    bad["spec"]["template"]["spec"]["containers"][0]["resources"]["limits"]["cpu"] = ["2"]
    with pytest.raises(kv.ValidationError):
        kv.validate(bad, kv.latest_version(), strict=True)
    typo = copy.deepcopy(manifests["Service"])
    typo["spec"]["selectr"] = typo["spec"].pop("selector")
    with pytest.raises(kv.ValidationError):
        kv.validate(typo, kv.latest_version(), strict=True)


def _container(manifests):
    return manifests["Deployment"]["spec"]["template"]["spec"]["containers"][0]


def _serve_args(argv):
    from ocrforge.serving.cli import add_parser

    parser = argparse.ArgumentParser(prog="ocrforge")
    add_parser(parser.add_subparsers(dest="command"))
    return parser.parse_args(["serve", *argv])


def test_manifests_agree_with_each_other(manifests):
    dep, svc, hpa, pdb = (manifests[k] for k in ("Deployment", "Service", "HorizontalPodAutoscaler",
                                                 "PodDisruptionBudget"))
    pod_labels = dep["spec"]["template"]["metadata"]["labels"]
    for selector in (svc["spec"]["selector"], dep["spec"]["selector"]["matchLabels"],
                     pdb["spec"]["selector"]["matchLabels"]):
        assert selector.items() <= pod_labels.items()
    target = hpa["spec"]["scaleTargetRef"]
    assert (target["kind"], target["name"]) == ("Deployment", dep["metadata"]["name"])
    assert pdb["spec"]["minAvailable"] < hpa["spec"]["minReplicas"]  # a drain can always proceed
    port_names = {p["name"] for p in _container(manifests)["ports"]}
    assert {p["targetPort"] for p in svc["spec"]["ports"]} <= port_names


def test_container_probes_resources_and_security(manifests):
    c = _container(manifests)
    assert c["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert c["readinessProbe"]["httpGet"]["path"] == "/readyz"
    for kind in ("requests", "limits"):
        assert {"cpu", "memory"} <= set(c["resources"][kind])
    pod = manifests["Deployment"]["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True and pod["securityContext"]["runAsUser"] != 0
    assert c["securityContext"]["allowPrivilegeEscalation"] is False
    # The container's args are valid `ocrforge serve` options, on the ports the pod declares.
    args = _serve_args(c["args"])
    ports = {p["name"]: p["containerPort"] for p in c["ports"]}
    assert (args.host, args.port, args.grpc_port) == ("0.0.0.0", ports["http"], ports["grpc"])
    # Pods get time to finish requests in flight when they are stopped.
    assert pod["terminationGracePeriodSeconds"] > args.timeout


def test_probe_paths_answer_on_the_real_app(manifests):
    pytest.importorskip("fastapi")
    pytest.importorskip("httpx")
    from fastapi.testclient import TestClient

    from ocrforge.runtime.fakes import fake_ocr
    from ocrforge.serving.http import create_app

    c = _container(manifests)
    with TestClient(create_app(ocr=fake_ocr())) as client:
        for probe in ("livenessProbe", "readinessProbe", "startupProbe"):
            assert client.get(c[probe]["httpGet"]["path"]).status_code == 200
        assert client.get(manifests["Deployment"]["spec"]["template"]["metadata"]["annotations"]
                          ["prometheus.io/path"]).status_code == 200


def dockerfile_instructions():
    """(INSTRUCTION, arguments) per instruction, continuation lines joined, comments dropped."""
    lines, current = [], ""
    for raw in (DEPLOY / "Dockerfile").read_text().splitlines():
        stripped = raw.strip()
        if not current and (not stripped or stripped.startswith("#")):
            continue
        if stripped.endswith("\\"):
            current += stripped[:-1] + " "
            continue
        current += stripped
        op, _, rest = current.partition(" ")
        lines.append((op.upper(), rest.strip()))
        current = ""
    return lines


def test_dockerfile_is_small_non_root_and_serve_only(manifests):
    steps = dockerfile_instructions()
    text = " ".join(f"{op} {rest}" for op, rest in steps).lower()
    assert "torch" not in text and "[train]" not in text and "[dev]" not in text
    stages = [i for i, (op, _) in enumerate(steps) if op == "FROM"]
    assert len(stages) == 2, "build stage + runtime stage"
    final = steps[stages[-1]:]
    assert all("-slim" in rest or "alpine" in rest for op, rest in steps if op == "FROM")
    users = [rest for op, rest in final if op == "USER"]
    assert users and users[-1].split(":")[0] not in ("root", "0")
    # USER comes after the last RUN: nothing that runs at container start runs as root.
    last_run = max(i for i, (op, _) in enumerate(final) if op == "RUN")
    assert max(i for i, (op, _) in enumerate(final) if op == "USER") > last_run
    installs = [rest for op, rest in steps if op == "RUN" and "pip" in rest]
    assert any("[serve]" in rest for rest in installs) and all("--no-cache-dir" in rest for rest in installs)
    entry = [rest for op, rest in final if op == "ENTRYPOINT"][-1]
    assert '"ocrforge", "serve"' in entry
    cmd = yaml.safe_load([rest for op, rest in final if op == "CMD"][-1])
    args = _serve_args(cmd)
    exposed = {int(p) for op, rest in final if op == "EXPOSE" for p in shlex.split(rest)}
    assert exposed == {args.port, args.grpc_port} == {p["containerPort"] for p in _container(manifests)["ports"]}
    # The models travel inside the package (package data), so the wheel carries them.
    import tomllib

    pyproject = tomllib.loads((DEPLOY.parent / "pyproject.toml").read_text())
    assert "models/*.onnx" in pyproject["tool"]["setuptools"]["package-data"]["ocrforge"]
    assert "serving/*.proto" in pyproject["tool"]["setuptools"]["package-data"]["ocrforge"]
