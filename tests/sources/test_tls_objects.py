"""bot.sources.objects / tls_objects on awkward objects: certificates in the wrong Secret
key, and a Setting whose JSON nests absurdly deep. One odd object must never cost the
certificates around it (or the whole cluster)."""

from __future__ import annotations

import json
from typing import Any

from bot.core.snapshot import CoverageStatus
from bot.sources import objects
from bot.sources.builder import SnapshotBuilder
from tests.sources import NOW, at, b64, ec_key, key_pem, make_cert, pem

KEY = ec_key("swapped")
CERT = make_cert("swapped.example", key=KEY, not_after=at(4))


def builder() -> SnapshotBuilder:
    return SnapshotBuilder(cluster="c", source="live", origin="", scanned_at=NOW)


def tls_secret(data: dict[str, str]) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "type": "kubernetes.io/tls",
        "metadata": {"name": "web", "namespace": "apps"},
        "data": data,
    }


def test_a_certificate_in_tls_key_is_still_judged() -> None:
    """tls.crt and tls.key swapped: whoever serves it serves that certificate."""
    b = builder()
    objects.ingest(b, tls_secret({"tls.crt": b64(key_pem(KEY)), "tls.key": b64(pem(CERT))}))
    assert [(c.common_name, c.not_after, c.location.field) for c in b.certificates] == [
        ("swapped.example", at(4), "data.tls.key[0]")
    ]
    assert b.coverage["secrets"].status == CoverageStatus.PARTIAL
    assert (
        "apps/web tls.key: holds a certificate, not a private key" in b.coverage["secrets"].detail
    )


def test_absurdly_nested_ssl_certificates_json_is_one_bad_setting() -> None:
    """Go's encoding/json accepts 10,000 levels; Python's parser gives up earlier. The
    setting is kept (setting-invalid reports it), nothing raises, the key stays hidden."""
    value = json.dumps({"publicCertificate": pem(CERT), "privateKey": key_pem(KEY)})
    value = value[:-1] + ', "x": ' + "[" * 5000 + "]" * 5000 + "}"
    b = builder()
    setting = {
        "apiVersion": "harvesterhci.io/v1beta1",
        "kind": "Setting",
        "metadata": {"name": "ssl-certificates"},
        "value": value,
    }
    assert objects.ingest(b, setting) == "Setting"
    kept = b.settings["ssl-certificates"].value or ""
    assert "REDACTED" in kept
    assert key_pem(KEY).splitlines()[1] not in kept


STALE = make_cert("stale.example", key=KEY, not_after=at(300))


def string_data_secret(data: dict[str, str], string_data: dict[str, Any]) -> dict[str, Any]:
    obj = tls_secret(data)
    obj["stringData"] = string_data
    return obj


def test_string_data_is_read_like_data() -> None:
    """GitOps manifests write TLS Secrets with plain-text stringData; the API server turns
    it into data, so a manifest scan must judge it too."""
    b = builder()
    objects.ingest(b, string_data_secret({}, {"tls.crt": pem(CERT), "tls.key": key_pem(KEY)}))
    assert [(c.common_name, c.location.field) for c in b.certificates] == [
        ("swapped.example", "stringData.tls.crt[0]")
    ]
    assert [k.location.field for k in b.keys] == ["stringData.tls.key"]
    assert b.coverage["secrets"].status == CoverageStatus.READ
    assert b.cert_problems == []
    kept = repr(b.build())
    assert key_pem(KEY).splitlines()[1] not in kept  # the key itself is never kept


def test_string_data_wins_over_data_for_the_same_key() -> None:
    b = builder()
    secret = string_data_secret(
        {"tls.crt": b64(pem(STALE)), "tls.key": b64(key_pem(KEY))}, {"tls.crt": pem(CERT)}
    )
    objects.ingest(b, secret)
    assert [(c.common_name, c.location.field) for c in b.certificates] == [
        ("swapped.example", "stringData.tls.crt[0]")
    ]
    assert [k.location.field for k in b.keys] == ["data.tls.key"]


def test_string_data_that_is_not_a_string_is_a_problem() -> None:
    b = builder()
    objects.ingest(b, string_data_secret({"tls.crt": b64(pem(STALE))}, {"tls.crt": ["x"]}))
    assert b.certificates == []
    assert [(p.location.field, p.reason) for p in b.cert_problems] == [
        ("stringData.tls.crt", "value is not a string")
    ]
