"""The Plan value: hash, JSON round trip, masking, drift, and noProxy edited in place.

Aspects: plan_hash is SHA-256 over the canonical JSON without created_at and changes with
every other field; to_json/from_json round-trip exactly; a canary proxy password never
reaches to_json, diff_lines or repr, but build_patch copies it byte for byte; drift is
caught by resourceVersion and by value; append_noproxy keeps every other byte (examples
and a property test).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.checks import _settings as s
from bot.remediation.plan import Drift, Plan, Target, append_noproxy, render

NOW = datetime(2026, 6, 1, 9, 30, tzinfo=UTC)
CANARY = "CanaryProxyPw-5f1e"
PROXY_VALUE = (
    f'{{"httpProxy": "http://alice:{CANARY}@proxy.example:3128",\n'
    ' "noProxy": "localhost,.svc, 10.0.0.0/8"}'
)
SETTING = Target("harvesterhci.io/v1beta1", "Setting", "ssl-parameters")


def ssl_plan(**changes: Any) -> Plan:
    plan = Plan(
        action="harden-ssl-protocols",
        title="Limit ssl-parameters to TLSv1.2 and TLSv1.3",
        cluster="c1",
        finding_id="F-12",
        check_id="ssl-weak-protocols",
        risk="low",
        approvals_required=1,
        target=SETTING,
        resource_version="41",
        field="value",
        before='{"protocols":"TLSv1 TLSv1.2"}',
        after='{"protocols":"TLSv1.2 TLSv1.3"}',
        patch={"value": '{"protocols":"TLSv1.2 TLSv1.3"}'},
        preconditions=("ssl-parameters value enables TLSv1",),
        notes=("ingress-nginx is reconfigured",),
        dry_run="accepted",
        created_at=NOW,
    )
    return replace(plan, **changes)


def proxy_plan() -> Plan:
    return ssl_plan(
        action="add-noproxy-node-ips",
        check_id="http-proxy-noproxy-missing-nodes",
        target=Target("harvesterhci.io/v1beta1", "Setting", "http-proxy"),
        before=render(PROXY_VALUE),
        after=render(append_noproxy(PROXY_VALUE, ["192.168.1.5"])),
        patch=None,
        add_noproxy=("192.168.1.5",),
    )


def setting(value: str, rv: str = "41") -> dict[str, Any]:
    return {"metadata": {"name": "x", "resourceVersion": rv}, "value": value, "default": "{}"}


def test_plan_hash_is_sha256_of_canonical_json_without_created_at() -> None:
    plan = ssl_plan()
    body = json.loads(plan.to_json())
    assert body.pop("created_at") == "2026-06-01T09:30:00+00:00"
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    assert plan.plan_hash() == hashlib.sha256(canonical.encode()).hexdigest()
    assert plan.plan_hash() == ssl_plan().plan_hash()
    assert replace(plan, created_at=NOW + timedelta(hours=1)).plan_hash() == plan.plan_hash()


@pytest.mark.parametrize(
    "changes",
    [
        {"action": "harden-tls-options"},
        {"title": "other"},
        {"cluster": "c2"},
        {"finding_id": "F-13"},
        {"check_id": "ssl-weak-ciphers"},
        {"risk": "high", "approvals_required": 2},
        {"target": Target("harvesterhci.io/v1beta1", "Setting", "http-proxy")},
        {"target": Target("harvesterhci.io/v1beta1", "Setting", "ssl-parameters", "x")},
        {"resource_version": "42"},
        {"field": "default"},
        {"before": "(empty)"},
        {"after": '{"protocols":"TLSv1.3"}'},
        {"patch": {"value": '{"protocols":"TLSv1.3"}'}},
        {"preconditions": ()},
        {"notes": ("ingress-nginx is reconfigured", "more")},
        {"dry_run": "422 Invalid: no"},
        {"patch": None, "add_noproxy": ("10.1.1.1",)},
    ],
)
def test_plan_hash_changes_with_every_field(changes: dict[str, Any]) -> None:
    assert ssl_plan(**changes).plan_hash() != ssl_plan().plan_hash()


@pytest.mark.parametrize("plan", [ssl_plan(), proxy_plan(), ssl_plan(patch={"a": {"b": None}})])
def test_json_round_trip_is_exact(plan: Plan) -> None:
    again = Plan.from_json(plan.to_json())
    assert again == plan
    assert again.to_json() == plan.to_json()
    assert again.plan_hash() == plan.plan_hash()


def test_to_json_shape() -> None:
    assert json.loads(ssl_plan().to_json()) == {
        "action": "harden-ssl-protocols",
        "add_noproxy": [],
        "after": '{"protocols":"TLSv1.2 TLSv1.3"}',
        "approvals_required": 1,
        "before": '{"protocols":"TLSv1 TLSv1.2"}',
        "check_id": "ssl-weak-protocols",
        "cluster": "c1",
        "created_at": "2026-06-01T09:30:00+00:00",
        "dry_run": "accepted",
        "field": "value",
        "finding_id": "F-12",
        "format": 1,
        "notes": ["ingress-nginx is reconfigured"],
        "patch": {"value": '{"protocols":"TLSv1.2 TLSv1.3"}'},
        "preconditions": ["ssl-parameters value enables TLSv1"],
        "resource_version": "41",
        "risk": "low",
        "target": {
            "api_version": "harvesterhci.io/v1beta1",
            "kind": "Setting",
            "name": "ssl-parameters",
            "namespace": "",
        },
        "title": "Limit ssl-parameters to TLSv1.2 and TLSv1.3",
    }


@pytest.mark.parametrize(
    "text",
    ["[]", "{}", '{"format": 2}', json.dumps({**json.loads(ssl_plan().to_json()), "extra": 1})],
)
def test_from_json_refuses_anything_else(text: str) -> None:
    with pytest.raises(ValueError):
        Plan.from_json(text)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"risk": "medium"}, "risk must be 'low' or 'high', got 'medium'"),
        ({"risk": "high"}, "approvals_required must be 2 for high risk and 1 for low risk"),
        ({"add_noproxy": ("10.0.0.1",)}, "a plan has either a patch or IPs to add"),
        ({"patch": None}, "a plan has either a patch or IPs to add"),
        ({"patch": None, "add_noproxy": ("10.0.0.1,x",)}, "add_noproxy holds IP addresses only"),
        ({"created_at": datetime(2026, 6, 1)}, "created_at must be timezone-aware"),
    ],
)
def test_plan_invariants(changes: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        ssl_plan(**changes)


def test_canary_proxy_password_never_in_plan_text_but_kept_in_patch() -> None:
    plan = proxy_plan()
    assert plan.diff_lines() == (
        '- {"httpProxy":"http://alice:****@proxy.example:3128",'
        '"noProxy":"localhost,.svc, 10.0.0.0/8"}',
        '+ {"httpProxy":"http://alice:****@proxy.example:3128",'
        '"noProxy":"localhost,.svc, 10.0.0.0/8,192.168.1.5"}',
    )
    for text in (plan.to_json(), repr(plan), *plan.diff_lines(), plan.plan_hash()):
        assert CANARY not in text
    assert json.loads(plan.to_json())["patch"] is None
    patch = plan.build_patch(setting(PROXY_VALUE))
    assert patch == {
        "value": f'{{"httpProxy": "http://alice:{CANARY}@proxy.example:3128",\n'
        ' "noProxy": "localhost,.svc, 10.0.0.0/8,192.168.1.5"}'
    }


def test_diff_lines_and_render() -> None:
    assert ssl_plan().diff_lines() == (
        '- {"protocols":"TLSv1 TLSv1.2"}',
        '+ {"protocols":"TLSv1.2 TLSv1.3"}',
    )
    assert render(None) == "(unset)"
    assert render("") == "(empty)"
    assert render(f"http://u:{CANARY}@h") == "(not JSON, 29 characters, hidden)"
    assert render('{"a": 1, "a": "x://t@h", "b": [true, null]}') == (
        '{"a":1,"a":"x://****@h","b":[true,null]}'
    )
    assert render({"services": ["etcd"], "generation": 3}) == (
        '{"generation":3,"services":["etcd"]}'
    )


def test_build_patch_refuses_drift() -> None:
    plan = ssl_plan(before=render('{"protocols":"TLSv1 TLSv1.2"}'))
    current = setting('{"protocols":"TLSv1 TLSv1.2"}')
    assert plan.build_patch(current) == {"value": '{"protocols":"TLSv1.2 TLSv1.3"}'}
    with pytest.raises(Drift) as moved:
        plan.build_patch(setting('{"protocols":"TLSv1 TLSv1.2"}', rv="42"))
    assert str(moved.value) == (
        "Setting ssl-parameters changed since the plan (resourceVersion 41 -> 42); make a new plan"
    )
    with pytest.raises(Drift) as changed:
        plan.build_patch(setting('{"protocols":"TLSv1.2"}'))
    assert str(changed.value) == (
        "Setting ssl-parameters value is no longer the planned value; make a new plan"
    )
    proxy = proxy_plan()
    with pytest.raises(Drift):
        proxy.build_patch(setting(PROXY_VALUE.replace(CANARY, "other-password"), rv="42"))


P = '"httpProxy":"http://p:3128"'
ADD = "10.0.0.7,fd00::7"


@pytest.mark.parametrize(
    ("before", "after"),
    [
        (f'{{{P},"noProxy":"a,b"}}', f'{{{P},"noProxy":"a,b,{ADD}"}}'),
        (f'{{{P},"noProxy":""}}', f'{{{P},"noProxy":"{ADD}"}}'),
        (f'{{{P},"noProxy":"a,"}}', f'{{{P},"noProxy":"a,{ADD}"}}'),
        (f"{{{P}}}", f'{{{P},"noProxy":"{ADD}"}}'),
        (f"{{ {P} }}\n", f'{{ {P},"noProxy":"{ADD}" }}\n'),
        ('{"noProxy":"a","NOPROXY":"b\\u002cc"}', f'{{"noProxy":"a","NOPROXY":"b\\u002cc,{ADD}"}}'),
        ('{"noProxy":"a","noproxy":null}', f'{{"noProxy":"a,{ADD}","noproxy":null}}'),
        ('{"noproxy":null}', f'{{"noproxy":null,"noProxy":"{ADD}"}}'),
        ("{}", f'{{"noProxy":"{ADD}"}}'),
        ("{ }", f'{{ "noProxy":"{ADD}"}}'),
    ],
)
def test_append_noproxy_examples(before: str, after: str) -> None:
    assert append_noproxy(before, ["10.0.0.7", "fd00::7"]) == after


def test_append_noproxy_refuses_non_ips() -> None:
    with pytest.raises(ValueError, match="append_noproxy needs IP addresses"):
        append_noproxy("{}", ["10.0.0.1,evil.example"])
    with pytest.raises(ValueError, match="append_noproxy needs IP addresses"):
        append_noproxy("{}", [])


_ENTRY = st.one_of(
    st.from_regex(r"[a-z][a-z0-9.-]{0,12}", fullmatch=True),
    st.ip_addresses().map(str),
    st.builds(lambda ip, n: f"{ip}/{n}", st.ip_addresses(v=4).map(str), st.integers(0, 32)),
    st.sampled_from(["", " ", ".svc", "*.example.com", "é.example", 'quote"d', "back\\slash"]),
)
_SPACE = st.sampled_from(["", " ", "\n", "\t ", "  "])


@given(
    entries=st.lists(_ENTRY, max_size=8),
    pads=st.lists(_SPACE, min_size=6, max_size=6),
    extra=st.dictionaries(st.sampled_from(["x", "httpsProxy", "Other"]), st.text(max_size=8)),
    ips=st.lists(st.ip_addresses().map(str), min_size=1, max_size=4),
    ascii_only=st.booleans(),
)
def test_append_noproxy_never_drops_or_reorders(
    entries: list[str], pads: list[str], extra: dict[str, str], ips: list[str], ascii_only: bool
) -> None:
    no_proxy = ",".join(entries)
    members = [f'"httpProxy"{pads[0]}:{pads[1]}"http://u:{CANARY}@p:3128"']
    members += [
        f"{json.dumps(k, ensure_ascii=ascii_only)}:{json.dumps(v)}" for k, v in extra.items()
    ]
    members.append(f'"noProxy"{pads[2]}:{pads[3]}{json.dumps(no_proxy, ensure_ascii=ascii_only)}')
    text = "{" + pads[4] + ("," + pads[5]).join(members) + pads[4] + "}"
    out = append_noproxy(text, ips)
    # Exactly one contiguous insertion: every byte of the old text is still there, in order.
    cut = next(i for i, (a, b) in enumerate(zip(text, out, strict=False)) if a != b)
    inserted = out[cut : cut + len(out) - len(text)]
    assert out[:cut] + out[cut + len(inserted) :] == text
    new = s.decode(out, s.HTTP_PROXY)["noProxy"]
    sep = "" if not no_proxy or no_proxy.endswith(",") else ","
    assert new == no_proxy + sep + ",".join(ips)
    assert new.startswith(no_proxy)
    kept = [e for e in no_proxy.split(",") if e]
    assert [e for e in new.split(",") if e][: len(kept)] == kept
