"""The Plan: exactly what a remediation will change, shown to people and bound to approval.

A Plan is a frozen value: the object it targets, the ``resourceVersion`` it was planned
against, the field's value before and after (masked), the merge patch, the checks that
held at plan time, and the server's dry-run answer. ``plan_hash`` (SHA-256 of the
canonical JSON of everything but ``created_at``) is what approvals are bound to.

No secret is ever inside a Plan. The one action that edits a setting holding
credentials, ``add-noproxy-node-ips`` on ``http-proxy``, cannot carry its patch here:
the new value must contain the proxy URLs with their passwords, byte for byte. Its Plan
keeps only the IPs to add (``add_noproxy``) and ``build_patch`` rebuilds the value from
the object re-read just before the write, after checking that nothing drifted.
``before``/``after`` pass through ``render``, which masks URL credentials.
"""

from __future__ import annotations

import copy
import hashlib
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from bot.checks import _settings as s
from bot.core.masking import contains_credentials, mask_url_credentials
from bot.errors import PermanentError

RISK_LOW, RISK_HIGH = "low", "high"
ACCEPTED = "accepted"  # Plan.dry_run when the server admitted the dry run
NOT_RUN = "not run"  # Plan.dry_run as an Action returns it, before the planner runs it
FORMAT = 1  # version of the JSON form; from_json refuses others
_IP_TEXT = re.compile(r"[0-9A-Fa-f.:]+")


class Drift(PermanentError):
    """The object changed since the plan was made: re-plan, never write blindly."""


@dataclass(frozen=True, slots=True)
class Target:
    """The Kubernetes object a plan patches (``namespace`` "" when cluster-scoped)."""

    api_version: str
    kind: str
    name: str
    namespace: str = ""

    def __str__(self) -> str:
        where = f"{self.namespace}/{self.name}" if self.namespace else self.name
        return f"{self.kind} {where}"


@dataclass(frozen=True, slots=True)
class Plan:
    """One planned change; see the module docstring. Build it through an Action."""

    action: str
    title: str
    cluster: str
    finding_id: str
    check_id: str
    risk: str  # RISK_LOW | RISK_HIGH
    approvals_required: int  # 1, or 2 for high risk
    target: Target
    resource_version: str  # of ``target`` when planned; the write is conditional on it
    field: str  # dotted path inside the object, e.g. "value"
    before: str  # render() of the field when planned (masked)
    after: str  # render() of the field the patch produces (masked)
    patch: dict[str, Any] | None  # merge patch without resourceVersion; None: see add_noproxy
    preconditions: tuple[str, ...]
    notes: tuple[str, ...]
    dry_run: str  # ACCEPTED, or the server's rejection message
    created_at: datetime
    add_noproxy: tuple[str, ...] = ()  # http-proxy: IPs appended to noProxy at execute time

    def __post_init__(self) -> None:
        if self.risk not in (RISK_LOW, RISK_HIGH):
            raise ValueError(f"risk must be {RISK_LOW!r} or {RISK_HIGH!r}, got {self.risk!r}")
        if self.approvals_required != (2 if self.risk == RISK_HIGH else 1):
            raise ValueError("approvals_required must be 2 for high risk and 1 for low risk")
        if (self.patch is None) == (not self.add_noproxy):
            raise ValueError("a plan has either a patch or IPs to add to noProxy, not both")
        if not all(_IP_TEXT.fullmatch(ip) for ip in self.add_noproxy):
            raise ValueError("add_noproxy holds IP addresses only")
        if self.created_at.tzinfo is None:
            raise ValueError("created_at must be timezone-aware")

    @property
    def accepted(self) -> bool:
        """Did the server-side dry run admit the change?"""
        return self.dry_run == ACCEPTED

    # -- JSON form (what the store keeps) ---------------------------------------------------
    def _body(self) -> dict[str, Any]:
        out = asdict(self)
        out.pop("created_at")
        for name in ("preconditions", "notes", "add_noproxy"):
            out[name] = list(out[name])
        out["format"] = FORMAT
        return out

    def to_json(self) -> str:
        """Canonical JSON (sorted keys, no spaces); never holds a secret."""
        return _canonical({**self._body(), "created_at": self.created_at.isoformat()})

    @classmethod
    def from_json(cls, text: str) -> Plan:
        """The Plan ``to_json`` wrote; ValueError for anything else."""
        doc = json.loads(text)
        if not isinstance(doc, dict) or doc.pop("format", None) != FORMAT:
            raise ValueError(f"not a plan in format {FORMAT}")
        try:
            fields: dict[str, Any] = {
                **doc,
                "target": Target(**doc["target"]),
                "created_at": datetime.fromisoformat(doc["created_at"]),
                **{n: tuple(doc[n]) for n in ("preconditions", "notes", "add_noproxy")},
            }
            return cls(**fields)
        except (KeyError, TypeError, AttributeError) as e:
            raise ValueError(f"not a plan: {e}") from None

    def plan_hash(self) -> str:
        """SHA-256 (hex) of the canonical JSON of everything but ``created_at``."""
        return hashlib.sha256(_canonical(self._body()).encode()).hexdigest()

    def diff_lines(self) -> tuple[str, str]:
        """``- before`` / ``+ after`` of ``field`` (both masked)."""
        return f"- {self.before}", f"+ {self.after}"

    # -- execute time -------------------------------------------------------------------------
    def check_drift(self, current: Mapping[str, Any]) -> None:
        """Raise Drift unless ``current`` is the object this plan was made against."""
        meta = current.get("metadata")
        rv = str(meta.get("resourceVersion") or "") if isinstance(meta, Mapping) else ""
        if rv != self.resource_version:
            raise Drift(
                f"{self.target} changed since the plan (resourceVersion "
                f"{self.resource_version} -> {rv or 'none'}); make a new plan"
            )
        if render(field_value(current, self.field)) != self.before:
            raise Drift(
                f"{self.target} {self.field} is no longer the planned value; make a new plan"
            )

    def build_patch(self, current: Mapping[str, Any]) -> dict[str, Any]:
        """The merge patch to send (without resourceVersion), from the re-read object.

        Raises Drift when ``current`` is not the object planned against. For http-proxy
        the value is rebuilt here: the proxy URLs are copied, never stored in the plan.
        """
        self.check_drift(current)
        if self.patch is not None:
            return copy.deepcopy(self.patch)
        value = current.get("value")
        if not isinstance(value, str):
            raise Drift(f"{self.target} has no value to add to; make a new plan")
        return {"value": append_noproxy(value, self.add_noproxy)}


