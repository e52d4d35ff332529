"""bot.kube.yamlfile: the C and pure-Python loaders read the same documents, and both
refuse aliases and absurd nesting before anything is composed."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.kube.yamlfile import MAX_DEPTH, YamlFileError, parse_yaml, read_yaml_file

# libyaml and PyYAML fold the exotic line breaks (NEL, LS, PS) inside quoted scalars
# differently; no kubeconfig holds control characters, so the texts leave them out.
chars = st.characters(blacklist_categories=("Cc", "Cs", "Zl", "Zp"))
keys = st.text(chars, min_size=1, max_size=12)
scalars = st.none() | st.booleans() | st.integers() | st.text(chars, max_size=40)
documents = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(keys, inner, max_size=4),
    max_leaves=30,
)


@settings(max_examples=150, deadline=None)
@given(doc=documents, flow=st.booleans())
def test_both_loaders_read_what_safe_dump_wrote(doc: Any, flow: bool) -> None:
    text = yaml.safe_dump(doc, default_flow_style=flow, allow_unicode=True)
    assert parse_yaml(text) == parse_yaml(text, c_loader=False) == doc


@pytest.mark.parametrize("c_loader", [True, False])
@pytest.mark.parametrize(
    "text",
    [
        "a: &x {k: v}\nb: *x\n",
        "a: &x [1, 2]\nb: [*x, *x]\n",
        "a: &s long-scalar\nb: *s\n",
    ],
)
def test_aliases_are_refused(text: str, c_loader: bool) -> None:
    with pytest.raises(YamlFileError, match=r"^uses YAML aliases \(\*name\), which are not"):
        parse_yaml(text, c_loader=c_loader)


@pytest.mark.parametrize("c_loader", [True, False])
def test_nesting_is_bounded(c_loader: bool) -> None:
    ok = "[" * MAX_DEPTH + "]" * MAX_DEPTH
    assert parse_yaml(ok, c_loader=c_loader) is not None
    deep = "[" * (MAX_DEPTH + 1) + "]" * (MAX_DEPTH + 1)
    with pytest.raises(YamlFileError, match=f"^nests deeper than {MAX_DEPTH} levels$"):
        parse_yaml(deep, c_loader=c_loader)
    hostile = "[" * 100_000  # would exhaust the C composer's stack if composed
    with pytest.raises(YamlFileError, match="nests deeper"):
        parse_yaml(hostile, c_loader=c_loader)


@pytest.mark.parametrize("c_loader", [True, False])
@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("clusters: [\n", "is not valid YAML at line 2: expected the node content, but found"),
        ("a: [{b: c\n", "is not valid YAML at line 2: expected ',' or '}', but got"),
        ("when: 2024-02-30\n", "is not valid YAML: day is out of range for month"),
        ("a: b\n---\nc: d\n", "is not valid YAML at line 2: but found another document"),
    ],
)
def test_errors_say_the_same_whichever_loader(text: str, message: str, c_loader: bool) -> None:
    with pytest.raises(YamlFileError) as caught:
        parse_yaml(text, c_loader=c_loader)
    assert str(caught.value).startswith(message)


def test_files(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    with pytest.raises(YamlFileError, match=r"^does not exist$"):
        read_yaml_file(path, max_bytes=100)
    path.write_bytes(b"a: 1\n" * 30)
    with pytest.raises(YamlFileError, match=r"^is larger than 100 bytes$"):
        read_yaml_file(path, max_bytes=100)
    path.write_bytes(b"a: \xff\n")
    with pytest.raises(YamlFileError, match=r"^is not UTF-8 text$"):
        read_yaml_file(path, max_bytes=100)
    path.write_text("a: [1, 2]\n")
    assert read_yaml_file(path, max_bytes=100) == {"a": [1, 2]}
