"""The Kubernetes adapter's own exception hierarchy, and the translation into it.

Nothing above ``bot.kube`` ever sees an ``ApiException``, a urllib3 error or a
``ConfigException``: ``KubeClient`` translates them here (always ``raise ... from e``) so
callers branch on our types (``KubeForbidden`` -> a coverage gap, ``KubeUnavailable`` -> the
cluster is down) and never on a library's. Every message passes through ``scrub`` because
library and server texts are not ours: a message never carries a token, a PEM block or a
kubeconfig's contents, and it fits on one line.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from bot.errors import BotError, UserError

_MAX_MESSAGE = 300
_PEM = re.compile(r"-----BEGIN [A-Z0-9 ]+-----.*?(-----END [A-Z0-9 ]+-----|$)", re.DOTALL)
_BEARER = re.compile(r"(?i)\b(bearer|basic)\s+[A-Za-z0-9._~+/=:-]+")
_JWT = re.compile(r"\beyJ[A-Za-z0-9_-]*\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*")
# A long run of base64/hex: a token or key material pasted into some library text. Object
# names, UIDs and paths are short words between separators, so only a long unbroken run
# mixing letters and digits counts (random secrets always do; words almost never).
_BLOB = re.compile(r"[A-Za-z0-9+=]{20,}")
_DIGITS = re.compile(r"[0-9].*[0-9]")
_LETTERS = re.compile(r"[A-Za-z].*[A-Za-z]")


def _blob(match: re.Match[str]) -> str:
    text = match.group(0)
    return "<redacted>" if _DIGITS.search(text) and _LETTERS.search(text) else text


def scrub(text: str) -> str:
    """One line, at most 300 characters, without tokens, PEM blocks or long opaque blobs."""
    text = _PEM.sub("<PEM redacted>", text)
    text = _BEARER.sub(lambda m: f"{m.group(1)} <redacted>", text)
    text = _JWT.sub("<token redacted>", text)
    text = _BLOB.sub(_blob, text)
    text = " ".join(text.split())
    return text if len(text) <= _MAX_MESSAGE else text[: _MAX_MESSAGE - 3] + "..."


class KubeError(BotError):
    """A Kubernetes API call or client setup failed; ``status`` is the HTTP code if any."""

    default_status: int | None = None

    def __init__(self, message: str, *, status: int | None = None, reason: str = "") -> None:
        self.message = scrub(message)
        self.status = self.default_status if status is None else status
        self.reason = reason
        super().__init__(self.message)


class KubeUnauthorized(KubeError):
    """401: the credentials were refused (expired certificate or token, wrong cluster)."""

    default_status = 401


class KubeForbidden(KubeError):
    """403: authenticated, but RBAC does not allow this verb on this resource."""

    default_status = 403


class KubeNotFound(KubeError):
    """404: no such object (or no such resource type on this cluster)."""

    default_status = 404


class KubeConflict(KubeError):
    """409: stale resourceVersion in a patch, or the object already exists."""

    default_status = 409


class KubeGone(KubeError):
    """410: the continue token or resourceVersion expired (etcd compaction)."""

    default_status = 410


class KubeInvalid(KubeError):
    """422 (or a 400 from an admission webhook): the object was refused; see ``causes``."""

    default_status = 422

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        reason: str = "",
        causes: list[str] | None = None,
    ) -> None:
        super().__init__(message, status=status, reason=reason)
        self.causes = [scrub(c) for c in causes or []]


class KubeUnavailable(KubeError):
    """The API cannot be reached or is overloaded: timeout, refused, DNS, TLS, 429, 5xx."""

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        reason: str = "",
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message, status=status, reason=reason)
        self.retry_after = retry_after


class KubeConfigError(KubeError, UserError):
    """The kubeconfig, context or in-cluster environment cannot be used (user must fix it)."""


_BY_STATUS: dict[int, type[KubeError]] = {
    401: KubeUnauthorized,
    403: KubeForbidden,
    404: KubeNotFound,
    409: KubeConflict,
    410: KubeGone,
    422: KubeInvalid,
}


def _parse_status(body: str | bytes | None) -> Mapping[str, Any]:
    """The JSON ``Status`` object of an error body, or {} when the body is something else."""
    if not body:
        return {}
    try:
        doc = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return {}
    return doc if isinstance(doc, dict) else {}


def _causes(status: Mapping[str, Any]) -> list[str]:
    details = status.get("details")
    raw = details.get("causes") if isinstance(details, dict) else None
    causes: list[str] = []
    for cause in raw if isinstance(raw, list) else []:
        if not isinstance(cause, dict):
            continue
        text = str(cause.get("message") or cause.get("reason") or "")
        field = cause.get("field")
        causes.append(f"{field}: {text}" if field else text)
    return causes


def _retry_after(headers: Mapping[str, str] | None) -> float | None:
    value = (headers or {}).get("Retry-After")
    try:
        return max(0.0, float(value)) if value is not None else None
    except ValueError:  # an HTTP date: rare for the apiserver; callers use their own backoff
        return None


def from_status(
    *, status: int, reason: str, body: str | bytes | None, headers: Mapping[str, str] | None
) -> KubeError:
    """The error for a non-2xx answer; ``body`` is the apiserver's JSON ``Status``."""
    doc = _parse_status(body)
    message = str(doc.get("message") or reason or f"HTTP {status}")
    status_reason = str(doc.get("reason") or reason or "")
    text = f"{status} {status_reason}: {message}" if status_reason else f"{status}: {message}"
    causes = _causes(doc)
    if status == 429 or status >= 500:
        return KubeUnavailable(
            text, status=status, reason=status_reason, retry_after=_retry_after(headers)
        )
    if status == 422 or (status == 400 and causes):  # webhooks often refuse with 400 + causes
        return KubeInvalid(text, status=status, reason=status_reason, causes=causes)
    cls = _BY_STATUS.get(status, KubeError)
    return cls(text, status=status, reason=status_reason)


