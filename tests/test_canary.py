"""Secrets never leave the adapter: canaries planted in every input kind.

Aspects: a private key (ssl-certificates setting, Secret tls.key, PKI .key file, kubeconfig
client key), proxy credentials (http-proxy setting, /oem file) and registry passwords
(containerd-registry) are scanned; none of them appears in table, JSON or SARIF output,
in the alerts and digest that would be posted, in the log at DEBUG, or anywhere in the
database (outbox included), on SQLite and PostgreSQL. A silence whose reason carries the
proxy URL with its password reaches the audit log, its export and its verification
masked.
"""

from __future__ import annotations

import base64
import json
import logging
import os
import sqlite3
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from bot.cli import main

PROXY_PASSWORD = "CanaryProxyPw-7f3a91"
PROXY_USER = "canaryuser"
REGISTRY_PASSWORD = "CanaryRegistryPw-c0ffee"
OEM_PASSWORD = "CanaryOemPw-44d1"
NOW = datetime(2026, 6, 1, tzinfo=UTC)


def _key_and_cert(cn: str) -> tuple[bytes, bytes]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(NOW - timedelta(days=360))
        .not_valid_after(NOW + timedelta(days=5))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("harvester.example")]), False)
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    return key_pem, cert.public_bytes(serialization.Encoding.PEM)


def _key_body_lines(key_pem: bytes) -> list[str]:
    return [ln for ln in key_pem.decode().splitlines() if ln and not ln.startswith("-----")]


def _setting(name: str, value: str) -> dict[str, object]:
    return {
        "apiVersion": "harvesterhci.io/v1beta1",
        "kind": "Setting",
        "metadata": {"name": name, "resourceVersion": "1"},
        "value": value,
    }


