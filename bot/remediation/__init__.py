"""Remediation: a fixed catalog of changes, planned and dry-run against the live cluster.

``plan`` holds the Plan value (what will change, masked, bound by its hash),
``catalog`` the actions the bot may take and the ones it refuses, ``actions_settings``
and ``actions_rotate`` their implementations, ``planner`` the entry points:
``plan_remediation`` (plan + server-side dry run) and ``apply_plan`` (the conditional
write an approved plan makes). Approval, execution state and audit are built on top.
"""

from __future__ import annotations

from bot.remediation.catalog import (
    CATALOG,
    REFUSED,
    Action,
    PlanOptions,
    action_for_check,
    get_action,
)
from bot.remediation.plan import ACCEPTED, NOT_RUN, Drift, Plan, Target
from bot.remediation.planner import FindingRef, apply_plan, plan_remediation

__all__ = [
    "ACCEPTED",
    "CATALOG",
    "NOT_RUN",
    "REFUSED",
    "Action",
    "Drift",
    "FindingRef",
    "Plan",
    "PlanOptions",
    "Target",
    "action_for_check",
    "apply_plan",
    "get_action",
    "plan_remediation",
]
