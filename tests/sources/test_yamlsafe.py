"""Safe YAML/JSON loading and the bundle "null" quirk.

Aspects: every alias is refused quickly (shared collections: billion laughs, recursion;
shared scalars: a million aliases to one long string), anchors alone and "&" in text are
fine, and a later syntax error still yields the documents before it; absurd nesting and
strings that are not valid Unicode (lone surrogates) are refused; bad constructor input
(dates, huge integers) is a DocumentError; multi-document and JSON texts load; ``denull``
undoes the support-bundle rewrite and is idempotent; arbitrary text either loads or raises
DocumentError, nothing else.
"""

from __future__ import annotations

import time
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.sources.yamlsafe import MAX_DEPTH, DocumentError, denull, load_documents

ALIASES = "YAML aliases are not allowed (Kubernetes output never uses them)"


def load(text: str) -> list[Any]:
    return list(load_documents(text))


def test_billion_laughs_is_refused_fast() -> None:
    lines = ['a0: &a0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    lines += [f"a{i}: &a{i} [{','.join([f'*a{i - 1}'] * 9)}]" for i in range(1, 60)]
    started = time.monotonic()
    with pytest.raises(DocumentError) as err:
        load("\n".join(lines))
    assert str(err.value) == ALIASES
    assert time.monotonic() - started < 1


@pytest.mark.parametrize(
    "text",
    [
        "&a [*a]",  # a list that contains itself
        "base: &b {k: v}\nother: *b\n",  # one mapping in two places
        "x: &m {k: v}\ny:\n  <<: *m\n  z: [*m]\n",
    ],
)
def test_shared_collections_are_refused(text: str) -> None:
    with pytest.raises(DocumentError, match=r"^YAML aliases are not allowed"):
        load(text)


@pytest.mark.parametrize(
    "text",
    [
        "a: &x hello\nb: *x\n",
        # 1023 characters: just under the size at which shared strings count as aliases;
        # 200,000 aliases of it are 200 MB once anything writes the value back as text
        "annotations: {big: &a " + "x" * 1023 + "}\nvalue: [" + ", ".join(["*a"] * 200_000) + "]\n",
        "ok: 1\n---\nlater: &a [1]\nagain: *a\n",
    ],
)
def test_scalar_aliases_are_refused(text: str) -> None:
    with pytest.raises(DocumentError) as err:
        load(text)
    assert str(err.value) == ALIASES


def test_anchors_without_aliases_and_ampersands_in_text_load() -> None:
    assert load("a: &x hello\nb: x\nurl: http://h/?p=1&q=2\n") == [
        {"a": "hello", "b": "x", "url": "http://h/?p=1&q=2"}
    ]


def test_documents_before_a_syntax_error_are_still_read() -> None:
    """The alias scan stops where the loader will; it does not cost the documents before."""
    docs = load_documents("a: &x 1\n---\nb: 2\n---\n: : bad [\n")
    assert next(docs) == {"a": 1}
    assert next(docs) == {"b": 2}
    with pytest.raises(DocumentError, match=r"^not valid YAML at line 5"):
        next(docs)


@pytest.mark.parametrize(
    "text",
    [
        '{"kind": "Event", "message": "cert expires \\ud800 soon"}',
        '{"kind": "Event", "metadata": {"labels": {"k\\udc00": "v"}}}',
        '[{"items": ["\\udfff"]}]',
    ],
)
def test_lone_surrogates_are_refused(text: str) -> None:
    """JSON may escape half of a UTF-16 pair; no UTF-8 writer (table, store) accepts it."""
    with pytest.raises(DocumentError) as err:
        load(text)
    assert str(err.value) == "the document contains a lone UTF-16 surrogate (not valid Unicode)"


def test_valid_unicode_loads() -> None:
    assert load('{"m": "Gr\\u00fc\\u00dfe \\ud83d\\ude00"}') == [{"m": "Grüße \U0001f600"}]
    assert load("m: Grüße 😀\n") == [{"m": "Grüße 😀"}]


def test_deep_nesting_is_refused() -> None:
    with pytest.raises(DocumentError) as err:
        load("[" * (MAX_DEPTH + 1) + "]" * (MAX_DEPTH + 1))
    assert str(err.value) == f"the document nests deeper than {MAX_DEPTH} levels"
    with pytest.raises(DocumentError):
        load("a:\n" + "".join("  " * i + "b:\n" for i in range(1, MAX_DEPTH + 2)))
    assert load("[" * 20 + "]" * 20)  # Kubernetes depth is fine


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("when: 2023-13-45\n", "not valid YAML: month must be in 1..12"),
        (
            '{"n": ' + "9" * 5000 + "}",
            "not valid JSON: Exceeds the limit (4300 digits) for "
            "integer string conversion: value has 5000 digits; use sys.set_int_max_str_digits() "
            "to increase the limit",
        ),
        (
            "a: !!python/object:os.system x\n",
            "not valid YAML at line 1: could not determine a constructor for the tag "
            "'tag:yaml.org,2002:python/object:os.system'",
        ),
        ("a: b: c\n", "not valid YAML at line 1: mapping values are not allowed in this context"),
    ],
)
def test_bad_input_is_a_document_error(text: str, message: str) -> None:
    with pytest.raises(DocumentError) as err:
        load(text)
    assert str(err.value) == message


def test_documents_and_json() -> None:
    assert load("a: 1\n---\n# only a comment\n---\nb: [x]\n") == [{"a": 1}, None, {"b": ["x"]}]
    assert load('{"kind": "List", "items": []}') == [{"kind": "List", "items": []}]
    assert load("{kind: List}") == [{"kind": "List"}]  # YAML flow style, not JSON
    assert load("") == []


def test_denull_undoes_the_bundle_rewrite() -> None:
    raw = {
        "value": "null",
        "default": "{}",
        "status": {"conditions": [{"message": "null", "reason": "Ready", "count": 3}]},
        "items": ["null", "x", None],
    }
    assert denull(raw) == {
        "value": None,
        "default": "{}",
        "status": {"conditions": [{"message": None, "reason": "Ready", "count": 3}]},
        "items": [None, "x", None],
    }
    assert denull("Null") == "Null" and denull('"null"') == '"null"'


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.sampled_from(["null", "", "x", "NULL"])
    | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=5), inner, max_size=4)
    ),
    max_leaves=20,
)


@given(json_values)
def test_denull_is_idempotent(value: Any) -> None:
    once = denull(value)
    assert denull(once) == once
    assert "null" not in (once if isinstance(once, list) else [once])


YAMLISH = st.text(
    alphabet=st.sampled_from(list("ab:-[]{},&*!|>'\"#%@ \n\t\\0123?.~")) | st.characters(),
    max_size=200,
)


@settings(max_examples=400, deadline=None)
@given(YAMLISH)
def test_arbitrary_text_loads_or_raises_document_error(text: str) -> None:
    try:
        docs = load(text)
    except DocumentError:
        return
    for doc in docs:
        denull(doc)  # whatever loads can be walked: no shared or too-deep structure