@pytest.fixture
def planted(tmp_path: Path) -> tuple[dict[str, Path], list[str]]:
    """Inputs of every kind with canaries; returns (paths, canary strings)."""
    canaries = [PROXY_PASSWORD, REGISTRY_PASSWORD, OEM_PASSWORD]
    ssl_key, ssl_cert = _key_and_cert("harvester.example")
    secret_key, secret_cert = _key_and_cert("secret.example")
    pki_key, pki_cert = _key_and_cert("kube-apiserver")
    kc_key, kc_cert = _key_and_cert("system:admin")
    for key in (ssl_key, secret_key, pki_key, kc_key):
        canaries += _key_body_lines(key)
    canaries.append(base64.b64encode(secret_key).decode())
    canaries.append(base64.b64encode(kc_key).decode())

    proxy = f"http://{PROXY_USER}:{PROXY_PASSWORD}@proxy.corp.example:3128"
    settings = [
        _setting("server-version", "v1.4.2"),
        _setting(
            "http-proxy",
            json.dumps({"httpProxy": proxy, "httpsProxy": proxy, "noProxy": "10.0.0.0/8"}),
        ),
        _setting(
            "containerd-registry",
            json.dumps(
                {
                    "Mirrors": {"docker.io": {"Endpoints": ["http://mirror.example:5000"]}},
                    "Configs": {
                        "mirror.example:5000": {
                            "Auth": {"Username": "reguser", "Password": REGISTRY_PASSWORD},
                            "TLS": {"InsecureSkipVerify": True},
                        }
                    },
                }
            ),
        ),
        _setting(
            "ssl-certificates",
            json.dumps(
                {
                    "publicCertificate": ssl_cert.decode(),
                    "privateKey": ssl_key.decode(),
                    "ca": "",
                }
            ),
        ),
    ]
    nodes = [
        {
            "apiVersion": "v1",
            "kind": "Node",
            "metadata": {
                "name": "node-0",
                "labels": {"node-role.kubernetes.io/control-plane": "true"},
            },
            "status": {"addresses": [{"type": "InternalIP", "address": "192.168.10.11"}]},
        }
    ]
    bundle = tmp_path / "supportbundle_0badc0de-0000-4000-8000-000000000000_2026-06-01T00-00-00Z"
    (bundle / "yamls/cluster/harvesterhci.io/v1beta1").mkdir(parents=True)
    (bundle / "yamls/cluster/v1").mkdir(parents=True)
    (bundle / "yamls/cluster/harvesterhci.io/v1beta1/settings.yaml").write_text(
        yaml.safe_dump({"apiVersion": "v1", "kind": "List", "items": settings})
    )
    (bundle / "yamls/cluster/v1/nodes.yaml").write_text(
        yaml.safe_dump({"apiVersion": "v1", "kind": "List", "items": nodes})
    )
    oem = bundle / "nodes/node-0/configs/oem"
    oem.mkdir(parents=True)
    (oem / "90_custom.yaml").write_text(
        "stages:\n  initramfs:\n  - environment:\n"
        f"      HTTP_PROXY: http://{PROXY_USER}:{OEM_PASSWORD}@proxy.corp.example:3128\n"
        "      NO_PROXY: localhost\n"
        f"    users:\n      rancher:\n        passwd: {OEM_PASSWORD}\n"
    )
    (bundle / "nodes/node-0/logs").mkdir(parents=True)
    (bundle / "nodes/node-0/logs/rke2-server.log").write_text("level=info msg=started\n")

    manifests = tmp_path / "secrets.yaml"
    manifests.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "List",
                "items": [
                    {
                        "apiVersion": "v1",
                        "kind": "Secret",
                        "type": "kubernetes.io/tls",
                        "metadata": {"name": "web-tls", "namespace": "default"},
                        "data": {
                            "tls.crt": base64.b64encode(secret_cert).decode(),
                            "tls.key": base64.b64encode(secret_key).decode(),
                        },
                    },
                    *settings,
                ],
            }
        )
    )

    pki = tmp_path / "tls"
    pki.mkdir()
    (pki / "serving-kube-apiserver.crt").write_bytes(pki_cert)
    (pki / "serving-kube-apiserver.key").write_bytes(pki_key)
    cred = pki / "cred"
    cred.mkdir()
    (cred / "admin.kubeconfig").write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [{"name": "local", "cluster": {"server": "https://127.0.0.1:6443"}}],
                "users": [
                    {
                        "name": "admin",
                        "user": {
                            "client-certificate-data": base64.b64encode(kc_cert).decode(),
                            "client-key-data": base64.b64encode(kc_key).decode(),
                        },
                    }
                ],
            }
        )
    )
    return {"bundle": bundle, "manifests": manifests, "pki": pki}, canaries


def _pg_database() -> Iterator[str]:
    import psycopg

    base = os.environ["SECBOT_TEST_DATABASE_URL"]
    name = f"secbot_canary_{uuid.uuid4().hex[:10]}"
    admin = base.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield base.rsplit("/", 1)[0] + "/" + name, name
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[str, object]]:
    if request.param == "sqlite":
        path = tmp_path / "canary.db"
        yield f"sqlite:///{path}", path
        return
    if "SECBOT_TEST_DATABASE_URL" not in os.environ:
        pytest.skip("SECBOT_TEST_DATABASE_URL is not set")
    yield from _pg_database()


def _dump_db(url: str, handle: object) -> str:
    if url.startswith("sqlite"):
        conn = sqlite3.connect(str(handle))
        try:
            tables = [
                r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")
            ]
            return "\n".join(
                repr(row) for t in tables for row in conn.execute(f'SELECT * FROM "{t}"')
            )
        finally:
            conn.close()
    import psycopg

    dsn = url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(dsn) as conn:
        tables = [
            r[0]
            for r in conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
        ]
        return "\n".join(repr(row) for t in tables for row in conn.execute(f'SELECT * FROM "{t}"'))


