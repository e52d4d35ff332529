"""An RBAC authorizer for the fake API server built from rendered Roles and bindings.

``RbacKubeAPI`` allows a request only when a rule bound to one service account allows it,
with Kubernetes' RBAC semantics: a rule matches on API group, resource (``res/sub`` for a
subresource), verb, and ``resourceNames`` (which never match list or create, since those
requests carry no name); a ClusterRole bound by a ClusterRoleBinding applies everywhere, a
Role (or ClusterRole bound by a RoleBinding) only in its binding's namespace. It counts
which rule allowed each request, so a test can prove a role is not wider than its use.
"""

from __future__ import annotations

import threading
from collections import Counter
from dataclasses import dataclass
from typing import Any

from tests.deploy.kustomize import Obj
from tests.fakes.kube_api import FakeKubeAPI
from tests.fakes.kube_types import Attrs


@dataclass(frozen=True)
class Rule:
    """One rule of one role, with where its binding makes it apply (None: everywhere)."""

    role: str
    index: int
    namespace: str | None
    groups: frozenset[str]
    resources: frozenset[str]
    verbs: frozenset[str]
    names: frozenset[str]

    def allows(self, a: Attrs) -> bool:
        resource = f"{a.resource}/{a.subresource}" if a.subresource else a.resource
        return (
            (self.namespace is None or a.namespace == self.namespace)
            and a.group in self.groups
            and resource in self.resources
            and a.verb in self.verbs
            and (not self.names or (bool(a.name) and a.name in self.names))
        )


def rules_for(objects: list[Obj], namespace: str, account: str) -> list[Rule]:
    """Every rule the manifests grant the service account ``namespace/account``."""
    roles = {
        (o["kind"], o["metadata"].get("namespace"), o["metadata"]["name"]): o
        for o in objects
        if o["kind"] in ("ClusterRole", "Role")
    }
    found: list[Rule] = []
    for b in objects:
        if b["kind"] not in ("ClusterRoleBinding", "RoleBinding"):
            continue
        subject = {"kind": "ServiceAccount", "name": account, "namespace": namespace}
        if subject not in b["subjects"]:
            continue
        where = b["metadata"].get("namespace") if b["kind"] == "RoleBinding" else None
        ref = b["roleRef"]
        role = roles[(ref["kind"], where if ref["kind"] == "Role" else None, ref["name"])]
        for i, r in enumerate(role["rules"]):
            found.append(
                Rule(
                    f"{ref['kind']} {where + '/' if where else ''}{ref['name']}",
                    i,
                    where,
                    frozenset(r["apiGroups"]),
                    frozenset(r["resources"]),
                    frozenset(r["verbs"]),
                    frozenset(r.get("resourceNames") or ()),
                )
            )
    return found


class RbacKubeAPI(FakeKubeAPI):
    """The fake API server with only ``rules`` granted (see the module docstring)."""

    def __init__(self, rules: list[Rule], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.rules = rules
        self.used: Counter[Rule] = Counter()
        self.refused: list[Attrs] = []
        self._rbac_lock = threading.Lock()

    def denies(self, attrs: Attrs) -> bool:
        rule = next((r for r in self.rules if r.allows(attrs)), None)
        with self._rbac_lock:
            if rule is None:
                self.refused.append(attrs)
            else:
                self.used[rule] += 1
        return rule is None

    def unused(self) -> list[str]:
        return [f"{r.role} rule {r.index}" for r in self.rules if not self.used[r]]

    def refusals(self) -> list[str]:
        return [f"{a.verb} {a.group}/{a.resource} {a.namespace}/{a.name}" for a in self.refused]
