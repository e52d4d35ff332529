"""The sealing rules of an audit record, pinned: the canonical JSON text, the hash over
it and the previous hash, and the HMAC. Changing any of them would make every stored
chain fail to verify, so the expected values are written out here, not recomputed."""

from __future__ import annotations

import hashlib
import hmac
from datetime import UTC, datetime, timedelta, timezone

import pytest

from bot.audit.chain import canonical_json, iso_utc, record_hash, record_hmac

AT = datetime(2026, 11, 29, 10, 0, 5, 250, tzinfo=UTC)
PAYLOAD = {"reason": "Wartung für Überlauf", "finding": "F-12", "n": [1, 2.5, None]}
FIELDS = {
    "seq": 7,
    "at": AT,
    "actor": "U012AB",
    "action": "silence.add",
    "subject": "F-12",
    "payload": PAYLOAD,
}
CANONICAL = (
    '{"action":"silence.add","actor":"U012AB","at":"2026-11-29T10:00:05.000250Z",'
    '"payload":{"finding":"F-12","n":[1,2.5,null],"reason":"Wartung für Überlauf"},'
    '"seq":7,"subject":"F-12"}'
)
PREV = "ab" * 32


def test_canonical_json_is_sorted_compact_utf8_with_utc_datetimes() -> None:
    assert canonical_json(FIELDS) == CANONICAL
    berlin = timezone(timedelta(hours=1))
    assert canonical_json({"b": AT.astimezone(berlin), "a": "x"}) == (
        '{"a":"x","b":"2026-11-29T10:00:05.000250Z"}'
    )
    assert iso_utc(datetime(2026, 1, 2, tzinfo=UTC)) == "2026-01-02T00:00:00.000000Z"


@pytest.mark.parametrize(
    ("value", "error"),
    [
        ({"x": float("nan")}, ValueError),
        ({"x": float("inf")}, ValueError),
        ({"x": datetime(2026, 1, 1)}, ValueError),  # naive: no UTC to speak of
        ({"x": {1, 2}}, TypeError),
        ({"x": b"bytes"}, TypeError),
    ],
)
def test_canonical_json_refuses_what_has_no_single_form(value: object, error: type) -> None:
    with pytest.raises(error):
        canonical_json(value)


def test_record_hash_is_sha256_of_canonical_json_then_prev_hash() -> None:
    expected = hashlib.sha256((CANONICAL + PREV).encode("utf-8")).hexdigest()
    assert record_hash(FIELDS, PREV) == expected
    # The first record links to "".
    assert record_hash(FIELDS, "") == hashlib.sha256(CANONICAL.encode("utf-8")).hexdigest()
    # Extra keys (an exported record's hashes) are not part of it; missing ones are an error.
    assert record_hash({**FIELDS, "hash": "x", "hmac": None, "prev_hash": PREV}, PREV) == expected
    with pytest.raises(KeyError):
        record_hash({k: v for k, v in FIELDS.items() if k != "subject"}, PREV)
    # An ISO string for "at" (as exported) hashes like the datetime it came from.
    assert record_hash({**FIELDS, "at": "2026-11-29T10:00:05.000250Z"}, PREV) == expected


@pytest.mark.parametrize(
    "change",
    [
        {"seq": 8},
        {"at": AT + timedelta(microseconds=1)},
        {"actor": "U012AC"},
        {"action": "silence.remove"},
        {"subject": "F-13"},
        {"payload": {**PAYLOAD, "reason": "Wartung fur Uberlauf"}},
    ],
)
def test_every_field_is_covered(change: dict[str, object]) -> None:
    assert record_hash({**FIELDS, **change}, PREV) != record_hash(FIELDS, PREV)


def test_prev_hash_is_covered() -> None:
    assert record_hash(FIELDS, PREV) != record_hash(FIELDS, "cd" * 32)


def test_record_hmac_is_hmac_sha256_of_the_hex_hash() -> None:
    key = b"k" * 32
    digest = record_hash(FIELDS, PREV)
    assert record_hmac(key, digest) == hmac.new(key, digest.encode(), hashlib.sha256).hexdigest()
    assert record_hmac(b"j" * 32, digest) != record_hmac(key, digest)
