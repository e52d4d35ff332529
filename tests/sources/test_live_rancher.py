"""read_live on a Rancher management cluster (role rancher) against the fake API server.

Aspects: Harvester cloud credentials from cattle-global-data (paged, other Secrets
ignored), one GET per named token (a deleted one is simply absent, no token is listed),
guest clusters joined to their credentials, the default token TTL setting; refusals and
failures are coverage of their own subject; a harvester-role cluster gets no Rancher reads
at all. The object builders are shared with the manifests and canary tests.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

import yaml

from bot.core.resources import ResourceRef
from bot.core.snapshot import CloudCredential, CoverageStatus, RancherToken, Snapshot
from bot.kube.client import KubeClient, KubeTarget, Timeouts
from bot.sources.live import ProbeOptions, read_live
from bot.sources.rancher import KUBECONFIG_KEY
from tests.fakes.kube_api import FakeKubeAPI
from tests.sources import NOW, at

FAST = Timeouts(connect=2, read=5, retries=0)
NS = "cattle-global-data"
DAY_MS = 24 * 3600 * 1000
SECRETS_PATH = f"/api/v1/namespaces/{NS}/secrets"
TOKENS_PATH = "/apis/management.cattle.io/v3/tokens"
SECRET_PART = "CanaryTokenSecret-9f8e7d"
AWS_SECRET = "CanaryAwsSecret-0a1b2c3d4e"
TOKEN_FIELD = "CanaryTokenField-3c4d5e"


# -- Rancher objects -----------------------------------------------------------------------------
def harvester_kubeconfig(token: str, server: str = "https://rancher.example.com") -> str:
    """The kubeconfig Rancher writes into a Harvester cloud credential."""
    return yaml.safe_dump(
        {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [
                {"name": "local", "cluster": {"server": f"{server}/k8s/clusters/c-m-x7k2p"}}
            ],
            "users": [{"name": "local", "user": {"token": token}}],
            "contexts": [{"name": "local", "context": {"cluster": "local", "user": "local"}}],
            "current-context": "local",
        }
    )


def credential_secret(
    name: str, token_name: str, *, display: str | None = None, **other_data: str
) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name, "namespace": NS}
    if display:
        meta["annotations"] = {"field.cattle.io/name": display}
    kubeconfig = harvester_kubeconfig(f"{token_name}:{SECRET_PART}")
    data = {KUBECONFIG_KEY: base64.b64encode(kubeconfig.encode()).decode(), **other_data}
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": meta,
        "type": "provisioning.cattle.io/cloud-credential",
        "data": data,
    }


def aws_secret(name: str = "cc-aws01") -> dict[str, Any]:
    """Another provider's cloud credential in the same namespace: not ours to keep."""
    key = base64.b64encode(AWS_SECRET.encode()).decode()
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": name, "namespace": NS},
        "type": "provisioning.cattle.io/cloud-credential",
        "data": {"amazonec2credentialConfig-secretKey": key},
    }


def token(name: str, *, days: float | None, expired: bool = False) -> dict[str, Any]:
    """A tokens.management.cattle.io object created 25 days before NOW; ``days`` None:
    ttl 0 (never expires), else it expires ``days`` after NOW."""
    created = NOW - timedelta(days=25)
    ttl = 0 if days is None else int((at(days) - created) / timedelta(milliseconds=1))
    return {
        "apiVersion": "management.cattle.io/v3",
        "kind": "Token",
        "metadata": {"name": name, "creationTimestamp": created.strftime("%Y-%m-%dT%H:%M:%SZ")},
        "authProvider": "local",
        "userId": "user-x1y2z",
        "token": TOKEN_FIELD,
        "ttl": ttl,
        "expiresAt": "" if days is None else at(days).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "expired": expired,
    }


def guest_cluster(name: str, *pool_credentials: str, ns: str = "fleet-default") -> dict[str, Any]:
    pools = [
        {"name": f"pool{i}", "cloudCredentialSecretName": f"{NS}:{c}"}
        for i, c in enumerate(pool_credentials)
    ]
    return {
        "apiVersion": "provisioning.cattle.io/v1",
        "kind": "Cluster",
        "metadata": {"name": name, "namespace": ns},
        "spec": {"kubernetesVersion": "v1.30.4+rke2r1", "rkeConfig": {"machinePools": pools}},
    }


