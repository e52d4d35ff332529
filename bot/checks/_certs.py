"""Pure helpers shared by the certificate checks: which certificates to judge, and how.

``days_left`` rounds the time left up to whole days, which ``CheckPolicy.expiry_severity``
(the one days-left -> severity ladder) turns into a severity: the certificate and
credential expiry checks, the ``certs`` Slack list and the digest all use both, so they
agree.

A snapshot can hold the same certificate many times: RKE2 repeats its CA in every
``*.crt`` file, a CA bundle sits in many webhook configurations. Checks judge each
distinct certificate once (``judged``), at the first of its locations in sorted order.

A certificate superseded by a newer one is skipped only when every copy of it is an
evidently unused leftover of a file that now holds the newer one: a ``File`` (a PKI
folder, a node agent's inventory) inside a backup folder (``tls-<digits>`` or ``prev``),
while a newer certificate with the same subject and key sits in a ``File`` of the same
file name. RKE2 renews in place and keeps the keys (reference/harvester.md §3.1);
``rke2 certificate rotate`` (and a cluster reset) first copies ``server/tls`` to
``server/tls-<unix time>`` and the agent's files into that same folder (k3s
``pkg/cli/cert/cert.go`` ``backupCertificates``), where the old copies stay unused.
Anything else is judged, however new its successor: a copy outside a backup folder may
be read (RKE2 gives the agent ``client-kube-proxy.crt`` with the server's key, so
``agent/`` holds the copy kube-proxy uses while ``server/tls`` may hold a renewed one),
as is a copy with another file name, a Secret an ingress mounts, a webhook's caBundle, a
listener that still serves it (TLSEndpoint), a Setting, an APIService, the kubeconfig's
Credential. Those copies expire for whoever reads them.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from bot.core.certs import CertInfo
from bot.core.finding import Evidence
from bot.core.resources import ResourceRef
from bot.core.snapshot import Snapshot

# Coverage subjects of sources that deliver certificates; one usable suffices. Without
# any of them a certificate check answers UNKNOWN rather than passing on nothing.
CERT_SOURCES = (
    "secrets",
    "webhooks",
    "pki",
    "node-pki",
    "certificates",
    "setting:ssl-certificates",
    "setting:additional-ca",
)
MAX_ALSO_AT = 5
_FILE = "File"  # the only location kind whose copy may be superseded (module docstring)
# Backup folders of old certificate files (module docstring): RKE2's tls-<unix time>, prev.
_BACKUP = re.compile(r"(?:^|/)(?:tls-\d+|prev)/")
_DAY = timedelta(days=1)
# KubeVirt's names (rotates_by_design): its CA's CN, its certificates' CNs, its namespace.
_KUBEVIRT_CA = "kubevirt.io@"
_KUBEVIRT_CN = ("kubevirt.io:", "kubevirt.io@")
_KUBEVIRT_NAMESPACE = "harvester-system"
_ISSUER_CN = re.compile(r"(?:^|,)CN=((?:[^,\\]|\\.)*)")


@dataclass(frozen=True, slots=True)
class Judged:
    """One distinct certificate, where it was first found, and where else."""

    cert: CertInfo
    locations: tuple[ResourceRef, ...]  # every location, sorted by key; [0] is cert.location

    @property
    def also_at(self) -> tuple[str, ...]:
        return tuple(loc.key for loc in self.locations[1 : 1 + MAX_ALSO_AT])


def judged(certs: Iterable[CertInfo]) -> tuple[Judged, ...]:
    """Distinct certificates (by sha256), sorted by location, without those superseded.

    Superseded (module docstring): every location of this one is a ``File`` in a backup
    folder, and for each, a newer certificate (later notAfter) with the same subject and
    key is in a ``File`` of the same file name. Only such an unused copy on disk is dropped.
    """
    # Each location's key is computed once: it is a property that formats a string, and
    # sorting by it directly would build it again at every comparison.
    copies: dict[str, list[tuple[str, CertInfo]]] = {}
    for cert in certs:
        copies.setdefault(cert.sha256, []).append((cert.location.key, cert))
    distinct: list[tuple[str, Judged, tuple[str, ...]]] = []  # (first key, judged, backups)
    # (subject, key, file name) -> the latest notAfter of a certificate in a file so named.
    latest: dict[tuple[str, str, str], datetime] = {}
    for same in copies.values():
        if len(same) > 1:
            same.sort(key=_first)  # stable: equal keys keep their order
        first = same[0][1]
        locations = tuple(c.location for _, c in same)
        files = [loc.name for loc in locations if loc.kind == _FILE]
        for file_name in {f.rpartition("/")[2] for f in files}:
            lineage = (first.subject, first.spki_sha256, file_name)
            if lineage not in latest or first.not_after > latest[lineage]:
                latest[lineage] = first.not_after
        # Only a certificate whose every copy is a file in a backup folder may be dropped.
        droppable = len(files) == len(locations) and all(_BACKUP.search(f) for f in files)
        distinct.append((same[0][0], Judged(first, locations), tuple(files) if droppable else ()))
    kept = [(key, j) for key, j, backups in distinct if not _superseded(j.cert, backups, latest)]
    kept.sort(key=_first)
    return tuple(j for _, j in kept)


def _superseded(
    cert: CertInfo, backups: tuple[str, ...], latest: dict[tuple[str, str, str], datetime]
) -> bool:
    """Does each of these backup copies' file names now hold a newer certificate with the
    same subject and key (``judged``)? False without backups."""
    lineage = (cert.subject, cert.spki_sha256)
    return bool(backups) and all(
        latest[(*lineage, f.rpartition("/")[2])] > cert.not_after for f in backups
    )


def judged_certs(snapshot: Snapshot) -> tuple[Judged, ...]:
    """``judged`` of a snapshot's certificates; checks read it as
    ``ctx.derived(judged_certs)``, so it is computed once per run, not once per check."""
    return judged(snapshot.certificates)


def _first(pair: tuple[str, object]) -> str:
    return pair[0]


def issuer_cn(cert: CertInfo) -> str:
    """The CN of the issuer, from its RFC 4514 text ("" if it has none)."""
    m = _ISSUER_CN.search(cert.issuer)
    return m.group(1) if m else ""


def rotates_by_design(item: Judged) -> bool:
    """KubeVirt's self-signed certificates renew themselves every day or week.

    Harvester's KB tells operators to ignore warnings about their short validity
    (reference/harvester.md §3.4, KubeVirt certs): only an already expired one matters.
    KubeVirt's own certificates are recognised by what KubeVirt writes, never by a name
    anyone could pick (a public-CA certificate for ``kubevirt-manager.example.com`` is
    the user's and expires like any other):

    - issued by KubeVirt's self-signed CA, whose CN is ``kubevirt.io@<unix time>``;
    - a CN KubeVirt gives its own certificates: ``kubevirt.io:...``
      (``kubevirt.io:system:client...``) or ``kubevirt.io@...`` (the CA itself);
    - held in a Secret ``kubevirt-*`` of ``harvester-system``, where Harvester installs
      KubeVirt.
    """
    cert = item.cert
    if issuer_cn(cert).startswith(_KUBEVIRT_CA) or cert.common_name.startswith(_KUBEVIRT_CN):
        return True
    return any(
        loc.kind == "Secret"
        and loc.namespace == _KUBEVIRT_NAMESPACE
        and loc.name.startswith("kubevirt-")
        for loc in item.locations
    )


def days_left(cert: CertInfo, now: datetime) -> int:
    """Whole days until notAfter, rounded up (0.3 days left is "1 day"; <= 0: expired)."""
    return math.ceil((cert.not_after - now) / _DAY)


def label(cert: CertInfo) -> str:
    """How a certificate is named in messages: its CN, else its subject."""
    if cert.common_name:
        return f"CN={cert.common_name}"
    return cert.subject or "(empty subject)"


def where(ref: ResourceRef) -> str:
    """A location for messages: ``File tls/a.crt[1]``, ``Secret ns/name [data.tls.crt[0]]``."""
    if ref.field.startswith("["):
        ns = f"{ref.namespace}/" if ref.namespace else ""
        return f"{ref.kind} {ns}{ref.name}{ref.field}"
    return str(ref)


def plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def evidence(item: Judged, now: datetime, **extra: str | int | bool) -> Evidence:
    """The non-secret facts shown with every certificate finding."""
    cert = item.cert
    facts: dict[str, str | int | bool | tuple[str, ...]] = {
        "subject": cert.subject,
        "issuer": cert.issuer,
        "serial": cert.serial,
        "not_before": cert.not_before.isoformat(),
        "not_after": cert.not_after.isoformat(),
        "sha256": cert.sha256,
        "days_left": days_left(cert, now),
        "locations": len(item.locations),
        "also_at": item.also_at,
    }
    facts.update(extra)
    return facts
