"""Request contents as the fake kube-apiserver reads them: selectors, patches, create bodies,
SelfSubjectAccessReviews and discovery documents.

Field selectors accept only the labels each registry declares (others are 400, like the
real server); label selectors take equality, existence and set forms; PATCH takes RFC 7386
merge patches, RFC 6902 JSON patches and, for built-in kinds, strategic merge patches
(approximated by a merge patch: no list merge keys).
"""

from __future__ import annotations

import json
import re
import secrets
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from tests.fakes.kube_store import Record
from tests.fakes.kube_types import (
    JSON,
    ApiError,
    Attrs,
    ResourceType,
    bad_request,
    field_labels,
    invalid,
)

_SUFFIX = "bcdfghjklmnpqrstvwxz2456789"  # generateName: no vowels, no look-alikes

_LABEL_REQ = re.compile(
    r"(?P<neg>!)?\s*(?P<key>[A-Za-z0-9._/-]+)\s*"
    r"(?:(?P<op>==|=|!=)\s*(?P<val>[A-Za-z0-9._-]*)|\s(?P<set>in|notin)\s*\((?P<vals>[^()]*)\))?"
)


def _split_top(text: str) -> list[str]:
    """Split on commas outside parentheses (``a in (x,y),b``)."""
    parts, depth, cur = [], 0, ""
    for ch in text:
        depth += (ch == "(") - (ch == ")")
        if ch == "," and depth == 0:
            parts.append(cur)
            cur = ""
        else:
            cur += ch
    return [p.strip() for p in [*parts, cur] if p.strip()]


def _label_req(part: str) -> Callable[[Mapping[str, str]], bool]:
    m = _LABEL_REQ.fullmatch(part)
    if m is None or (m["neg"] and (m["op"] or m["set"])):
        raise bad_request(f"unable to parse requirement: {part!r}")
    key, op, val = m["key"], m["op"], m["val"]
    if m["set"]:
        vals = {v.strip() for v in m["vals"].split(",")}
        if m["set"] == "in":
            return lambda labels: labels.get(key) in vals
        return lambda labels: labels.get(key) not in vals
    if op == "!=":
        return lambda labels: labels.get(key) != val
    if op:
        return lambda labels: labels.get(key) == val
    if m["neg"]:
        return lambda labels: key not in labels
    return lambda labels: key in labels


def selector(rt: ResourceType, *, fields: str, labels: str) -> Callable[[Record], bool] | None:
    reqs: list[tuple[str, bool, str]] = []
    for part in _split_top(fields):
        m = re.fullmatch(r"([^=!]+?)\s*(==|=|!=)\s*(.*)", part)
        if m is None:
            raise bad_request(f"invalid selector: '{fields}'; can't understand '{part}'")
        if m[1] not in field_labels(rt):
            raise bad_request(f"field label not supported: {m[1]}")
        reqs.append((m[1], m[2] != "!=", m[3]))
    label_reqs = [_label_req(p) for p in _split_top(labels)]
    if not reqs and not label_reqs:
        return None

    def match(r: Record) -> bool:
        return all((r.fields.get(f, "") == v) == eq for f, eq, v in reqs) and all(
            req(r.labels) for req in label_reqs
        )

    return match


