"""The app's small parts on their own: the worker (bounds, shared reads, failures), the
operator list's group cache, and the masking of live setting values (property-based:
a secret planted anywhere a secret can be never comes out)."""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Sequence
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.errors import UserError
from bot.slack.auth import LookupFailed, Operators
from bot.slack.command_types import UsageError
from bot.slack.listeners.live import mask_setting
from bot.slack.worker import Busy, Message, Worker
from tests.slack.conftest import text_of


class Inbox:
    def __init__(self) -> None:
        self.messages: list[Message] = []
        self.done = threading.Event()

    def __call__(self, message: Message) -> None:
        self.messages.append(message)
        self.done.set()


def test_identical_reads_in_flight_share_one_run() -> None:
    worker = Worker(threads=2, max_pending=2)
    gate, runs = threading.Event(), []

    def job() -> Message:
        runs.append(1)
        gate.wait(5)
        return {"text": "status"}

    inboxes = [Inbox() for _ in range(5)]
    try:
        for inbox in inboxes:
            worker.submit(job, reply=inbox, what="status", key=("status", None))
        assert worker.pending == 1  # the four others joined the first run
        gate.set()
        for inbox in inboxes:
            assert inbox.done.wait(5)
        assert runs == [1]
        assert [i.messages for i in inboxes] == [[{"text": "status"}]] * 5
        later = Inbox()
        worker.submit(job, reply=later, what="status", key=("status", None))
        assert later.done.wait(5) and runs == [1, 1]  # a new asker after the run: a new run
    finally:
        worker.shutdown()


def test_worker_bounds_and_failures(caplog: pytest.LogCaptureFixture) -> None:
    worker = Worker(threads=1, max_pending=1)
    gate = threading.Event()
    first, usage, other = Inbox(), Inbox(), Inbox()
    try:
        worker.submit(lambda: (gate.wait(5), {"text": "one"})[1], reply=first, what="a")
        with pytest.raises(Busy, match="I am busy with 1 other requests"):
            worker.submit(lambda: {"text": "two"}, reply=other, what="b")
        gate.set()
        assert first.done.wait(5)

        def bad_usage() -> Message:
            raise UsageError("show", "'x' is not a finding id like F-123", command="/hv")

        while worker.pending:
            gate.wait(0.01)
        worker.submit(bad_usage, reply=usage, what="show")
        assert usage.done.wait(5)
        assert usage.messages[0]["text"] == "Usage: /hv show F-123"

        def user_error() -> Message:
            raise UserError("no finding F-9")

        while worker.pending:
            gate.wait(0.01)
        worker.submit(user_error, reply=other, what="show")
        assert other.done.wait(5) and other.messages[0]["text"] == "no finding F-9"

        def broken_reply(_message: Message) -> None:
            raise OSError("response_url gone")

        while worker.pending:
            gate.wait(0.01)
        with caplog.at_level(logging.ERROR, logger="bot.slack.worker"):
            worker.submit(lambda: {"text": "x"}, reply=broken_reply, what="certs")
            while worker.pending:
                gate.wait(0.01)
        assert "could not send the answer of certs" in caplog.text
    finally:
        worker.shutdown()
    with pytest.raises(Busy, match="shutting down"):
        worker.submit(lambda: {"text": "late"}, reply=other, what="late")


def test_group_membership_is_cached_and_expires() -> None:
    now = [1000.0]
    asked: list[str] = []

    def lookup(group: str) -> Sequence[str]:
        asked.append(group)
        return ["UMEMBER1"]

    operators = Operators(["UADMIN1", "SGROUP1"], ttl=300, clock=lambda: now[0])
    assert operators.is_operator("UADMIN1", lookup=lookup) and asked == []
    assert operators.is_operator("UMEMBER1", lookup=lookup)
    assert not operators.is_operator("UOTHER1", lookup=lookup)
    assert asked == ["SGROUP1"]
    now[0] += 301
    assert operators.is_operator("UMEMBER1", lookup=lookup)
    assert asked == ["SGROUP1", "SGROUP1"]

    def failing(group: str) -> Sequence[str]:
        raise LookupFailed(group)

    now[0] += 301
    with pytest.raises(LookupFailed):
        Operators(["SGROUP1"]).is_operator("UMEMBER1", lookup=failing)
    assert not Operators([]).configured


