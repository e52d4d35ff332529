"""Parsing Rancher's cloud credential Secrets, tokens and provisioning clusters.

Aspects: a credential's display name, token name and server; data (base64), stringData
and already-decoded values read alike; every unreadable shape is a fixed, non-secret
problem; the token's secret part and the Secret's other keys are never kept (also for
arbitrary input, by hypothesis, which also shows the parsers never raise); token
lifetimes as Rancher computes them; which credentials a guest cluster uses.
"""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.core.resources import ResourceRef
from bot.core.snapshot import CloudCredential, RancherToken
from bot.sources.rancher import (
    KUBECONFIG_KEY,
    cloud_credential,
    credential_users,
    rancher_token,
    reduce_server,
)

SECRET_PART = "CanaryTokenSecret-9f8e7d"
TOKEN = f"kubeconfig-user-x1y2z:{SECRET_PART}"
AWS_KEY = "CanaryAwsSecretKey/0a1b2c3d"
REF = ResourceRef("Secret", "cc-abcde", "cattle-global-data", f"data.{KUBECONFIG_KEY}")


def kubeconfig(
    token: Any = TOKEN,
    *,
    server: str = "https://rancher.example.com/k8s/clusters/c-m-x7k2p",
    **extra: Any,
) -> dict[str, Any]:
    """A kubeconfig shaped like the one Rancher writes for a Harvester cloud credential."""
    doc: dict[str, Any] = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "harvester", "cluster": {"server": server}}],
        "users": [{"name": "harvester", "user": {"token": token}}],
        "contexts": [
            {"name": "harvester", "context": {"cluster": "harvester", "user": "harvester"}}
        ],
        "current-context": "harvester",
    }
    doc.update(extra)
    return doc


def b64(text: str | bytes) -> str:
    return base64.b64encode(text.encode() if isinstance(text, str) else text).decode()


DEFAULT: Any = object()


def secret(
    value: Any = DEFAULT,
    *,
    name: str = "cc-abcde",
    namespace: str = "cattle-global-data",
    display: str | None = "harvester-prod",
    field: str = "data",
    **data: str,
) -> dict[str, Any]:
    if value is DEFAULT:
        value = b64(yaml.safe_dump(kubeconfig()))
    meta: dict[str, Any] = {"name": name, "namespace": namespace}
    if display is not None:
        meta["annotations"] = {"field.cattle.io/name": display}
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "type": "provisioning.cattle.io/cloud-credential",
        "metadata": meta,
        field: {KUBECONFIG_KEY: value, **data},
    }


# -- cloud credentials ---------------------------------------------------------------------------
def test_reads_name_token_name_and_server() -> None:
    assert cloud_credential(secret()) == CloudCredential(
        secret=REF,
        name="harvester-prod",
        token_name="kubeconfig-user-x1y2z",
        server="https://rancher.example.com",
    )


def test_display_name_falls_back_to_the_secret_name() -> None:
    assert cloud_credential(secret(display=None)) == CloudCredential(
        REF, "cc-abcde", "kubeconfig-user-x1y2z", "https://rancher.example.com"
    )
    assert cloud_credential(secret(display="  ")) == CloudCredential(
        REF, "cc-abcde", "kubeconfig-user-x1y2z", "https://rancher.example.com"
    )


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("stringData", yaml.safe_dump(kubeconfig())),  # plain text, as written by hand
        ("data", yaml.safe_dump(kubeconfig())),  # already decoded (a tool decoded it)
        ("stringData", b64(yaml.safe_dump(kubeconfig()))),
        ("data", b64("\ufeff" + yaml.safe_dump(kubeconfig()))),  # with a BOM
    ],
)
def test_data_string_data_and_decoded_values_read_alike(field: str, value: str) -> None:
    cred = cloud_credential(secret(value, field=field))
    assert cred is not None
    assert (cred.token_name, cred.server, cred.problem) == (
        "kubeconfig-user-x1y2z",
        "https://rancher.example.com",
        "",
    )


