"""The settings helpers (bot/checks/_settings.py), beyond the fixture walker.

Aspects: Go-style JSON decoding (case-insensitive keys, unknown keys, null, duplicates,
type errors worded like Go, int literals, syntax errors); PEM block rules of
ssl-certificates; noProxy coverage mirrors the webhook (examples for Go's quirks, a
property test against an ipaddress oracle); parsers never raise on arbitrary text.
Checks on hand-built snapshots: test_settings_checks.py.
"""

from __future__ import annotations

import ipaddress
import json
import time
from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.checks import _settings as s
from bot.checks.http_proxy import uncovered_node_ips
from bot.checks.setting_invalid import (
    cert_bundle_problem,
    pem_block_types,
    private_key_problem,
    problems_of,
)
from bot.checks.ssl import weak_openssl_ciphers, weak_tls_options
from bot.core.snapshot import CoverageStatus

NOW = datetime(2026, 6, 1, tzinfo=UTC)
READ = CoverageStatus.READ


# --- Go-style decoding -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "decoded"),
    [
        ('{"ENABLE":true,"ExpiringInHours":5,"other":[1]}', {"enable": True, "expiringInHours": 5}),
        ("null", {"enable": False, "expiringInHours": 0}),
        (
            '{"enable":true,"enable":null,"expiringInHours":1,"expiringinhours":2}',
            {"enable": True, "expiringInHours": 2},
        ),
        ('{"expiringInHours":-0}', {"enable": False, "expiringInHours": 0}),
        # Go folds U+017F (long s) to "S", as it folds "s": the key still matches.
        ('{"expiringInHour\u017f":7}', {"enable": False, "expiringInHours": 7}),
    ],
)
def test_decode_like_go(text: str, decoded: dict[str, object]) -> None:
    assert s.decode(text, s.AUTO_ROTATE) == decoded


def test_decode_merges_duplicate_maps_and_nulls_pointers() -> None:
    doc = s.decode(
        '{"Mirrors":{"a":{"Endpoints":["x"]}},"mirrors":{"b":null},'
        '"Configs":{"h":{"Auth":{"Username":"u"},"auth":null}}}',
        s.CONTAINERD_REGISTRY,
    )
    assert doc["Mirrors"] == {
        "a": {"Endpoints": ["x"], "Rewrites": None},
        "b": {"Endpoints": None, "Rewrites": None},
    }
    assert doc["Configs"] == {"h": {"Auth": None, "TLS": None}}


@pytest.mark.parametrize(
    ("text", "schema", "message"),
    [
        (
            '{"enable":"yes"}',
            s.AUTO_ROTATE,
            "json: cannot unmarshal string into Go struct field "
            "AutoRotateRKE2Certs.enable of type bool",
        ),
        (
            '{"expiringInHours":240.0}',
            s.AUTO_ROTATE,
            "json: cannot unmarshal number 240.0 into "
            "Go struct field AutoRotateRKE2Certs.expiringInHours of type int",
        ),
        (
            '{"expiringInHours":9223372036854775808}',
            s.AUTO_ROTATE,
            "json: cannot unmarshal number 9223372036854775808 into Go struct field "
            "AutoRotateRKE2Certs.expiringInHours of type int",
        ),
        (
            "[]",
            s.HTTP_PROXY,
            "json: cannot unmarshal array into Go value of type util.HTTPProxyConfig",
        ),
        (
            '{"noProxy":["a"]}',
            s.HTTP_PROXY,
            "json: cannot unmarshal array into Go struct field "
            "HTTPProxyConfig.noProxy of type string",
        ),
        (
            '{"Configs":{"h":{"Auth":{"Password":1}}}}',
            s.CONTAINERD_REGISTRY,
            "json: cannot unmarshal "
            "number into Go struct field AuthConfig.Configs.Auth.Password of type string",
        ),
        (
            '{"Mirrors":{"d":{"Endpoints":"http://x"}}}',
            s.CONTAINERD_REGISTRY,
            "json: cannot "
            "unmarshal string into Go struct field Mirror.Mirrors.Endpoints of type []string",
        ),
        (
            '{"cipherSuites":{}}',
            s.TLS_OPTIONS,
            "json: cannot unmarshal object into Go struct field "
            "TLSOptionSpec.cipherSuites of type []string",
        ),
        ("{", s.HTTP_PROXY, "unexpected end of JSON input"),
        (
            '{"a":1,}',
            s.HTTP_PROXY,
            "invalid character '}' looking for beginning of object key string",
        ),
        ('{"a":[1 2]}', s.HTTP_PROXY, "invalid character '2' after array element"),
        ('{"a":1 "b":2}', s.HTTP_PROXY, "invalid character '\"' after object key:value pair"),
        ('{"a":tru}', s.HTTP_PROXY, "invalid character '}' in literal true (expecting 'e')"),
        (
            "{'a':1}",
            s.HTTP_PROXY,
            "invalid character '\\'' looking for beginning of object key string",
        ),
        ('{"a":NaN}', s.HTTP_PROXY, "invalid character 'N' looking for beginning of value"),
        ("{} x", s.HTTP_PROXY, "invalid character 'x' after top-level value"),
        ('"\t"', s.HTTP_PROXY, "invalid character '\\t' in string literal"),
    ],
)
def test_decode_errors_read_like_go(text: str, schema: s.Struct, message: str) -> None:
    with pytest.raises(s.GoJSONError) as e:
        s.decode(text, schema)
    assert str(e.value) == message


