"""What a kubeconfig authenticates with, minus the secret: ``ClientCredentials``.

The kubeconfig's own credential expires too (RKE2 admin client certificates live a year;
Rancher and service-account tokens are JWTs with an ``exp``), and ``secbot`` reports it
before it locks the operator out. This module reads the user entry of the resolved context
and keeps only what is public: the client certificate (a certificate is not a secret; any
private-key block next to it is dropped) and a token's expiry, decoded from the JWT payload
*without* verifying it (we only want the date). The token itself never leaves
``from_user``: it is not stored, returned or put into a message.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bot.kube.errors import KubeConfigError
from bot.kube.kubeconfig import ResolvedContext

MAX_CREDENTIAL_FILE_BYTES = 1024 * 1024
_CERT_BLOCK = re.compile(rb"-----BEGIN CERTIFICATE-----\s.*?-----END CERTIFICATE-----", re.DOTALL)


@dataclass(frozen=True)
class ClientCredentials:
    """How a client authenticates. Never holds a token or a key.

    kind: "client-certificate" | "token" | "exec" (exec plugin or auth-provider, which
    mint short-lived credentials themselves) | "basic" (username/password) | "none".
    """

    kind: str
    client_cert_pem: bytes | None = field(default=None, repr=False)  # public cert(s) only
    token_expires_at: datetime | None = None  # "exp" of a JWT bearer token, UTC
    detail: str = ""  # e.g. "user 'admin' of context 'prod' in /x/config"; no secrets


def jwt_expiry(token: str) -> datetime | None:
    """The ``exp`` claim of a JWT (unverified), or None if the token is not a JWT with one."""
    parts = token.strip().split(".")
    if len(parts) != 3 or not parts[1]:
        return None
    payload = parts[1] + "=" * (-len(parts[1]) % 4)
    try:
        claims = json.loads(base64.urlsafe_b64decode(payload))
    except (binascii.Error, ValueError, RecursionError):  # not base64url / JSON
        return None
    exp = claims.get("exp") if isinstance(claims, dict) else None
    if isinstance(exp, bool) or not isinstance(exp, int | float):
        return None
    try:
        return datetime.fromtimestamp(exp, tz=UTC)
    except (OverflowError, OSError, ValueError):
        return None


def _read(path: Path, *, what: str) -> bytes:
    try:
        with path.open("rb") as f:
            data = f.read(MAX_CREDENTIAL_FILE_BYTES + 1)
    except OSError as e:
        raise KubeConfigError(f"{what} {path} cannot be read ({e.strerror or e})") from None
    if len(data) > MAX_CREDENTIAL_FILE_BYTES:
        raise KubeConfigError(f"{what} {path} is larger than {MAX_CREDENTIAL_FILE_BYTES} bytes")
    return data


def _certificates_only(data: bytes) -> bytes | None:
    """The CERTIFICATE PEM blocks of ``data``; a key stored in the same file is dropped."""
    blocks = _CERT_BLOCK.findall(data)
    return b"\n".join(blocks) + b"\n" if blocks else None


def _client_cert(user: dict[str, Any], base: Path, where: str) -> bytes | None:
    inline = user.get("client-certificate-data")
    if inline:
        try:
            raw = base64.b64decode("".join(str(inline).split()), validate=True)
        except (binascii.Error, ValueError):
            raise KubeConfigError(f"{where}: client-certificate-data is not base64") from None
        return _certificates_only(raw)
    file = user.get("client-certificate")
    if file:
        return _certificates_only(_read(base / str(file), what="client-certificate"))
    return None


def _token_expiry(user: dict[str, Any], base: Path) -> tuple[bool, datetime | None]:
    """(has a token, its JWT expiry). The token is a local and dies with this frame."""
    token = user.get("token")
    if not token and user.get("tokenFile"):
        token = _read(base / str(user["tokenFile"]), what="tokenFile").decode("utf-8", "replace")
    if not token:
        return False, None
    return True, jwt_expiry(str(token))


def from_user(resolved: ResolvedContext) -> ClientCredentials:
    """The credentials of the resolved context's user (see the module docstring)."""
    source = resolved.user_file or resolved.file
    where = f"user {resolved.user_name!r} of context {resolved.name!r} in {source}"
    user = dict(resolved.user or {})
    if not user:
        return ClientCredentials("none", detail=f"context {resolved.name!r} has no user")
    base = source.parent
    cert = _client_cert(user, base, where)
    has_token, expires = _token_expiry(user, base)
    if cert is not None or user.get("client-certificate-data") or user.get("client-certificate"):
        return ClientCredentials("client-certificate", cert, expires, where)
    if has_token:
        return ClientCredentials("token", None, expires, where)
    if "exec" in user or "auth-provider" in user:
        return ClientCredentials("exec", None, None, f"{where} (exec plugin or auth-provider)")
    if user.get("username"):
        return ClientCredentials("basic", None, None, where)
    return ClientCredentials("none", None, None, where)


def in_cluster() -> ClientCredentials:
    """The pod's service-account token: the kubelet rotates it, so no expiry is reported."""
    return ClientCredentials("token", None, None, "in-cluster service account")
