"""``status``, ``scan`` results and the App Home tab: clusters at a glance."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from bot.findings.views import CertView, ClusterStatus
from bot.slack.blocks.home import home_view
from bot.slack.blocks.status import ScanLine, scan_result_message, status_message, worst_first
from tests.slack.test_blocks_common import all_text, assert_valid_home, assert_valid_message

TZ = ZoneInfo("Europe/Berlin")
NOW = datetime(2026, 11, 28, 13, 5, tzinfo=UTC)
HOSTILE = "<!channel> <http://evil|click> &amp;"


def cert(days: float, subject: str = "CN=kube-apiserver", cluster: str = "prod") -> CertView:
    return CertView(
        cluster=cluster,
        subject=subject,
        issuer="CN=rke2-server-ca",
        serial="0a1b",
        not_after=NOW + timedelta(days=days),
        location="File//server/tls/serving-kube-apiserver.crt",
    )


def status(name: str = "prod", **kw: Any) -> ClusterStatus:
    values: dict[str, Any] = {
        "last_scan_at": NOW - timedelta(hours=1),
        "last_source": "live",
        "counts": {"critical": 2, "warning": 1},
        "next_expiry": cert(6),
    }
    return ClusterStatus(name=name, **(values | kw))


def _fields(block: dict[str, Any]) -> list[str]:
    return [f["text"] for f in block["fields"]]


def test_status_of_one_cluster() -> None:
    msg = status_message([status(unknown=3, silenced=1, pending_approvals=2)], now=NOW, tz=TZ)
    assert_valid_message(msg)
    assert msg["text"] == "Status of prod: 2 critical, 1 warning"
    assert msg["blocks"][1]["text"]["text"] == "*prod*"
    assert _fields(msg["blocks"][1]) == [
        "*Last scan*\ntoday, 13:05 from live",
        "*Open findings*\n:red_circle: 2 critical · :large_orange_circle: 1 warning · "
        ":grey_question: 3 undecided · :zzz: 1 silenced",
        "*Next expiry*\nexpires in 6 days, Dec 04: CN=kube-apiserver",
        "*Pending approvals*\n2",
    ]
    assert [e["text"] for e in msg["blocks"][2]["elements"]] == [
        "Details: `/harvester findings prod`",
        "Times in Europe/Berlin",
    ]


def test_status_shows_the_error_of_the_last_scan_in_full() -> None:
    error = "connect to https://10.0.0.1:6443: connection refused " + "z" * 10_000
    never = status(
        last_scan_at=None, last_source=None, counts={}, next_expiry=None, last_error=error
    )
    msg = status_message([never], now=NOW, tz=TZ)
    assert_valid_message(msg)
    assert _fields(msg["blocks"][1])[:3] == [
        "*Last scan*\nnever scanned",
        "*Open findings*\n:white_check_mark: no open findings",
        "*Next expiry*\nno certificate known",
    ]
    err = msg["blocks"][2]["text"]["text"]
    assert err.startswith(":x: *Last scan failed:* connect to https://10.0.0.1:6443: connection")
    assert len(err) <= 3000


def test_status_of_many_clusters_worst_first() -> None:
    fleet = [
        status("a-calm", counts={"info": 1}),
        status("b-broken", counts={}, last_error="timeout"),
        status("c-burning", counts={"critical": 1}),
        status("d-warm", counts={"warning": 4}),
    ]
    assert [s.name for s in worst_first(fleet)] == ["c-burning", "b-broken", "d-warm", "a-calm"]
    msg = status_message(fleet, now=NOW, tz=TZ)
    assert_valid_message(msg)
    assert msg["blocks"][1]["elements"][0]["text"] == (
        "4 clusters · :red_circle: 1 critical · :large_orange_circle: 4 warning · "
        ":large_blue_circle: 1 info · :x: 1 failed scan"
    )
    assert msg["blocks"][3]["text"]["text"] == "*b-broken*\n:x: *Last scan failed:* timeout"


def test_status_of_200_clusters_fits() -> None:
    msg = status_message([status(f"c{i:03d}") for i in range(200)], now=NOW, tz=TZ)
    assert_valid_message(msg)
    assert len(msg["blocks"]) == 50
    assert msg["blocks"][-1]["elements"][0]["text"] == (
        "153 more — use `/harvester status CLUSTER`"
    )


def test_status_without_scans() -> None:
    msg = status_message([], now=NOW, tz=TZ, command="/secbot")
    assert_valid_message(msg)
    assert msg["blocks"][0]["text"]["text"] == (
        "No cluster has been scanned yet. Try `/secbot scan all`."
    )


def test_scan_result() -> None:
    lines = [
        ScanLine("prod", counts={"critical": 1}, new=2, resolved=1),
        ScanLine("lab", error="Forbidden: settings.harvesterhci.io"),
        ScanLine("edge", counts={}, new=0, resolved=3),
    ]
    msg = scan_result_message(lines)
    assert_valid_message(msg)
    assert msg["text"] == "Scan finished: 3 clusters, 2 new, 4 resolved, 1 failed"
    assert [b["text"]["text"] for b in msg["blocks"][2:5]] == [
        "*lab*\n:x: *Scan failed:* Forbidden: settings.harvesterhci.io",
        "*prod* · :red_circle: 1 critical\n:new: 2 new · :white_check_mark: 1 resolved",
        "*edge* · :white_check_mark: no open findings\n:new: 0 new · :white_check_mark: 3 resolved",
    ]
    assert msg["blocks"][-1]["elements"][0]["text"] == "Details: `/harvester findings CLUSTER`"


def test_scan_result_of_a_big_fleet_keeps_the_tail() -> None:
    msg = scan_result_message([ScanLine(f"c{i:03d}") for i in range(120)])
    assert_valid_message(msg)
    assert len(msg["blocks"]) == 50
    assert msg["blocks"][-2]["elements"][0]["text"] == "74 more — use `/harvester status CLUSTER`"


def test_home_shows_every_cluster() -> None:
    fleet = [status("prod", pending_approvals=1), status("lab", counts={}, next_expiry=None)]
    view = home_view(fleet, now=NOW, tz=TZ)
    assert_valid_home(view)
    blocks = view["blocks"]
    assert blocks[0]["text"]["text"] == "Harvester fleet"
    assert blocks[1]["elements"][0]["text"] == (
        "2 clusters · :red_circle: 2 critical · :large_orange_circle: 1 warning · "
        "1 pending approval · updated today, 14:05"
    )
    assert blocks[3]["text"]["text"] == "*prod*"
    assert _fields(blocks[3])[3] == "*Pending approvals*\n1"
    assert blocks[4]["text"]["text"] == "*lab*"
    assert blocks[-1]["elements"][0]["text"] == (
        "More: `/harvester status CLUSTER` · `/harvester findings` · `/harvester certs` · "
        "`/harvester help`"
    )


def test_home_packs_a_large_fleet_into_lines() -> None:
    fleet = [status(f"c{i:04d}", counts={"info": 1}) for i in range(400)]
    view = home_view(fleet, now=NOW, tz=TZ)
    assert_valid_home(view)
    text = all_text(view)
    assert all(f"*c{i:04d}*" in text for i in range(400))  # every cluster is there
    assert "*c0000* · :large_blue_circle: 1 info · scanned today, 13:05 from live · next " in text
    assert "more — use" not in text


def test_home_of_a_huge_fleet_says_how_many_clusters_are_left_out() -> None:
    fleet = [status(f"cluster-{i:05d}-" + "n" * 200) for i in range(3000)]
    view = home_view(fleet, now=NOW, tz=TZ)
    assert_valid_home(view)
    assert len(view["blocks"]) == 100
    shown = all_text(view).count("*cluster-")
    more = view["blocks"][-3]["elements"][0]["text"]
    assert more == f"{3000 - shown} more — use `/harvester status CLUSTER`"


def test_home_without_clusters() -> None:
    view = home_view([], now=NOW, tz=TZ)
    assert_valid_home(view)
    assert view["blocks"][3]["text"]["text"] == (
        "No cluster has been scanned yet. Try `/harvester scan all`."
    )


def test_hostile_cluster_names_and_errors() -> None:
    bad = status(HOSTILE, last_error=HOSTILE, last_source=HOSTILE, next_expiry=cert(1, HOSTILE))
    for msg in (
        status_message([bad], now=NOW, tz=TZ),
        status_message([bad, status()], now=NOW, tz=TZ),
        scan_result_message([ScanLine(HOSTILE, error=HOSTILE), ScanLine(HOSTILE)]),
    ):
        assert_valid_message(msg)
        assert "&lt;!channel&gt; &lt;http://evil|click&gt; &amp;amp;" in all_text(msg)
    view = home_view([bad], now=NOW, tz=TZ)
    assert_valid_home(view)
    assert "&lt;!channel&gt;" in all_text(view)