_KEYS = st.sampled_from(
    [
        "enable",
        "ENABLE",
        "expiringInHours",
        "httpProxy",
        "noproxy",
        "Mirrors",
        "Configs",
        "Auth",
        "TLS",
        "Endpoints",
        "InsecureSkipVerify",
        "x",
    ]
)
_JSONISH = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=5),
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(_KEYS | st.text(max_size=4), inner, max_size=4)
    ),
    max_leaves=12,
)


@given(
    text=st.text(max_size=60) | _JSONISH.map(json.dumps), name=st.sampled_from(sorted(s.SCHEMAS))
)
def test_decode_never_raises_anything_else(text: str, name: str) -> None:
    try:
        doc = s.decode(text, s.SCHEMAS[name])
    except s.GoJSONError as e:
        assert str(e)
    else:
        assert set(doc) == {field for field, _ in s.SCHEMAS[name].fields}


@given(
    text=st.text(max_size=80) | _JSONISH.map(json.dumps),
    name=st.sampled_from(
        [
            "http-proxy",
            "auto-rotate-rke2-certs",
            "ssl-certificates",
            "ssl-parameters",
            "containerd-registry",
            "traefik-default-tls-options",
            "additional-ca",
        ]
    ),
)
def test_problems_of_never_raises(text: str, name: str) -> None:
    for sub, reason in problems_of(name, text):
        assert isinstance(sub, str) and reason


@given(
    enable=st.booleans(),
    hours=st.integers(-(2**63), 2**63 - 1),
    keys=st.tuples(
        st.sampled_from(["enable", "Enable", "ENABLE"]),
        st.sampled_from(["expiringInHours", "EXPIRINGINHOURS"]),
    ),
)
def test_auto_rotate_round_trip(enable: bool, hours: int, keys: tuple[str, str]) -> None:
    text = json.dumps({keys[0]: enable, keys[1]: hours})
    assert s.decode(text, s.AUTO_ROTATE) == {"enable": enable, "expiringInHours": hours}
    expected = (
        []
        if 0 < hours <= 8759
        else [
            (
                "",
                "expiringInHours can't be negative or zero"
                if hours <= 0
                else "expiringInHours can't be large than 8759",
            )
        ]
    )
    assert problems_of("auto-rotate-rke2-certs", text) == expected


def test_version_tuple() -> None:
    assert s.version_tuple("v1.4.2") == (1, 4, 2)
    assert s.version_tuple("v1.9.0-rc6") == (1, 9, 0)
    assert s.version_tuple("1.3") == (1, 3, 0)
    assert s.version_tuple("master-head") is None
    assert s.version_tuple("") is None


# --- ssl-certificates PEM rules (reference §2.4) -------------------------------------------

CERT = "-----BEGIN CERTIFICATE-----\nMIIBZjCCAQyg\n-----END CERTIFICATE-----\n"
PKCS8 = "-----BEGIN PRIVATE KEY-----\nREDACTED\n-----END PRIVATE KEY-----\n"
EC_KEY = "-----BEGIN EC PRIVATE KEY-----\nREDACTED\n-----END EC PRIVATE KEY-----\n"
EC_PARAMS = "-----BEGIN EC PARAMETERS-----\nBggqhkjOPQMBBw==\n-----END EC PARAMETERS-----\n"


def test_pem_block_types() -> None:
    assert pem_block_types("junk before\n" + CERT + "trailing junk") == (["CERTIFICATE"], True)
    encrypted = (
        "-----BEGIN RSA PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED\nDEK-Info: AES\n\n"
        "REDACTED\n-----END RSA PRIVATE KEY-----\n"
    )
    assert pem_block_types(encrypted + CERT) == (["RSA PRIVATE KEY", "CERTIFICATE"], True)
    # A header whose block never ends: Go stops with "failed to parse PEM block".
    assert pem_block_types(CERT + "-----BEGIN CERTIFICATE-----\nMIIB\n") == (["CERTIFICATE"], False)
    # A body that is not base64 is skipped; the next good block is found.
    assert pem_block_types("-----BEGIN X-----\n!!\n-----END X-----\n" + CERT) == (
        ["CERTIFICATE"],
        True,
    )
    # No "-----" after BEGIN on the same line: not a PEM header at all.
    assert pem_block_types("-----BEGIN CERTIFICATE\n") == ([], True)


