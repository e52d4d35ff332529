"""bot.checks.runner and CheckContext.derived: what checks share within one run, the
distinct-certificate list they share (``_certs.judged``), and packing a run for another
process."""

from __future__ import annotations

import pickle
import re
from collections.abc import Iterable, Iterator
from datetime import timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.checks import _certs
from bot.checks.base import Check, CheckContext
from bot.checks.registry import builtin_checks
from bot.checks.runner import CheckRun, pack_run, run_checks, unpack_run
from bot.core.certs import CertInfo, CertProblem, KeyInfo
from bot.core.finding import Finding
from bot.core.policy import CheckPolicy
from bot.core.resources import ResourceRef
from bot.core.severity import Severity
from bot.core.snapshot import CoverageItem, CoverageStatus, Snapshot
from tests.sources import NOW

WEB = ResourceRef("Secret", "web", "default", "data.tls.crt[0]")


def cert(
    sha: str, *, where: ResourceRef = WEB, subject: str = "CN=a", spki: str = "k", days: int = 10
) -> CertInfo:
    return CertInfo(
        location=where,
        group=f"{where.kind}/{where.namespace}/{where.name}",
        index=0,
        subject=subject,
        issuer="CN=ca",
        common_name=subject.removeprefix("CN="),
        serial="01",
        not_before=NOW - timedelta(days=300),
        not_after=NOW + timedelta(days=days),
        sha256=sha,
        spki_sha256=spki,
        key_type="EC",
        key_bits=256,
        signature_hash="sha256",
        is_ca=False,
        self_signed=False,
    )


def snapshot(*certs: CertInfo) -> Snapshot:
    return Snapshot(
        cluster="c1",
        source="live",
        origin="test",
        scanned_at=NOW,
        certificates=certs,
        keys=(KeyInfo(WEB, "Secret/default/web", "other", "EC", 256),),
        cert_problems=(CertProblem(ResourceRef("Secret", "bad", "x", "data.tls.crt"), "junk"),),
        coverage=(CoverageItem("secrets", CoverageStatus.READ),),
    )


def _names_of(snap: Snapshot) -> tuple[str, ...]:
    return tuple(c.subject for c in snap.certificates)


class Reader(Check):
    """Test check: reads a derived value."""

    id = "reader"
    title = "reads"
    severity = Severity.INFO

    def __init__(self, compute: object) -> None:
        self.compute = compute
        self.seen: list[object] = []

    def evaluate(self, ctx: CheckContext) -> Iterator[Finding]:
        self.seen.append(ctx.derived(self.compute))  # type: ignore[arg-type]
        yield from ()


def test_derived_is_computed_once_per_run_and_never_shared_between_runs() -> None:
    calls: list[Snapshot] = []

    def names(snap: Snapshot) -> tuple[str, ...]:
        calls.append(snap)
        return _names_of(snap)

    first, second = Reader(names), Reader(names)
    snap = snapshot(cert("1", subject="CN=x"))
    run_checks(snap, [first, second])
    assert calls == [snap]
    assert first.seen == second.seen == [("CN=x",)]
    assert first.seen[0] is second.seen[0]
    other = snapshot(cert("2", subject="CN=y"))
    run_checks(other, [first])
    assert calls == [snap, other]
    assert first.seen[-1] == ("CN=y",)


def test_the_certificate_checks_share_one_judged_list(monkeypatch: pytest.MonkeyPatch) -> None:
    computed: list[int] = []
    real = _certs.judged

    def counting(certs: Iterable[CertInfo]) -> tuple[_certs.Judged, ...]:
        out = real(certs)
        computed.append(len(out))
        return out

    monkeypatch.setattr(_certs, "judged", counting)
    snap = snapshot(cert("1", days=-1), cert("2", subject="CN=b", days=5))
    run = run_checks(snap, builtin_checks(), CheckPolicy())
    assert computed == [2]  # cert-expired, -expiring, -not-yet-valid, -weak-crypto: once
    assert {(f.check_id, f.resource.key) for f in run.findings} >= {
        ("cert-expired", WEB.key),
        ("cert-expiring", WEB.key),
    }