def rancher_setting(name: str, value: str, default: str) -> dict[str, Any]:
    return {
        "apiVersion": "management.cattle.io/v3",
        "kind": "Setting",
        "metadata": {"name": name},
        "value": value,
        "default": default,
        "source": "",
    }


def rancher_objects() -> list[dict[str, Any]]:
    """Four Harvester cloud credentials: expiring in 5 days, expired, token gone, never
    expiring; an AWS credential; a guest cluster using the first by machine pool."""
    return [
        rancher_setting("kubeconfig-default-token-ttl-minutes", "", "43200"),
        rancher_setting("server-url", "https://rancher.example.com", ""),
        credential_secret("cc-soon1", "kubeconfig-user-soon1", display="harvester-prod"),
        credential_secret("cc-exp01", "kubeconfig-user-exp01", display="harvester-lab"),
        credential_secret("cc-gone1", "kubeconfig-user-gone1"),
        credential_secret("cc-inf01", "kubeconfig-user-inf01", display="harvester-dev"),
        aws_secret(),
        token("kubeconfig-user-soon1", days=5),
        token("kubeconfig-user-exp01", days=-3, expired=True),
        token("kubeconfig-user-inf01", days=None),
        token("kubeconfig-user-other", days=2),  # named by no credential: never fetched
        guest_cluster("guest-1", "cc-soon1", "cc-soon1"),
        guest_cluster("local", ns="fleet-local"),
    ]


def ref(name: str) -> ResourceRef:
    return ResourceRef("Secret", name, NS, f"data.{KUBECONFIG_KEY}")


SERVER = "https://rancher.example.com"
EXPECTED_CREDENTIALS = (
    CloudCredential(ref("cc-exp01"), "harvester-lab", "kubeconfig-user-exp01", SERVER),
    CloudCredential(ref("cc-gone1"), "cc-gone1", "kubeconfig-user-gone1", SERVER),
    CloudCredential(ref("cc-inf01"), "harvester-dev", "kubeconfig-user-inf01", SERVER),
    CloudCredential(
        ref("cc-soon1"),
        "harvester-prod",
        "kubeconfig-user-soon1",
        SERVER,
        ("fleet-default/guest-1",),
    ),
)
EXPECTED_TOKENS = {
    "kubeconfig-user-exp01": RancherToken("kubeconfig-user-exp01", at(-3), 22 * DAY_MS, True),
    "kubeconfig-user-inf01": RancherToken("kubeconfig-user-inf01", None, 0, False),
    "kubeconfig-user-soon1": RancherToken("kubeconfig-user-soon1", at(5), 30 * DAY_MS, False),
}


# -- reading -------------------------------------------------------------------------------------
@contextmanager
def connected(
    api: FakeKubeAPI, tmp_path: Path, *, role: str = "rancher", page_size: int = 250
) -> Iterator[KubeClient]:
    path = api.write_kubeconfig(tmp_path / f"kubeconfig-{api.port}")
    target = KubeTarget(name="rancher", kubeconfig=path, role=role)
    client = KubeClient.connect(target, timeouts=FAST, page_size=page_size)
    try:
        yield client
    finally:
        client.close()


def read(api: FakeKubeAPI, tmp_path: Path, **kw: Any) -> Snapshot:
    with connected(api, tmp_path, **kw) as client:
        return read_live(
            client, cluster="rancher", scanned_at=NOW, probe=ProbeOptions(enabled=False)
        )


def rancher_coverage(snap: Snapshot) -> dict[str, tuple[str, str]]:
    subjects = ("cloud-credentials", "rancher-tokens", "guest-clusters")
    return {c.subject: (c.status.value, c.detail) for c in snap.coverage if c.subject in subjects}


def paths(api: FakeKubeAPI, prefix: str) -> list[str]:
    return [r.path for r in api.requests_to(prefix)]


