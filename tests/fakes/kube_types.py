"""Vocabulary of the fake kube-apiserver: resource types, request records and Status errors.

Every error is built the way k8s.io/apimachinery ``apierrors`` and the apiserver's
``responsewriters`` build it (message wording, ``details`` keys, key order), because the
code under test branches on ``reason``/``code`` and shows ``message`` to users.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

JSON = dict[str, Any]
Query = Mapping[str, list[str]]
NO_RESOURCE = "the server could not find the requested resource"

CONFLICT = (
    "the object has been modified; please apply your changes to the latest version and try again"
)
CONTINUE_EXPIRED = (
    "The provided continue parameter is too old to display a consistent list result. You can "
    "start a new list without the continue parameter."
)
INCONSISTENT = (
    "The provided continue parameter is too old to display a consistent list result. You can "
    "start a new list without the continue parameter, or use the continue token in this response "
    "to retrieve the remainder of the results. Continuing with the provided token results in an "
    "inconsistent list - objects that were created, modified, or deleted between the time the "
    "first chunk was returned and now may show up in the list."
)


def dumps(obj: Any) -> bytes:
    return json.dumps(obj, separators=(",", ":")).encode()


class ApiError(Exception):
    """A failed request with the exact ``Status`` body (and headers) the apiserver sends."""

    def __init__(
        self,
        code: int,
        reason: str,
        message: str,
        *,
        details: JSON | None = None,
        meta: JSON | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(f"{code} {reason}: {message}")
        self.code, self.reason, self.message = code, reason, message
        self.details, self.meta, self.headers = details, meta or {}, dict(headers or {})
        self.plain = False  # send the message as text/plain instead of a Status

    def body(self) -> JSON:
        # Key order as the apiserver writes metav1.Status; empty details are omitted.
        status: JSON = {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": self.meta,
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
        }
        if self.details is not None:
            status["details"] = self.details
        status["code"] = self.code
        return status


@dataclass(frozen=True)
class ResourceType:
    """One served resource (group/version/plural) and the kind stored in it."""

    group: str
    version: str
    kind: str
    plural: str
    namespaced: bool

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def builtin(self) -> bool:
        """Compiled-in types (not CRDs): their list items carry no kind/apiVersion."""
        return self.group == "" or self.group.endswith(".k8s.io") or "." not in self.group

    def qualified(self) -> str:  # schema.GroupResource.String()
        return f"{self.plural}.{self.group}" if self.group else self.plural

    def details(self, name: str) -> JSON:
        out = {"name": name, "group": self.group, "kind": self.plural}
        return {k: v for k, v in out.items() if v}

    @staticmethod
    def guess(api_version: str, kind: str, *, namespaced: bool) -> ResourceType:
        group, _, version = api_version.rpartition("/")
        low = kind.lower()
        if low.endswith("y") and low[-2:-1] not in "aeiou":
            plural = low[:-1] + "ies"
        elif low.endswith(("s", "x", "ch", "sh")):
            plural = low + "es"
        else:
            plural = low + "s"
        return ResourceType(group, version, kind, plural, namespaced)


# Field selectors the real registries accept beyond metadata.name/metadata.namespace.
FIELD_LABELS: dict[tuple[str, str], tuple[str, ...]] = {
    ("", "secrets"): ("type",),
    ("", "events"): (
        "reason",
        "type",
        "involvedObject.kind",
        "involvedObject.name",
        "involvedObject.namespace",
        "involvedObject.uid",
        "reportingComponent",
    ),
    ("", "nodes"): ("spec.unschedulable",),
    ("", "pods"): ("spec.nodeName", "status.phase"),
    ("", "namespaces"): ("status.phase",),
}


def field_labels(rt: ResourceType) -> tuple[str, ...]:
    return ("metadata.name", "metadata.namespace", *FIELD_LABELS.get((rt.group, rt.plural), ()))


def field_value(obj: JSON, path: str) -> str:
    value: Any = obj
    for part in path.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    if isinstance(value, bool):
        return str(value).lower()
    return "" if value is None else str(value)


# apiVersion kind plural scope ("-": cluster-scoped); served (empty) even with no objects.
_KNOWN = """
v1 Secret secrets ns|v1 ConfigMap configmaps ns|v1 Event events ns|v1 Endpoints endpoints ns
v1 Node nodes -|v1 Namespace namespaces -|v1 Pod pods ns|v1 Service services ns
v1 ServiceAccount serviceaccounts ns|events.k8s.io/v1 Event events ns
discovery.k8s.io/v1 EndpointSlice endpointslices ns|coordination.k8s.io/v1 Lease leases ns
admissionregistration.k8s.io/v1 ValidatingWebhookConfiguration validatingwebhookconfigurations -
admissionregistration.k8s.io/v1 MutatingWebhookConfiguration mutatingwebhookconfigurations -
apiregistration.k8s.io/v1 APIService apiservices -
harvesterhci.io/v1beta1 Setting settings -|management.cattle.io/v3 Setting settings -
management.cattle.io/v3 Token tokens -|management.cattle.io/v3 Cluster clusters -
provisioning.cattle.io/v1 Cluster clusters ns|rke.cattle.io/v1 RKEControlPlane rkecontrolplanes ns
"""
KNOWN = [
    ResourceType(*av.rpartition("/")[::2], kind, plural, scope == "ns")
    for av, kind, plural, scope in (e.split() for e in _KNOWN.replace("\n", "|").split("|") if e)
]


@dataclass(frozen=True)
class Recorded:
    """One request as it arrived; header names are lower-cased."""

    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]


@dataclass
class FailRule:
    path_prefix: str
    status: int  # 0: drop the connection without an answer
    times: int | None = None
    retry_after: int | None = None
    method: str | None = None
    message: str | None = None
    plain: bool = False  # text/plain body, like the apiserver's own 429 from priority-and-fairness


@dataclass(frozen=True)
class Attrs:
    """authorizer.Attributes of a request."""

    verb: str
    path: str
    resource_request: bool = False
    group: str = ""
    version: str = ""
    resource: str = ""
    namespace: str = ""
    name: str = ""
    subresource: str = ""
    extra: tuple[str, ...] = field(default=())  # path segments past a subresource: invalid


def not_found(rt: ResourceType, name: str) -> ApiError:
    return ApiError(
        404, "NotFound", f'{rt.qualified()} "{name}" not found', details=rt.details(name)
    )


def conflict(rt: ResourceType, name: str) -> ApiError:
    msg = f'Operation cannot be fulfilled on {rt.qualified()} "{name}": {CONFLICT}'
    return ApiError(409, "Conflict", msg, details=rt.details(name))


def already_exists(rt: ResourceType, name: str) -> ApiError:
    msg = f'{rt.qualified()} "{name}" already exists'
    return ApiError(409, "AlreadyExists", msg, details=rt.details(name))


def invalid(rt: ResourceType, name: str, *, messages: list[str]) -> ApiError:
    """422 like apierrors.NewInvalid: kind (not resource) in details, one cause per message."""
    kind = f"{rt.kind}.{rt.group}" if rt.group else rt.kind
    causes = [{"reason": "FieldValueInvalid", "message": m} for m in messages]
    text = messages[0] if len(messages) == 1 else "[" + ", ".join(messages) + "]"
    details = {k: v for k, v in {"name": name, "group": rt.group, "kind": rt.kind}.items() if v}
    return ApiError(
        422, "Invalid", f'{kind} "{name}" is invalid: {text}', details={**details, "causes": causes}
    )


def bad_request(message: str) -> ApiError:
    return ApiError(400, "BadRequest", message)


def forbidden(a: Attrs, user: str, *, why: str = "") -> ApiError:
    """403 exactly as responsewriters.Forbidden writes it."""
    if not a.resource_request:
        msg = f'forbidden: User "{user}" cannot {a.verb} path "{a.path}"'
        return ApiError(403, "Forbidden", msg + (f": {why}" if why else ""), details={})
    resource = f"{a.resource}/{a.subresource}" if a.subresource else a.resource
    where = f'in the namespace "{a.namespace}"' if a.namespace else "at the cluster scope"
    msg = f'User "{user}" cannot {a.verb} resource "{resource}" in API group "{a.group}" {where}'
    qualified = f"{a.resource}.{a.group}" if a.group else a.resource
    head = f'{qualified} "{a.name}" is forbidden' if a.name else f"{qualified} is forbidden"
    details = {k: v for k, v in {"name": a.name, "group": a.group, "kind": a.resource}.items() if v}
    return ApiError(
        403, "Forbidden", f"{head}: {msg}" + (f": {why}" if why else ""), details=details
    )


_INJECTED = {  # status: (reason, default message) where no resource-specific builder applies
    400: ("BadRequest", "the server rejected our request for an unknown reason"),
    401: ("Unauthorized", "Unauthorized"),
    404: ("NotFound", NO_RESOURCE),
    410: ("Expired", "The resourceVersion for the provided list is too old."),
    429: ("TooManyRequests", "Too many requests, please try again later."),
    503: ("ServiceUnavailable", "the server is currently unable to handle the request"),
    504: ("Timeout", "Timeout: request did not complete within the allotted timeout"),
}


def injected(
    rule: FailRule, a: Attrs, *, rt: ResourceType, user: str, continuing: bool
) -> ApiError:
    """The Status the real server would send with ``rule.status`` for this request."""
    msg, retry, code = rule.message, rule.retry_after, rule.status
    if code == 403:
        err = forbidden(a, user, why=msg or "")
    elif code == 404 and a.name:
        err = not_found(rt, a.name)
    elif code == 409:
        err = conflict(rt, a.name)
    elif code == 422:
        err = invalid(rt, a.name, messages=[msg or "injected failure"])
    elif code == 500:
        text = msg or "injected failure"
        causes = {"causes": [{"message": text}]}
        err = ApiError(500, "InternalError", f"Internal error occurred: {text}", details=causes)
    elif code == 410 and continuing:
        err = ApiError(410, "Expired", msg or CONTINUE_EXPIRED)
    else:
        reason, default = _INJECTED.get(code, ("", "injected failure"))
        details = {"retryAfterSeconds": retry} if retry and code in (429, 504) else None
        err = ApiError(code, reason, msg or default, details={} if code == 404 else details)
    if retry is not None:
        err.headers["Retry-After"] = str(retry)
    err.plain = rule.plain
    return err
