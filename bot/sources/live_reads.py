"""The reads of the live source: one API list per subject, the kubeconfig's credential.

Objects are fed to ``bot.sources.objects.ingest`` one by one as the adapter pages through
a list, so a Secret's key material is reduced to KeyInfo facts at once and never kept.
Each list ends in exactly one coverage verdict for its subject: READ, FORBIDDEN (401/403,
naming the permission), MISSING (the resource type is not served: e.g. no Rancher) or
ERROR (timeouts, 5xx, a list cut off half way). Nothing here raises a KubeError.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from bot.core.resources import ResourceRef
from bot.core.snapshot import CoverageStatus, CredentialInfo
from bot.kube.errors import KubeError, KubeForbidden, KubeNotFound, KubeUnauthorized
from bot.sources import certs, objects
from bot.sources.builder import SnapshotBuilder

if TYPE_CHECKING:
    from bot.kube.client import KubeClient

CERT_INFO_ANNOTATION = "harvesterhci.io/rke2-cert-info"
MAX_NOTES = 10


@dataclass(frozen=True, slots=True)
class ListSpec:
    """One list call and the coverage subject it feeds."""

    subject: str
    api_version: str
    kind: str
    what: str  # the permission in words, for messages: "list secrets in all namespaces"
    field_selector: str | None = None


# What the live source reads (ISSUE 3; reference/harvester.md §1, §2.4, §3.1). Secrets are
# limited to kubernetes.io/tls by a field selector: the server filters, so Opaque secrets
# (passwords, tokens) never even reach this process.
LISTS: tuple[ListSpec, ...] = (
    ListSpec("settings", "harvesterhci.io/v1beta1", "Setting", "list settings.harvesterhci.io"),
    ListSpec(
        "rancher-settings",
        "management.cattle.io/v3",
        "Setting",
        "list settings.management.cattle.io",
    ),
    ListSpec("nodes", "v1", "Node", "list nodes"),
    ListSpec("secrets", "v1", "Secret", "list secrets in all namespaces", "type=kubernetes.io/tls"),
    ListSpec(
        "events",
        "v1",
        "Event",
        "list events in all namespaces",
        "reason=CertificateExpirationWarning",
    ),
    ListSpec(
        "events",
        "v1",
        "Event",
        "list events in all namespaces",
        "reason=CACertificateExpirationWarning",
    ),
    ListSpec(
        "webhooks",
        "admissionregistration.k8s.io/v1",
        "ValidatingWebhookConfiguration",
        "list validatingwebhookconfigurations",
    ),
    ListSpec(
        "webhooks",
        "admissionregistration.k8s.io/v1",
        "MutatingWebhookConfiguration",
        "list mutatingwebhookconfigurations",
    ),
    ListSpec("webhooks", "apiregistration.k8s.io/v1", "APIService", "list apiservices"),
)


def _meta(obj: Mapping[str, Any]) -> Mapping[str, Any]:
    meta = obj.get("metadata")
    return meta if isinstance(meta, Mapping) else {}


def _identity(obj: Mapping[str, Any]) -> str:
    meta = _meta(obj)
    return f"{meta.get('namespace') or ''}/{meta.get('name') or ''}"


def _refused(builder: SnapshotBuilder, subject: str, status: CoverageStatus, detail: str) -> None:
    current = builder.coverage.get(subject)
    if current is not None and current.status == status:
        return  # the second events list says the same thing again
    builder.cover(subject, status, detail)


# Decoding a page (hundreds of certificates and keys) is CPU work, and a fleet's threads
# share one interpreter lock: letting all of them decode at once only adds switching
# between them (bench/fleet_scan, concurrency 8: 120 ms of CPU per cluster, 80 with this
# lock; with 32 threads 130 against 82). So each process decodes one page at a time while
# its other threads wait on the network; worker processes (scan_fleet's ``processes``)
# each have their own lock.
DECODE_ONE_PAGE_AT_A_TIME = threading.Lock()


def read_list(
    client: KubeClient,
    builder: SnapshotBuilder,
    spec: ListSpec,
    *,
    inspect: Callable[[Mapping[str, Any]], None] | None = None,
) -> int:
    """Ingest every object of one list; record the subject's coverage; return the count.

    The adapter pages the list and yields each object once (also across its restart
    after 410 Gone), with ``kind``/``apiVersion`` filled in; each page is decoded holding
    DECODE_ONE_PAGE_AT_A_TIME, never while waiting for the next.
    """
    count = 0
    try:
        for page in client.list_pages(
            api_version=spec.api_version, kind=spec.kind, field_selector=spec.field_selector
        ):
            with DECODE_ONE_PAGE_AT_A_TIME:
                for item in page:
                    count += 1
                    if inspect is not None:
                        inspect(item)
                    try:
                        objects.ingest(builder, item)
                    except (ValueError, RecursionError) as e:  # one object, not the cluster
                        why = "nested too deeply" if isinstance(e, RecursionError) else e
                        builder.degrade(spec.subject, f"{spec.kind} {_identity(item)}: {why}")
            del page  # not held while the next one is fetched
    except (KubeUnauthorized, KubeForbidden) as e:
        _refused(builder, spec.subject, CoverageStatus.FORBIDDEN, f"cannot {spec.what}: {e}")
    except KubeNotFound:
        _refused(
            builder,
            spec.subject,
            CoverageStatus.MISSING,
            f"{spec.kind} ({spec.api_version}) is not served by this cluster",
        )
    except KubeError as e:
        after = f" (cut off after {count} objects)" if count else ""
        builder.cover(spec.subject, CoverageStatus.ERROR, f"cannot {spec.what}: {e}{after}")
    else:
        builder.cover(spec.subject, CoverageStatus.READ)
    return count


class CertInfoNotes:
    """Collects ``harvesterhci.io/rke2-cert-info`` node annotations as coverage notes.

    The annotation comes from the open Harvester PR #10587 (reference/harvester.md §2.2),
    whose draft writes ``{"closestExpiryTime": <RFC 3339>, "updatedAt": ...}``. The format
    is not released, so the value is only reported (coverage subject ``rke2-cert-info``),
    never judged; anything else is noted as unreadable.
    """

    def __init__(self) -> None:
        self.notes: list[str] = []

    def __call__(self, node: Mapping[str, Any]) -> None:
        annotations = _meta(node).get("annotations")
        if not isinstance(annotations, Mapping) or CERT_INFO_ANNOTATION not in annotations:
            return
        name = str(_meta(node).get("name") or "?")
        self.notes.append(f"{name}: {describe_cert_info(annotations[CERT_INFO_ANNOTATION])}")

    def record(self, builder: SnapshotBuilder) -> None:
        if not self.notes:
            return
        shown = self.notes[:MAX_NOTES]
        more = len(self.notes) - len(shown)
        detail = "; ".join(shown) + (f"; and {more} more" if more else "")
        builder.cover(
            "rke2-cert-info", CoverageStatus.READ, f"{detail} (format unconfirmed, not judged)"
        )


def describe_cert_info(raw: Any) -> str:
    """A one-line reading of one annotation value; never raises."""
    try:
        doc = json.loads(raw) if isinstance(raw, str) else None
    except (ValueError, RecursionError):
        doc = None
    when = doc.get("closestExpiryTime") if isinstance(doc, dict) else None
    if not isinstance(when, str):
        return "annotation not in the expected format"
    try:
        parsed = datetime.fromisoformat(when.replace("Z", "+00:00"))
    except ValueError:
        return "annotation not in the expected format"
    return f"closest RKE2 certificate expiry {parsed.isoformat()}"


def read_credentials(client: KubeClient, builder: SnapshotBuilder) -> None:
    """What the kubeconfig authenticates with (never the secret itself) -> credentials.

    The client certificate is decoded to its facts here and kept out of
    ``builder.certificates``: kubeconfig-credential-expiring reports it, not cert-expiring.
    """
    try:
        creds = client.credentials()
    except KubeError as e:
        builder.cover("credentials", CoverageStatus.ERROR, str(e))
        return
    if creds.client_cert_pem:
        where = ResourceRef("Credential", "kubeconfig", field="client-certificate")
        decoded = certs.decode(
            creds.client_cert_pem, location=where, group="Credential//kubeconfig"
        )
        leaf = next((c for c in decoded.certs if c.index == 0), None)
        if leaf is None:
            builder.cover(
                "credentials", CoverageStatus.ERROR, "the client certificate does not decode"
            )
            return
        builder.credentials.append(
            CredentialInfo(creds.kind, leaf.not_after, leaf.subject, creds.detail)
        )
    if creds.token_expires_at is not None or not creds.client_cert_pem:
        kind = "token" if creds.client_cert_pem else creds.kind
        builder.credentials.append(CredentialInfo(kind, creds.token_expires_at, "", creds.detail))
    builder.cover("credentials", CoverageStatus.READ)
