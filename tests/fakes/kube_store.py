"""Object store of the fake kube-apiserver: resourceVersions, paged lists and writes.

Objects are kept as JSON encoded once per write (plus the few fields selectors need), never
as live dicts: a paged list filters once when it *starts* and later pages are slices of that
immutable snapshot. That is cheap (the fleet bench runs 50 fakes x 500 secrets in one
process) and it is what the real apiserver promises: a paged list is consistent at one
resourceVersion. Built-in kinds are listed without ``kind``/``apiVersion`` on each item,
exactly like the real server; custom resources keep them.
"""

from __future__ import annotations

import base64
import binascii
import bisect
import json
import secrets
import threading
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from tests.fakes.kube_types import (
    INCONSISTENT,
    JSON,
    KNOWN,
    ApiError,
    ResourceType,
    already_exists,
    bad_request,
    conflict,
    dumps,
    field_labels,
    field_value,
    invalid,
    not_found,
)

Key = tuple[str, str]  # (namespace, name): the order of etcd keys, hence of list results
Mutator = Callable[[JSON], JSON]
Validator = Callable[[JSON, JSON], "str | None"]
MAX_SNAPSHOTS = 1024  # continue tokens of older paged lists expire (410), like compaction


@dataclass(frozen=True, slots=True)
class Record:
    key: Key
    raw: bytes  # the object as a list item (built-ins without kind/apiVersion)
    fields: Mapping[str, str]
    labels: Mapping[str, str]


class _Bucket:
    """All objects of one resource type, with a lazily rebuilt key order."""

    def __init__(self) -> None:
        self.records: dict[Key, Record] = {}
        self._ordered: list[Record] | None = None

    def put(self, record: Record) -> None:
        self.records[record.key] = record
        self._ordered = None

    def pop(self, key: Key) -> None:
        self.records.pop(key, None)
        self._ordered = None

    def ordered(self) -> list[Record]:
        if self._ordered is None:
            self._ordered = [self.records[k] for k in sorted(self.records)]
        return self._ordered


def full(rt: ResourceType, raw: bytes) -> bytes:
    """A stored item as a single-object response (built-ins gain kind and apiVersion)."""
    if not rt.builtin:
        return raw
    return b'{"kind":%s,"apiVersion":%s,%s' % (dumps(rt.kind), dumps(rt.api_version), raw[1:])