def _run(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    with pytest.raises(SystemExit) as exc:
        main([*args])
        raise SystemExit(0)
    out = capsys.readouterr()
    return int(exc.value.code or 0), out.out + out.err


def _silence_with_the_password_and_export_the_audit_log(
    url: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> list[str]:
    from sqlalchemy import select

    from bot.audit.log import AuditLog
    from bot.findings.silences import silence
    from bot.store import db
    from bot.store.models import FindingRow

    key = "canary-audit-key-0123456789abcdef"
    engine = db.make_engine(url)
    try:
        with db.session_scope(engine) as session:
            finding = session.scalars(
                select(FindingRow).where(FindingRow.severity != "critical").limit(1)
            ).one()
            silence(
                session=session,
                finding_id=finding.id,
                duration=timedelta(days=1),
                reason=f"proxy http://{PROXY_USER}:{PROXY_PASSWORD}@proxy.corp.example:3128 down",
                owner="U0CANARY",
                now=NOW,
                audit=AuditLog(hmac_key=key.encode()),
            )
    finally:
        engine.dispose()
    code, exported = _run(["audit", "export", "--db", url], capsys)
    assert code == 0, exported
    (record,) = [json.loads(line) for line in exported.splitlines() if line.startswith("{")]
    masked = f"proxy http://{PROXY_USER}:****@proxy.corp.example:3128 down"
    assert (record["action"], record["payload"]["reason"]) == ("silence.add", masked)
    monkeypatch.setenv("SECBOT_AUDIT_HMAC_KEY", key)
    code, verified = _run(["audit", "verify", "--db", url], capsys)
    assert code == 0 and verified.startswith("audit log intact: 1 record\n"), verified
    return [exported, verified]


def test_no_secret_reaches_output_logs_or_store(
    planted: tuple[dict[str, Path], list[str]],
    database: tuple[str, object],
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    paths, canaries = planted
    url, handle = database
    monkeypatch.setenv("SECBOT_LOG_LEVEL", "DEBUG")
    monkeypatch.setenv("SECBOT_ALERT_CHANNEL", "#alerts")  # alerts and digests planned too
    monkeypatch.setenv("SECBOT_CONSOLE", "true")  # printed, also on PostgreSQL
    caplog.set_level(logging.DEBUG)
    inputs = [
        "--bundle",
        str(paths["bundle"]),
        "--manifests",
        str(paths["manifests"]),
        "--pki",
        str(paths["pki"]),
    ]
    texts = []
    for fmt in ("table", "json", "sarif"):
        out_file = tmp_path / f"report.{fmt}"
        code, printed = _run(
            [
                "scan",
                *inputs,
                "--format",
                fmt,
                "--db",
                url,
                "--at",
                NOW.isoformat(),
                "-o",
                str(out_file),
            ],
            capsys,
        )
        assert code == 0, printed
        texts += [printed, out_file.read_text()]
    report = json.loads((tmp_path / "report.json").read_text())
    checks_seen = {f["check"] for c in report["clusters"] for f in c["findings"]}
    # The canaries sat where these checks look: they did run and report.
    assert {
        "http-proxy-credentials",
        "registry-plaintext-credentials",
        "oem-proxy-override",
        "cert-expiring",
    } <= checks_seen
    # What would go to Slack: every planned alert, sent through the console sink, and the
    # digest as text and as JSON.
    for args in (["scheduler", "run", "outbox"], ["digest"], ["digest", "--format", "json"]):
        code, printed = _run([*args, "--db", url], capsys)
        assert code == 0, printed
        texts.append(printed)
    assert "[console] would post to #alerts: " in texts[-3]
    # A person pastes the proxy URL, password and all, into a silence reason: audited.
    texts += _silence_with_the_password_and_export_the_audit_log(url, capsys, monkeypatch)
    texts.append(caplog.text)
    texts.append(_dump_db(url, handle))
    everything = "\n".join(texts)
    leaked = [c for c in canaries if c in everything]
    assert leaked == []
    assert PROXY_USER in everything  # masked URLs keep the user, so the check above is meaningful