def from_api_exception(e: Any) -> KubeError:
    """Translate a ``kubernetes.client.ApiException`` (status 0 = TLS/transport failure)."""
    status = int(getattr(e, "status", 0) or 0)
    reason = str(getattr(e, "reason", "") or "")
    if status == 0:  # rest.py turns urllib3 SSLError into ApiException(status=0)
        return KubeUnavailable(f"TLS or transport error: {reason}", reason="TransportError")
    return from_status(
        status=status, reason=reason, body=getattr(e, "body", None), headers=e.headers
    )


def from_transport(e: Exception, *, host: str, timeouts: tuple[float, float]) -> KubeUnavailable:
    """Translate a urllib3 error (possibly wrapped in MaxRetryError) into KubeUnavailable."""
    from urllib3 import exceptions as u3

    cause: BaseException = e
    if isinstance(e, u3.MaxRetryError) and e.reason is not None:
        cause = e.reason
    connect, read = timeouts
    problem: str
    if isinstance(cause, u3.NameResolutionError):
        problem = "DNS lookup failed"
    elif isinstance(cause, u3.NewConnectionError):
        problem = "connection refused" if "refused" in str(cause).lower() else "cannot connect"
    elif isinstance(cause, u3.ConnectTimeoutError):
        problem = f"connect timed out after {connect:g}s"
    elif isinstance(cause, u3.ReadTimeoutError):
        problem = f"no answer within {read:g}s (read timeout)"
    elif isinstance(cause, u3.SSLError):
        problem = f"TLS handshake failed ({cause})"
    elif isinstance(cause, u3.ProtocolError):
        problem = "connection dropped by the server"
    elif isinstance(cause, u3.ResponseError):
        problem = "too many error responses"
    else:
        problem = type(cause).__name__
    return KubeUnavailable(f"{host}: {problem}", reason=type(cause).__name__)


def json_object(data: bytes, *, where: str) -> dict[str, Any]:
    """A successful answer's body as a JSON object, or a KubeError saying it is not one."""
    try:
        answer = json.loads(data)
    except ValueError as e:  # an HTML login page from a proxy, or the wrong URL
        raise KubeError(f"{where}: the answer is not JSON", reason="BadResponse") from e
    if not isinstance(answer, dict):
        raise KubeError(f"{where}: the answer is not an object", reason="BadResponse")
    return answer