def test_pem_first_end_line_must_match() -> None:
    # encoding/pem takes the first END line after BEGIN; another type fails the block.
    text = "-----BEGIN A-----\nAAAA\n-----END B-----\n-----END A-----\n"
    assert pem_block_types(text) == ([], False)


def test_pem_hostile_value_stays_linear() -> None:
    # 50 000 BEGIN lines before one END: a naive search is quadratic (minutes).
    started = time.monotonic()
    text = "-----BEGIN X-----\n" * 50_000 + "AAAA\n-----END X-----\n"
    assert pem_block_types(text) == (["X"], True)
    assert time.monotonic() - started < 5


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        (CERT + CERT, None),
        ("", "failed to locate certificate"),
        ("just text", "failed to locate certificate"),
        (PKCS8, "unexpected block type 'PRIVATE KEY'"),
        ("-----BEGIN CERTIFICATE-----\nMIIB\n", "failed to parse PEM block"),
        (
            "-----BEGIN MIIEvQIBADANBgkqhkiG9w0B-----\nAAAA\n"
            "-----END MIIEvQIBADANBgkqhkiG9w0B-----\n",
            "unexpected block type (not shown)",
        ),  # a label that could be key text is not echoed
    ],
)
def test_cert_bundle_problem(text: str, problem: str | None) -> None:
    assert cert_bundle_problem(text) == problem


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        (PKCS8, None),
        (PKCS8 + PKCS8, None),  # Harvester accepts at the first PKCS#8 block that parses
        (EC_PARAMS + EC_KEY, None),
        (EC_KEY + EC_KEY, "multiple private keys"),
        (EC_PARAMS, "failed to locate private key"),
        ("", "failed to locate private key"),
        (CERT + PKCS8, "unexpected block type 'CERTIFICATE'"),
        (
            "-----BEGIN ENCRYPTED PRIVATE KEY-----\nAAAA\n-----END ENCRYPTED PRIVATE KEY-----\n",
            "unexpected block type 'ENCRYPTED PRIVATE KEY'",
        ),
    ],
)
def test_private_key_problem(text: str, problem: str | None) -> None:
    assert private_key_problem(text) == problem


def test_ssl_certificates_problems_per_subfield() -> None:
    value = json.dumps({"ca": PKCS8, "publicCertificate": "", "privateKey": EC_KEY + EC_KEY})
    assert problems_of("ssl-certificates", value) == [
        ("ca", "unexpected block type 'PRIVATE KEY'"),
        ("publicCertificate", "failed to locate certificate"),
        ("privateKey", "multiple private keys"),
    ]
    assert problems_of("ssl-certificates", '{"ca":"","publicCertificate":null}') == []


@given(
    parts=st.lists(
        st.sampled_from(
            [
                "-----BEGIN ",
                "-----END ",
                "CERTIFICATE",
                "PRIVATE KEY",
                "EC ",
                "-----",
                "\n",
                "REDACTED",
                "MIIB",
                "Proc-Type: 4",
                " ",
                "=",
                "é",
            ]
        ),
        max_size=25,
    )
)
def test_pem_rules_never_raise(parts: list[str]) -> None:
    text = "".join(parts)
    types, complete = pem_block_types(text)
    assert isinstance(complete, bool) and all(isinstance(t, str) for t in types)
    for problem in (cert_bundle_problem(text), private_key_problem(text)):
        assert problem is None or problem.startswith(("failed", "unexpected", "multiple"))


# --- noProxy coverage (reference §2.1 rule 3) ----------------------------------------------


@pytest.mark.parametrize(
    ("no_proxy", "ips", "missing"),
    [
        ("192.168.1.0/24", ["192.168.1.11", "192.168.2.1"], ["192.168.2.1"]),
        ("localhost,.svc,10.0.0.0/8", ["10.1.2.3"], []),
        ("localhost,.svc,cattle-system", ["10.1.2.3"], ["10.1.2.3"]),  # built-ins do not count
        ("node1.example.com,*.example.com", ["192.168.1.11"], ["192.168.1.11"]),
        (" 192.168.1.11 ,\u00a0192.168.1.12\u00a0", ["192.168.1.11", "192.168.1.12"], []),
        ("\x1c192.168.1.11", ["192.168.1.11"], ["192.168.1.11"]),  # Go does not trim \x1c
        ("192.168.1.5/255.255.255.0", ["192.168.1.5"], ["192.168.1.5"]),  # no netmask form
        ("192.168.1.5/024", ["192.168.1.9"], []),  # Go reads the prefix "024" as 24
        ("fd00::/64", ["fd00::12", "FD00:0::13"], []),
        ("fe80::1%eth0", ["fe80::1"], ["fe80::1"]),  # zones are not IPs for Go
        ("::ffff:192.168.1.11", ["192.168.1.11"], []),  # IPv4-mapped equals IPv4 in Go
        ("::ffff:192.168.0.0/112", ["192.168.3.4"], []),  # mapped CIDR of prefix >= 96
        ("192.168.1.11", ["::ffff:192.168.1.11", "bogus", ""], []),  # unparseable skipped
        ("", ["10.0.0.2", "10.0.0.10", "2001:db8::1"], ["10.0.0.10", "10.0.0.2", "2001:db8::1"]),
    ],
)
def test_uncovered_node_ips(no_proxy: str, ips: list[str], missing: list[str]) -> None:
    assert uncovered_node_ips(no_proxy, ips) == missing


