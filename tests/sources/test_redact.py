"""``objects.redact_private_keys``: the body of every PEM private-key block is replaced.

Aspects: it gives exactly what the former regex pair gave (BEGIN ... END of the same type,
then a BEGIN line without END whose body runs to the next "-"), on real and on
adversarial texts, with real and JSON-escaped newlines; and it is linear: texts full of
BEGIN lines without an END line (which made the former lazy regex rescan the rest of the
text for each of them, 43 s for 45 KB) take no longer than their length.
"""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.sources.objects import redact_private_keys

# The former implementation (quadratic on BEGIN lines without END): the oracle.
_OLD_BLOCK = re.compile(r"(-----BEGIN ([A-Z ]*PRIVATE KEY)-----)(.*?)(-----END \2-----)", re.DOTALL)
_OLD_BEGIN = re.compile(r"(-----BEGIN [A-Z ]*PRIVATE KEY-----)[^-]*")


def old_redact(text: str, newline: str = "\n") -> str:
    text = _OLD_BLOCK.sub(lambda m: f"{m.group(1)}{newline}REDACTED{newline}{m.group(4)}", text)
    return _OLD_BEGIN.sub(lambda m: f"{m.group(1)}{newline}REDACTED{newline}", text)


KEY = "-----BEGIN PRIVATE KEY-----\nMIGHAgEAMBMG\nByqGSM49AgEG\n-----END PRIVATE KEY-----\n"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (KEY, "-----BEGIN PRIVATE KEY-----\nREDACTED\n-----END PRIVATE KEY-----\n"),
        (
            "-----BEGIN EC PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\nBBBB",
            # END of another type: the body runs to the next "-" only
            "-----BEGIN EC PRIVATE KEY-----\nREDACTED\n-----END PRIVATE KEY-----\nBBBB",
        ),
        (
            "-----BEGIN RSA PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED\n\nAAAA\n"
            "-----END RSA PRIVATE KEY-----",
            "-----BEGIN RSA PRIVATE KEY-----\nREDACTED\n-----END RSA PRIVATE KEY-----",
        ),
        ("-----BEGIN PRIVATE KEY-----\nAAAA", "-----BEGIN PRIVATE KEY-----\nREDACTED\n"),
        (
            # headers sharing dashes; the first has no END line of its type
            "-----BEGIN EC PRIVATE KEY-----BEGIN PRIVATE KEY-----\nAA\n-----END PRIVATE KEY-----",
            "-----BEGIN EC PRIVATE KEY-----\nREDACTED\n-----\nREDACTED\n-----END PRIVATE KEY-----",
        ),
        ("-----BEGIN CERTIFICATE-----\nAAAA\n", "-----BEGIN CERTIFICATE-----\nAAAA\n"),
    ],
)
def test_key_bodies_are_redacted(text: str, expected: str) -> None:
    assert redact_private_keys(text) == expected == old_redact(text)


def test_json_escaped_newlines_stay_json() -> None:
    text = KEY.replace("\n", "\\n")
    expected = "-----BEGIN PRIVATE KEY-----\\nREDACTED\\n-----END PRIVATE KEY-----\\n"
    assert redact_private_keys(text, newline="\\n") == expected
    assert redact_private_keys("-----BEGIN PRIVATE KEY-----\\nAAAA", newline="\\n") == (
        "-----BEGIN PRIVATE KEY-----\\nREDACTED\\n"
    )


PIECES = st.sampled_from(
    [
        "-----BEGIN ",
        "-----END ",
        "PRIVATE KEY",
        "EC ",
        "RSA ",
        "ENCRYPTED ",
        "-----",
        "-",
        "\n",
        "\\n",
        "MIGHAgEA",
        " ",
        "x",
        KEY,
    ]
)


@settings(max_examples=600, deadline=None)
@given(st.lists(PIECES, max_size=30).map("".join), st.sampled_from(["\n", "\\n"]))
def test_same_output_as_the_former_regexes(text: str, newline: str) -> None:
    assert redact_private_keys(text, newline=newline) == old_redact(text, newline)


@pytest.mark.parametrize(
    "text",
    [
        # 4 MB of BEGIN lines without END: about an hour for the former regex
        "-----BEGIN PRIVATE KEY-----\n" * 150_000,
        # one END line at the very end, of another type than the BEGIN lines
        "-----BEGIN PRIVATE KEY-----\n" * 150_000 + "-----END EC PRIVATE KEY-----\n",
        # many key types, each with END lines before its BEGIN lines only
        "".join(f"-----END {t} PRIVATE KEY-----\n" for t in ("A", "B", "C") * 1000)
        + "".join(f"-----BEGIN {t} PRIVATE KEY-----\n" for t in ("A", "B", "C") * 50_000),
    ],
)
def test_headers_without_end_lines_cost_linear_time(text: str) -> None:
    # every body is one newline: no header pairs with an END line of another type
    expected = re.sub(r"(-----BEGIN [A-Z ]*PRIVATE KEY-----)\n", r"\1\nREDACTED\n", text)
    assert redact_private_keys(text) == expected