def _canonical(doc: Any) -> str:
    return json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


# -- rendering (masked) ------------------------------------------------------------------------
class _Pairs(list[tuple[str, Any]]):
    """A JSON object as its members in order, duplicates kept (as Go sees them)."""


def field_value(obj: Mapping[str, Any], path: str) -> Any:
    """The value at a dotted ``path`` (None when any part is missing)."""
    value: Any = obj
    for part in path.split("."):
        value = value.get(part) if isinstance(value, Mapping) else None
    return value


def render(value: Any) -> str:
    """One masked line for people: JSON text is shown compact with URL credentials
    masked; text that is not JSON is not shown at all (it could hide anything)."""
    if value is None:
        return "(unset)"
    if isinstance(value, str):
        if not value:
            return "(empty)"
        try:
            value = json.loads(value, object_pairs_hook=_Pairs)
        except ValueError:
            return f"(not JSON, {len(value)} characters, hidden)"
    return _dump(value)


def _mask(text: str) -> str:
    return mask_url_credentials(text) if contains_credentials(text) else text


def _dump(value: Any) -> str:
    if isinstance(value, _Pairs):
        return "{" + ",".join(f"{_dump(k)}:{_dump(v)}" for k, v in value) + "}"
    if isinstance(value, Mapping):
        return "{" + ",".join(f"{_dump(k)}:{_dump(value[k])}" for k in sorted(value)) + "}"
    if isinstance(value, list):
        return "[" + ",".join(_dump(v) for v in value) + "]"
    if isinstance(value, str):
        return json.dumps(_mask(value), ensure_ascii=False)
    return json.dumps(value)


# -- http-proxy noProxy, edited in place ---------------------------------------------------------
_WS = " \t\n\r"
_DECODER = json.JSONDecoder()


def _skip(text: str, i: int) -> int:
    while i < len(text) and text[i] in _WS:
        i += 1
    return i


def _members(text: str) -> list[tuple[str, int, int]]:
    """(key, start, end) of each member value of the top-level JSON object in ``text``."""
    i = _skip(text, 0)
    if text[i : i + 1] != "{":
        raise ValueError("not a JSON object")
    members: list[tuple[str, int, int]] = []
    i = _skip(text, i + 1)
    if text[i : i + 1] == "}":
        return members
    while True:
        key, i = _DECODER.raw_decode(text, i)
        i = _skip(text, i)
        if not isinstance(key, str) or text[i : i + 1] != ":":
            raise ValueError("malformed JSON object")
        start = _skip(text, i + 1)
        _, end = _DECODER.raw_decode(text, start)
        members.append((key, start, end))
        i = _skip(text, end)
        if text[i : i + 1] == "}":
            return members
        if text[i : i + 1] != ",":
            raise ValueError("malformed JSON object")
        i = _skip(text, i + 1)


def go_key_matches(schema: s.Struct, key: str, name: str) -> bool:
    """Does Go's decoder put JSON key ``key`` into field ``name`` of ``schema``?
    (Case-insensitive with Go's folding: asked of the checks' own decoder. A type error
    means the key belongs to another field.) ``name`` is a string or slice field."""
    probe: Any = ["\x00probe"] if isinstance(dict(schema.fields)[name], s.Of) else "\x00probe"
    try:
        return bool(s.decode(json.dumps({key: probe}), schema)[name] == probe)
    except s.GoJSONError:
        return False


def append_noproxy(text: str, ips: Sequence[str]) -> str:
    """The http-proxy value ``text`` with ``ips`` appended to noProxy after a ",".

    Every other byte stays as it is: the addition is inserted before the closing quote
    of the noProxy string Go uses (the last non-null one), or a ``"noProxy"`` member is
    added after the last member when there is none.
    """
    if not ips or not all(_IP_TEXT.fullmatch(ip) for ip in ips):
        raise ValueError("append_noproxy needs IP addresses")
    addition = ",".join(ips)
    members = _members(text)
    used = [
        (start, end)
        for key, start, end in members
        if go_key_matches(s.HTTP_PROXY, key, "noProxy") and text[start:end] != "null"
    ]
    old = s.decode(text, s.HTTP_PROXY)
    if used:
        end = used[-1][1]
        current = old["noProxy"]
        sep = "" if not current or current.endswith(",") else ","
        out = text[: end - 1] + sep + addition + text[end - 1 :]
        expected = current + sep + addition
    else:
        member = '"noProxy":' + json.dumps(addition)
        at = members[-1][2] if members else _skip(text, text.index("{") + 1)
        out = text[:at] + ("," if members else "") + member + text[at:]
        expected = addition
    new = s.decode(out, s.HTTP_PROXY)
    if new != {**old, "noProxy": expected}:  # cannot happen; never write a surprise
        raise PermanentError("editing noProxy changed more than noProxy; nothing was written")
    return out
