"""The Check base class and the context a check evaluates in.

A check is a stateless class: metadata as class attributes (stable ``id`` slug, ``title``,
default ``severity``, ``tags``, the coverage subjects it ``requires``, an optional
``remediation`` id) and one ``evaluate`` method. The class docstring is the user-facing
explanation (rationale, a bad and a good example, source) printed by
``secbot checks explain``.

Checks share what they derive from a snapshot through ``CheckContext.derived``: the
runner makes one context per run, so e.g. the distinct certificates (``_certs.judged``)
are computed once for the four certificate checks that read them, not once each.
"""

from __future__ import annotations

import inspect
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import ClassVar, TypeVar, cast

from bot.core.finding import Evidence, Finding
from bot.core.policy import CheckPolicy
from bot.core.resources import ResourceRef
from bot.core.severity import Severity
from bot.core.snapshot import Snapshot

T = TypeVar("T")


class NotEvaluable(Exception):
    """Raised by a check that cannot decide; the runner reports UNKNOWN with the reason."""


@dataclass(frozen=True, slots=True)
class CheckContext:
    """The snapshot under test plus the policy thresholds.

    ``memo`` holds what ``derived`` computed for this context; it lives as long as the
    context (one run of the checks on one snapshot) and is never shared between runs.
    """

    snapshot: Snapshot
    policy: CheckPolicy
    memo: dict[Callable[[Snapshot], object], object] = field(
        default_factory=dict, compare=False, repr=False
    )

    def derived(self, compute: Callable[[Snapshot], T]) -> T:
        """``compute(self.snapshot)``, computed at most once per context.

        ``compute`` must be a pure function of the snapshot returning an immutable value
        (the snapshot is frozen, so the value cannot go stale): every check of the run
        gets the same object.
        """
        try:
            return cast(T, self.memo[compute])
        except KeyError:
            value = self.memo[compute] = compute(self.snapshot)
            return value


class Check(ABC):
    """Base class of every check."""

    id: ClassVar[str]
    title: ClassVar[str]
    severity: ClassVar[Severity]
    tags: ClassVar[tuple[str, ...]] = ()
    # Coverage subjects (see Snapshot.coverage) without which the check cannot decide.
    # All must be usable; otherwise the runner reports UNKNOWN and skips evaluate().
    requires: ClassVar[tuple[str, ...]] = ()
    # Where one of several subjects suffices (e.g. any certificate source).
    requires_any: ClassVar[tuple[str, ...]] = ()
    remediation: ClassVar[str | None] = None

    @abstractmethod
    def evaluate(self, ctx: CheckContext) -> Iterator[Finding]:
        """Yield findings; raise NotEvaluable when the data cannot decide."""

    def finding(
        self,
        ctx: CheckContext,
        resource: ResourceRef,
        message: str,
        *,
        evidence: Evidence | None = None,
        severity: Severity | None = None,
        tier: str | None = None,
    ) -> Finding:
        """Build a Finding of this check for the snapshot's cluster."""
        return Finding(
            check_id=self.id,
            cluster=ctx.snapshot.cluster,
            resource=resource,
            severity=severity or self.severity,
            message=message,
            evidence=evidence or {},
            tier=tier,
        )

    @classmethod
    def doc(cls) -> str:
        """The check's explanation (its docstring, dedented)."""
        return inspect.cleandoc(cls.__doc__ or "")

    @classmethod
    def summary(cls) -> str:
        """First paragraph of the docstring."""
        return cls.doc().split("\n\n", 1)[0].replace("\n", " ")