READ = {
    "cloud-credentials": ("read", ""),
    "rancher-tokens": ("read", ""),
    "guest-clusters": ("read", ""),
}


def test_reads_credentials_tokens_guest_clusters_and_the_ttl_setting(tmp_path: Path) -> None:
    with FakeKubeAPI(objects=rancher_objects()) as api:
        snap = read(api, tmp_path)
        secret_queries = [r.query for r in api.requests_to(SECRETS_PATH)]
        token_requests = [(r.method, r.path) for r in api.requests_to(TOKENS_PATH)]
    assert snap.cloud_credentials == EXPECTED_CREDENTIALS
    assert snap.rancher_tokens == EXPECTED_TOKENS  # kubeconfig-user-gone1 is simply absent
    assert rancher_coverage(snap) == READ
    assert snap.rancher_settings == {
        "kubeconfig-default-token-ttl-minutes": "43200",  # empty value: the default counts
        "server-url": "https://rancher.example.com",
    }
    assert snap.coverage_of("rancher-settings").status == CoverageStatus.READ
    # All of cattle-global-data (no selector can single out cloud credentials) ...
    assert secret_queries == [{"limit": ["250"]}]
    # ... and only the named tokens, one GET each, never a list of all tokens.
    assert token_requests == [
        ("GET", f"{TOKENS_PATH}/kubeconfig-user-exp01"),
        ("GET", f"{TOKENS_PATH}/kubeconfig-user-gone1"),
        ("GET", f"{TOKENS_PATH}/kubeconfig-user-inf01"),
        ("GET", f"{TOKENS_PATH}/kubeconfig-user-soon1"),
    ]


def test_no_secret_part_other_key_or_token_value_is_kept(tmp_path: Path) -> None:
    with FakeKubeAPI(objects=rancher_objects()) as api:
        text = repr(read(api, tmp_path))
    kubeconfig_b64 = credential_secret("cc-soon1", "kubeconfig-user-soon1")["data"][KUBECONFIG_KEY]
    for secret in (SECRET_PART, AWS_SECRET, TOKEN_FIELD, kubeconfig_b64[:40]):
        assert secret not in text
    assert base64.b64encode(AWS_SECRET.encode()).decode() not in text


def test_credential_secrets_are_paged(tmp_path: Path) -> None:
    objects = [credential_secret(f"cc-p{i:04d}", f"kubeconfig-user-p{i:04d}") for i in range(5)]
    with FakeKubeAPI(objects=objects) as api:
        snap = read(api, tmp_path, page_size=2)
        pages = [("continue" in r.query) for r in api.requests_to(SECRETS_PATH)]
    assert pages == [False, True, True]
    assert [c.secret.name for c in snap.cloud_credentials] == [f"cc-p{i:04d}" for i in range(5)]
    # Every token is gone: present in no dict, and the subject is still READ.
    assert (snap.rancher_tokens, rancher_coverage(snap)) == ({}, READ)


def test_forbidden_secrets_are_coverage_and_no_token_is_asked_for(tmp_path: Path) -> None:
    with FakeKubeAPI(objects=rancher_objects()) as api:
        api.deny(verb="list", resource="secrets", namespace=NS)
        snap = read(api, tmp_path)
        token_requests = paths(api, TOKENS_PATH)
    assert rancher_coverage(snap) == {
        "cloud-credentials": (
            "forbidden",
            f"cannot list secrets in {NS}: 403 Forbidden: secrets is forbidden: User "
            f'"secbot" cannot list resource "secrets" in API group "" in the namespace "{NS}"',
        ),
        "rancher-tokens": (
            "missing",
            "not read: the cloud credentials that name the tokens could not be read",
        ),
        "guest-clusters": ("read", ""),
    }
    assert (snap.cloud_credentials, snap.rancher_tokens, token_requests) == ((), {}, [])


