"""The pure lifecycle diff: worked examples, then properties over generated histories."""

from __future__ import annotations

from datetime import UTC, datetime

from hypothesis import given
from hypothesis import strategies as st

from bot.core.certs import CertProblem, KeyInfo
from bot.core.finding import Finding
from bot.core.resources import ResourceRef
from bot.core.severity import EXPIRY_TIERS, TIER_EXPIRED, Severity
from bot.core.snapshot import CoverageItem, CoverageStatus, Node, Snapshot
from bot.findings.lifecycle import Changes, OpenState, classify, visible_in

W, C, INFO = Severity.WARNING, Severity.CRITICAL, Severity.INFO


def _f(check: str, name: str, severity: Severity = W, tier: str | None = None) -> Finding:
    return Finding(
        check, "prod", ResourceRef("Setting", name), severity, f"{check} on {name}", {}, tier
    )


def _open(
    f: Finding, *, source: str = "bundle", severity: Severity | None = None, tier: str | None = None
) -> OpenState:
    return OpenState(severity or f.severity, tier, source, f.check_id)


def test_each_transition_on_one_scan() -> None:
    same = _f("ssl-ciphers", "ssl-parameters")
    worse = _f("http-proxy-noproxy", "http-proxy", C)
    closer = _f("cert-expiry", "ssl-certificates", W, "14d")
    milder = _f("auto-rotate-off", "auto-rotate-rke2-certs", INFO)
    fresh = _f("registry-plaintext", "containerd-registry")
    back = _f("cert-key-mismatch", "ssl-certificates")
    gone = _f("ssl-protocols", "ssl-parameters")
    unknown_now = _f("cert-hostname", "ssl-certificates")
    other_source = _f("cert-expiry", "File/tls/server.crt")
    changes = classify(
        open_before={
            same.fingerprint: _open(same),
            worse.fingerprint: _open(worse, severity=W),
            closer.fingerprint: _open(closer, tier="30d"),
            milder.fingerprint: _open(milder, severity=C),
            gone.fingerprint: _open(gone),
            unknown_now.fingerprint: _open(unknown_now),
            other_source.fingerprint: _open(other_source, source="pki"),
        },
        resolved_before={back.fingerprint},
        current=[same, worse, closer, milder, fresh, back],
        source="bundle",
        evaluated={f.check_id for f in (same, worse, closer, milder, fresh, back, gone)},
    )
    assert changes == Changes(
        new=(fresh, back),
        escalated=(worse, closer),
        unchanged=(same, milder),
        resolved=(gone.fingerprint,),
        reopened=frozenset({back.fingerprint}),
    )


def test_duplicate_reports_of_one_resource_keep_the_worst() -> None:
    mild = _f("cert-expiry", "ssl-certificates", W, "30d")
    bad = _f("cert-expiry", "ssl-certificates", C, "7d")
    changes = classify(
        open_before={},
        resolved_before=set(),
        current=[mild, bad, mild],
        source="live",
        evaluated=set(),
    )
    assert changes.new == (bad,)


def test_tier_up_escalates_even_when_severity_drops() -> None:
    f = _f("cert-expiry", "ssl-certificates", W, TIER_EXPIRED)
    changes = classify(
        open_before={f.fingerprint: _open(f, severity=C, tier="1d")},
        resolved_before=set(),
        current=[f],
        source="bundle",
        evaluated={"cert-expiry"},
    )
    assert changes.escalated == (f,)


def _cert_finding(ref: ResourceRef, sha: str = "aa") -> Finding:
    return Finding("cert-expiring", "prod", ref, W, "expires", {"sha256": sha}, "30d")


def _open_cert(f: Finding, sha: str = "aa") -> OpenState:
    return OpenState(f.severity, f.tier, "live", f.check_id, f.resource, sha)


def test_a_certificate_finding_moves_to_the_first_open_one_of_its_certificate() -> None:
    here, a, b = (ResourceRef("Secret", "tls", ns, "data.tls.crt[0]") for ns in "xab")
    older, younger, arrival = _cert_finding(a), _cert_finding(b), _cert_finding(here)
    changes = classify(
        open_before={
            older.fingerprint: _open_cert(older),
            younger.fingerprint: _open_cert(younger),
        },
        resolved_before=set(),
        current=[arrival],
        source="live",
        evaluated={"cert-expiring"},
        certs_at={here.key: {"aa"}, a.key: {"aa"}, b.key: {"aa"}},
    )
    assert changes.moved == {arrival.fingerprint: older.fingerprint}
    assert (changes.new, changes.unchanged) == ((), (arrival,))
    assert changes.resolved == (younger.fingerprint,)


