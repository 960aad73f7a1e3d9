"""The Helm chart, rendered offline: lint, schema, Kubernetes validation, and its promises.

Every variant in ``VARIANTS`` is rendered with Helm's own Go library
(helm-python-sdk) and each built-in manifest is validated with kubernetes-validate in
strict mode (unknown fields refused) against the newest Kubernetes version it knows
and the oldest the chart supports. ServiceMonitor and ScaledObject are CRDs with no
schema in kubernetes-validate; they get a structural check here.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.deploy.conftest import CHART, NAMESPACE, RELEASE, VARIANTS, manifests, render

KUBE_OLDEST = "1.29"
SECRET_SETTINGS = {"GARRISON_DATABASE_URL", "GARRISON_REDIS_URL", "GARRISON_MASTER_KEY",
                   "GARRISON_ALERT_WEBHOOK_SECRET"}
WORKLOADS = {"Deployment", "Job", "StatefulSet", "DaemonSet", "CronJob", "Pod"}


def _kind(docs: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [d for d in docs if d["kind"] == kind]


def _named(docs: list[dict[str, Any]], kind: str, suffix: str) -> dict[str, Any]:
    [doc] = [d for d in _kind(docs, kind) if d["metadata"]["name"].endswith(suffix)]
    return doc


def _pod_specs(docs: list[dict[str, Any]]) -> list[tuple[str, dict[str, Any]]]:
    out = []
    for doc in docs:
        if doc["kind"] in WORKLOADS:
            template = doc["spec"].get("jobTemplate", {}).get("spec", doc["spec"])
            out.append((f"{doc['kind']}/{doc['metadata']['name']}",
                        template["template"]["spec"]))
    return out


def _containers(spec: dict[str, Any]) -> list[dict[str, Any]]:
    return [*spec.get("initContainers", []), *spec["containers"],
            *spec.get("ephemeralContainers", [])]


# -- lint and schema ---------------------------------------------------------------
@pytest.mark.parametrize("name", sorted(VARIANTS))
def test_helm_lint_is_clean(name) -> None:
    import helm_python as helm

    report = helm.lint(str(CHART), values=VARIANTS[name], strict=True, namespace=NAMESPACE)
    problems = [m for m in report["messages"] if m["severity"] >= 2]
    assert problems == [] and report["errors"] == []


@pytest.mark.parametrize(("values", "where"), [
    ({"settings": {"GARRISON_DATABASE_URL": "postgresql://u:p@db/g"}},
     "propertyName 'GARRISON_DATABASE_URL'"),
    ({"settings": {"GARRISON_MASTER_KEY": "AAAA"}}, "propertyName 'GARRISON_MASTER_KEY'"),
    ({"settings": {"PATH": "/tmp"}}, "propertyName 'PATH'"),
    ({"image": {"digest": "sha256:abc"}}, "'/image/digest'"),
    ({"containerSecurityContext": {"allowPrivilegeEscalation": True}},
     "'/containerSecurityContext/allowPrivilegeEscalation'"),
    ({"containerSecurityContext": {"readOnlyRootFilesystem": False}},
     "'/containerSecurityContext/readOnlyRootFilesystem'"),
    ({"podSecurityContext": {"runAsNonRoot": False}}, "'/podSecurityContext/runAsNonRoot'"),
    ({"containerSecurityContext": {"capabilities": {"drop": ["ALL"], "add": ["NET_ADMIN"]}}},
     "'/containerSecurityContext/capabilities/add'"),
    ({"secrets": {"defaultMode": 0o644}}, "'/secrets/defaultMode'"),
    ({"artifacts": {"store": "s3"}}, "'/artifacts/s3/bucket'"),
    ({"gateway": {"autoscaling": {"metric": "memory"}}}, "'/gateway/autoscaling/metric'"),
    ({"gateway": {"typo": 1}}, "'/gateway'"),
])
def test_the_schema_refuses_unsafe_or_wrong_values(values, where) -> None:
    from helm_python import HelmValuesError

    with pytest.raises(HelmValuesError) as info:
        render(values)
    assert where in str(info.value)
    assert "postgresql://u:p@db/g" not in str(info.value)


def test_local_store_needs_a_claim() -> None:
    from helm_python import HelmError

    with pytest.raises(HelmError, match="ReadWriteMany"):
        manifests({"artifacts": {"store": "local", "local": {"create": False}}})


# -- Kubernetes validation ---------------------------------------------------------
def test_every_manifest_validates_strictly(variant) -> None:
    import kubernetes_validate
    from kubernetes_validate.utils import latest_version

    name, docs = variant
    crds = {"monitoring.coreos.com/v1": "ServiceMonitor", "keda.sh/v1alpha1": "ScaledObject"}
    for doc in docs:
        if crds.get(doc["apiVersion"]) == doc["kind"]:
            _check_crd_shape(doc)
            continue
        for version in (latest_version(), KUBE_OLDEST):
            kubernetes_validate.validate(doc, version, strict=True)
        assert doc["metadata"]["namespace"] == NAMESPACE, doc["metadata"]["name"]


def _check_crd_shape(doc: dict[str, Any]) -> None:
    """The fields the operators require (their CRD schemas are not available offline)."""
    spec = doc["spec"]
    if doc["kind"] == "ServiceMonitor":
        assert set(spec) <= {"selector", "namespaceSelector", "endpoints", "jobLabel"}
        assert spec["selector"]["matchLabels"]["app.kubernetes.io/component"] == "gateway"
        [endpoint] = spec["endpoints"]
        assert endpoint["port"] == "http" and endpoint["path"] == "/metrics"
        assert endpoint["authorization"]["type"] == "Bearer"
        assert set(endpoint["authorization"]["credentials"]) == {"name", "key"}
    else:
        assert set(spec) <= {"scaleTargetRef", "minReplicaCount", "maxReplicaCount",
                             "pollingInterval", "cooldownPeriod", "advanced", "triggers"}
        assert spec["scaleTargetRef"]["kind"] == "Deployment"
        [trigger] = spec["triggers"]
        assert trigger["type"] == "prometheus" and trigger["metricType"] == "AverageValue"
        assert set(trigger["metadata"]) == {"serverAddress", "query", "threshold"}
        assert "garrison_inflight_requests" in trigger["metadata"]["query"]
        behavior = spec["advanced"]["horizontalPodAutoscalerConfig"]["behavior"]
        assert behavior["scaleDown"]["stabilizationWindowSeconds"] > 0


# -- Pod Security Standards: restricted ---------------------------------------------
_ALLOWED_VOLUMES = {"configMap", "csi", "downwardAPI", "emptyDir", "ephemeral",
                    "persistentVolumeClaim", "projected", "secret"}


def test_every_pod_spec_meets_the_restricted_profile(variant) -> None:
    """The Pod Security Standards "restricted" rules (baseline included), one by one."""
    name, docs = variant
    pods = _pod_specs(docs)
    assert {p.split("/")[0] for p, _ in pods} == {"Deployment", "Job"}
    for where, spec in pods:
        pod_ctx = spec.get("securityContext", {})
        for field in ("hostNetwork", "hostPID", "hostIPC", "hostUsers"):
            assert spec.get(field, field == "hostUsers") is (field == "hostUsers"), where
        for volume in spec.get("volumes", []):
            kinds = set(volume) - {"name"}
            assert kinds <= _ALLOWED_VOLUMES, (where, volume)
        assert pod_ctx.get("runAsNonRoot") is True, where
        assert pod_ctx.get("runAsUser", 1) != 0, where
        assert pod_ctx.get("seccompProfile", {}).get("type") in ("RuntimeDefault",
                                                                 "Localhost"), where
        for sysctl in pod_ctx.get("sysctls", []):
            pytest.fail(f"{where}: sysctl {sysctl['name']} set")
        assert "windowsOptions" not in pod_ctx or not pod_ctx["windowsOptions"].get(
            "hostProcess"), where
        for container in _containers(spec):
            ctx = container.get("securityContext", {})
            label = f"{where}/{container['name']}"
            assert ctx.get("privileged", False) is False, label
            assert ctx.get("allowPrivilegeEscalation") is False, label
            assert ctx.get("runAsNonRoot", pod_ctx.get("runAsNonRoot")) is True, label
            assert ctx.get("runAsUser", 1) != 0, label
            assert "ALL" in ctx.get("capabilities", {}).get("drop", []), label
            assert set(ctx.get("capabilities", {}).get("add", [])) <= {"NET_BIND_SERVICE"}
            seccomp = ctx.get("seccompProfile", pod_ctx.get("seccompProfile", {}))
            assert seccomp.get("type") in ("RuntimeDefault", "Localhost"), label
            assert ctx.get("procMount", "Default") == "Default", label
            assert ctx.get("readOnlyRootFilesystem") is True, label  # Beyond the profile.
            assert all("hostPort" not in p for p in container.get("ports", [])), label
            selinux = ctx.get("seLinuxOptions", {})
            assert selinux.get("type", "") in ("", "container_t", "container_init_t",
                                               "container_kvm_t"), label
            assert ctx.get("appArmorProfile", {}).get("type", "RuntimeDefault") != \
                "Unconfined", label


def test_no_pod_gets_a_service_account_token(variant) -> None:
    name, docs = variant
    for where, spec in _pod_specs(docs):
        assert spec["automountServiceAccountToken"] is False, where
    for account in _kind(docs, "ServiceAccount"):
        assert account["automountServiceAccountToken"] is False


# -- secrets -------------------------------------------------------------------------
def test_secrets_are_referenced_by_name_and_mounted_as_files(variant) -> None:
    name, docs = variant
    assert _kind(docs, "Secret") == [] and _kind(docs, "ConfigMap") == []
    values = VARIANTS[name]
    for where, spec in _pod_specs(docs):
        for container in _containers(spec):
            for env in container.get("env", []):
                assert "valueFrom" not in env, (where, env["name"])
                assert env["name"] not in SECRET_SETTINGS, (where, env["name"])
            assert "envFrom" not in container, where
        for volume in spec["volumes"]:
            if "secret" in volume:
                assert volume["secret"]["defaultMode"] == 0o400, (where, volume["name"])
    keys_name = values.get("secrets", {}).get("keys", "garrison-keys")
    gateway = _named(docs, "Deployment", "-gateway")["spec"]["template"]["spec"]
    [keys] = [v for v in gateway["volumes"] if v["name"] == "keys"]
    assert keys["secret"]["secretName"] == keys_name
    [signing] = [v for v in gateway["volumes"] if v["name"] == "model-signing-keys"]
    assert signing["secret"]["secretName"] == values.get("secrets", {}).get(
        "modelSigningKeys", "garrison-keys-model-signing")
    mounts = {m["name"]: m for m in gateway["containers"][0]["volumeMounts"]}
    assert mounts["keys"]["readOnly"] is True
    assert mounts["model-signing-keys"]["readOnly"] is True


def test_the_migration_job_mounts_the_database_url_and_nothing_else(variant) -> None:
    name, docs = variant
    job = _named(docs, "Job", "-migrate")
    spec = job["spec"]["template"]["spec"]
    secrets = [v["secret"] for v in spec["volumes"] if "secret" in v]
    assert secrets == [{"secretName": "garrison-settings", "defaultMode": 0o400,
                        "items": [{"key": "database_url", "path": "database_url"}]}]
    assert spec["containers"][0]["args"] == ["db", "upgrade"]
    hooks = job["metadata"]["annotations"]
    assert hooks["helm.sh/hook"] == "pre-install,pre-upgrade"
    assert spec["serviceAccountName"] == f"{RELEASE}-garrison-migrate"
    account = _named(docs, "ServiceAccount", "-migrate")
    assert int(account["metadata"]["annotations"]["helm.sh/hook-weight"]) < int(
        hooks["helm.sh/hook-weight"])  # The account exists before the Job runs.


# -- the gateway's availability promises -----------------------------------------------
def test_probes_follow_the_gateway_readiness_rule(variant) -> None:
    name, docs = variant
    gateway = _named(docs, "Deployment", "-gateway")
    spec = gateway["spec"]["template"]["spec"]
    [container] = spec["containers"]
    assert container["startupProbe"]["httpGet"]["path"] == "/v2/health/ready"
    assert container["readinessProbe"]["httpGet"]["path"] == "/v2/health/ready"
    assert container["livenessProbe"]["httpGet"]["path"] == "/v2/health/live"
    env = {e["name"]: e["value"] for e in container["env"]}
    delay, drain = float(env["GARRISON_SHUTDOWN_DELAY"]), float(env["GARRISON_DRAIN_TIMEOUT"])
    readiness = container["readinessProbe"]
    # Readiness fails at the first probe after SIGTERM: that must fall inside the delay.
    assert readiness["periodSeconds"] * readiness["failureThreshold"] < delay
    assert spec["terminationGracePeriodSeconds"] > delay + drain
    assert gateway["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"] == 0
    for kind_name in ("-gateway", "-admin"):
        for c in _named(docs, "Deployment", kind_name)["spec"]["template"]["spec"][
                "containers"]:
            assert set(c["resources"]) == {"requests", "limits"}
            assert set(c["resources"]["requests"]) == set(c["resources"]["limits"]) == {
                "cpu", "memory"}


def test_autoscaling_disruption_budget_and_spread(variant) -> None:
    name, docs = variant
    values = VARIANTS[name]
    scaling = values.get("gateway", {}).get("autoscaling", {})
    hpas, scaled = _kind(docs, "HorizontalPodAutoscaler"), _kind(docs, "ScaledObject")
    if scaling.get("enabled", True) is False:
        assert hpas == scaled == []
        assert _named(docs, "Deployment", "-gateway")["spec"]["replicas"] == 3
    elif scaling.get("inflight", {}).get("provider") == "keda":
        assert hpas == [] and len(scaled) == 1  # KEDA owns the HPA it makes.
        assert "replicas" not in _named(docs, "Deployment", "-gateway")["spec"]
    else:
        [hpa] = hpas
        assert hpa["apiVersion"] == "autoscaling/v2"
        [metric] = hpa["spec"]["metrics"]
        if scaling.get("metric", "cpu") == "cpu":
            assert metric["resource"]["name"] == "cpu"
        else:
            assert metric["pods"]["metric"]["name"] == "garrison_inflight_requests"
        assert hpa["spec"]["behavior"]["scaleDown"]["stabilizationWindowSeconds"] >= 60
        assert "replicas" not in _named(docs, "Deployment", "-gateway")["spec"]
    for pdb in _kind(docs, "PodDisruptionBudget"):
        assert ("maxUnavailable" in pdb["spec"]) != ("minAvailable" in pdb["spec"])
    gateway = _named(docs, "Deployment", "-gateway")["spec"]["template"]["spec"]
    keys = {c["topologyKey"] for c in gateway["topologySpreadConstraints"]}
    assert keys == {"topology.kubernetes.io/zone", "kubernetes.io/hostname"}


def test_network_policies_deny_by_default_and_cover_every_pod(variant) -> None:
    name, docs = variant
    policies = _kind(docs, "NetworkPolicy")
    [deny] = [p for p in policies if p["metadata"]["name"].endswith("-default-deny")]
    assert deny["spec"]["policyTypes"] == ["Ingress", "Egress"]
    assert "ingress" not in deny["spec"] and "egress" not in deny["spec"]
    for where, spec in _pod_specs(docs):
        owner = next(d for d in docs if f"{d['kind']}/{d['metadata']['name']}" == where)
        labels = owner["spec"]["template"]["metadata"]["labels"]
        own = [p for p in policies if not p["metadata"]["name"].endswith("-default-deny")
               and p["spec"]["podSelector"]["matchLabels"].items() <= labels.items()]
        assert len(own) == 1, where
        [policy] = own
        egress_ports = {port["port"] for rule in policy["spec"].get("egress", [])
                        for port in rule["ports"]}
        component = labels["app.kubernetes.io/component"]
        if component == "migrate":
            assert egress_ports == {53, 5432} and "ingress" not in policy["spec"]
            continue
        assert {53, 5432, 6379} <= egress_ports
        store = VARIANTS[name].get("artifacts", {}).get("store", "local")
        assert (443 in egress_ports) is (store == "s3")
        [ingress_ports] = [{p["port"] for p in rule["ports"]}
                           for rule in policy["spec"]["ingress"][:1]]
        assert ingress_ports == {"http"}


def test_production_pins_the_image_by_digest() -> None:
    docs = manifests(VARIANTS["production"])
    for where, spec in _pod_specs(docs):
        for container in _containers(spec):
            assert "@sha256:" in container["image"], where
            assert len(container["image"].split("@sha256:")[1]) == 64
    default = manifests({})
    for where, spec in _pod_specs(default):
        assert spec["containers"][0]["image"].endswith(":0.1.0"), where


def test_the_chart_creates_no_rbac_and_no_cluster_scoped_object(variant) -> None:
    name, docs = variant
    kinds = {d["kind"] for d in docs}
    assert not kinds & {"Role", "RoleBinding", "ClusterRole", "ClusterRoleBinding",
                        "Namespace", "PodSecurityPolicy"}