def test_forbidden_tokens_stop_after_the_first_refusal(tmp_path: Path) -> None:
    with FakeKubeAPI(objects=rancher_objects()) as api:
        api.deny(verb="get", resource="tokens", group="management.cattle.io")
        snap = read(api, tmp_path)
        token_requests = paths(api, TOKENS_PATH)
    assert rancher_coverage(snap)["rancher-tokens"] == (
        "forbidden",
        "cannot get tokens.management.cattle.io: 403 Forbidden: tokens.management.cattle.io "
        '"kubeconfig-user-exp01" is forbidden: User "secbot" cannot get resource "tokens" in '
        'API group "management.cattle.io" at the cluster scope',
    )
    assert token_requests == [f"{TOKENS_PATH}/kubeconfig-user-exp01"]
    assert snap.rancher_tokens == {}
    assert snap.cloud_credentials == EXPECTED_CREDENTIALS


def test_a_token_that_cannot_be_read_is_an_error_not_a_missing_token(tmp_path: Path) -> None:
    with FakeKubeAPI(objects=rancher_objects()) as api:
        api.fail(f"{TOKENS_PATH}/kubeconfig-user-soon1", 500)
        snap = read(api, tmp_path)
    assert rancher_coverage(snap)["rancher-tokens"] == (
        "error",
        "cannot get tokens.management.cattle.io: kubeconfig-user-soon1 (500 InternalError: "
        "Internal error occurred: injected failure)",
    )
    assert sorted(snap.rancher_tokens) == ["kubeconfig-user-exp01", "kubeconfig-user-inf01"]


def test_a_failing_secret_list_is_an_error(tmp_path: Path) -> None:
    with FakeKubeAPI(objects=rancher_objects()) as api:
        api.fail(SECRETS_PATH, 503)
        snap = read(api, tmp_path)
    assert rancher_coverage(snap)["cloud-credentials"] == (
        "error",
        f"cannot list secrets in {NS}: 503 ServiceUnavailable: the server is currently "
        "unable to handle the request",
    )
    assert rancher_coverage(snap)["rancher-tokens"][0] == "missing"


def test_unserved_types_are_missing(tmp_path: Path) -> None:
    with FakeKubeAPI(objects=rancher_objects()) as api:
        api.fail("/apis/provisioning.cattle.io/", 404)
        # No Token type at all (the fake serves every known type): unregister it.
        api.store._types.pop(("management.cattle.io", "v3", "tokens"))
        snap = read(api, tmp_path)
        token_requests = paths(api, TOKENS_PATH)
    assert rancher_coverage(snap) == {
        "cloud-credentials": ("read", ""),
        "rancher-tokens": (
            "missing",
            "Token (management.cattle.io/v3) is not served by this cluster: 404 NotFound: "
            "the server could not find the requested resource",
        ),
        "guest-clusters": (
            "missing",
            "Cluster (provisioning.cattle.io/v1) is not served by this cluster",
        ),
    }
    assert token_requests == [f"{TOKENS_PATH}/kubeconfig-user-exp01"]  # one answer is enough
    assert snap.rancher_tokens == {}
    assert all(c.guest_clusters == () for c in snap.cloud_credentials)


def test_a_harvester_cluster_gets_no_rancher_reads(tmp_path: Path) -> None:
    with FakeKubeAPI(objects=rancher_objects()) as api:
        snap = read(api, tmp_path, role="harvester")
        rancher_requests = (
            paths(api, SECRETS_PATH) + paths(api, TOKENS_PATH) + paths(api, "/apis/provisioning")
        )
    assert rancher_requests == []
    assert rancher_coverage(snap) == {}
    assert (snap.cloud_credentials, snap.rancher_tokens) == ((), {})
    # Rancher settings are read for every cluster, as before.
    assert snap.rancher_settings["kubeconfig-default-token-ttl-minutes"] == "43200"


def test_a_tls_secret_in_cattle_global_data_is_no_credential(tmp_path: Path) -> None:
    """The live TLS list of a harvester-role cluster must not create Rancher coverage."""
    tls = credential_secret("tls-x", "kubeconfig-user-tls01")
    tls["type"] = "kubernetes.io/tls"
    with FakeKubeAPI(objects=[tls]) as api:
        snap = read(api, tmp_path, role="harvester")
    assert (rancher_coverage(snap), snap.cloud_credentials) == ({}, ())