def reference_judged(certs: Iterable[CertInfo]) -> tuple[_certs.Judged, ...]:
    """The algorithm written plainly, as before it was tuned: the tuned one must agree.

    A certificate is dropped only when every copy of it is a file in a backup folder
    (``tls-<digits>/``, ``prev/``) and, for each copy, a newer certificate with the same
    subject and key is in a file of the same name; any other copy may be in use."""
    copies: dict[str, list[CertInfo]] = {}
    for c in certs:
        copies.setdefault(c.sha256, []).append(c)
    distinct = []
    for same in copies.values():
        same.sort(key=lambda c: c.location.key)
        distinct.append(_certs.Judged(same[0], tuple(c.location for c in same)))

    def backup(loc: ResourceRef) -> bool:
        folders = loc.name.split("/")[:-1]
        return loc.kind == "File" and any(
            f == "prev" or re.fullmatch(r"tls-\d+", f) for f in folders
        )

    def renewed(j: _certs.Judged, loc: ResourceRef) -> bool:
        file_name = loc.name.split("/")[-1]
        return any(
            o.cert.subject == j.cert.subject
            and o.cert.spki_sha256 == j.cert.spki_sha256
            and o.cert.not_after > j.cert.not_after
            and any(x.kind == "File" and x.name.split("/")[-1] == file_name for x in o.locations)
            for o in distinct
        )

    kept = [j for j in distinct if not all(backup(loc) and renewed(j, loc) for loc in j.locations)]
    return tuple(sorted(kept, key=lambda j: j.cert.location.key))


_CERTS = st.builds(
    lambda sha, place, field, subject, spki, days: cert(
        sha,
        where=ResourceRef(*place, field),
        subject=subject,
        spki=spki,
        days=days,
    ),
    st.sampled_from("abcd"),
    # (kind, name, namespace): files, some in backup folders that may be superseded (and
    # names that only look like one), mixed with places in use.
    st.sampled_from(
        [
            ("Secret", "s1", "ns"),
            ("Secret", "s2", "ns"),
            ("File", "f1", ""),
            ("File", "f2", ""),
            ("File", "agent/f1", ""),
            ("File", "prev/f1", ""),
            ("File", "tls-1700000000/f1", ""),
            ("File", "tls-1700000000/f2", ""),
            ("File", "tls-1700000000/etcd/f2", ""),
            ("File", "node-0/prev/f2", ""),
            ("File", "xtls-1/f1", ""),
            ("File", "tls-x/f1", ""),
            ("File", "prev", ""),
            ("TLSEndpoint", "10.0.0.1:443", ""),
        ]
    ),
    st.sampled_from(["data.tls.crt[0]", "data.tls.crt[1]", "data.ca.crt[0]"]),
    st.sampled_from(["CN=a", "CN=b"]),
    st.sampled_from(["k1", "k2"]),
    st.integers(-3, 3),
)


@settings(max_examples=600, deadline=None)
@given(st.lists(_CERTS, max_size=12))
def test_judged_agrees_with_the_reference(certs: list[CertInfo]) -> None:
    assert _certs.judged(certs) == reference_judged(certs)


def test_a_packed_run_unpacks_equal() -> None:
    snap = snapshot(cert("1", days=-1), cert("1", where=ResourceRef("File", "tls/a.crt")))
    run = run_checks(snap, builtin_checks(), CheckPolicy())
    assert run.findings  # something to carry
    again = unpack_run(pack_run(run))
    assert again == run
    assert again.snapshot.certificates == snap.certificates
    assert type(again.snapshot.certificates[0].location) is ResourceRef


def test_unpack_run_refuses_anything_else() -> None:
    with pytest.raises(TypeError, match="expected a packed CheckRun, got dict"):
        unpack_run(pickle.dumps({"not": "a run"}))
    assert isinstance(unpack_run(pack_run(CheckRun(snapshot(), (), ()))), CheckRun)
