"""deploy/kubernetes: every overlay renders, every object validates against the Kubernetes
schemas, the pods are locked down, RBAC is least-privilege, and what the manifests say
agrees with the code (settings, commands, clusters file, remediation catalog)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml
from click.testing import CliRunner

from bot.cli import cli
from bot.config import Settings
from bot.kube.targets import load_targets
from bot.remediation.catalog import CATALOG, SettingAction
from tests.deploy.manifests import (
    EVERY,
    OVERLAYS,
    REMOTE,
    SECRET_EXAMPLE,
    containers,
    of_kind,
    one,
    pod_spec,
    rendered,
)

# Harvester v1.4 ships Kubernetes 1.30 (RKE2), v1.6 1.33; validate against both ends.
K8S_VERSIONS = ("1.30", "1.33")
WRITE_VERBS = {
    "create",
    "update",
    "patch",
    "delete",
    "deletecollection",
    "bind",
    "escalate",
    "impersonate",
    "approve",
    "sign",
}
READ_VERBS = {"get", "list", "watch"}
RBAC_KINDS = ("ClusterRole", "Role")


def _everything() -> list[tuple[str, dict[str, Any]]]:
    found = [(o, obj) for o in EVERY for obj in rendered(o)]
    found += [("secret.example", d) for d in yaml.safe_load_all(SECRET_EXAMPLE.read_text())]
    return found


@pytest.mark.parametrize("version", K8S_VERSIONS)
def test_every_object_validates_against_the_kubernetes_schemas(version: str) -> None:
    for where, obj in _everything():
        try:
            kubernetes_validate.validate(obj, version, strict=True)
        except kubernetes_validate.ValidationError as e:
            name = f"{obj['kind']}/{obj['metadata']['name']}"
            pytest.fail(f"{where}: {name} invalid at {'.'.join(map(str, e.path))}: {e.message}")


def test_the_schema_validation_rejects_what_kubernetes_would() -> None:
    deployment = one(rendered("sqlite"), "Deployment", "secbot")
    pod_spec(deployment)["containers"][0]["securityContext"]["readOnlyRootFs"] = True  # typo
    with pytest.raises(kubernetes_validate.ValidationError, match="readOnlyRootFs"):
        kubernetes_validate.validate(deployment, K8S_VERSIONS[0], strict=True)
    deployment = one(rendered("sqlite"), "Deployment", "secbot")
    deployment["spec"]["replicas"] = "one"
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, K8S_VERSIONS[0], strict=True)


def _locked_down(workload: dict[str, Any]) -> None:
    assert pod_spec(workload).get("hostNetwork") is not True
    assert pod_spec(workload).get("hostPID") is not True
    assert pod_spec(workload)["securityContext"]["seccompProfile"]["type"] == "RuntimeDefault"
    for c in containers(workload):
        sc = c["securityContext"]
        assert sc["allowPrivilegeEscalation"] is False, c["name"]
        assert sc["readOnlyRootFilesystem"] is True, c["name"]
        assert sc["capabilities"] == {"drop": ["ALL"]}, c["name"]
        assert sc.get("privileged") is not True, c["name"]
        assert c["resources"]["limits"]["memory"], c["name"]


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_the_bot_runs_as_a_locked_down_non_root_user(overlay: str) -> None:
    bot = one(rendered(overlay), "Deployment", "secbot")
    _locked_down(bot)
    assert pod_spec(bot)["securityContext"]["runAsNonRoot"] is True
    assert pod_spec(bot)["securityContext"]["runAsUser"] != 0
    # Pod Security "restricted" allows only these volume types.
    allowed = {"configMap", "emptyDir", "persistentVolumeClaim", "secret", "projected"}
    for volume in pod_spec(bot)["volumes"]:
        assert set(volume) - {"name"} <= allowed, volume


@pytest.mark.parametrize("overlay", EVERY)
def test_the_agent_reads_only_the_rke2_pki_folder(overlay: str) -> None:
    agent = one(rendered(overlay), "DaemonSet", "secbot-agent")
    _locked_down(agent)
    # The agent's only host access: the RKE2 server PKI folder, read-only.
    host = [v for v in pod_spec(agent)["volumes"] if "hostPath" in v]
    assert [v["hostPath"]["path"] for v in host] == ["/var/lib/rancher/rke2/server/tls"]
    mounts = {m["name"]: m for c in containers(agent) for m in c["volumeMounts"]}
    assert all(mounts[v["name"]]["readOnly"] is True for v in host)
    assert pod_spec(agent)["nodeSelector"] == {"node-role.kubernetes.io/control-plane": "true"}
    # Root without capabilities cannot enter the image's WORKDIR (uid 10001, 0750).
    assert {c["workingDir"] for c in containers(agent)} == {"/tmp"}


def test_every_overlay_runs_one_and_the_same_image() -> None:
    images = {
        c["image"]
        for overlay in EVERY
        for o in rendered(overlay)
        if o["kind"] in ("Deployment", "DaemonSet")
        for c in containers(o)
    }
    assert len(images) == 1 and next(iter(images)).startswith("ghcr.io/secbot/secbot:"), images


def test_replicas_and_storage_per_overlay() -> None:
    sqlite = rendered("sqlite")
    deployment = one(sqlite, "Deployment", "secbot")
    assert deployment["spec"]["replicas"] == 1
    assert deployment["spec"]["strategy"] == {"type": "Recreate"}
    for c in containers(deployment):  # the database file is on the claim, in every container
        # In `env`, which wins over envFrom: the Secret cannot point it elsewhere.
        url = {e["name"]: e.get("value") for e in c["env"]}["SECBOT_DATABASE_URL"]
        folder = str(Path(url.removeprefix("sqlite:///")).parent)
        assert {m["mountPath"]: m["name"] for m in c["volumeMounts"]}[folder] == "data"
    claim = next(v for v in pod_spec(deployment)["volumes"] if v["name"] == "data")
    one(sqlite, "PersistentVolumeClaim", claim["persistentVolumeClaim"]["claimName"])
    for overlay in ("postgres", "remediation"):
        objects = rendered(overlay)
        deployment = one(objects, "Deployment", "secbot")
        assert deployment["spec"]["replicas"] == 2
        assert "SECBOT_DATABASE_URL" not in one(objects, "ConfigMap", "secbot-settings")["data"]
        for c in containers(deployment):
            env = {e["name"]: e for e in c["env"]}
            ref = env["SECBOT_DATABASE_URL"]["valueFrom"]["secretKeyRef"]
            assert ref == {"name": "secbot", "key": "SECBOT_DATABASE_URL"}
        one(objects, "PodDisruptionBudget", "secbot")


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_probes_and_service_use_the_health_port(overlay: str) -> None:
    objects = rendered(overlay)
    port = int(one(objects, "ConfigMap", "secbot-settings")["data"]["SECBOT_HEALTH_PORT"])
    bot = next(c for c in containers(one(objects, "Deployment", "secbot")) if c["name"] == "secbot")
    named = {p["name"]: p["containerPort"] for p in bot["ports"]}
    assert named["http-metrics"] == port
    assert bot["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http-metrics"}
    assert bot["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http-metrics"}
    service = one(objects, "Service", "secbot")
    assert {"port": port, "name": "http-metrics", "targetPort": "http-metrics"} in service["spec"][
        "ports"
    ]


def _rules(objects: list[dict[str, Any]]) -> list[tuple[str, dict[str, Any]]]:
    return [
        (o["metadata"]["name"], rule)
        for o in objects
        if o["kind"] in RBAC_KINDS
        for rule in o.get("rules") or []
    ]


@pytest.mark.parametrize("overlay", EVERY)
def test_rbac_has_no_wildcards_and_the_read_role_no_write_verbs(overlay: str) -> None:
    objects = rendered(overlay)
    for role, rule in _rules(objects):
        for field in ("verbs", "resources", "apiGroups", "resourceNames"):
            assert "*" not in (rule.get(field) or []), f"{role}: wildcard in {field}"
        assert all("*" not in r for r in rule.get("resources") or []), role
        assert "nonResourceURLs" not in rule, role
    read = one(objects, "ClusterRole", "secbot-read")
    verbs = {v for rule in read["rules"] for v in rule["verbs"]}
    assert verbs <= READ_VERBS, verbs - READ_VERBS
    # Nothing but the remediation overlay may write outside the bot's own namespace.
    for o in objects:
        if o["kind"] == "ClusterRole" or (
            o["kind"] == "Role" and o["metadata"]["namespace"] not in ("secbot", "secbot-agent")
        ):
            writes = {v for rule in o["rules"] for v in rule["verbs"]} & WRITE_VERBS
            if overlay != "remediation" or o["metadata"]["name"] != "secbot-remediate":
                assert not writes, f"{overlay}: {o['kind']} {o['metadata']['name']} {writes}"


def test_only_the_remediation_overlay_can_write_and_only_the_catalog_settings() -> None:
    for overlay in ("sqlite", "postgres", *REMOTE):
        names = {o["metadata"]["name"] for o in rendered(overlay)}
        assert not {n for n in names if "remediate" in n}, overlay
    objects = rendered("remediation")
    role = one(objects, "ClusterRole", "secbot-remediate")
    settings = {a.setting for a in CATALOG if isinstance(a, SettingAction)}
    (rule,) = role["rules"]
    assert (rule["apiGroups"], rule["resources"]) == (["harvesterhci.io"], ["settings"])
    assert set(rule["resourceNames"]) == settings
    fleet = one(objects, "Role", "secbot-remediate", "fleet-local")
    assert all(r["resourceNames"] == ["local"] for r in fleet["rules"])
    for binding in ("ClusterRoleBinding", "RoleBinding"):
        bound = [b for b in of_kind(objects, binding) if "remediate" in b["metadata"]["name"]]
        assert bound and all(
            b["subjects"] == [{"kind": "ServiceAccount", "name": "secbot", "namespace": "secbot"}]
            for b in bound
        )


@pytest.mark.parametrize("overlay", EVERY)
def test_every_binding_names_an_existing_role_and_account(overlay: str) -> None:
    objects = rendered(overlay)
    accounts = {
        (o["metadata"]["namespace"], o["metadata"]["name"])
        for o in of_kind(objects, "ServiceAccount")
    }
    for b in [*of_kind(objects, "ClusterRoleBinding"), *of_kind(objects, "RoleBinding")]:
        ref = b["roleRef"]
        ns = b["metadata"].get("namespace") if ref["kind"] == "Role" else None
        one(objects, ref["kind"], ref["name"], ns)
        for s in b["subjects"]:
            assert (s["namespace"], s["name"]) in accounts, b["metadata"]["name"]
    for workload in [*of_kind(objects, "Deployment"), *of_kind(objects, "DaemonSet")]:
        namespace = workload["metadata"]["namespace"]
        assert (namespace, pod_spec(workload)["serviceAccountName"]) in accounts


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_the_containers_run_real_secbot_commands(overlay: str) -> None:
    objects = rendered(overlay)
    runner = CliRunner()
    for workload in (
        one(objects, "Deployment", "secbot"),
        one(objects, "DaemonSet", "secbot-agent"),
    ):
        for c in containers(workload):
            result = runner.invoke(cli, [*c["args"], "--help"])
            assert result.exit_code == 0, (c["name"], c["args"], result.output)


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_settings_and_secret_keys_are_settings_the_bot_reads(
    overlay: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    objects = rendered(overlay)
    data = dict(one(objects, "ConfigMap", "secbot-settings")["data"])
    (secret,) = list(yaml.safe_load_all(SECRET_EXAMPLE.read_text()))
    known = {f"SECBOT_{n.upper()}" for n in Settings.model_fields}
    known |= {
        str(a)
        for f in Settings.model_fields.values()
        if f.validation_alias is not None
        for a in getattr(f.validation_alias, "choices", [])
    }
    assert set(data) <= known, set(data) - known
    assert set(secret["stringData"]) <= known, set(secret["stringData"]) - known
    # The clusters file the ConfigMap mounts is one the bot accepts.
    clusters = one(objects, "ConfigMap", "secbot-clusters")["data"]["clusters.yaml"]
    path = tmp_path / "clusters.yaml"
    path.write_text(clusters)
    assert [t.name for t in load_targets(path)] == ["local"]
    assert load_targets(path)[0].in_cluster
    data["SECBOT_CLUSTERS_FILE"] = str(path)
    for key, value in {**data, **secret["stringData"]}.items():
        monkeypatch.setenv(key, value)
    # The template's audit key placeholder is refused: a forgotten one never keys the log.
    with pytest.raises(ValueError, match="at least 32 characters"):
        Settings(_env_file=None)  # type: ignore[call-arg]
    monkeypatch.setenv("SECBOT_AUDIT_HMAC_KEY", "0f" * 32)
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    assert settings.clusters_file == path
    assert settings.health_port == int(data["SECBOT_HEALTH_PORT"])
    assert settings.agent_namespace == "secbot-agent"


@pytest.mark.parametrize("overlay", ["postgres", "remediation"])
def test_the_replicas_elect_a_leader_by_the_lease_the_role_allows(overlay: str) -> None:
    objects = rendered(overlay)
    bot = next(c for c in containers(one(objects, "Deployment", "secbot")) if c["name"] == "secbot")
    env = {e["name"]: e.get("value") for e in bot["env"]}
    assert env["SECBOT_LEADER"] == "kubernetes"
    namespace, name = env["SECBOT_LEADER_LEASE"].split("/")
    role = one(objects, "Role", "secbot-leader", namespace)
    named = [r for r in role["rules"] if r.get("resourceNames")]
    assert any(r["resources"] == ["leases"] and r["resourceNames"] == [name] for r in named)
    assert not [o for o in rendered("sqlite") if o["metadata"]["name"] == "secbot-leader"]


@pytest.mark.parametrize("overlay", EVERY)
def test_only_the_agent_namespace_is_privileged(overlay: str) -> None:
    objects = rendered(overlay)
    levels = {
        o["metadata"]["name"]: o["metadata"]["labels"]["pod-security.kubernetes.io/enforce"]
        for o in of_kind(objects, "Namespace")
    }
    assert levels == {"secbot": "restricted", "secbot-agent": "privileged"}
    for workload in [*of_kind(objects, "Deployment"), *of_kind(objects, "DaemonSet")]:
        namespace = workload["metadata"]["namespace"]
        host = any("hostPath" in v for v in pod_spec(workload).get("volumes", []))
        assert (namespace == "secbot-agent") == host, workload["metadata"]["name"]
    # The agent's namespace holds only the agent: nothing of the bot's for it to reach.
    kinds = {o["kind"] for o in objects if o["metadata"].get("namespace") == "secbot-agent"}
    assert kinds <= {"ServiceAccount", "Role", "RoleBinding", "DaemonSet", "NetworkPolicy"}


@pytest.mark.parametrize("overlay", REMOTE)
def test_a_remote_cluster_gets_the_scanner_and_a_token_but_no_bot(overlay: str) -> None:
    objects = rendered(overlay)
    assert not of_kind(objects, "Deployment") and not of_kind(objects, "ConfigMap")
    token = one(objects, "Secret", "secbot-token", "secbot")
    assert token["type"] == "kubernetes.io/service-account-token"
    assert token["metadata"]["annotations"] == {"kubernetes.io/service-account.name": "secbot"}
    read = one(objects, "ClusterRole", "secbot-read")
    assert read == one(rendered("sqlite"), "ClusterRole", "secbot-read")


def test_the_readme_example_overlay_renders_with_its_image_and_settings(tmp_path: Path) -> None:
    """deploy/README.md's "your own overlay" example, as written, does what it says."""
    import os
    import re as regex

    from tests.deploy.kustomize import render
    from tests.deploy.manifests import KUBECTL, ROOT, kubectl_render

    text = (ROOT / "deploy" / "README.md").read_text()
    block = regex.search(r"```yaml\n# my-secbot/kustomization.yaml\n(.*?)```", text, regex.S)
    assert block is not None
    folder = tmp_path / "my-secbot"
    folder.mkdir()
    repo = os.path.relpath(ROOT, folder)
    (folder / "kustomization.yaml").write_text(block[1].replace("../secbot", repo))
    objects = kubectl_render(folder) if KUBECTL else render(folder)
    images = {
        c["image"]
        for o in objects
        if o["kind"] in ("Deployment", "DaemonSet")
        for c in containers(o)
    }
    assert images == {"registry.example.com/secbot:0.1.0"}
    data = one(objects, "ConfigMap", "secbot-settings")["data"]
    assert (data["SECBOT_ALERT_CHANNEL"], data["SECBOT_TIMEZONE"]) == (
        "#harvester-alerts",
        "Europe/Berlin",
    )
