"""Plan a remediation for one finding, dry-run it, and (for the executor) apply it.

``plan_remediation`` picks the action (the one named, or the check's ``remediation``, or
the catalog entry that answers the check), makes sure it fits the finding, lets it read
the cluster and compute the change, then sends the exact request the executor will send
later, with ``dryRun=All``: admission webhooks run, nothing is stored. A webhook's
refusal is not an error here; it is the plan's ``dry_run`` text, shown before anyone
approves. Every other KubeError propagates.

The dry run and ``apply_plan`` share one path (``_send``): re-read the target, let the
action re-check its preconditions, rebuild the patch from the re-read object (Drift if it
moved on), and send it conditional on the planned resourceVersion.

``FindingRef`` is the little this package needs of a stored finding, so that it does not
depend on ``bot.findings``.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from bot.checks.registry import get_check
from bot.core.masking import MASK, mask_text
from bot.core.resources import ResourceRef
from bot.errors import UserError
from bot.kube.client import KubeClient
from bot.kube.errors import KubeConflict, KubeError, KubeInvalid, KubeNotFound
from bot.remediation.catalog import Action, PlanOptions, action_for_check, get_action
from bot.remediation.offline import NOT_RUN_OFFLINE, NotRunOffline
from bot.remediation.plan import ACCEPTED, Drift, Plan

# Status codes with which the apiserver passes on an admission webhook's denial: 403 is
# its default, Harvester sends 422 (NewInvalidError) or 500 (plain Go errors, §1.5).
_DENIAL_STATUSES = (400, 403, 422, 500)


@dataclass(frozen=True, slots=True)
class FindingRef:
    """A finding as the planner needs it (``resource`` is ``ResourceRef.key``)."""

    id: str
    cluster: str
    check_id: str
    resource: str
    evidence: Mapping[str, Any] = field(default_factory=dict)


def resource_from_key(key: str) -> ResourceRef:
    """Parse ``kind/namespace/name#field`` (``ResourceRef.key``) back into a ResourceRef."""
    kind, sep, rest = key.partition("/")
    namespace, sep2, rest = rest.partition("/")
    if not (kind and sep and sep2 and rest):
        raise UserError(f"not a resource key: {key!r}")
    name, _, field_ = rest.partition("#")
    return ResourceRef(kind, name, namespace, field_)


def choose_action(action_id: str | None, finding: FindingRef) -> Action:
    """The action to plan for ``finding``; UserError when none fits."""
    if action_id:
        action = get_action(action_id)
    else:
        try:
            offered = get_check(finding.check_id).remediation
        except KeyError:
            offered = None
        found = get_action(offered) if offered else action_for_check(finding.check_id)
        if found is None:
            raise UserError(f"the catalog has no remediation for {finding.check_id} findings")
        action = found
    reason = action.applies_to(
        finding.check_id, resource_from_key(finding.resource), finding.evidence
    )
    if reason:
        raise UserError(reason)
    return action


def plan_remediation(
    client: KubeClient,
    *,
    action_id: str | None,
    finding: FindingRef,
    now: datetime,
    options: PlanOptions | None = None,
) -> Plan:
    """The plan for ``finding``, with the server's dry-run answer in ``dry_run``.

    Raises UserError when no action fits or a precondition fails (the reason is the
    message), KubeError for API failures other than an admission refusal.
    """
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    action = choose_action(action_id, finding)
    plan = action.plan(
        client,
        cluster=finding.cluster,
        finding_id=finding.id,
        check_id=finding.check_id,
        evidence=finding.evidence,
        now=now,
        options=options or PlanOptions(),
    )
    return replace(plan, dry_run=_dry_run(client, action, plan))


def apply_plan(client: KubeClient, *, plan: Plan) -> dict[str, Any]:
    """The real write of an approved plan: the object as the server stored it.

    Raises Drift (re-plan) when the target or a precondition moved on, KubeConflict when
    the object changed between the re-read and the write (also drift), KubeInvalid when
    admission refuses it, other KubeErrors as they come (their message with the object's
    secrets cut out). Never retried here.
    """
    action = get_action(plan.action)
    current = _read(client, plan)
    try:
        return _send(client, action, plan, current, dry_run=False)
    except KubeError as e:
        e.message = redact(e.message, action.secret_strings(current))
        e.args = (e.message,)
        raise


def with_resource_version(patch: Mapping[str, Any], resource_version: str) -> dict[str, Any]:
    """``patch`` plus ``metadata.resourceVersion``: the write fails (409) if it moved on."""
    out = copy.deepcopy(dict(patch))
    out["metadata"] = {**(out.get("metadata") or {}), "resourceVersion": resource_version}
    return out


def _read(client: KubeClient, plan: Plan) -> dict[str, Any]:
    target = plan.target
    try:
        return client.get(
            api_version=target.api_version,
            kind=target.kind,
            name=target.name,
            namespace=target.namespace or None,
        )
    except KubeNotFound:
        raise Drift(f"{target} no longer exists; make a new plan") from None


def _send(
    client: KubeClient,
    action: Action,
    plan: Plan,
    current: Mapping[str, Any],
    *,
    dry_run: bool,
) -> dict[str, Any]:
    action.recheck(client, plan)
    body = with_resource_version(action.build_patch(plan, current), plan.resource_version)
    target = plan.target
    return client.patch(
        api_version=target.api_version,
        kind=target.kind,
        name=target.name,
        namespace=target.namespace or None,
        body=body,
        dry_run=dry_run,
    )


def _dry_run(client: KubeClient, action: Action, plan: Plan) -> str:
    """ACCEPTED, or the admission refusal (secrets of the object cut out)."""
    current = _read(client, plan)
    try:
        _send(client, action, plan, current, dry_run=True)
    except NotRunOffline:
        return NOT_RUN_OFFLINE
    except Drift as e:
        raise UserError(str(e)) from None
    except KubeConflict:
        raise UserError(
            f"{plan.target} changed while the plan was made; run the fix again"
        ) from None
    except KubeError as e:
        if not _is_denial(e):
            raise
        return redact(e.message, action.secret_strings(current))
    return ACCEPTED


def _is_denial(e: KubeError) -> bool:
    if isinstance(e, KubeInvalid):
        return True
    return e.status in _DENIAL_STATUSES and "denied the request" in e.message


def redact(text: str, secrets: tuple[str, ...]) -> str:
    """``text`` without any of ``secrets`` (longest first) and with URL credentials masked."""
    for secret in sorted(secrets, key=len, reverse=True):
        if secret:
            text = text.replace(secret, MASK)
    return mask_text(text)
