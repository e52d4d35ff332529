"""The slash command (``/harvester`` by default): parse, answer, reply.

One listener serves every subcommand. It parses the text (``bot.slack.commands``), asks
``answer`` for an ``Outcome`` and acks within the same call:

* answers that need neither the store nor a cluster (help, clusters, usage errors,
  remediation not enabled) are messages, sent as the ack itself;
* everything else is ``Later(job, ack)``: the listener acks at once (with ``ack`` when
  there is something to say, like "Scanning 3 clusters…"; else an empty ack, which
  Slack shows as nothing) and the services' worker runs ``job`` and sends its message
  to the request's ``response_url``. A store query waits for SQLite's write lock while
  a scan records (every transaction there is ``BEGIN IMMEDIATE``) and grows with the
  fleet; neither may sit between a request and its ack (bench/slack_ack.py).

Replies are ephemeral, scan results included: the person who asked gets the answer,
and channel posts are left to notifications (they post only what changed, once).
Errors are not caught here: the app's error handler answers them before the ack, the
worker after it (usage line, message of a UserError, or an error id). Authorisation
happened before, in the listener's middleware (``bot.slack.auth``), which audits every
denial.
"""

from __future__ import annotations

from typing import Any

from slack_bolt import Ack, App
from slack_sdk import WebClient

from bot.audit.log import recent as recent_audit
from bot.errors import UserError
from bot.findings.queries import cluster_statuses, expiring_certs, get_finding, list_findings
from bot.findings.views import short_id
from bot.fleet import describe
from bot.slack.auth import audit_denials, operator_middleware, slack_group_lookup
from bot.slack.blocks.audit import audit_message
from bot.slack.blocks.certs import certs_message
from bot.slack.blocks.clusters import ClusterLine, clusters_message
from bot.slack.blocks.findings import finding_detail_message, findings_message
from bot.slack.blocks.help import help_message
from bot.slack.blocks.notices import denied_message, not_enabled_message, unknown_subcommand_message
from bot.slack.blocks.status import status_message
from bot.slack.command_types import (
    MAX_AUDIT_RECORDS,
    Approve,
    Audit,
    Certs,
    Clusters,
    Command,
    Findings,
    Fix,
    GetSetting,
    Help,
    Reject,
    Remediation,
    Requests,
    Rotated,
    Scan,
    Show,
    Silence,
    Status,
    Unsilence,
)
from bot.slack.commands import parse
from bot.slack.listeners import changes, remediation
from bot.slack.listeners.live import get_setting
from bot.slack.listeners.outcome import Later, Outcome, Request
from bot.slack.services import SlackServices
from bot.slack.worker import Message, responder
from bot.store.db import read_scope


def register(app: App, services: SlackServices) -> None:
    """The slash command listener, behind the operator middleware."""
    require_operator = operator_middleware(
        services.operators,
        command=services.command,
        deny=lambda sub, user: denied_message(sub, user_id=user, command=services.command),
        on_denied=audit_denials(
            engine=services.engine,
            audit=services.audit,
            clock=services.clock,
            command=services.command,
        ),
    )

    def slash_command(ack: Ack, body: dict[str, Any], client: WebClient) -> None:
        command = parse(
            str(body.get("text") or ""),
            command=services.command,
            remediation=services.remediation_enabled,
        )
        request = Request(
            services=services,
            user=str(body.get("user_id") or ""),
            now=services.clock(),
            lookup=slack_group_lookup(client),
        )
        outcome = answer(command, request)
        if isinstance(outcome, Later):
            reply = responder(str(body.get("response_url") or ""))
            services.worker.submit(
                outcome.job, reply=reply, what=command.subcommand, key=outcome.key
            )
            if outcome.ack:
                ack(response_type="ephemeral", **outcome.ack)
            else:
                ack()  # an empty ack shows nothing; the answer follows shortly
        else:
            ack(response_type="ephemeral", **outcome)

    app.command(services.command, middleware=[require_operator])(slash_command)


def answer(command: Command, r: Request) -> Outcome:
    """Fast answers need neither the store nor a cluster; everything else is ``Later``."""
    s = r.services
    match command:
        case Help(unknown=None):
            return help_message(command=s.command, remediation_enabled=s.remediation_enabled)
        case Help(unknown=word):
            return unknown_subcommand_message(
                word or "", command=s.command, remediation_enabled=s.remediation_enabled
            )
        case Clusters():
            return clusters(r)
        case Remediation(subcommand=sub):
            return not_enabled_message(sub, command=s.command)
        case Fix():
            return remediation.fix(command, r)
        case Approve():
            return remediation.approve(command, r)
        case Reject():
            return remediation.reject(command, r)
        case Requests():
            return remediation.listing(command, r)
        case Scan():
            return changes.scan(command, r)  # checks the cluster name now, scans later
        case GetSetting():
            return get_setting(command, r)  # the same
        case Status() | Certs() | Findings() | Show() | Audit():
            return Later(lambda: stored(command, r), key=command)
        case _:
            return Later(lambda: stored(command, r))


def stored(command: Command, r: Request) -> Message:
    """The answers that read or write the store (on the worker)."""
    match command:
        case Status():
            return status(command, r)
        case Certs():
            return certs(command, r)
        case Findings():
            return findings(command, r)
        case Show():
            return show(command, r)
        case Audit():
            return audit(command, r)
        case Silence():
            return changes.silence(command, r)
        case Unsilence():
            return changes.unsilence(command, r)
        case Rotated():
            return changes.rotated(command, r)
    raise AssertionError(f"no answer for {command!r}")


def clusters(r: Request) -> Message:
    lines = [
        ClusterLine(
            name=t.name, connection=describe(t), labels=dict(t.labels), channel=t.slack_channel
        )
        for t in r.services.load_targets()
    ]
    return clusters_message(lines, command=r.services.command)


def status(command: Status, r: Request) -> Message:
    s = r.services
    with read_scope(s.engine) as session:
        statuses = cluster_statuses(session=session, now=r.now, cluster=command.cluster)
    return status_message(statuses, now=r.now, tz=s.tz, command=s.command)


def certs(command: Certs, r: Request) -> Message:
    s = r.services
    with read_scope(s.engine) as session:
        found = expiring_certs(
            session=session, cluster=command.cluster, within_days=command.within_days, now=r.now
        )
    return certs_message(
        found,
        now=r.now,
        tz=s.tz,
        within_days=command.within_days,
        command=s.command,
        cluster=command.cluster,
        policy=s.policy,
    )


def findings(command: Findings, r: Request) -> Message:
    s = r.services
    with read_scope(s.engine) as session:
        found = list_findings(
            session=session, now=r.now, cluster=command.cluster, min_severity=command.severity
        )
    return findings_message(
        found,
        now=r.now,
        tz=s.tz,
        command=s.command,
        cluster=command.cluster,
        min_severity=command.severity,
    )


def show(command: Show, r: Request) -> Message:
    s = r.services
    with read_scope(s.engine) as session:
        view = get_finding(session=session, finding_id=command.finding_id, now=r.now)
    if view is None:
        fid = short_id(command.finding_id)
        raise UserError(f"no finding {fid}; `{s.command} findings` lists the open ones")
    return finding_detail_message(view, now=r.now, tz=s.tz, command=s.command)


def audit(command: Audit, r: Request) -> Message:
    s = r.services
    with read_scope(s.engine) as session:
        entries = recent_audit(session, limit=command.limit, subject=command.subject)
    return audit_message(
        entries,
        tz=s.tz,
        limit=command.limit,
        subject=command.subject,
        most=MAX_AUDIT_RECORDS,
        command=s.command,
    )