def test_no_move_from_a_renewed_location_or_to_one_without_that_certificate() -> None:
    old = _cert_finding(ResourceRef("Secret", "tls", "a", "data.tls.crt[0]"))
    key = _cert_finding(ResourceRef("Secret", "tls", "x", "data.tls.key"))  # not a cert
    cert = _cert_finding(ResourceRef("Secret", "tls", "y", "data.tls.crt[0]"))
    for current, certs_at in (
        (key, {old.resource.key: {"aa"}}),
        (cert, {old.resource.key: {"bb"}, cert.resource.key: {"aa"}}),  # a renewed
    ):
        changes = classify(
            open_before={old.fingerprint: _open_cert(old)},
            resolved_before=set(),
            current=[current],
            source="live",
            evaluated={"cert-expiring"},
            certs_at=certs_at,
        )
        assert (changes.new, changes.resolved, changes.moved) == (
            (current,),
            (old.fingerprint,),
            {},
        )


def test_visibility_of_cluster_node_and_file_refs() -> None:
    at = datetime(2026, 11, 28, tzinfo=UTC)
    down = Snapshot("prod", "live", "k", at, coverage=(CoverageItem("api", CoverageStatus.ERROR),))
    refs = [
        ResourceRef("Cluster", "prod", field=f)
        for f in ("", "api", "secrets", "credentials.ssh-keys")
    ]
    assert [visible_in(down)(r) for r in refs] == [True, True, False, False]
    assert all(visible_in(Snapshot("prod", "bundle", "b", at))(r) for r in refs)
    read, gap = CoverageStatus.READ, CoverageStatus.PARTIAL
    bundle = Snapshot(
        "prod",
        "bundle",
        "b",
        at,
        nodes=(Node("n0"), Node("n1"), Node("n2")),
        coverage=tuple(
            CoverageItem(s, c)
            for s, c in (
                ("nodes", read),
                ("node-files", gap),
                ("node-files:n0", read),
                ("node-files:n1", gap),
            )
        ),
    )
    names = ("n0", "n1", "n2", "gone")  # n2 is listed without files; gone is not listed
    nodes = [visible_in(bundle)(ResourceRef("Node", n)) for n in names]
    files = [visible_in(bundle)(ResourceRef("File", f"{n}:/oem/90_custom.yaml")) for n in names]
    assert nodes == files == [True, False, False, True]


def test_files_under_a_folder_not_wholly_read_are_not_visible() -> None:
    """A folder that could not be listed (``file:<folder>`` ERROR) or a walk stopped at the
    entry limit (``file:<label>/.`` PARTIAL) hides the files below it that were not read;
    a read file, a sibling whose name only starts alike, and other folders stay visible."""
    at = datetime(2026, 11, 28, tzinfo=UTC)
    error, partial = CoverageStatus.ERROR, CoverageStatus.PARTIAL
    # Read before the walk stopped: here a key file and a certificate file with a problem.
    key = KeyInfo(
        ResourceRef("File", "server/tls/client-ca.key"), "server/tls/client-ca", "k", "EC", 256
    )
    bad = CertProblem(ResourceRef("File", "server/tls/bad.crt", field="[1]"), "does not parse")
    snap = Snapshot(
        "node-a",
        "pki",
        "f",
        at,
        keys=(key,),
        cert_problems=(bad,),
        coverage=(
            CoverageItem("file:agent/etc", error, "folder cannot be listed: Permission denied"),
            CoverageItem("file:server/tls/.", partial, "not wholly read: stopped after 9 files"),
            CoverageItem("file:agent/bad.crt", error, "no PEM or DER certificate found"),
            CoverageItem("file:agent/s.key", partial, "private key is encrypted"),
        ),
    )
    names = {
        "server/tls/client-ca.key": True,  # read before the walk stopped
        "server/tls/bad.crt": True,
        "server/tls/client-ca.crt": False,  # not reached
        "server/tls/serving-kube-apiserver.crt": False,
        "server/tls/etcd/server-client.crt": False,
        "agent/etc/x.crt": False,  # below the unlistable folder
        "agent/etc/deep/y.crt": False,
        "agent/etcd/z.crt": True,  # agent/etcd is not agent/etc
        "agent/bad.crt": False,
        "agent/s.key": True,
        "agent/client-kubelet.crt": True,
        "server/other.crt": True,
    }
    visible = visible_in(snap)
    assert {n: visible(ResourceRef("File", n, field="[0]")) for n in names} == names
    whole = Snapshot("c", "pki", "f", at, coverage=(CoverageItem("file:.", error, "x"),))
    assert not visible_in(whole)(ResourceRef("File", "a.crt", field="[0]"))
    node = Snapshot(  # the live source's node agent: file:<node>/<path>
        "c", "live", "k", at, coverage=(CoverageItem("file:node-0/etcd", error, "x"),)
    )
    refs = [ResourceRef("File", f"{n}/etcd/a.crt", field="[0]") for n in ("node-0", "node-1")]
    assert [visible_in(node)(r) for r in refs] == [False, True]


