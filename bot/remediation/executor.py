"""Execute an approved remediation exactly once, then prove it worked.

``Executor.run(R)``:

1. ``approved -> executing`` by a conditional write (bot.remediation.requests.start): of
   double clicks, Slack retries and two replicas exactly one caller gets past this. A
   request whose stored plan no longer hashes to what was approved, that lacks its
   approvals in the store, or whose approval is older than its TTL ends failed / expired
   there instead (bot.remediation.rules), announced, and nothing reaches the cluster;
2. ``apply_plan`` re-reads the object and refuses on drift (a changed resourceVersion or
   value: ``Drift``; a write racing another: 409) -> ``drifted``, "plan again"; an
   admission refusal or any other API failure -> ``failed`` (messages without secrets);
3. verify: re-read the object (the write landed) and, for setting changes, re-scan the
   cluster: the finding must be gone -> ``done``; still there -> ``failed`` ("applied, but
   the finding is still open"). A certificate rotation is verified by the control plane
   reaching the new rotation generation, polled for ``rotation_timeout``.

``recover()`` runs at start: a request a crash left ``executing`` is never run again; it
becomes ``unknown``, is verified by reading the cluster, and finishes done or failed.
Every step is audited by bot.remediation.requests in the transaction that makes it.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from bot.audit.log import AuditLog
from bot.core.masking import mask_text
from bot.errors import UserError
from bot.findings.queries import parse_short_id
from bot.kube.client import KubeClient, KubeTarget
from bot.kube.errors import KubeConflict, KubeError
from bot.remediation import request_views, requests
from bot.remediation.catalog import get_action
from bot.remediation.plan import Drift, Plan
from bot.remediation.planner import apply_plan
from bot.store.db import Engine, Session, session_scope
from bot.store.models import STATE_RESOLVED
from bot.store.repos import findings as findings_repo
from bot.store.repos import instances

log = logging.getLogger(__name__)
ROTATE = "rotate-rke2-certs"
ALIVE = timedelta(minutes=2)  # a process without a heartbeat this long is gone


@dataclass
class Executor:
    engine: Engine
    connect: Callable[[KubeTarget], KubeClient]
    targets: Callable[[], Sequence[KubeTarget]]
    rescan: Callable[[KubeTarget], Any]  # scan one cluster and record it (the scan runner)
    clock: Callable[[], datetime]
    audit: AuditLog
    rotation_timeout: timedelta = timedelta(minutes=15)
    poll: timedelta = timedelta(seconds=20)
    sleep: Callable[[float], None] = time.sleep
    holder: str = ""  # this process, as in scheduler_instances (bot.scheduler.service)
    # Called in the transaction that records the outcome (bot.remediation.flow posts it).
    announce: Callable[[Session, request_views.RequestView], None] | None = None

    def run(self, request_id: int) -> request_views.RequestView | None:
        """Execute R-<id> if it is approved and nobody else is; None if not ours to run.
        One ``start`` refuses comes back failed / expired (announced), nothing sent."""
        with session_scope(self.engine) as session:
            moved = requests.start(
                session=session,
                request_id=request_id,
                now=self.clock(),
                audit=self.audit,
                executor=self.holder,
            )
            if moved is None:
                return None
            if moved != "executing":  # refused before anything was sent: say why
                return self._announce_refusal(session, request_id)
            view = request_views.get(session=session, request_id=request_id)
        assert view is not None
        plan = view.plan
        try:
            target = self._target(plan.cluster)
            client = self.connect(target)
            try:
                apply_plan(client, plan=plan)
            finally:
                client.close()
        except (Drift, KubeConflict) as e:
            reason = f"the cluster changed since the plan was made ({_line(e)}); plan again"
            return self._finish(request_id, "drifted", {"reason": reason})
        except (KubeError, UserError) as e:
            return self._finish(request_id, "failed", {"reason": f"not applied: {_line(e)}"})
        try:
            state, result = self._verify(plan, target)
        except Exception as e:  # boundary: the change is in; only its proof failed
            log.warning("R-%s: applied, verification failed: %s", request_id, type(e).__name__)
            state = "unknown"
            result = {"reason": f"applied, but could not verify: {_line(e)}; check the cluster"}
        return self._finish(request_id, state, result)

    def recover(
        self, *, older_than: timedelta | None = None, sole_process: bool = False
    ) -> list[int]:
        """Requests found ``executing`` by a process that is no longer alive (no heartbeat
        within ``ALIVE``; this process's own earlier incarnations included), or started
        more than ``older_than`` ago, and earlier ones left ``unknown`` without an outcome:
        never run again, verified by reading the cluster, finished done or failed."""
        now = self.clock()
        before = now - older_than if older_than is not None else None
        with session_scope(self.engine) as session:
            # ``sole_process`` (SQLite: one replica): at start, every other executor is a
            # previous incarnation of this bot, dead however recent its last heartbeat.
            seen = (
                frozenset()
                if sole_process
                else frozenset(i.id for i in instances.alive(session, since=now - ALIVE))
            )
            alive = seen | {self.holder}
            requests.recover(
                session=session,
                now=now,
                audit=self.audit,
                started_before=before,
                alive=alive if before is None else None,
            )
            stuck = request_views.unresolved(session=session)
        for request_id in stuck:
            with session_scope(self.engine) as session:
                view = request_views.get(session=session, request_id=request_id)
            if view is None:  # pragma: no cover - requests are never deleted
                continue
            try:
                target = self._target(view.plan.cluster)
                state, result = self._verify(view.plan, target, wait=False)
            except Exception as e:  # boundary: one request's failure must not stop the rest
                state, result = "failed", {"reason": f"could not verify: {_line(e)}"}
            result["recovered"] = True
            self._finish(request_id, state, result, frm="unknown")
        return stuck

    def run_approved(self) -> list[int]:
        """Execute approved requests nobody is running (the vote's own run was lost to a
        restart or an error): ``start`` is a conditional write, so this never doubles.
        One approved longer ago than its request's TTL expires instead (``start``)."""
        with session_scope(self.engine) as session:
            ids = request_views.approved(session=session)
        return [i for i in ids if self.run(i) is not None]

    def _verify(
        self, plan: Plan, target: KubeTarget, *, wait: bool = True
    ) -> tuple[str, dict[str, Any]]:
        action = get_action(plan.action)
        deadline = self.clock() + (self.rotation_timeout if wait else timedelta(0))
        while True:
            client = self.connect(target)
            try:
                where = action.verify_target(plan)
                fresh = client.get(
                    api_version=where.api_version,
                    kind=where.kind,
                    name=where.name,
                    namespace=where.namespace or None,
                )
            except KubeError:
                if plan.action != ROTATE or self.clock() >= deadline:
                    raise
                fresh = None  # a rotation restarts the apiserver: not answering is "not yet"
            finally:
                client.close()
            ok = fresh is not None and action.verified(fresh, plan)
            if ok or plan.action != ROTATE:
                break
            if self.clock() >= deadline:
                return "failed", {"reason": "the rotation did not finish in time"}
            self.sleep(self.poll.total_seconds())
        if not ok:
            return "failed", {"reason": "the change is not in the cluster"}
        # Then the proof that matters: a re-scan no longer sees the finding (for a
        # rotation: the endpoints now serve certificates with a later notAfter).
        self.rescan(target)
        with session_scope(self.engine) as session:
            finding = findings_repo.get(session, parse_short_id(plan.finding_id))
            resolved = finding is not None and finding.state == STATE_RESOLVED
        if plan.action == ROTATE:
            if not resolved:
                return "failed", {
                    "reason": "the control plane reached the new rotation generation, but a "
                    "re-scan still sees the old certificate"
                }
            return "done", {
                "verified": f"rotation generation reached; {plan.finding_id} is resolved by a "
                "re-scan (a later notAfter)"
            }
        if not resolved:
            return "failed", {"reason": "applied, but the finding is still open after a re-scan"}
        return "done", {"verified": f"{plan.finding_id} is resolved by a re-scan"}

    def _finish(
        self, request_id: int, state: str, result: dict[str, Any], *, frm: str = "executing"
    ) -> request_views.RequestView | None:
        with session_scope(self.engine) as session:
            finished = requests.finish(
                session=session,
                request_id=request_id,
                state=state,
                result=result,
                now=self.clock(),
                audit=self.audit,
                frm=frm,
            )
            view = request_views.get(session=session, request_id=request_id)
            if finished and view is not None and self.announce is not None:
                self.announce(session, view)
            return view

    def _announce_refusal(
        self, session: Session, request_id: int
    ) -> request_views.RequestView | None:
        try:
            view = request_views.get(session=session, request_id=request_id)
        except ValueError:  # the stored plan does not even parse: the audit record says it
            log.warning("R-%s: refused, its stored plan is not a plan", request_id)
            return None
        if view is not None and self.announce is not None:
            self.announce(session, view)
        return view

    def _target(self, cluster: str) -> KubeTarget:
        for target in self.targets():
            if target.name == cluster:
                return target
        raise UserError(f"cluster {cluster!r} is not in the clusters file any more")


def _line(error: BaseException) -> str:
    return mask_text(" ".join(str(error).split()))[:300]
