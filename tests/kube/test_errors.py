"""Error translation at the adapter: Status bodies, ApiException, urllib3 errors, scrubbing."""

from __future__ import annotations

import json
import socket
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from kubernetes.client.exceptions import ApiException
from urllib3.exceptions import (
    MaxRetryError,
    NameResolutionError,
    NewConnectionError,
    ProtocolError,
    ReadTimeoutError,
    SSLError,
)

from bot.errors import BotError, UserError
from bot.kube.errors import (
    KubeConfigError,
    KubeConflict,
    KubeError,
    KubeForbidden,
    KubeGone,
    KubeInvalid,
    KubeNotFound,
    KubeUnauthorized,
    KubeUnavailable,
    from_api_exception,
    from_status,
    from_transport,
    scrub,
)

JWT = (
    "eyJhbGciOiJSUzI1NiIsImtpZCI6IjEifQ.eyJzdWIiOiJzeXN0ZW06c2VydmljZWFjY291bnQiLCJleHAiOjE3"
    "OTk5OTk5OTl9.c2lnbmF0dXJlLXNpZ25hdHVyZS1zaWduYXR1cmU"
)


def status_body(
    code: int, reason: str, message: str, causes: list[dict[str, str]] | None = None
) -> str:
    body: dict[str, object] = {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": reason,
        "code": code,
    }
    if causes is not None:
        body["details"] = {"name": "http-proxy", "kind": "settings", "causes": causes}
    return json.dumps(body)


@pytest.mark.parametrize(
    ("code", "reason", "cls"),
    [
        (401, "Unauthorized", KubeUnauthorized),
        (403, "Forbidden", KubeForbidden),
        (404, "NotFound", KubeNotFound),
        (409, "Conflict", KubeConflict),
        (410, "Expired", KubeGone),
        (500, "InternalError", KubeUnavailable),
        (503, "ServiceUnavailable", KubeUnavailable),
        (400, "BadRequest", KubeError),
    ],
)
def test_status_codes_map_to_classes(code: int, reason: str, cls: type[KubeError]) -> None:
    err = from_status(
        status=code, reason="x", body=status_body(code, reason, "it failed"), headers={}
    )
    assert type(err) is cls
    assert (err.status, err.reason, err.message) == (code, reason, f"{code} {reason}: it failed")


def test_invalid_carries_causes() -> None:
    body = status_body(
        422,
        "Invalid",
        'settings "http-proxy" is invalid',
        [{"reason": "FieldValueInvalid", "message": "noProxy lacks node IPs", "field": "value"}],
    )
    err = from_status(status=422, reason="Unprocessable Entity", body=body, headers={})
    assert isinstance(err, KubeInvalid)
    assert err.causes == ["value: noProxy lacks node IPs"]
    assert err.message == '422 Invalid: settings "http-proxy" is invalid'


def test_webhook_400_with_causes_is_invalid() -> None:
    body = status_body(400, "BadRequest", "denied", [{"message": "bad ciphers"}])
    err = from_status(status=400, reason="Bad Request", body=body, headers={})
    assert isinstance(err, KubeInvalid)
    assert err.causes == ["bad ciphers"]


def test_429_keeps_retry_after() -> None:
    body = status_body(429, "TooManyRequests", "slow down")
    err = from_status(
        status=429, reason="Too Many Requests", body=body, headers={"Retry-After": "7"}
    )
    assert isinstance(err, KubeUnavailable)
    assert (err.retry_after, err.status) == (7.0, 429)


def test_non_json_body_falls_back_to_http_reason() -> None:
    err = from_status(status=502, reason="Bad Gateway", body="<html>nginx</html>", headers={})
    assert isinstance(err, KubeUnavailable)
    assert err.message == "502 Bad Gateway: Bad Gateway"


def test_api_exception_is_translated() -> None:
    e = ApiException(status=403, reason="Forbidden", body=status_body(403, "Forbidden", "no"))
    err = from_api_exception(e)
    assert isinstance(err, KubeForbidden)
    assert err.message == "403 Forbidden: no"


def test_api_exception_status_zero_is_transport() -> None:
    # what rest.py raises for urllib3.SSLError
    err = from_api_exception(ApiException(status=0, reason="SSLError\ncertificate verify failed"))
    assert isinstance(err, KubeUnavailable)
    assert err.message == "TLS or transport error: SSLError certificate verify failed"


NO_POOL: Any = None  # the translation never looks at the connection or pool
REFUSED = "Failed to establish a new connection: [Errno 111] Connection refused"


@pytest.mark.parametrize(
    ("cause", "expected"),
    [
        (NewConnectionError(NO_POOL, REFUSED), "connection refused"),
        (
            NameResolutionError("nowhere.invalid", NO_POOL, socket.gaierror(-2, "unknown")),
            "DNS lookup failed",
        ),
        (
            ReadTimeoutError(NO_POOL, "/version", "read timed out"),
            "no answer within 30s (read timeout)",
        ),
        (ProtocolError("Connection aborted."), "connection dropped by the server"),
        (SSLError("certificate verify failed"), "TLS handshake failed (certificate verify failed)"),
    ],
)
def test_transport_errors(cause: Exception, expected: str) -> None:
    wrapped = MaxRetryError(NO_POOL, "/version", reason=cause)
    err = from_transport(wrapped, host="https://10.0.0.1:6443", timeouts=(5.0, 30.0))
    assert isinstance(err, KubeUnavailable)
    assert err.message == f"https://10.0.0.1:6443: {expected}"
    assert err.status is None


def test_config_error_is_a_user_error() -> None:
    err = KubeConfigError("kubeconfig /x: context 'c' not found")
    assert isinstance(err, UserError)
    assert isinstance(err, KubeError)
    assert isinstance(err, BotError)


def test_scrub_removes_secrets_but_keeps_names() -> None:
    text = (
        f"Authorization: Bearer {JWT} token {JWT} key -----BEGIN EC PRIVATE KEY-----\nMHcCAQEE\n"
        "-----END EC PRIVATE KEY----- rancher kubeconfig-u-abc12:9x7kq2mzl5v8w3n4p6r1t0ys8hd2f5gj"
        " validatingwebhookconfigurations harvester-webhook-5d8f9c-abc12 "
        "3f9c2a17-6b41-4d2e-9a5c-7e08d1b4c2f5"
    )
    assert scrub(text) == (
        "Authorization: Bearer <redacted> token <token redacted> key <PEM redacted> rancher "
        "kubeconfig-u-abc12:<redacted> validatingwebhookconfigurations "
        "harvester-webhook-5d8f9c-abc12 3f9c2a17-6b41-4d2e-9a5c-7e08d1b4c2f5"
    )


def test_messages_are_scrubbed_on_construction() -> None:
    err = KubeUnauthorized(f"401 Unauthorized: token {JWT} expired")
    assert JWT not in str(err)
    assert str(err) == "401 Unauthorized: token <token redacted> expired"


@given(
    prefix=st.text(max_size=200),
    secret=st.from_regex(r"[A-Za-z]{2}[0-9]{2}[A-Za-z0-9]{28,60}", fullmatch=True),
    suffix=st.text(max_size=200),
)
def test_scrub_never_lets_a_random_secret_through(prefix: str, secret: str, suffix: str) -> None:
    out = scrub(f"{prefix} {secret} {suffix}")
    assert secret not in out
    assert "\n" not in out
    assert len(out) <= 300