def test_string_data_wins_over_data() -> None:
    obj = secret(b64(yaml.safe_dump(kubeconfig("kubeconfig-user-old01:x"))))
    obj["stringData"] = {KUBECONFIG_KEY: yaml.safe_dump(kubeconfig("kubeconfig-user-new02:y"))}
    cred = cloud_credential(obj)
    assert cred is not None and cred.token_name == "kubeconfig-user-new02"


@pytest.mark.parametrize(
    "obj",
    [
        secret(namespace="fleet-default"),
        {"metadata": {"name": "cc-x", "namespace": "cattle-global-data"}, "data": {"a": "b"}},
        {"metadata": {"name": "cc-x", "namespace": "cattle-global-data"}, "data": None},
        {"metadata": {"namespace": "cattle-global-data"}, "data": {KUBECONFIG_KEY: "x"}},
        {"metadata": "nonsense"},
        {},
    ],
)
def test_not_a_cloud_credential(obj: dict[str, Any]) -> None:
    assert cloud_credential(obj) is None


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ("", "the kubeconfig is empty"),
        (None, "the kubeconfig is empty"),
        (b64(b"\xff\xfe\x00\x81"), "the kubeconfig is not UTF-8 text"),
        (b64("clusters: [\n"), "the kubeconfig is not valid YAML"),
        (b64("a: &x [1]\nb: *x\n"), "the kubeconfig is not valid YAML"),  # aliases refused
        (
            "not-a-kubeconfig",
            "the value is not a kubeconfig (not valid base64, or not a YAML mapping)",
        ),
        (
            b64("- a list\n"),
            "the value is not a kubeconfig (not valid base64, or not a YAML mapping)",
        ),
        (12345, "the value is not a kubeconfig (not valid base64, or not a YAML mapping)"),
        (
            b64(yaml.safe_dump(kubeconfig(users=[]))),
            "the kubeconfig has no user to read (none, or several and no context)",
        ),
        (b64(yaml.safe_dump(kubeconfig(None))), "the kubeconfig's user has no token"),
        (b64(yaml.safe_dump(kubeconfig(42))), "the kubeconfig's user has no token"),
        (b64(yaml.safe_dump(kubeconfig(SECRET_PART))), "the token has no name part"),
        (b64(yaml.safe_dump(kubeconfig(f":{SECRET_PART}"))), "the token has no name part"),
        (
            b64(yaml.safe_dump(kubeconfig(f"Not A Name:{SECRET_PART}"))),
            "the token's name part is not a valid object name",
        ),
        ("x" * (3 * 1024 * 1024), "the kubeconfig is larger than 1 MiB"),
        (b64("# padding\n" * 120_000), "the kubeconfig is larger than 1 MiB"),
    ],
)
def test_unreadable_credentials_carry_a_fixed_problem(value: Any, problem: str) -> None:
    cred = cloud_credential(secret(value))
    assert cred is not None
    assert (cred.secret, cred.name, cred.token_name, cred.problem) == (
        REF,
        "harvester-prod",
        None,
        problem,
    )


def test_client_certificate_user_has_no_token() -> None:
    doc = kubeconfig()
    key = b64("CanaryClientKey-77aa")
    doc["users"][0]["user"] = {"client-certificate-data": b64("cert"), "client-key-data": key}
    cred = cloud_credential(secret(b64(yaml.safe_dump(doc))))
    assert cred is not None
    assert (cred.token_name, cred.problem, cred.server) == (
        None,
        "the kubeconfig's user has no token",
        "https://rancher.example.com",
    )
    assert key not in repr(cred)


def test_the_current_contexts_user_and_cluster_count() -> None:
    doc = kubeconfig(
        clusters=[
            {"name": "other", "cluster": {"server": "https://other.example:6443"}},
            {"name": "harvester", "cluster": {"server": "https://10.0.0.5:6443/"}},
        ],
        users=[
            {"name": "other", "user": {"token": "token-other:zzz"}},
            {"name": "harvester", "user": {"token": TOKEN}},
        ],
    )
    cred = cloud_credential(secret(b64(yaml.safe_dump(doc))))
    assert cred is not None
    assert (cred.token_name, cred.server) == ("kubeconfig-user-x1y2z", "https://10.0.0.5:6443")