def test_mask_setting_examples() -> None:
    proxy = json.dumps(
        {"httpProxy": "http://u:s3cr3t@p:3128", "httpsProxy": "http://tok@p:3128", "noProxy": "a"}
    )
    assert json.loads(mask_setting(proxy) or "") == {
        "httpProxy": "http://u:****@p:3128",
        "httpsProxy": "http://****@p:3128",
        "noProxy": "a",
    }
    registry = json.dumps(
        {
            "Configs": {
                "https://u:pw@reg:5000": {
                    "Auth": {
                        "Username": "bot",
                        "Password": "pw1",
                        "Auth": "YjpwdzE=",
                        "IdentityToken": "t",
                    }
                }
            },
            "Auths": {"reg:5000": {"auth": "YjpwdzE="}},
        }
    )
    assert json.loads(mask_setting(registry) or "") == {
        "Configs": {
            "https://u:****@reg:5000": {
                "Auth": {
                    "Username": "bot",
                    "Password": "****",
                    "Auth": "****",
                    "IdentityToken": "****",
                }
            }
        },
        "Auths": {"reg:5000": {"auth": "****"}},
    }
    key = "-----BEGIN EC PRIVATE KEY-----\nMHcCAQEE\n-----END EC PRIVATE KEY-----\n"
    certs = json.dumps({"publicCertificate": "-----BEGIN CERTIFICATE-----", "privateKey": key})
    assert json.loads(mask_setting(certs) or "")["privateKey"] == "****"
    assert mask_setting(key) == "****"
    assert mask_setting("http://u:pw@proxy:3128") == "http://u:****@proxy:3128"
    assert mask_setting('{"enable":true,"expiringInHours":240}') == (
        '{"enable": true, "expiringInHours": 240}'
    )
    assert mask_setting("") == "" and mask_setting(None) is None


CANARY = "Zq9-canary-Xw"
secret_keys = st.sampled_from(
    [
        "password",
        "Password",
        "privateKey",
        "IdentityToken",
        "token",
        "auth",
        "Auth",
        "secret",
        "client_secret",
        "apiKey",
        "proxy-password",
    ]
)
plain_keys = st.sampled_from(["name", "Username", "noProxy", "value", "Configs", "host", "ca"])
leaves = st.one_of(
    st.sampled_from(["x", "", "reg:5000", "http://proxy:3128"]),
    st.integers(),
    st.booleans(),
    st.none(),
)


def planted() -> st.SearchStrategy[Any]:
    """JSON objects with the canary planted under a secret key (alone or in a list), in
    URL user info, or in a PEM key, at any depth."""
    secrets = st.one_of(
        st.tuples(secret_keys, st.sampled_from([CANARY, [CANARY], ["x", CANARY]])),
        st.tuples(plain_keys, st.just(f"http://user:{CANARY}@proxy:3128")),
        st.tuples(plain_keys, st.just([f"https://{CANARY}@reg.example"])),
        st.tuples(plain_keys, st.just(f"-----BEGIN PRIVATE KEY-----\n{CANARY}\n")),
        st.tuples(st.just(f"http://u:{CANARY}@reg:5000"), leaves),
    )

    def plant(extend: st.SearchStrategy[Any]) -> st.SearchStrategy[dict[str, Any]]:
        return st.builds(
            lambda d, kv: {**d, kv[0]: kv[1]},
            st.dictionaries(plain_keys, extend, max_size=2),
            secrets,
        )

    inner = st.recursive(
        leaves,
        lambda children: st.one_of(
            st.lists(children, max_size=3), st.dictionaries(plain_keys, children, max_size=3)
        ),
        max_leaves=8,
    )
    return st.recursive(
        plant(inner),
        lambda planted_docs: st.one_of(
            st.lists(planted_docs, min_size=1, max_size=3), plant(planted_docs)
        ),
        max_leaves=6,
    )


@given(planted())
def test_no_planted_secret_survives_masking(doc: Any) -> None:
    assert CANARY in json.dumps(doc)
    masked = mask_setting(json.dumps(doc)) or ""
    assert CANARY not in masked
    assert CANARY not in text_of({"text": masked})
