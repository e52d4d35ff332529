"""Hide secrets before text leaves the engine: proxy URLs with credentials, tokens.

Used by checks (evidence), output and Slack. Pure string functions; only the standard library.
The parsing is deliberately looser than a URL parser: anything that might be user info is
masked, because over-masking costs a little readability while under-masking leaks a
password (a proxy URL with a ``/`` in its password is not a valid URL, but it is still a
password).
"""

from __future__ import annotations

import re

MASK = "****"
_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://")  # RFC 3986 scheme, only at the start


def _split_userinfo(url: str) -> tuple[str, str, str] | None:
    """Return (scheme part, user info, rest) or None when the URL has no user info.

    The scheme part keeps its ``://``; ``rest`` starts after the last ``@`` so that an
    ``@`` inside the password cannot leave the tail of the password visible.
    """
    scheme = _SCHEME.match(url)
    start = scheme.end() if scheme else 0
    at = url.rfind("@")
    if at <= start:  # no "@", or nothing before it
        return None
    return url[:start], url[start:at], url[at + 1 :]


def mask_url_credentials(url: str) -> str:
    """Mask the password of a URL: ``http://user:****@host:3128``.

    User info without a colon is masked whole (``http://****@host``): a lone user name
    is often a token. URLs without user info come back unchanged.
    """
    parts = _split_userinfo(url)
    if parts is None:
        return url
    prefix, userinfo, rest = parts
    user, colon, _password = userinfo.partition(":")
    # A "user" part that contains URL delimiters means we cannot tell user from host or
    # path, so nothing of it is shown.
    if not colon or not user or any(c in user for c in "/?#"):
        return f"{prefix}{MASK}@{rest}"
    return f"{prefix}{user}:{MASK}@{rest}"


def contains_credentials(url: str) -> bool:
    """True when ``url`` carries user info (``user:password@`` or ``token@``)."""
    return _split_userinfo(url) is not None


def mask_secret(value: str) -> str:
    """Replace a secret with a fixed mask; the length is not revealed."""
    return MASK if value else ""


# A URL runs to the next blank, double quote or angle bracket: a "'" is legal in user
# info (a sub-delim) and so may be part of a password.
_URL_IN_TEXT = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://[^\s\"<>]+")
_WORD = re.compile(r"[^\s\"<>]+")


def _bare(word: str) -> str:
    """``user:password@host`` without a scheme (Go's proxy settings accept it): masked
    like a URL. ``user@host`` (an e-mail address) has no password and stays."""
    at = word.rfind("@")
    if at <= 0 or "://" in word or MASK in word or ":" not in word[:at]:
        return word
    return mask_url_credentials(word)


def mask_text(text: str) -> str:
    """Mask the credentials of every URL in free text (coverage notes, errors, reasons),
    and of ``user:password@host`` written without a scheme."""
    text = _URL_IN_TEXT.sub(lambda m: mask_url_credentials(m.group(0)), text)
    return _WORD.sub(lambda m: _bare(m.group(0)), text)