def test_several_users_without_a_context_is_a_problem() -> None:
    users = [{"name": n, "user": {"token": TOKEN}} for n in ("a", "b")]
    doc = kubeconfig(users=users, contexts=[])
    del doc["current-context"]
    cred = cloud_credential(secret(b64(yaml.safe_dump(doc))))
    assert cred is not None
    assert (cred.token_name, cred.problem) == (
        None,
        "the kubeconfig has no user to read (none, or several and no context)",
    )


def test_the_only_user_counts_without_a_context() -> None:
    doc = kubeconfig(contexts=[])
    del doc["current-context"]
    cred = cloud_credential(secret(b64(yaml.safe_dump(doc))))
    assert cred is not None
    assert (cred.token_name, cred.server) == (
        "kubeconfig-user-x1y2z",
        "https://rancher.example.com",
    )


@pytest.mark.parametrize(
    ("url", "reduced"),
    [
        ("https://rancher.example.com/k8s/clusters/c-m-1", "https://rancher.example.com"),
        ("https://admin:pw@rancher.example.com:8443/x?y=z#f", "https://rancher.example.com:8443"),
        ("https://[fd00::5]:6443", "https://[fd00::5]:6443"),
        ("https://10.0.0.5", "https://10.0.0.5"),
        ("https://host:notaport/", ""),
        ("rancher.example.com", ""),
        ("", ""),
        (None, ""),
    ],
)
def test_server_is_reduced_to_scheme_host_port(url: Any, reduced: str) -> None:
    assert reduce_server(url) == reduced


def test_other_keys_and_the_secret_part_are_never_kept() -> None:
    obj = secret(
        **{"amazonec2credentialConfig-secretKey": b64(AWS_KEY), "password": b64("hunter2-x")}
    )
    text = repr(cloud_credential(obj))
    for leaked in (SECRET_PART, AWS_KEY, b64(AWS_KEY), "hunter2-x", b64("hunter2-x")):
        assert leaked not in text
    assert obj["data"][KUBECONFIG_KEY] not in text


# -- hypothesis: never raises, never keeps the secret part ---------------------------------------
NAMES = st.from_regex(r"[a-z0-9]([-a-z0-9]{0,20}[a-z0-9])?", fullmatch=True)
# A secret part never found by accident inside the rest (it carries its own marker).
SECRETS = st.text(min_size=1, max_size=40).map(lambda s: f"S3CRET-{s}")
YAMLISH = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=30),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4)
    ),
    max_leaves=20,
)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=2000))
def test_arbitrary_bytes_never_raise(raw: bytes) -> None:
    cred = cloud_credential(secret(b64(raw)))
    assert cred is not None and cred.secret == REF
    assert cred.token_name is None or cred.problem == ""


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=2000), st.sampled_from(["data", "stringData"]))
def test_arbitrary_text_never_raises(text: str, field: str) -> None:
    cred = cloud_credential(secret(text or "x", field=field))
    assert cred is not None and cred.name == "harvester-prod"


@settings(max_examples=300, deadline=None)
@given(YAMLISH, YAMLISH)
def test_arbitrary_yaml_documents_and_objects_never_raise(doc: Any, obj: Any) -> None:
    cloud_credential(secret(b64(yaml.safe_dump(doc))))
    cloud_credential(secret(b64(yaml.safe_dump({"users": doc, "contexts": doc}))))
    cloud_credential(obj if isinstance(obj, dict) else {"metadata": obj, "data": obj})
    rancher_token(obj if isinstance(obj, dict) else {"metadata": obj, "ttl": obj})
    credential_users(obj if isinstance(obj, dict) else {"spec": {"rkeConfig": obj}})


@settings(max_examples=300, deadline=None)
@given(NAMES, SECRETS, st.sampled_from(["data", "stringData"]))
def test_the_secret_part_is_never_kept(name: str, secret_part: str, field: str) -> None:
    text = yaml.safe_dump(kubeconfig(f"{name}:{secret_part}"))
    cred = cloud_credential(secret(b64(text) if field == "data" else text, field=field))
    assert cred is not None and cred.token_name == name
    assert secret_part not in repr(cred)


