"""Rancher's cloud credentials offline: ``kubectl get secrets -n cattle-global-data -o yaml``
plus ``kubectl get tokens -o yaml`` (and provisioning clusters) through the manifests source.

Aspects: the same facts as the live source from the same objects; coverage of each
subject only when its objects were given; Secrets of other namespaces, TLS Secrets and
other groups' Token/Cluster kinds are ignored; a Secret given twice is one credential;
unquoted YAML timestamps; the documented example fixture reads as described.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

from bot.core.snapshot import CloudCredential, CoverageStatus, RancherToken, Snapshot
from bot.sources.manifests import read_manifests
from tests.sources import NOW, at
from tests.sources.test_live_rancher import (
    AWS_SECRET,
    EXPECTED_CREDENTIALS,
    EXPECTED_TOKENS,
    SECRET_PART,
    SERVER,
    TOKEN_FIELD,
    credential_secret,
    rancher_objects,
    ref,
    token,
)

SUBJECTS = ("cloud-credentials", "rancher-tokens", "guest-clusters")


def as_list(items: list[dict[str, Any]]) -> dict[str, Any]:
    """What ``kubectl get ... -o yaml`` prints: a List of full objects."""
    return {"apiVersion": "v1", "kind": "List", "items": items, "metadata": {"resourceVersion": ""}}


def of_kind(kind: str, objects: list[dict[str, Any]] | None = None) -> list[dict[str, Any]]:
    return [o for o in objects or rancher_objects() if o["kind"] == kind]


def read(*paths: Path) -> Snapshot:
    return read_manifests(list(paths), cluster="rancher", scanned_at=NOW)


def rancher_coverage(snap: Snapshot) -> dict[str, str]:
    return {s: snap.coverage_of(s).status.value for s in SUBJECTS}


def test_kubectl_output_reads_like_the_live_cluster(tmp_path: Path) -> None:
    (tmp_path / "secrets.yaml").write_text(yaml.safe_dump(as_list(of_kind("Secret"))))
    (tmp_path / "tokens.json").write_text(json.dumps(as_list(of_kind("Token"))))
    (tmp_path / "clusters.yaml").write_text(yaml.safe_dump_all(of_kind("Cluster")))
    (tmp_path / "settings.yaml").write_text(yaml.safe_dump(as_list(of_kind("Setting"))))
    snap = read(tmp_path)
    assert snap.cloud_credentials == EXPECTED_CREDENTIALS
    # Offline every exported token is known (the unrelated one too); the gone one is not.
    assert snap.rancher_tokens == {
        **EXPECTED_TOKENS,
        "kubeconfig-user-other": RancherToken(
            "kubeconfig-user-other", at(2), 27 * 24 * 3600 * 1000
        ),
    }
    assert rancher_coverage(snap) == dict.fromkeys(SUBJECTS, "read")
    assert snap.rancher_settings["kubeconfig-default-token-ttl-minutes"] == "43200"
    text = repr(snap)
    for secret in (SECRET_PART, AWS_SECRET, TOKEN_FIELD):
        assert secret not in text


def test_secrets_alone_cover_credentials_only(tmp_path: Path) -> None:
    path = tmp_path / "secrets.yaml"
    path.write_text(yaml.safe_dump(as_list(of_kind("Secret"))))
    snap = read(path)
    assert [c.secret.name for c in snap.cloud_credentials] == [
        "cc-exp01",
        "cc-gone1",
        "cc-inf01",
        "cc-soon1",
    ]
    assert all(c.guest_clusters == () for c in snap.cloud_credentials)
    assert rancher_coverage(snap) == {
        "cloud-credentials": "read",
        "rancher-tokens": "missing",
        "guest-clusters": "missing",
    }


def test_tokens_alone_mean_rancher_was_exported(tmp_path: Path) -> None:
    path = tmp_path / "tokens.yaml"
    path.write_text(yaml.safe_dump(as_list(of_kind("Token"))))
    snap = read(path)
    assert snap.cloud_credentials == ()
    assert sorted(snap.rancher_tokens) == [
        "kubeconfig-user-exp01",
        "kubeconfig-user-inf01",
        "kubeconfig-user-other",
        "kubeconfig-user-soon1",
    ]
    assert rancher_coverage(snap) == {
        "cloud-credentials": "read",
        "rancher-tokens": "read",
        "guest-clusters": "missing",
    }


def test_an_empty_cattle_global_data_still_counts_as_read(tmp_path: Path) -> None:
    path = tmp_path / "secrets.yaml"
    aws = of_kind("Secret")[-1]
    assert aws["metadata"]["name"] == "cc-aws01"
    path.write_text(yaml.safe_dump(as_list([aws])))
    snap = read(path)
    assert (snap.cloud_credentials, rancher_coverage(snap)["cloud-credentials"]) == ((), "read")
    assert AWS_SECRET not in repr(snap)


def test_objects_that_are_not_rancher_credentials_are_ignored(tmp_path: Path) -> None:
    elsewhere = credential_secret("cc-else1", "kubeconfig-user-else1")
    elsewhere["metadata"]["namespace"] = "fleet-default"
    tls = credential_secret("cc-tls01", "kubeconfig-user-tls01")
    tls["type"] = "kubernetes.io/tls"
    other_token = {**token("other-group", days=1), "apiVersion": "ext.example.io/v1"}
    management_cluster = {
        "apiVersion": "management.cattle.io/v3",
        "kind": "Cluster",
        "metadata": {"name": "c-m-x7k2p"},
        "spec": {"cloudCredentialSecretName": "cattle-global-data:cc-soon1"},
    }
    path = tmp_path / "other.yaml"
    path.write_text(yaml.safe_dump_all([elsewhere, tls, other_token, management_cluster]))
    snap = read(path)
    assert (snap.cloud_credentials, snap.rancher_tokens) == ((), {})
    assert rancher_coverage(snap) == dict.fromkeys(SUBJECTS, "missing")


def test_a_secret_given_twice_is_one_credential_with_every_guest_cluster(tmp_path: Path) -> None:
    soon = credential_secret("cc-soon1", "kubeconfig-user-soon1", display="harvester-prod")
    cluster = {
        "apiVersion": "provisioning.cattle.io/v1",
        "kind": "Cluster",
        "metadata": {"name": "guest-2", "namespace": "fleet-default"},
        "spec": {"cloudCredentialSecretName": "cattle-global-data:cc-soon1"},
    }
    (tmp_path / "a.yaml").write_text(yaml.safe_dump_all([soon, *of_kind("Cluster")]))
    (tmp_path / "b.yaml").write_text(yaml.safe_dump_all([cluster, soon]))
    snap = read(tmp_path)
    assert snap.cloud_credentials == (
        CloudCredential(
            ref("cc-soon1"),
            "harvester-prod",
            "kubeconfig-user-soon1",
            SERVER,
            ("fleet-default/guest-1", "fleet-default/guest-2"),
        ),
    )


def test_unquoted_yaml_timestamps(tmp_path: Path) -> None:
    path = tmp_path / "token.yaml"
    path.write_text(
        "apiVersion: management.cattle.io/v3\nkind: Token\n"
        "metadata:\n  name: kubeconfig-user-soon1\n  creationTimestamp: 2026-05-07T00:00:00Z\n"
        "ttl: 2592000000\nexpiresAt: 2026-06-06T00:00:00Z\nexpired: false\n"
    )
    snap = read(path)
    assert snap.rancher_tokens == {
        "kubeconfig-user-soon1": RancherToken("kubeconfig-user-soon1", at(5), 2592000000, False)
    }


# The complete example fixture given to the lead for the checks' manifests fixtures
# (tests/fixtures/checks/cloud-credential-expiring/<case>-fail.yaml): one credential whose
# token expires in 5 days, used by one guest cluster, and Rancher's default token TTL.
KUBECONFIG_B64 = (
    "YXBpVmVyc2lvbjogdjEKa2luZDogQ29uZmlnCmNsdXN0ZXJzOgotIG5hbWU6IGxvY2FsCiAgY2x1c3RlcjoKICAg"
    "IHNlcnZlcjogaHR0cHM6Ly9yYW5jaGVyLmV4YW1wbGUuY29tL2s4cy9jbHVzdGVycy9jLW0teDdrMnAKdXNlcnM6"
    "Ci0gbmFtZTogbG9jYWwKICB1c2VyOgogICAgdG9rZW46IGt1YmVjb25maWctdXNlci1zb29uMTpGaXh0dXJlU2Vj"
    "cmV0UGFydDAwMDAKY29udGV4dHM6Ci0gbmFtZTogbG9jYWwKICBjb250ZXh0OgogICAgY2x1c3RlcjogbG9jYWwK"
    "ICAgIHVzZXI6IGxvY2FsCmN1cnJlbnQtY29udGV4dDogbG9jYWwK"
)
EXPECT_KEY = "Secret/cattle-global-data/cc-soon1#data.harvestercredentialConfig-kubeconfigContent"
EXAMPLE = f"""\
# now: 2026-06-01T00:00:00Z
# expect: critical {EXPECT_KEY}
apiVersion: v1
kind: List
items:
- apiVersion: v1
  kind: Secret
  type: provisioning.cattle.io/cloud-credential
  metadata:
    name: cc-soon1
    namespace: cattle-global-data
    annotations:
      field.cattle.io/name: harvester-prod
  data:
    harvestercredentialConfig-kubeconfigContent: {KUBECONFIG_B64}
