"""Safe YAML/JSON loading for untrusted input.

Kubernetes output never uses YAML anchors and aliases, so a document with an alias is
refused: that closes the "billion laughs" expansion, and also the flat one (a million
aliases to one long string, harmless while shared, gigabytes once anything turns the values
back into text). An alias ("*name") needs an anchor ("&name"), so only a text containing
both "&" and "*" gets a cheap event scan for aliases before it is composed (about a third
of the time the loader takes). As a second line of defence every document is checked for
shared containers and long strings (and for absurd nesting) before it is handed out, and
strings that are not valid Unicode (a lone UTF-16 surrogate from a JSON escape, which no
encoder downstream accepts) are refused too. Sizes are bounded by the callers (they read at
most a configured number of bytes). Support bundles rewrite empty strings and nulls to the
string "null" (reference/harvester.md §4, rewriting quirk); ``denull`` turns them back.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import yaml

try:  # the C loader is ~10x faster on big List files
    _Loader: type[yaml.SafeLoader] = yaml.CSafeLoader  # type: ignore[assignment]
except AttributeError:  # pragma: no cover - pure-Python PyYAML builds
    _Loader = yaml.SafeLoader

# Kubernetes objects nest ~20 levels (managedFields, CRD schemas ~40); deeper is hostile
# and would also exhaust Python's recursion limit in recursive walkers such as ``denull``.
MAX_DEPTH = 100
_NOT_JSON = object()


class DocumentError(ValueError):
    """The text is not valid YAML/JSON, or uses a construct we refuse."""


_BIG_SCALAR = 1024  # a string this long seen twice (same object) came from an alias
ALIASES = "YAML aliases are not allowed (Kubernetes output never uses them)"
SURROGATE = "the document contains a lone UTF-16 surrogate (not valid Unicode)"


def _check_text(text: str) -> None:
    """Refuse a string that no UTF-8 encoder (output, store) would accept."""
    if not text.isascii():
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            raise DocumentError(SURROGATE) from None


def _inspect(doc: Any) -> None:
    """Refuse documents whose containers or long strings are shared (aliases), that nest
    too deeply, or that hold strings which are not valid Unicode. A scalar alias repeated
    thousands of times expands when anything serialises or decodes it, so long shared
    strings count as aliases too (``_refuse_aliases`` normally refused them already)."""
    seen: set[int] = set()
    strings: set[int] = set()
    stack: list[tuple[Any, int]] = [(doc, 0)]
    while stack:
        obj, depth = stack.pop()
        if isinstance(obj, str):
            _check_text(obj)
            if len(obj) >= _BIG_SCALAR:
                if id(obj) in strings:
                    raise DocumentError(ALIASES)
                strings.add(id(obj))
            continue
        if isinstance(obj, dict):
            for key in obj:
                if isinstance(key, str):
                    _check_text(key)
            children: Any = obj.values()
        elif isinstance(obj, list):
            children = obj
        else:
            continue
        if id(obj) in seen:
            raise DocumentError(ALIASES)
        seen.add(id(obj))
        if depth >= MAX_DEPTH:
            raise DocumentError(f"the document nests deeper than {MAX_DEPTH} levels")
        stack.extend(
            (child, depth + 1) for child in children if isinstance(child, dict | list | str)
        )


def _refuse_aliases(text: str) -> None:
    """Raise DocumentError if the YAML text uses an alias. Events only (nothing is composed),
    with the same loader that will compose the text, so both read it alike."""
    if "&" not in text or "*" not in text:  # an alias is "*name", of an anchor "&name"
        return
    try:
        for event in yaml.parse(text, Loader=_Loader):
            if isinstance(event, yaml.AliasEvent):
                raise DocumentError(ALIASES)
    except yaml.YAMLError:
        # The loader stops at the same place and says why; the documents before it (their
        # aliases were seen above) are still read, as for a text without "&".
        return


def _json(text: str) -> Any:
    """The parsed JSON document, or _NOT_JSON so that YAML gets a try."""
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return _NOT_JSON  # YAML flow style is a superset; fall through
    except (ValueError, RecursionError) as e:  # e.g. an integer of 5000 digits
        raise DocumentError(f"not valid JSON: {e}") from e


def load_documents(text: str) -> Iterator[Any]:
    """Yield every document of a YAML (or JSON) text; raise DocumentError if malformed."""
    if text.lstrip().startswith(("{", "[")):
        doc = _json(text)
        if doc is not _NOT_JSON:
            _inspect(doc)
            yield doc
            return
    try:
        _refuse_aliases(text)
        for doc in yaml.load_all(text, Loader=_Loader):  # safe loaders only (see _Loader)
            _inspect(doc)
            yield doc
    except DocumentError:
        raise
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        problem = getattr(e, "problem", None) or type(e).__name__
        raise DocumentError(f"not valid YAML{where}: {problem}") from e
    except RecursionError as e:
        raise DocumentError("YAML nests too deeply") from e
    except (ValueError, TypeError, OverflowError) as e:  # constructors: bad dates, huge ints
        raise DocumentError(f"not valid YAML: {e}") from e


def denull(obj: Any) -> Any:
    """Replace the bundle's "null" strings by None, recursively."""
    if isinstance(obj, str):
        return None if obj == "null" else obj
    if isinstance(obj, dict):
        return {k: denull(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [denull(v) for v in obj]
    return obj
