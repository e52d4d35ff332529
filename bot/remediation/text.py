"""A plan as lines of text (secrets already masked by Plan): the CLI prints them, the
approval message shows them."""

from __future__ import annotations

from bot.remediation.plan import Plan


def plan_lines(plan: Plan) -> list[str]:
    """The plan as a person reads it (masked: Plan never holds secrets)."""
    approvals = "1 approval" if plan.approvals_required == 1 else "2 approvals"
    lines = [
        f"{plan.action}: {plan.title} ({plan.risk} risk, {approvals})",
        f"finding {plan.finding_id} ({plan.check_id}) on {plan.cluster}",
        f"object {plan.target} at resourceVersion {plan.resource_version}, field {plan.field}",
        *plan.diff_lines(),
    ]
    if plan.add_noproxy:
        lines.append(f"adds to noProxy: {', '.join(plan.add_noproxy)}")
    lines += [f"precondition: {p}" for p in plan.preconditions]
    lines += [f"note: {n}" for n in plan.notes]
    lines.append(f"server dry run: {plan.dry_run}")
    lines.append(f"plan hash: {plan.plan_hash()}")
    return lines