- apiVersion: management.cattle.io/v3
  kind: Token
  metadata:
    name: kubeconfig-user-soon1
    creationTimestamp: "2026-05-07T00:00:00Z"
  userId: user-x1y2z
  ttl: 2592000000
  expiresAt: "2026-06-06T00:00:00Z"
  expired: false
- apiVersion: provisioning.cattle.io/v1
  kind: Cluster
  metadata:
    name: guest-1
    namespace: fleet-default
  spec:
    cloudCredentialSecretName: cattle-global-data:cc-soon1
    rkeConfig:
      machinePools:
      - name: pool0
        cloudCredentialSecretName: cattle-global-data:cc-soon1
- apiVersion: management.cattle.io/v3
  kind: Setting
  metadata:
    name: kubeconfig-default-token-ttl-minutes
  value: ""
  default: "43200"
"""


def test_the_example_fixture(tmp_path: Path) -> None:
    path = tmp_path / "soon-fail.yaml"
    path.write_text(EXAMPLE)
    snap = read(path)
    assert snap.cloud_credentials == (
        CloudCredential(
            ref("cc-soon1"),
            "harvester-prod",
            "kubeconfig-user-soon1",
            SERVER,
            ("fleet-default/guest-1",),
        ),
    )
    assert snap.rancher_tokens == {
        "kubeconfig-user-soon1": RancherToken("kubeconfig-user-soon1", at(5), 2592000000, False)
    }
    assert snap.rancher_settings == {"kubeconfig-default-token-ttl-minutes": "43200"}
    assert rancher_coverage(snap) == dict.fromkeys(SUBJECTS, "read")
    assert snap.coverage_of("rancher-settings").status == CoverageStatus.READ
    assert "FixtureSecretPart0000" not in repr(snap)
