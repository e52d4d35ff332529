"""Safe YAML/JSON loading for untrusted input.

Kubernetes output never uses YAML anchors or aliases, so any alias is refused: that closes
the "billion laughs" expansion. Sizes are bounded by the callers (they read at most a
configured number of bytes). Support bundles rewrite empty strings and nulls to the string
"null" (reference/harvester.md §4, rewriting quirk); ``denull`` turns them back.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import yaml

try:  # the C loader is ~10x faster on big List files
    _Base: type[yaml.SafeLoader] = yaml.CSafeLoader  # type: ignore[assignment,misc]
except AttributeError:  # pragma: no cover - pure-Python PyYAML builds
    _Base = yaml.SafeLoader


class DocumentError(ValueError):
    """The text is not valid YAML/JSON, or uses a construct we refuse."""


def _pure_loader() -> type[yaml.SafeLoader]:
    # The C loader composes nodes in C and never calls compose_node, so the alias guard
    # needs the Python composer: use SafeLoader (Python) whenever the text has an alias.
    class Loader(yaml.SafeLoader):
        def compose_node(self, parent: Any, index: Any) -> Any:
            if self.check_event(yaml.AliasEvent):
                event = self.peek_event()
                raise DocumentError(
                    f"YAML aliases are not allowed (line {event.start_mark.line + 1}); "
                    "Kubernetes output never uses them"
                )
            return super().compose_node(parent, index)

    return Loader


def _may_have_alias(text: str) -> bool:
    return "*" in text or "&" in text


def load_documents(text: str) -> Iterator[Any]:
    """Yield every document of a YAML (or JSON) text; raise DocumentError if malformed."""
    stripped = text.lstrip()
    if stripped.startswith(("{", "[")):
        try:
            yield json.loads(text)
            return
        except json.JSONDecodeError:
            pass  # YAML flow style is a superset; fall through
    loader = _pure_loader() if _may_have_alias(text) else _Base
    try:
        yield from yaml.load_all(text, Loader=loader)  # noqa: S506 - Safe/CSafe loader
    except DocumentError:
        raise
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        problem = getattr(e, "problem", None) or type(e).__name__
        raise DocumentError(f"not valid YAML{where}: {problem}") from e
    except RecursionError as e:
        raise DocumentError("YAML nests too deeply") from e


def denull(obj: Any) -> Any:
    """Replace the bundle's "null" strings by None, recursively."""
    if isinstance(obj, str):
        return None if obj == "null" else obj
    if isinstance(obj, dict):
        return {k: denull(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [denull(v) for v in obj]
    return obj
