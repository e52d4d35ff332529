"""The Check base class and the context a check evaluates in.

A check is a stateless class: metadata as class attributes (stable ``id`` slug, ``title``,
default ``severity``, ``tags``, the coverage subjects it ``requires``, an optional
``remediation`` id) and one ``evaluate`` method. The class docstring is the user-facing
explanation (rationale, a bad and a good example, source) printed by
``secbot checks explain``.
"""

from __future__ import annotations

import inspect
from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass
from typing import ClassVar

from bot.core.finding import Evidence, Finding
from bot.core.policy import CheckPolicy
from bot.core.resources import ResourceRef
from bot.core.severity import Severity
from bot.core.snapshot import Snapshot


class NotEvaluable(Exception):
    """Raised by a check that cannot decide; the runner reports UNKNOWN with the reason."""


@dataclass(frozen=True, slots=True)
class CheckContext:
    """The snapshot under test plus the policy thresholds."""

    snapshot: Snapshot
    policy: CheckPolicy


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
