"""The fixed remediation catalog: what the bot may change, and what it refuses to.

Only the actions listed in ``CATALOG`` can ever be planned; there is no free-form shell
or kubectl from chat (DESIGN.md "Security stance"). ``REFUSED`` names requests people
make that the bot will not automate, each with its reason; ``get_action`` answers them
with that reason and anything else with the list of known actions.

An action is anything that satisfies the ``Action`` protocol: ``SettingAction`` (patch
one Setting's value, low risk; its change functions are in ``actions_settings`` and
``actions_rotate``) and ``RotateRke2Certs`` (high risk). The server-side dry run and the
conditional write are the same for every action and live in ``planner``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from bot.core.resources import ResourceRef
from bot.errors import UserError
from bot.kube.client import KubeClient
from bot.remediation.actions_rotate import (
    RotateRke2Certs,
    enable_auto_rotate,
    fix_auto_rotate_window,
)
from bot.remediation.actions_settings import (
    AUTO_ROTATE,
    HTTP_PROXY,
    SETTINGS_API,
    SSL_PARAMETERS,
    TLS_OPTIONS,
    Change,
    Inputs,
    PlanOptions,
    add_noproxy_node_ips,
    harden_ssl_protocols,
    harden_tls_options,
    proxy_secrets,
    read_object,
)
from bot.remediation.plan import NOT_RUN, RISK_LOW, Drift, Plan, Target, render

__all__ = [
    "CATALOG",
    "REFUSED",
    "Action",
    "Drift",
    "PlanOptions",
    "SettingAction",
    "action_for_check",
    "get_action",
]


class Action(Protocol):
    """One catalog entry. Implementations are stateless; every call gets its inputs."""

    @property
    def id(self) -> str: ...

    @property
    def title(self) -> str: ...

    @property
    def answers(self) -> tuple[str, ...]:
        """Ids of the checks whose findings this action fixes."""
        ...

    @property
    def risk(self) -> str:
        """ "low" or "high"."""
        ...

    @property
    def approvals(self) -> int:
        """Approvals needed: 1, or 2 for high risk."""
        ...

    def applies_to(
        self, check_id: str, resource: ResourceRef, evidence: Mapping[str, Any]
    ) -> str | None:
        """None when this action fixes that finding, else why not (one line for people)."""
        ...

    def plan(
        self,
        client: KubeClient,
        *,
        cluster: str,
        finding_id: str,
        check_id: str,
        evidence: Mapping[str, Any],
        now: datetime,
        options: PlanOptions,
    ) -> Plan:
        """Read the cluster, check the preconditions (UserError with the reason when one
        fails), compute before/after and the patch. ``dry_run`` of the result is
        ``NOT_RUN``: ``planner.plan_remediation`` runs it."""
        ...

    def build_patch(self, plan: Plan, current: Mapping[str, Any]) -> dict[str, Any]:
        """The merge patch (without resourceVersion) from the object re-read before the
        write; Drift when its resourceVersion or the planned field moved on."""
        ...

    def recheck(self, client: KubeClient, plan: Plan) -> None:
        """Right before the write: Drift if a precondition on another object (not the
        target, whose resourceVersion guards it) no longer holds."""
        ...

    def verify_target(self, plan: Plan) -> Target:
        """The object to re-read for ``verified``."""
        ...

    def verified(self, fresh: Mapping[str, Any], plan: Plan) -> bool:
        """Did the change take effect, judged from the re-read ``verify_target`` object?
        (For settings this only confirms the write; the finding going away is proven by
        a re-scan.)"""
        ...

    def secret_strings(self, current: Mapping[str, Any]) -> tuple[str, ...]:
        """Secrets inside ``current`` that must be cut from any text shown (dry-run
        answers included)."""
        ...


@dataclass(frozen=True, slots=True)
class SettingAction:
    """An ``Action`` that patches one Setting's ``value`` (low risk, one approval); what
    to write comes from its ``change`` function (``actions_settings``, ``actions_rotate``)."""

    id: str
    title: str
    answers: tuple[str, ...]  # check ids
    setting: str
    change: Callable[[Inputs], Change] = field(repr=False)
    missing: str = ""  # why the Setting may not exist on a cluster
    secrets: Callable[[Mapping[str, Any]], tuple[str, ...]] | None = field(default=None, repr=False)
    risk = RISK_LOW
    approvals = 1

    @property
    def target(self) -> Target:
        return Target(SETTINGS_API, "Setting", self.setting)

    def applies_to(
        self, check_id: str, resource: ResourceRef, evidence: Mapping[str, Any]
    ) -> str | None:
        if check_id not in self.answers:
            return f"{self.id} fixes {', '.join(self.answers)} findings, not {check_id}"
        if (resource.kind, resource.name) != ("Setting", self.setting):
            return f"{self.id} changes Setting {self.setting}, not {resource}"
        return None

    def plan(
        self,
        client: KubeClient,
        *,
        cluster: str,
        finding_id: str,
        check_id: str,
        evidence: Mapping[str, Any],
        now: datetime,
        options: PlanOptions,
    ) -> Plan:
        current = read_object(client, self.target, missing=self.missing)
        change = self.change(Inputs(current, evidence, options))
        return Plan(
            action=self.id,
            title=self.title,
            cluster=cluster,
            finding_id=finding_id,
            check_id=check_id,
            risk=self.risk,
            approvals_required=self.approvals,
            target=self.target,
            resource_version=str(current["metadata"]["resourceVersion"]),
            field="value",
            before=render(current.get("value")),
            after=render(change.value),
            patch=None if change.add_noproxy else {"value": change.value},
            preconditions=change.preconditions,
            notes=change.notes,
            dry_run=NOT_RUN,
            created_at=now,
            add_noproxy=change.add_noproxy,
        )

    def build_patch(self, plan: Plan, current: Mapping[str, Any]) -> dict[str, Any]:
        return plan.build_patch(current)

    def recheck(self, client: KubeClient, plan: Plan) -> None:
        return None  # every precondition is about the Setting: its resourceVersion guards them

    def verify_target(self, plan: Plan) -> Target:
        return plan.target

    def verified(self, fresh: Mapping[str, Any], plan: Plan) -> bool:
        return render(fresh.get("value")) == plan.after

    def secret_strings(self, current: Mapping[str, Any]) -> tuple[str, ...]:
        return self.secrets(current) if self.secrets else ()


_V13 = " (the setting exists on Harvester v1.3.0 and later)"
CATALOG: tuple[Action, ...] = (
    SettingAction(
        "enable-auto-rotate",
        "Enable automatic rotation of RKE2 certificates",
        ("auto-rotate-disabled",),
        AUTO_ROTATE,
        enable_auto_rotate,
        _V13,
    ),
    SettingAction(
        "fix-auto-rotate-window",
        "Set a sane RKE2 auto-rotation window (expiringInHours)",
        ("auto-rotate-window",),
        AUTO_ROTATE,
        fix_auto_rotate_window,
        _V13,
    ),
    SettingAction(
        "add-noproxy-node-ips",
        "Add the missing node IPs to http-proxy noProxy",
        ("http-proxy-noproxy-missing-nodes",),
        HTTP_PROXY,
        add_noproxy_node_ips,
        secrets=proxy_secrets,
    ),
    SettingAction(
        "harden-ssl-protocols",
        "Limit ssl-parameters to TLSv1.2 and TLSv1.3",
        ("ssl-weak-protocols",),
        SSL_PARAMETERS,
        harden_ssl_protocols,
    ),
    SettingAction(
        "harden-tls-options",
        "Require TLS 1.2+ in traefik-default-tls-options",
        ("tls-options-weak",),
        TLS_OPTIONS,
        harden_tls_options,
        " (the setting exists on Harvester v1.9 and later)",
    ),
    RotateRke2Certs(),
)

REFUSED: dict[str, str] = {
    "rotate-rke2-token": (
        "rotating the RKE2 cluster token (rke2 token rotate) is refused: on Harvester it "
        "leaves rke2-server unable to start ('bootstrap data already found and encrypted "
        "with different token', rancher/rke2#6250, closed without a fix) because Harvester "
        "keeps the old token in its own config files, and Harvester does not support it "
        "(reference/harvester.md §3.3)"
    ),
}


def _known() -> str:
    return ", ".join(a.id for a in CATALOG)


def get_action(action_id: str) -> Action:
    """The catalog entry; UserError with the reason (refused) or the known ids (unknown)."""
    for action in CATALOG:
        if action.id == action_id:
            return action
    if action_id in REFUSED:
        raise UserError(REFUSED[action_id])
    raise UserError(f"unknown remediation {action_id!r}; the catalog has: {_known()}")


def action_for_check(check_id: str) -> Action | None:
    """The first catalog entry that answers findings of ``check_id``, if any."""
    return next((a for a in CATALOG if check_id in a.answers), None)