def _oracle(no_proxy: str, node_ips: list[str]) -> list[str]:
    ips = {ipaddress.ip_address(x) for x in node_ips}
    covered = set()
    for entry in (e.strip() for e in no_proxy.split(",")):
        try:
            if "/" in entry:
                net = ipaddress.ip_network(entry, strict=False)
                covered |= {ip for ip in ips if ip.version == net.version and ip in net}
            else:
                covered.add(ipaddress.ip_address(entry))
        except ValueError:
            continue
    return sorted(str(ip) for ip in ips - covered)


_V4 = st.ip_addresses(v=4)


def _not_mapped(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    # Go treats IPv4-mapped IPv6 as IPv4, the oracle does not: examples above cover them.
    return not (isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None)


_V6: st.SearchStrategy[ipaddress.IPv4Address | ipaddress.IPv6Address] = st.ip_addresses(v=6).filter(
    _not_mapped
)
_IP = _V4 | _V6


@given(
    node_ips=st.lists(_IP, max_size=6),
    entries=st.lists(
        _IP.map(str)
        | st.tuples(_V4, st.integers(0, 32)).map(lambda t: f"{t[0]}/{t[1]}")
        | st.tuples(_V6, st.integers(0, 128)).map(lambda t: f"{t[0]}/{t[1]}")
        | st.text(alphabet="abcdefghijklmnopqrstuvwxyz.-*0123456789/:", max_size=12),
        max_size=6,
    ),
    data=st.data(),
)
def test_uncovered_node_ips_matches_oracle(
    node_ips: list[object], entries: list[str], data: st.DataObject
) -> None:
    # Reuse some node IPs and their networks as entries so that coverage happens often.
    entries += (
        [str(ip) for ip in data.draw(st.lists(st.sampled_from(node_ips), max_size=3))]
        if node_ips
        else []
    )
    no_proxy = ",".join(data.draw(st.sampled_from(["", " ", "  "])) + e for e in entries)
    ips = [str(ip) for ip in node_ips]
    assert uncovered_node_ips(no_proxy, ips) == _oracle(no_proxy, ips)


def test_weak_openssl_ciphers() -> None:
    assert weak_openssl_ciphers("HIGH:!aNULL:!MD5:-RC4") == []
    assert weak_openssl_ciphers("ECDHE-ECDSA-AES128-GCM-SHA256:AES256-SHA256") == []
    assert weak_openssl_ciphers("RC4-SHA, DES-CBC3-SHA ECDHE-RSA-AES128-SHA:+3DES:kRSA+RC4") == [
        "RC4-SHA",
        "DES-CBC3-SHA",
        "ECDHE-RSA-AES128-SHA",
        "3DES",
        "kRSA+RC4",
    ]
    assert weak_openssl_ciphers("EXP-RC4-MD5:eNULL:aNULL:LOW") == [
        "EXP-RC4-MD5",
        "eNULL",
        "aNULL",
        "LOW",
    ]
    # aliases that enable the anonymous and CBC-SHA1 suites wholesale (openssl ciphers ALL)
    assert weak_openssl_ciphers("ALL") == ["ALL"]
    assert weak_openssl_ciphers("HIGH:@SECLEVEL=0") == ["@SECLEVEL=0"]
    assert weak_openssl_ciphers("ALL:!aNULL:!eNULL") == ["ALL"]  # still CBC-SHA1
    assert weak_openssl_ciphers("HIGH:!ALL") == []


def test_weak_go_suites_include_the_cbc_sha256_ones() -> None:
    """Go's crypto/tls InsecureCipherSuites lists them (no Lucky13 countermeasures)."""
    doc = {
        "minVersion": "VersionTLS12",
        "maxVersion": "",
        "cipherSuites": [
            "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
            "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256",
            "TLS_RSA_WITH_AES_128_CBC_SHA256",
        ],
    }
    suites = [values for field, _, values in weak_tls_options(doc) if field == "cipherSuites"]
    assert suites == [("TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256", "TLS_RSA_WITH_AES_128_CBC_SHA256")]
