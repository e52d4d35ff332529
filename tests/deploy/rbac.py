"""An RBAC authorizer for the fake API server built from rendered Roles and bindings.

``RbacKubeAPI`` allows a request only when a rule bound to one service account allows it,
with Kubernetes' RBAC semantics: a rule matches on API group, resource (``res/sub`` for a
subresource), verb, and ``resourceNames`` (which never match list or create, since those
requests carry no name); a ClusterRole bound by a ClusterRoleBinding applies everywhere, a
Role (or ClusterRole bound by a RoleBinding) only in its binding's namespace.

It records, for every rule that allowed a request, which of the rule's grants it used: a
grant is one (API group, resource, verb, resource name) of the rule's cross product. A
grant nobody used is a permission wider than the code's use; ``unused()`` lists them, so
adding a verb, a resource or a name to a role fails the tests that call it.
"""

from __future__ import annotations

import itertools
import threading
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from tests.deploy.kustomize import Obj
from tests.fakes.kube_api import FakeKubeAPI
from tests.fakes.kube_types import Attrs

Grant = tuple[str, str, str, str | None]  # (group, resource, verb, name or None)


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

    def grants(self) -> set[Grant]:
        names: list[str | None] = sorted(self.names) or [None]
        product = itertools.product(self.groups, self.resources, self.verbs, names)
        return set(product)

    def grant_of(self, a: Attrs) -> Grant:
        resource = f"{a.resource}/{a.subresource}" if a.subresource else a.resource
        return (a.group, resource, a.verb, a.name if self.names else None)


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
        self.used: defaultdict[Rule, set[Grant]] = defaultdict(set)
        self.refused: list[Attrs] = []
        self._rbac_lock = threading.Lock()

    def denies(self, attrs: Attrs) -> bool:
        allowing = [r for r in self.rules if r.allows(attrs)]
        with self._rbac_lock:
            if not allowing:
                self.refused.append(attrs)
            for rule in allowing:  # every rule that allows it: none gets a free ride
                self.used[rule].add(rule.grant_of(attrs))
        return not allowing

    def unused(self, used: dict[Rule, set[Grant]] | None = None) -> list[str]:
        """Every grant of every rule that no request needed (``used``: merged records)."""
        seen = self.used if used is None else used
        return sorted(
            f"{r.role} rule {r.index}: {verb} {group or 'core'}/{resource}"
            + (f" {name}" if name else "")
            for r in self.rules
            for (group, resource, verb, name) in r.grants() - seen.get(r, set())
        )

    def refusals(self) -> list[str]:
        return [f"{a.verb} {a.group}/{a.resource} {a.namespace}/{a.name}" for a in self.refused]
