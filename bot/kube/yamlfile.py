"""Small YAML files an operator writes (kubeconfigs, the clusters file): read fast, checked.

A Rancher kubeconfig for a few hundred clusters is about half a megabyte, which PyYAML's
pure-Python loader takes most of a second to read; libyaml's C loader reads it in a few
hundredths. The C composer cannot be told to refuse aliases, so the parser's events are
scanned first (iteratively, in C): an alias ("billion laughs") or nesting deeper than
MAX_DEPTH (the C composer recurses) is refused before anything is composed. Without
libyaml the same checks run on the pure-Python parser's events.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from bot.kube.errors import scrub

# Hand-written configs nest a handful of levels (an exec plugin's env list: 5).
MAX_DEPTH = 64


class YamlFileError(ValueError):
    """A small config file is missing, too big, not YAML, uses aliases or nests absurdly."""


_C_LOADER: Any = getattr(yaml, "CSafeLoader", None)


def _checked(text: str, loader: Any) -> None:
    """Refuse aliases and deep nesting from the parser's events, before composing."""
    depth = 0
    for event in yaml.parse(text, Loader=loader):
        if isinstance(event, yaml.AliasEvent):
            raise YamlFileError("uses YAML aliases (*name), which are not allowed")
        if isinstance(event, yaml.CollectionStartEvent):
            depth += 1
            if depth > MAX_DEPTH:
                raise YamlFileError(f"nests deeper than {MAX_DEPTH} levels")
        elif isinstance(event, yaml.CollectionEndEvent):
            depth -= 1


def _load(text: str, loader: Any) -> Any:
    _checked(text, loader)
    return yaml.load(text, Loader=loader)  # a safe loader: SafeLoader or CSafeLoader


def parse_yaml(text: str, *, c_loader: bool = True) -> Any:
    """One YAML document; YamlFileError (one line, no content quoted) if it is not one.

    ``c_loader=False`` forces the pure-Python loader (tests compare the two).
    """
    if c_loader and _C_LOADER is not None:
        try:
            return _load(text, _C_LOADER)
        except YamlFileError:
            raise
        except (yaml.YAMLError, RecursionError, ValueError, TypeError, OverflowError):
            pass  # broken: the pure-Python loader says where, in its own (clearer) words
    try:
        return _load(text, yaml.SafeLoader)
    except YamlFileError:
        raise
    except yaml.MarkedYAMLError as e:
        where = f" at line {e.problem_mark.line + 1}" if e.problem_mark else ""
        raise YamlFileError(f"is not valid YAML{where}: {e.problem or 'syntax error'}") from None
    except (yaml.YAMLError, RecursionError, ValueError, TypeError, OverflowError) as e:
        # YAMLError without a mark; constructors fail on bad dates or absurd numbers.
        raise YamlFileError(f"is not valid YAML: {scrub(str(e))}") from None


def read_text(path: Path, *, max_bytes: int) -> str:
    """The UTF-8 text of ``path`` (at most ``max_bytes``); YamlFileError if it cannot be."""
    try:
        with path.open("rb") as f:
            raw = f.read(max_bytes + 1)
    except FileNotFoundError:
        raise YamlFileError("does not exist") from None
    except OSError as e:
        raise YamlFileError(f"cannot be read ({e.strerror or type(e).__name__})") from None
    if len(raw) > max_bytes:
        raise YamlFileError(f"is larger than {max_bytes} bytes")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise YamlFileError("is not UTF-8 text") from None


def read_yaml_file(path: Path, *, max_bytes: int) -> Any:
    """Parse one YAML document from ``path`` (at most ``max_bytes``); YamlFileError if not."""
    return parse_yaml(read_text(path, max_bytes=max_bytes))