SOURCES = ("bundle", "manifests", "pki", "live")
CHECKS = ("cert-expiry", "http-proxy-noproxy", "ssl-ciphers")
TIERS = (None, *(name for name, _ in EXPIRY_TIERS), TIER_EXPIRED)
severities = st.sampled_from(list(Severity))
tiers = st.sampled_from(TIERS)
# A small universe, so that histories overlap the current scan often.
universe = st.builds(
    _f, st.sampled_from(CHECKS), st.sampled_from(("a", "b", "c", "d")), severities, tiers
)


@st.composite
def scenarios(
    draw: st.DrawFn,
) -> tuple[dict[str, OpenState], set[str], list[Finding], str, set[str]]:
    known = draw(st.lists(universe, max_size=12))
    open_before: dict[str, OpenState] = {}
    resolved_before: set[str] = set()
    for f in known:
        if f.fingerprint in open_before or f.fingerprint in resolved_before:
            continue
        if draw(st.booleans()):
            open_before[f.fingerprint] = OpenState(
                draw(severities), draw(tiers), draw(st.sampled_from(SOURCES)), f.check_id
            )
        else:
            resolved_before.add(f.fingerprint)
    current = draw(st.lists(universe, max_size=12))
    source = draw(st.sampled_from(SOURCES))
    evaluated = draw(st.sets(st.sampled_from(CHECKS)))
    return open_before, resolved_before, current, source, evaluated


@given(scenarios())
def test_classification_properties(
    scenario: tuple[dict[str, OpenState], set[str], list[Finding], str, set[str]],
) -> None:
    open_before, resolved_before, current, source, evaluated = scenario
    changes = classify(
        open_before=open_before,
        resolved_before=resolved_before,
        current=current,
        source=source,
        evaluated=evaluated,
    )
    new = [f.fingerprint for f in changes.new]
    escalated = [f.fingerprint for f in changes.escalated]
    unchanged = [f.fingerprint for f in changes.unchanged]
    placed = new + escalated + unchanged
    current_fps = {f.fingerprint for f in current}
    # Every current finding lands in exactly one bucket, once.
    assert sorted(placed) == sorted(current_fps)
    assert set(new).isdisjoint(open_before)
    assert set(escalated) | set(unchanged) <= open_before.keys()
    assert changes.reopened == set(new) & resolved_before
    # Resolved: only what was open, is gone, and this scan could have seen.
    resolved = set(changes.resolved)
    assert resolved <= open_before.keys() - current_fps
    assert list(changes.resolved) == sorted(resolved)
    for fp, before in open_before.items():
        could_see = before.source == source and before.check_id in evaluated
        assert (fp in resolved) == (fp not in current_fps and could_see)
    # Escalated means a rank went up; each kept finding is the worst report of it.
    for f in changes.escalated:
        before = open_before[f.fingerprint]
        assert f.severity.rank > before.severity.rank or (
            TIERS.index(f.tier) > TIERS.index(before.tier)
        )
    for f in changes.unchanged:
        before = open_before[f.fingerprint]
        assert f.severity.rank <= before.severity.rank
        assert TIERS.index(f.tier) <= TIERS.index(before.tier)
    for f in (*changes.new, *changes.escalated, *changes.unchanged):
        same = [g for g in current if g.fingerprint == f.fingerprint]
        assert max(g.severity.rank for g in same) == f.severity.rank
