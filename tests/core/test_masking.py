"""bot.core.masking: proxy URLs and secrets are masked before they leave the engine.

Aspects: the documented output form; user info without a password; passwords holding
URL delimiters; URLs without user info are unchanged; ``contains_credentials`` agrees
with masking; no generated password ever survives masking (property).
"""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.core.masking import (
    MASK,
    contains_credentials,
    mask_secret,
    mask_text,
    mask_url_credentials,
)


@pytest.mark.parametrize(
    ("url", "masked"),
    [
        ("http://user:password@proxy.example.com:3128", "http://user:****@proxy.example.com:3128"),
        ("https://u:p@10.0.0.1:8443/path?q=1", "https://u:****@10.0.0.1:8443/path?q=1"),
        ("user:pw@proxy:3128", "user:****@proxy:3128"),  # proxy env values often lack a scheme
        ("http://token@proxy:3128", "http://****@proxy:3128"),  # a lone user may be a token
        ("http://user:@proxy:3128", "http://user:****@proxy:3128"),
        ("http://:pw@proxy:3128", "http://****@proxy:3128"),
        ("http://u:p@ss/w@rd@proxy:3128", "http://u:****@proxy:3128"),  # last @ ends user info
        ("http://proxy.example.com:3128", "http://proxy.example.com:3128"),
        ("proxy.example.com:3128", "proxy.example.com:3128"),
        ("http://@proxy:3128", "http://@proxy:3128"),  # empty user info: nothing to hide
        ("", ""),
    ],
)
def test_mask_url_credentials(url: str, masked: str) -> None:
    assert mask_url_credentials(url) == masked
    assert contains_credentials(url) is (masked != url)


def test_mask_secret_hides_length() -> None:
    assert mask_secret("s3cr3t") == MASK
    assert mask_secret("a much longer secret value") == MASK
    assert mask_secret("") == ""


_PLAIN = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789.-", min_size=1, max_size=20)


@given(
    scheme=st.sampled_from(["http://", "https://", "socks5://", ""]),
    user=_PLAIN,
    password=st.text(min_size=0, max_size=30),
    host=_PLAIN,
    tail=st.sampled_from(["", ":3128", ":8080/", "/path?x=1"]),
)
def test_password_never_survives(
    scheme: str, user: str, password: str, host: str, tail: str
) -> None:
    secret = "Canary" + password  # upper-case C: never part of user or host
    url = f"{scheme}{user}:{secret}@{host}{tail}"
    masked = mask_url_credentials(url)
    assert "Canary" not in masked
    assert contains_credentials(url)
    assert masked == f"{scheme}{user}:{MASK}@{host}{tail}"


def test_scheme_lookalike_inside_password() -> None:
    # "://" inside the password must not be taken for the end of a scheme.
    assert mask_url_credentials("user:Canary://x@proxy:3128") == "user:****@proxy:3128"


@pytest.mark.parametrize(
    ("text", "masked"),
    [
        (
            "wrong proxy: http://proxyuser:Pa'Canary@proxy.corp:3128 (see ticket)",
            "wrong proxy: http://proxyuser:****@proxy.corp:3128 (see ticket)",
        ),
        (
            "(also proxyuser:Canary2@proxy2.corp:3128)",  # no scheme, as Go's proxy accepts
            "(also proxyuser:****@proxy2.corp:3128)",
        ),
        ('set "http://u:Canary@h:3128" again', 'set "http://u:****@h:3128" again'),
        ("mail ops@example.com or alice@corp", "mail ops@example.com or alice@corp"),
        ("git@github.com:org/repo.git", "git@github.com:org/repo.git"),  # no password
        ("at 10:30 all good", "at 10:30 all good"),
    ],
)
def test_mask_text_finds_credentials_in_free_text(text: str, masked: str) -> None:
    assert mask_text(text) == masked


@given(
    before=st.text(alphabet="abc ()[],;.", max_size=12),
    scheme=st.sampled_from(["http://", "https://", ""]),
    user=_PLAIN,
    password=st.text(
        # no blanks or control characters (they end a word; nobody types them into Slack)
        alphabet=st.characters(
            blacklist_categories=("Cs", "Cc", "Zs", "Zl", "Zp"), blacklist_characters='"<>'
        ),
        max_size=20,
    ),
    host=_PLAIN,
)
def test_no_password_survives_in_free_text(
    before: str, scheme: str, user: str, password: str, host: str
) -> None:
    """A reason someone typed into Slack: whatever surrounds the proxy URL, and whatever
    the password holds short of a blank, a double quote or an angle bracket."""
    secret = "Canary" + password
    text = f"{before} {scheme}{user}:{secret}@{host}:3128 done"
    assert "Canary" not in mask_text(text)