# -- patches --------------------------------------------------------------------------------------
def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386 JSON merge patch."""
    if not isinstance(patch, dict):
        return patch
    out = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            out.pop(key, None)
        else:
            out[key] = merge_patch(out.get(key), value)
    return out


def _json_patch(doc: JSON, ops: list[Any]) -> JSON:
    """RFC 6902 add/remove/replace/test (what kubectl and clients send)."""
    for op in ops:
        *parents, last = [
            p.replace("~1", "/").replace("~0", "~") for p in str(op.get("path", "")).split("/")[1:]
        ]
        node: Any = doc
        for p in parents:
            node = node[int(p)] if isinstance(node, list) else node[p]
        index: Any = (len(node) if last == "-" else int(last)) if isinstance(node, list) else last
        if op.get("op") == "test" and node[index] != op.get("value"):
            raise ValueError(f"testing value {op.get('path')} failed")
        if op.get("op") in ("remove", "replace"):
            del node[index]
        if op.get("op") in ("add", "replace"):
            if isinstance(node, list):
                node.insert(index, op.get("value"))
            else:
                node[index] = op.get("value")
    return doc


def apply_patch(rt: ResourceType, current: JSON, *, body: bytes, content_type: str) -> JSON:
    kinds = ["application/json-patch+json", "application/merge-patch+json"]
    if rt.builtin:  # strategic merge is approximated by a merge patch (no list merge keys)
        kinds.append("application/strategic-merge-patch+json")
    if content_type not in kinds:
        raise ApiError(
            415,
            "UnsupportedMediaType",
            "the body of the request was in an unknown "
            f"format - accepted media types include: {', '.join(kinds)}",
            details={},
        )
    try:
        patch = json.loads(body)
    except ValueError as e:
        raise bad_request(f"error decoding patch: {e}") from e
    if content_type != "application/json-patch+json":
        if not isinstance(patch, dict):
            raise bad_request(
                f"json: cannot unmarshal {type(patch).__name__} into Go value of "
                "type map[string]interface {}"
            )
        return dict(merge_patch(current, patch))
    try:
        return _json_patch(current, patch if isinstance(patch, list) else [])
    except (KeyError, IndexError, ValueError, TypeError) as e:
        raise ApiError(
            422,
            "Invalid",
            "the server rejected our request due to an error in our request",
            details={"causes": [{"message": str(e)}]},
        ) from e


# -- create bodies ------------------------------------------------------------------------------
def json_body(body: bytes) -> JSON:
    try:
        obj = json.loads(body or b"null")
    except ValueError as e:
        raise bad_request(f"error decoding request body: {e}") from e
    if not isinstance(obj, dict):
        raise bad_request("Object 'Kind' is missing in the request body")
    return obj


def typed(rt: ResourceType, obj: JSON) -> JSON:
    for key, want in (("apiVersion", rt.api_version), ("kind", rt.kind)):
        if obj.get(key) and obj[key] != want:
            raise bad_request(
                f"the {key} in the data ({obj[key]}) does not match the expected {key} ({want})"
            )
    return obj


def new_object(rt: ResourceType, obj: JSON, *, namespace: str) -> JSON:
    """A POSTed object ready to store: name (from generateName), namespace, no server fields."""
    md = dict(typed(rt, obj).get("metadata") or {})
    if not md.get("name") and md.get("generateName"):
        md["name"] = md["generateName"] + "".join(secrets.choice(_SUFFIX) for _ in range(5))
    if not md.get("name"):
        raise invalid(
            rt, "", messages=["metadata.name: Required value: name or generateName is required"]
        )
    if rt.namespaced:
        if md.get("namespace", namespace) != namespace:
            raise bad_request(
                "the namespace of the provided object does not match the namespace "
                "sent on the request"
            )
        md["namespace"] = namespace
    for key in ("resourceVersion", "uid", "creationTimestamp"):
        md.pop(key, None)
    return {**obj, "metadata": md}


# -- SelfSubjectAccessReview and discovery --------------------------------------------------------
def review(body: JSON, *, denies: Callable[[Attrs], bool], user: str) -> JSON:
    spec = body.get("spec") or {}
    ra = spec.get("resourceAttributes")
    allowed = not isinstance(ra, dict) or not denies(
        Attrs(
            ra.get("verb", ""),
            "",
            True,
            ra.get("group", ""),
            ra.get("version", ""),
            ra.get("resource", ""),
            ra.get("namespace", ""),
            ra.get("name", ""),
            ra.get("subresource", ""),
        )
    )
    status: JSON = {"allowed": allowed}
    if allowed:  # RBAC's wording; a denial by RBAC carries no reason at all
        status["reason"] = (
            f'RBAC: allowed by ClusterRoleBinding "{user}" of ClusterRole "{user}" to User "{user}"'
        )
    return {
        "kind": "SelfSubjectAccessReview",
        "apiVersion": "authorization.k8s.io/v1",
        "metadata": {"creationTimestamp": None},
        "spec": spec,
        "status": status,
    }


def discovery(path: str, types: Iterable[ResourceType]) -> JSON | None:
    """/api, /apis, /apis/{group}, /api/v1, /apis/{group}/{version}; None for anything else."""
    parts = [p for p in path.split("/") if p]
    resources: dict[str, list[JSON]] = {
        "authorization.k8s.io/v1": [
            {
                "name": "selfsubjectaccessreviews",
                "singularName": "",
                "namespaced": False,
                "kind": "SelfSubjectAccessReview",
                "verbs": ["create"],
            }
        ]
    }
    for rt in types:
        resources.setdefault(rt.api_version, []).append(
            {
                "name": rt.plural,
                "singularName": rt.kind.lower(),
                "namespaced": rt.namespaced,
                "kind": rt.kind,
                "verbs": ["create", "delete", "get", "list", "patch", "update"],
            }
        )
    groups: dict[str, list[JSON]] = {}
    for gv in resources:
        if "/" in gv:
            groups.setdefault(gv.split("/")[0], []).append(
                {"groupVersion": gv, "version": gv.split("/")[1]}
            )

    def group_doc(g: str) -> JSON:
        return {"name": g, "versions": groups[g], "preferredVersion": groups[g][0]}

    if parts == ["api"]:
        return {"kind": "APIVersions", "versions": ["v1"]}
    if parts == ["apis"]:
        return {
            "kind": "APIGroupList",
            "apiVersion": "v1",
            "groups": [group_doc(g) for g in sorted(groups)],
        }
    if len(parts) == 2 and parts[0] == "apis" and parts[1] in groups:
        return {"kind": "APIGroup", "apiVersion": "v1", **group_doc(parts[1])}
    gv = "/".join(parts[1:])
    if parts[:1] in (["api"], ["apis"]) and gv in resources:
        return {
            "kind": "APIResourceList",
            "apiVersion": "v1",
            "groupVersion": gv,
            "resources": resources[gv],
        }
    return None