class KubeStore:
    """Thread-safe objects by resource type; every write takes the next global resourceVersion."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.rv = 0
        self._types: dict[tuple[str, str, str], ResourceType] = {}
        self._kinds: dict[tuple[str, str], ResourceType] = {}
        self._buckets: dict[ResourceType, _Bucket] = {}
        # continue-token id -> (resource type, matching records, list rv, had a selector)
        self._snapshots: OrderedDict[str, tuple[ResourceType, list[Record], int, bool]] = (
            OrderedDict()
        )
        self._uids = 0
        for rt in KNOWN:
            self._register(rt)

    def _register(self, rt: ResourceType) -> ResourceType:
        self._types.setdefault((rt.group, rt.version, rt.plural), rt)
        self._kinds.setdefault((rt.api_version, rt.kind), rt)
        self._buckets.setdefault(rt, _Bucket())
        return rt

    def resolve(self, group: str, version: str, plural: str) -> ResourceType | None:
        with self.lock:
            return self._types.get((group, version, plural))

    def types(self) -> list[ResourceType]:
        with self.lock:
            return list(self._buckets)

    def lookup(self, api_version: str, kind: str) -> ResourceType | None:
        with self.lock:
            return self._kinds.get((api_version, kind))

    def type_for(self, api_version: str, kind: str, *, namespaced: bool) -> ResourceType:
        with self.lock:
            rt = self._kinds.get((api_version, kind))
            return rt or self._register(
                ResourceType.guess(api_version, kind, namespaced=namespaced)
            )

    def _write(self, rt: ResourceType, obj: JSON, old: JSON | None) -> bytes:
        """Store ``obj`` with server-owned metadata; returns the GET-shaped encoding."""
        self.rv += 1
        md = dict(obj.get("metadata") or {})
        md["resourceVersion"] = str(self.rv)
        if old is not None:
            md["uid"] = old["metadata"].get("uid")
            md["creationTimestamp"] = old["metadata"].get("creationTimestamp")
        else:
            self._uids += 1
            md.setdefault("uid", f"00000000-0000-4000-8000-{self._uids:012d}")
            md.setdefault("creationTimestamp", datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"))
        body = {k: v for k, v in obj.items() if k not in ("apiVersion", "kind", "metadata")}
        if rt.group == "" and rt.kind == "Secret":
            body.setdefault("type", "Opaque")  # apiserver defaulting
        item: JSON = {"metadata": md, **body}
        if not rt.builtin:
            item = {"apiVersion": rt.api_version, "kind": rt.kind, **item}
        fields = {f: field_value(item, f) for f in field_labels(rt)}
        record = Record(
            (md.get("namespace", ""), md["name"]), dumps(item), fields, dict(md.get("labels") or {})
        )
        self._buckets[rt].put(record)
        return full(rt, record.raw)

    def add(self, obj: Mapping[str, Any]) -> bytes:
        """Store (or replace) a fixture object; returns it encoded as a GET would return it."""
        api_version, kind = obj.get("apiVersion"), obj.get("kind")
        md = dict(obj.get("metadata") or {})
        if not isinstance(api_version, str) or not isinstance(kind, str) or not md.get("name"):
            raise ValueError(f"object needs apiVersion, kind and metadata.name: {dict(obj)!r:.200}")
        rt = self.type_for(api_version, kind, namespaced=bool(md.get("namespace")))
        if rt.namespaced:
            md["namespace"] = md.get("namespace") or "default"
        else:
            md.pop("namespace", None)  # the apiserver drops it for cluster-scoped kinds
        md.pop("resourceVersion", None)
        with self.lock:
            return self._write(
                rt, {**obj, "metadata": md}, self.get(rt, (md.get("namespace", ""), md["name"]))
            )

    def get(self, rt: ResourceType, key: Key) -> JSON | None:
        with self.lock:
            record = self._buckets[rt].records.get(key)
        return None if record is None else json.loads(full(rt, record.raw))

    def read(self, rt: ResourceType, key: Key) -> bytes:
        with self.lock:
            record = self._buckets[rt].records.get(key)
        if record is None:
            raise not_found(rt, key[1])
        return full(rt, record.raw)

    def expire_continue_tokens(self) -> None:
        with self.lock:
            self._snapshots.clear()

    def list(
        self,
        rt: ResourceType,
        *,
        namespace: str | None,
        match: Callable[[Record], bool] | None,
        limit: int,
        token: str,
    ) -> bytes:
        """One page; ``match`` is the parsed field+label selector (None: no selector)."""
        snap_id, start = _decode_token(token) if token else (None, None)
        with self.lock:
            snap = self._snapshots.get(snap_id) if snap_id else None
            if snap_id and snap is None and start is not None:
                raise ApiError(
                    410,
                    "Expired",
                    INCONSISTENT,
                    meta={"continue": _encode_token(None, rv=-1, last=start)},
                )
            if snap is not None:
                snap_rt, records, rv, filtered = snap
                if snap_rt != rt:
                    raise bad_request(
                        "continue key is not valid: the token is for another resource"
                    )
            else:  # a new list, or an inconsistent continue (rv -1) from the latest state
                rv, filtered = self.rv, match is not None
                records = [
                    r
                    for r in self._buckets[rt].ordered()
                    if (namespace is None or r.key[0] == namespace) and (match is None or match(r))
                ]
        offset = 0 if start is None else bisect.bisect_right(records, start, key=lambda r: r.key)
        end = len(records) if limit <= 0 else min(len(records), offset + limit)
        meta: JSON = {"resourceVersion": str(rv)}
        if end < len(records):
            if snap is None:
                snap_id = secrets.token_hex(8)
                with self.lock:
                    self._snapshots[snap_id] = (rt, records, rv, filtered)
                    while len(self._snapshots) > MAX_SNAPSHOTS:
                        self._snapshots.popitem(last=False)
            meta["continue"] = _encode_token(snap_id, rv=rv, last=records[end - 1].key)
            if not filtered:  # the real server counts what is left only without a predicate
                meta["remainingItemCount"] = len(records) - end
        head = dumps({"kind": f"{rt.kind}List", "apiVersion": rt.api_version, "metadata": meta})
        return head[:-1] + b',"items":[' + b",".join(r.raw for r in records[offset:end]) + b"]}"

    def create(self, rt: ResourceType, obj: JSON, *, dry_run: bool) -> bytes:
        md = obj["metadata"]
        with self.lock:
            if (md.get("namespace", ""), md["name"]) in self._buckets[rt].records:
                raise already_exists(rt, md["name"])
            if dry_run:
                return dumps({"apiVersion": rt.api_version, "kind": rt.kind, **obj})
            return self._write(rt, obj, None)

    def replace(
        self,
        rt: ResourceType,
        namespace: str,
        name: str,
        *,
        mutate: Mutator,
        dry_run: bool,
        validator: Validator | None,
    ) -> bytes:
        """PATCH/PUT: ``mutate`` builds the new object from the current one, under the lock."""
        with self.lock:
            current = self.get(rt, (namespace, name))
            if current is None:
                raise not_found(rt, name)
            new = mutate(json.loads(dumps(current)))
            md = dict(new.get("metadata") or {})
            if md.get("name", name) != name:
                raise bad_request(
                    f"the name of the object ({md['name']}) does not match the "
                    f"name on the URL ({name})"
                )
            have = current["metadata"]["resourceVersion"]
            if md.get("resourceVersion", have) not in (have, "", None):
                raise conflict(rt, name)  # the optimistic-concurrency precondition
            md.update(name=name, resourceVersion=have)
            if rt.namespaced:
                md["namespace"] = namespace
            new = {**new, "apiVersion": rt.api_version, "kind": rt.kind, "metadata": md}
            message = validator(current, new) if validator else None
            if message:
                raise invalid(rt, name, messages=[message])
            if dry_run:  # admission ran; nothing is stored and no version is taken
                return dumps(new)
            return self._write(rt, new, current)

    def delete(self, rt: ResourceType, key: Key, *, dry_run: bool) -> JSON:
        namespace, name = key
        with self.lock:
            current = self.get(rt, key)
            if current is None:
                raise not_found(rt, name)
            if not dry_run:
                self._buckets[rt].pop((namespace, name))
        details = {**rt.details(name), "uid": current["metadata"].get("uid")}
        status: JSON = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success"}
        return {**status, "details": details}


def _encode_token(snap_id: str | None, *, rv: int, last: Key) -> str:
    # Shaped like the real token (v, rv, start key; raw URL base64); "snap" is the fake's own.
    data: JSON = {"v": "meta.k8s.io/v1", "rv": rv, "start": f"{last[0]}/{last[1]}\x00"}
    if snap_id:
        data["snap"] = snap_id
    return base64.urlsafe_b64encode(dumps(data)).decode().rstrip("=")


def _decode_token(token: str) -> tuple[str | None, Key]:
    try:
        data = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
        namespace, _, name = str(data["start"]).rstrip("\x00").partition("/")
        return data.get("snap"), (namespace, name)
    except (binascii.Error, ValueError, KeyError, TypeError, AttributeError) as e:
        raise bad_request(f"continue key is not valid: {e}") from e
