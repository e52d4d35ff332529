"""Where something was found: a Kubernetes object, a setting field, a file."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True, order=True)
class ResourceRef:
    """A resource plus the field inside it, e.g. Setting http-proxy ``value.noProxy``.

    ``kind`` is a Kubernetes kind (``Setting``, ``Secret``, ``Node``, ``Event``,
    ``ValidatingWebhookConfiguration``...) or ``File`` for files on disk (``name`` is then
    the path relative to the scanned folder) or ``Cluster`` for cluster-wide facts.
    """

    kind: str
    name: str
    namespace: str = ""
    field: str = ""

    @property
    def key(self) -> str:
        """Stable text form used in fingerprints and output: kind/namespace/name#field."""
        base = f"{self.kind}/{self.namespace}/{self.name}"
        return f"{base}#{self.field}" if self.field else base

    def __str__(self) -> str:
        ns = f"{self.namespace}/" if self.namespace else ""
        field = f" [{self.field}]" if self.field else ""
        return f"{self.kind} {ns}{self.name}{field}"
