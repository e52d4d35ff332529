"""Every catalog action against the fake kube-apiserver, through the real KubeClient.

Aspects: plan -> dry run accepted -> apply writes exactly the planned value (never
``default``) -> verified; a webhook refusal on the dry run (422, or 500 "denied the
request") is the plan's dry_run text, masked, not an exception, while other API errors
raise; failed preconditions are UserErrors with the reason; drift (resourceVersion or
value, or the control plane leaving Ready) between plan and apply raises Drift and
writes nothing; noProxy keeps every byte; refused and unknown ids; catalog and check
registry agree.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from bot.checks.registry import builtin_checks
from bot.errors import UserError
from bot.kube.client import KubeClient, KubeTarget, Timeouts
from bot.kube.errors import KubeForbidden, KubeInvalid, KubeUnavailable
from bot.remediation import (
    CATALOG,
    REFUSED,
    Drift,
    FindingRef,
    PlanOptions,
    apply_plan,
    get_action,
    plan_remediation,
)
from tests.fakes.kube_api import FakeKubeAPI

NOW = datetime(2026, 6, 1, 9, 0, tzinfo=UTC)
SETTINGS = "harvesterhci.io/v1beta1"
CANARY = "CanaryProxyPw-c4t"
PROXY = (
    f'{{"httpProxy": "http://ops:{CANARY}@proxy.corp:3128",\n'
    '  "noProxy": "localhost, .svc,192.168.0.10"}'
)
SSL_WEAK = (
    '{"protocols":"SSLv3 TLSv1 TLSv1.2",'
    '"ciphers":"HIGH:!aNULL:RC4-SHA:ECDHE-RSA-AES128-GCM-SHA256"}'
)
TLS_WEAK = (
    '{"minVersion":"VersionTLS10","sniStrict":true,'
    '"cipherSuites":["TLS_RSA_WITH_3DES_EDE_CBC_SHA","TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256"]}'
)
TLS_DEFAULT = '{"minVersion":"VersionTLS12", "maxVersion":"VersionTLS13"}'
ROTATE_DEFAULT = '{"enable":false,"expiringInHours":240}'


def setting(name: str, value: str | None, default: str = "{}") -> dict[str, Any]:
    obj: dict[str, Any] = {"apiVersion": SETTINGS, "kind": "Setting", "metadata": {"name": name}}
    obj["default"] = default
    if value is not None:
        obj["value"] = value
    return obj


def cluster(generation: int, **rotate: Any) -> dict[str, Any]:
    meta = {"name": "local", "namespace": "fleet-local"}
    spec = {"rkeConfig": {"rotateCertificates": {"generation": generation, **rotate}}}
    return {
        "apiVersion": "provisioning.cattle.io/v1",
        "kind": "Cluster",
        "metadata": meta,
        "spec": spec,
    }


def control_plane(
    spec: int, reached: int, ready: str | None = "True", msg: str = ""
) -> dict[str, Any]:
    meta = {"name": "local", "namespace": "fleet-local"}
    conditions = [{"type": "Ready", "status": ready, "message": msg}] if ready else []
    status = {"certificateRotationGeneration": reached, "conditions": conditions}
    return {
        "apiVersion": "rke.cattle.io/v1",
        "kind": "RKEControlPlane",
        "metadata": meta,
        "spec": {"rotateCertificates": {"generation": spec}},
        "status": status,
    }


def objects() -> list[dict[str, Any]]:
    return [
        setting("http-proxy", PROXY),
        setting("auto-rotate-rke2-certs", None, ROTATE_DEFAULT),
        setting("ssl-parameters", SSL_WEAK),
        setting("traefik-default-tls-options", TLS_WEAK, TLS_DEFAULT),
        cluster(2, services=["etcd"]),
        control_plane(2, 2),
    ]


@pytest.fixture
def api() -> Iterator[FakeKubeAPI]:
    with FakeKubeAPI(objects=objects()) as fake:
        yield fake


@pytest.fixture
def client(api: FakeKubeAPI, tmp_path: Path) -> Iterator[KubeClient]:
    path = api.write_kubeconfig(tmp_path / "kubeconfig")
    with KubeClient.connect(
        KubeTarget(name="t", kubeconfig=path), timeouts=Timeouts(retries=0)
    ) as c:
        yield c


def finding(check_id: str, resource: str, **evidence: Any) -> FindingRef:
    return FindingRef("F-7", "c1", check_id, resource, evidence)


NOPROXY = finding(
    "http-proxy-noproxy-missing-nodes",
    "Setting//http-proxy#value.noProxy",
    missing_ips=("192.168.0.11", "192.168.0.12"),
)
APISERVER = finding(
    "cert-expiring",
    "TLSEndpoint//192.168.0.10:6443#chain[0]",
    subject="CN=kube-apiserver",
    issuer="CN=rke2-server-ca@1700000000",
)
PROXY_AFTER = PROXY.replace(".svc,192.168.0.10", ".svc,192.168.0.10,192.168.0.11,192.168.0.12")
SHOWN = '{"httpProxy":"http://ops:****@proxy.corp:3128","noProxy":"localhost, .svc,192.168.0.10%s"}'


def stored(api: FakeKubeAPI, name: str) -> dict[str, Any]:
    obj = api.get(SETTINGS, "Setting", name)
    assert obj is not None
    return obj


class Recorder:
    """An admission webhook that admits everything and remembers (old, new)."""

    def __init__(self) -> None:
        self.seen: list[tuple[dict[str, Any], dict[str, Any]]] = []

    def __call__(self, old: dict[str, Any], new: dict[str, Any]) -> str | None:
        self.seen.append((old, new))
        return None


ENABLED = '{"enable":true,"expiringInHours":240}'
SSL_SAFE = '{"protocols":"TLSv1.2 TLSv1.3","ciphers":"HIGH:!aNULL:ECDHE-RSA-AES128-GCM-SHA256"}'
TLS_SAFE = (
    '{"minVersion":"VersionTLS12","sniStrict":true,'
    '"cipherSuites":["TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256"]}'
)
LOOPING = '{"enable":true,"expiringInHours":8759}'
CASES = {
    "enable-auto-rotate": (
        finding("auto-rotate-disabled", "Setting//auto-rotate-rke2-certs#value"),
        None,
        ("- (unset)", f"+ {ENABLED}"),
        ENABLED,
    ),
    "fix-auto-rotate-window": (
        finding("auto-rotate-window", "Setting//auto-rotate-rke2-certs#value.expiringInHours"),
        setting("auto-rotate-rke2-certs", LOOPING, ROTATE_DEFAULT),
        (f"- {LOOPING}", f"+ {ENABLED}"),
        ENABLED,
    ),
    "add-noproxy-node-ips": (
        NOPROXY,
        None,
        (f"- {SHOWN % ''}", f"+ {SHOWN % ',192.168.0.11,192.168.0.12'}"),
        PROXY_AFTER,
    ),
    "harden-ssl-protocols": (
        finding("ssl-weak-protocols", "Setting//ssl-parameters#value.protocols"),
        None,
        (f"- {SSL_WEAK}", f"+ {SSL_SAFE}"),
        SSL_SAFE,
    ),
    "harden-tls-options": (
        finding("tls-options-weak", "Setting//traefik-default-tls-options#value.minVersion"),
        None,
        (f"- {TLS_WEAK}", f"+ {TLS_SAFE}"),
        TLS_SAFE,
    ),
}


@pytest.mark.parametrize("action_id", sorted(CASES))
def test_setting_action_plans_dry_runs_applies_and_verifies(
    api: FakeKubeAPI, client: KubeClient, action_id: str
) -> None:
    ref, setup, diff, written = CASES[action_id]
    if setup:
        api.add(setup)
    name = ref.resource.split("/")[2].split("#")[0]
    before = stored(api, name)
    api.on_patch = webhook = Recorder()
    plan = plan_remediation(client, action_id=None, finding=ref, now=NOW)
    assert (plan.action, plan.dry_run, plan.accepted) == (action_id, "accepted", True)
    assert (plan.risk, plan.approvals_required, plan.field, plan.created_at) == (
        "low",
        1,
        "value",
        NOW,
    )
    assert plan.resource_version == before["metadata"]["resourceVersion"]
    assert plan.diff_lines() == diff
    assert stored(api, name) == before  # the dry run stored nothing
    action = get_action(action_id)
    assert not action.verified(before, plan)
    apply_plan(client, plan=plan)
    after = stored(api, name)
    assert after["value"] == written
    assert action.verified(after, plan)
    assert len(webhook.seen) == 2  # the dry run, then the write
    for old, new in webhook.seen:  # value changes; default and the rest never do
        assert new["value"] == written
        assert {k: v for k, v in new.items() if k != "value"} == {
            k: v for k, v in old.items() if k != "value"
        }
    assert plan.patch is None or set(plan.patch) == {"value"}
    assert CANARY not in plan.to_json() + "".join(plan.diff_lines()) + repr(plan)


def test_noproxy_plan_stores_ips_not_the_patch(client: KubeClient) -> None:
    plan = plan_remediation(client, action_id="add-noproxy-node-ips", finding=NOPROXY, now=NOW)
    assert (plan.patch, plan.add_noproxy) == (None, ("192.168.0.11", "192.168.0.12"))
    assert plan.preconditions == (
        "http-proxy value sets a proxy URL, so every node IP must be in noProxy",
        "noProxy does not cover 192.168.0.11, 192.168.0.12 (named by the finding)",
    )
    assert json.loads(plan.to_json())["add_noproxy"] == ["192.168.0.11", "192.168.0.12"]


def test_noproxy_adds_only_the_ips_still_missing(api: FakeKubeAPI, client: KubeClient) -> None:
    api.add(setting("http-proxy", PROXY.replace("192.168.0.10", "192.168.0.10,192.168.0.11")))
    plan = plan_remediation(client, action_id=None, finding=NOPROXY, now=NOW)
    assert plan.add_noproxy == ("192.168.0.12",)
    apply_plan(client, plan=plan)
    assert stored(api, "http-proxy")["value"] == PROXY.replace(
        "192.168.0.10", "192.168.0.10,192.168.0.11,192.168.0.12"
    )


def test_rotate_plans_dry_runs_applies_and_verifies(api: FakeKubeAPI, client: KubeClient) -> None:
    plan = plan_remediation(client, action_id=None, finding=APISERVER, now=NOW)
    assert (plan.action, plan.dry_run, plan.risk, plan.approvals_required) == (
        "rotate-rke2-certs",
        "accepted",
        "high",
        2,
    )
    assert plan.diff_lines() == ('- {"generation":2,"services":["etcd"]}', '+ {"generation":3}')
    assert plan.patch == {
        "spec": {"rkeConfig": {"rotateCertificates": {"generation": 3, "services": None}}}
    }
    assert plan.preconditions == (
        "rkecontrolplane fleet-local/local is Ready (Ready=True)",
        "no rotation in progress: generation 2 is requested, accepted and reached "
        "(cluster spec = control plane spec = status)",
    )
    assert plan.notes[0].startswith("the rotation restarts the RKE2 control plane")
    assert "reaches 3" in plan.notes[2]
    apply_plan(client, plan=plan)
    stored_cluster = api.get("provisioning.cattle.io/v1", "Cluster", "local", "fleet-local")
    assert stored_cluster is not None
    assert stored_cluster["spec"]["rkeConfig"]["rotateCertificates"] == {"generation": 3}
    action = get_action("rotate-rke2-certs")
    target = action.verify_target(plan)
    fresh = api.get(target.api_version, target.kind, target.name, target.namespace)
    assert fresh is not None and not action.verified(fresh, plan)
    api.add(control_plane(3, 3))
    fresh = api.get(target.api_version, target.kind, target.name, target.namespace)
    assert fresh is not None and action.verified(fresh, plan)


def test_webhook_refusal_on_dry_run_is_shown_in_the_plan(
    api: FakeKubeAPI, client: KubeClient
) -> None:
    api.on_patch = lambda old, new: (
        "noProxy should contain the node's IP addresses or CIDR. "
        "The node(s) 192.168.0.13 are not covered."
    )
    plan = plan_remediation(client, action_id=None, finding=NOPROXY, now=NOW)
    assert plan.dry_run == (
        '422 Invalid: Setting.harvesterhci.io "http-proxy" is invalid: noProxy should contain '
        "the node's IP addresses or CIDR. The node(s) 192.168.0.13 are not covered."
    )
    assert not plan.accepted
    assert stored(api, "http-proxy")["value"] == PROXY


def test_webhook_echoing_the_value_never_leaks_the_password(
    api: FakeKubeAPI, client: KubeClient
) -> None:
    api.on_patch = lambda old, new: f"bad value {new['value'][:60]}"
    plan = plan_remediation(client, action_id=None, finding=NOPROXY, now=NOW)
    assert CANARY not in plan.dry_run and CANARY not in plan.to_json()
    assert plan.dry_run.startswith('422 Invalid: Setting.harvesterhci.io "http-proxy" is invalid: ')


def test_refusal_of_the_real_write_never_leaks_the_password(
    api: FakeKubeAPI, client: KubeClient
) -> None:
    plan = plan_remediation(client, action_id=None, finding=NOPROXY, now=NOW)
    api.on_patch = lambda old, new: f"bad value {new['value'][:60]}"
    with pytest.raises(KubeInvalid) as caught:
        apply_plan(client, plan=plan)
    assert str(caught.value) == caught.value.message
    assert caught.value.message == (
        '422 Invalid: Setting.harvesterhci.io "http-proxy" is invalid: bad value '
        '{"httpProxy": "****"'
    )
    assert stored(api, "http-proxy")["value"] == PROXY


def test_webhook_denial_as_500_is_shown_in_the_plan(api: FakeKubeAPI, client: KubeClient) -> None:
    denial = 'admission webhook "validator.harvesterhci.io" denied the request: json: bad'
    path = "/apis/harvesterhci.io/v1beta1/settings/traefik-default-tls-options"
    api.fail(path, 500, method="PATCH", times=1, message=denial)
    ref = finding("tls-options-weak", "Setting//traefik-default-tls-options#value.minVersion")
    plan = plan_remediation(client, action_id=None, finding=ref, now=NOW)
    assert plan.dry_run == f"500 InternalError: Internal error occurred: {denial}"


def test_other_api_errors_raise(api: FakeKubeAPI, client: KubeClient) -> None:
    api.deny(verb="patch", resource="settings", group="harvesterhci.io")
    with pytest.raises(KubeForbidden):
        plan_remediation(client, action_id=None, finding=NOPROXY, now=NOW)
    api.fail("/apis/harvesterhci.io/v1beta1/settings/http-proxy", 500, method="PATCH", times=1)
    api.clear_denials()
    with pytest.raises(KubeUnavailable):
        plan_remediation(client, action_id=None, finding=NOPROXY, now=NOW)


ROTATE_FINDING = APISERVER
PRECONDITIONS = [
    (
        ROTATE_FINDING,
        control_plane(2, 1),
        "a certificate rotation is in progress (generation 2 requested, 2 accepted, "
        "1 reached); wait until it finishes",
    ),
    (
        ROTATE_FINDING,
        cluster(3),
        "a certificate rotation is in progress (generation 3 requested, 2 accepted, "
        "2 reached); wait until it finishes",
    ),
    (
        ROTATE_FINDING,
        control_plane(2, 2, "False", "etcd is unhealthy"),
        "the RKE2 control plane fleet-local/local is not Ready (Ready=False: etcd is "
        "unhealthy); rotate certificates only on a healthy control plane",
    ),
    (
        ROTATE_FINDING,
        control_plane(2, 2, None),
        "the RKE2 control plane fleet-local/local is not Ready (no Ready condition); "
        "rotate certificates only on a healthy control plane",
    ),
    (
        CASES["enable-auto-rotate"][0],
        setting("auto-rotate-rke2-certs", '{"enable":true,"expiringInHours":720}'),
        "auto-rotate-rke2-certs is already enabled (expiringInHours=720); nothing to change",
    ),
    (
        CASES["fix-auto-rotate-window"][0],
        setting("auto-rotate-rke2-certs", '{"enable":true,"expiringInHours":720}'),
        "expiringInHours=720 is already within the policy window 72..8040 h; nothing to change",
    ),
    (
        CASES["fix-auto-rotate-window"][0],
        setting("auto-rotate-rke2-certs", '{"enable":false,"expiringInHours":8759}'),
        "auto-rotate-rke2-certs is disabled; use enable-auto-rotate",
    ),
    (
        NOPROXY,
        setting("http-proxy", '{"httpProxy":"http://p:3128","noProxy":"192.168.0.0/24"}'),
        "noProxy already covers the node IPs the finding named; scan again",
    ),
    (
        NOPROXY,
        setting("http-proxy", '{"noProxy":"a"}'),
        "http-proxy sets no proxy URL, so noProxy does not matter; nothing to change",
    ),
    (
        NOPROXY,
        setting("http-proxy", None, PROXY),
        "http-proxy is set through its default (HARVESTER_HTTP_PROXY_DEFAULT_VALUE), which "
        "secbot never patches: change noProxy there",
    ),
    (
        CASES["harden-ssl-protocols"][0],
        setting("ssl-parameters", '{"protocols":"TLSv1.2","ciphers":"RC4-SHA"}'),
        "ssl-parameters enables no weak protocol; nothing to change",
    ),
    (
        CASES["harden-ssl-protocols"][0],
        setting("ssl-parameters", '{"protocols": 5}'),
        "ssl-parameters value does not decode (json: cannot unmarshal number into Go struct "
        "field SSLParameter.protocols of type string); fix it by hand first",
    ),
    (
        CASES["harden-tls-options"][0],
        setting("traefik-default-tls-options", None, TLS_DEFAULT),
        "traefik-default-tls-options allows no weak TLS; nothing to change",
    ),
]


@pytest.mark.parametrize(("ref", "state", "message"), PRECONDITIONS)
def test_failed_preconditions_are_user_errors(
    api: FakeKubeAPI, client: KubeClient, ref: FindingRef, state: dict[str, Any], message: str
) -> None:
    api.add(state)
    with pytest.raises(UserError) as caught:
        plan_remediation(client, action_id=None, finding=ref, now=NOW)
    assert str(caught.value) == message
    assert api.requests_to("/apis", method="PATCH") == []


def test_missing_setting_names_the_version(api: FakeKubeAPI, client: KubeClient) -> None:
    assert api.remove(SETTINGS, "Setting", "traefik-default-tls-options")
    with pytest.raises(UserError) as caught:
        plan_remediation(client, action_id=None, finding=CASES["harden-tls-options"][0], now=NOW)
    assert str(caught.value) == (
        "Setting traefik-default-tls-options does not exist on this cluster "
        "(the setting exists on Harvester v1.9 and later)"
    )


def test_drift_between_plan_and_apply(api: FakeKubeAPI, client: KubeClient) -> None:
    plan = plan_remediation(client, action_id=None, finding=NOPROXY, now=NOW)
    api.add(setting("http-proxy", PROXY))  # same value, new resourceVersion
    with pytest.raises(Drift) as moved:
        apply_plan(client, plan=plan)
    assert str(moved.value).startswith("Setting http-proxy changed since the plan (resourceVersion")
    changed = PROXY.replace("localhost", "localhost,10.9.9.9")
    api.add(setting("http-proxy", changed))
    with pytest.raises(Drift):
        apply_plan(client, plan=plan)
    assert stored(api, "http-proxy")["value"] == changed
    current = stored(api, "http-proxy")  # the same resourceVersion, another value
    current["metadata"]["resourceVersion"] = plan.resource_version
    with pytest.raises(Drift) as value:
        get_action(plan.action).build_patch(plan, current)
    assert (
        str(value.value)
        == "Setting http-proxy value is no longer the planned value; make a new plan"
    )


def test_rotate_refuses_when_the_control_plane_leaves_ready(
    api: FakeKubeAPI, client: KubeClient
) -> None:
    plan = plan_remediation(client, action_id=None, finding=APISERVER, now=NOW)
    api.add(control_plane(2, 2, "False", "probe failed"))
    with pytest.raises(Drift) as caught:
        apply_plan(client, plan=plan)
    assert str(caught.value) == (
        "the RKE2 control plane fleet-local/local is not Ready (Ready=False: probe failed); "
        "rotate certificates only on a healthy control plane; make a new plan later"
    )
    stored_cluster = api.get("provisioning.cattle.io/v1", "Cluster", "local", "fleet-local")
    assert stored_cluster is not None
    assert stored_cluster["spec"]["rkeConfig"]["rotateCertificates"]["generation"] == 2


@pytest.mark.parametrize(
    ("resource", "evidence", "reason"),
    [
        ("File//server/tls/serving-kube-apiserver.crt#[0]", {}, None),
        ("File//kube-scheduler/kube-scheduler.crt#[0]", {}, None),
        ("File//agent/client-kubelet.crt", {}, None),
        ("TLSEndpoint//[fd00::1]:10259#chain[0]", {}, None),
        (
            "File//server/tls/client-ca.crt#[0]",
            {"subject": "CN=rke2-client-ca", "issuer": "CN=rke2-client-ca"},
            "the certificate is a self-signed CA: the rotation renews leaf certificates only "
            "(RKE2 CAs are renewed with rke2 certificate rotate-ca)",
        ),
        (
            "Secret/cattle-system/tls-ingress#data.tls.crt[0]",
            {},
            "rotate-rke2-certs renews RKE2 certificates only (RKE2 PKI files, kube-apiserver "
            "endpoints); Secret cattle-system/tls-ingress [data.tls.crt[0]] is not one: renew "
            "it where it was issued",
        ),
        (
            "TLSEndpoint//192.168.0.10:10250#chain[0]",
            {},
            "rotate-rke2-certs renews RKE2 certificates only (RKE2 PKI files, kube-apiserver "
            "endpoints); TLSEndpoint 192.168.0.10:10250 [chain[0]] is not one: renew it where "
            "it was issued",
        ),
    ],
)
def test_rotate_answers_rke2_certificates_only(
    client: KubeClient, resource: str, evidence: dict[str, str], reason: str | None
) -> None:
    ref = finding("cert-expired", resource, **evidence)
    if reason is None:
        plan = plan_remediation(client, action_id=None, finding=ref, now=NOW)
        assert plan.action == "rotate-rke2-certs"
        assert plan.notes[-1] == (
            "certificates that already expired may need manual steps on the node "
            "(harvester#9351, rancher/rke2#8318)"
        )
        return
    with pytest.raises(UserError) as caught:
        plan_remediation(client, action_id=None, finding=ref, now=NOW)
    assert str(caught.value) == reason


def test_refused_and_unknown_actions(client: KubeClient) -> None:
    with pytest.raises(UserError) as refused:
        get_action("rotate-rke2-token")
    assert str(refused.value) == REFUSED["rotate-rke2-token"]
    assert "rancher/rke2#6250" in str(refused.value) and "§3.3" in str(refused.value)
    with pytest.raises(UserError) as planned:
        plan_remediation(client, action_id="rotate-rke2-token", finding=NOPROXY, now=NOW)
    assert str(planned.value) == REFUSED["rotate-rke2-token"]
    with pytest.raises(UserError) as unknown:
        get_action("reboot-nodes")
    assert str(unknown.value) == (
        "unknown remediation 'reboot-nodes'; the catalog has: enable-auto-rotate, "
        "fix-auto-rotate-window, add-noproxy-node-ips, harden-ssl-protocols, "
        "harden-tls-options, rotate-rke2-certs"
    )


def test_named_action_must_fit_the_finding(client: KubeClient) -> None:
    with pytest.raises(UserError) as caught:
        plan_remediation(client, action_id="harden-tls-options", finding=NOPROXY, now=NOW)
    assert str(caught.value) == (
        "harden-tls-options fixes tls-options-weak findings, not http-proxy-noproxy-missing-nodes"
    )
    ref = finding("http-proxy-credentials", "Setting//http-proxy#value.httpProxy")
    with pytest.raises(UserError) as none:
        plan_remediation(client, action_id=None, finding=ref, now=NOW)
    assert str(none.value) == "the catalog has no remediation for http-proxy-credentials findings"


def test_catalog_matches_the_check_registry() -> None:
    offered = {c.id: c.remediation for c in builtin_checks() if c.remediation}
    assert offered == {
        "auto-rotate-disabled": "enable-auto-rotate",
        "auto-rotate-window": "fix-auto-rotate-window",
        "http-proxy-noproxy-missing-nodes": "add-noproxy-node-ips",
        "ssl-weak-protocols": "harden-ssl-protocols",
        "tls-options-weak": "harden-tls-options",
    }
    for check_id, action_id in offered.items():
        assert check_id in get_action(action_id).answers
    ids = {c.id for c in builtin_checks()}
    assert all(set(a.answers) <= ids for a in CATALOG)
    assert [(a.id, a.risk, a.approvals) for a in CATALOG if a.risk == "high"] == [
        ("rotate-rke2-certs", "high", 2)
    ]


def test_plan_options() -> None:
    for hours in (24, 9000):
        with pytest.raises(ValueError) as caught:
            PlanOptions(auto_rotate_hours=hours)
        assert str(caught.value) == (
            f"auto_rotate_hours must be within 1..8759 and the policy window 72..8040 h, "
            f"got {hours}"
        )


def test_plan_uses_the_configured_hours(api: FakeKubeAPI, client: KubeClient) -> None:
    ref = CASES["enable-auto-rotate"][0]
    plan = plan_remediation(client, action_id=None, finding=ref, now=NOW, options=PlanOptions(720))
    assert plan.patch == {"value": '{"enable":true,"expiringInHours":720}'}
    assert plan.notes[1] == (
        "rotation starts when the kube-apiserver certificate expires within 720 h "
        "(30 days), about once a year"
    )