@settings(max_examples=200, deadline=None)
@given(SECRETS)
def test_a_token_without_a_name_part_is_never_kept(secret_part: str) -> None:
    token = secret_part.replace(":", "")
    cred = cloud_credential(secret(b64(yaml.safe_dump(kubeconfig(token)))))
    assert cred is not None
    assert (cred.token_name, cred.problem) == (None, "the token has no name part")
    assert token not in repr(cred)


# -- tokens --------------------------------------------------------------------------------------
def token_obj(**fields: Any) -> dict[str, Any]:
    return {
        "apiVersion": "management.cattle.io/v3",
        "kind": "Token",
        "metadata": {"name": "kubeconfig-user-x1y2z", "creationTimestamp": "2026-05-07T00:00:00Z"},
        "token": "CanaryTokenHash-5e5e5e",
        "userId": "user-x1y2z",
        **fields,
    }


CREATED = datetime(2026, 5, 7, tzinfo=UTC)
DAYS_30 = 30 * 24 * 3600 * 1000


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        (
            {"ttl": DAYS_30, "expiresAt": "2026-06-06T00:00:00Z", "expired": False},
            RancherToken("kubeconfig-user-x1y2z", datetime(2026, 6, 6, tzinfo=UTC), DAYS_30),
        ),
        (
            {"ttl": 0, "expiresAt": "", "expired": False},
            RancherToken("kubeconfig-user-x1y2z", None, 0),
        ),
        ({}, RancherToken("kubeconfig-user-x1y2z", None, 0)),
        (
            {"ttl": DAYS_30, "expired": True},  # no expiresAt: creation + ttl, as Rancher does
            RancherToken("kubeconfig-user-x1y2z", CREATED + timedelta(days=30), DAYS_30, True),
        ),
        (
            {"ttl": DAYS_30, "expiresAt": "not a date"},
            RancherToken("kubeconfig-user-x1y2z", CREATED + timedelta(days=30), DAYS_30),
        ),
        (
            {"ttl": DAYS_30, "expiresAt": "2026-06-06T02:00:00+02:00"},
            RancherToken("kubeconfig-user-x1y2z", datetime(2026, 6, 6, tzinfo=UTC), DAYS_30),
        ),
        (
            {"ttl": True, "expired": "true", "expiresAt": datetime(2026, 6, 6)},
            RancherToken("kubeconfig-user-x1y2z", datetime(2026, 6, 6, tzinfo=UTC), 0),
        ),
        (
            {"ttl": "2592000000", "expiresAt": "0001-01-01T00:00:00+01:00"},
            RancherToken("kubeconfig-user-x1y2z", None, 0),
        ),
    ],
)
def test_token_lifetime(fields: dict[str, Any], expected: RancherToken) -> None:
    token = rancher_token(token_obj(**fields))
    assert token == expected
    assert "CanaryTokenHash" not in repr(token)


# -- guest clusters ------------------------------------------------------------------------------
def guest(spec: Any, *, ns: str = "fleet-default", name: str = "guest-1") -> dict[str, Any]:
    return {
        "apiVersion": "provisioning.cattle.io/v1",
        "kind": "Cluster",
        "metadata": {"name": name, "namespace": ns},
        "spec": spec,
    }


def test_credential_users_from_cluster_and_machine_pools() -> None:
    obj = guest(
        {
            "cloudCredentialSecretName": "cattle-global-data:cc-abcde",
            "rkeConfig": {
                "machinePools": [
                    {"name": "cp", "cloudCredentialSecretName": "cattle-global-data:cc-abcde"},
                    {"name": "w1", "cloudCredentialSecretName": "cc-fghij"},
                    {"name": "w2", "cloudCredentialSecretName": "fleet-default:cc-other"},
                    {"name": "w3", "cloudCredentialSecretName": ""},
                    {"name": "w4"},
                    "nonsense",
                ]
            },
        }
    )
    assert credential_users(obj) == [
        ("cc-abcde", "fleet-default/guest-1"),
        ("cc-fghij", "fleet-default/guest-1"),
    ]


@pytest.mark.parametrize(
    "spec",
    [{}, None, "x", {"rkeConfig": {"machinePools": "x"}}, {"rkeConfig": None}],
)
def test_clusters_without_credentials(spec: Any) -> None:
    assert credential_users(guest(spec)) == []
