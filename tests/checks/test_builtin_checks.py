"""One test walks the registry and the fixture tree (checkov/ansible-lint style).

Aspects: every check has pass and fail fixtures and documentation; a fail fixture yields
exactly the declared findings (severity and resource), a pass fixture none, an unknown
fixture an UNKNOWN result and no finding.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.checks.registry import builtin_checks, get_check
from bot.checks.runner import run_checks
from tests.checks import fixtures

CASES = fixtures.cases()


def _outcome(name: str) -> str:
    stem = name.split(".", 1)[0]
    return stem.rsplit("-", 1)[-1]


@pytest.mark.parametrize(("check_id", "path"), CASES, ids=[f"{c}:{p.name}" for c, p in CASES])
def test_fixture(check_id: str, path: Path) -> None:
    check = get_check(check_id)
    run = run_checks(fixtures.load(path), [check])
    got = {(f.severity.value, f.resource.key) for f in run.findings}
    outcome = _outcome(path.name)
    if outcome == "fail":
        want = fixtures.expected(path)
        assert want, f"{path} declares no '# expect:' lines"
        assert got == want
        assert not run.unknowns
    elif outcome == "pass":
        assert got == set()
        assert not run.unknowns, run.unknowns
    elif outcome == "unknown":
        assert got == set()
        assert [u.check_id for u in run.unknowns] == [check_id]
    else:
        pytest.fail(f"fixture name {path.name} must end in -pass, -fail or -unknown")


@pytest.mark.parametrize("check", builtin_checks(), ids=lambda c: c.id)
def test_check_has_fixtures_and_docs(check: object) -> None:
    from bot.checks.base import Check

    assert isinstance(check, Check)
    folder = fixtures.ROOT / check.id
    names = [p.name for p in folder.iterdir()] if folder.is_dir() else []
    assert any(_outcome(n) == "pass" for n in names), f"{check.id}: no pass fixture"
    assert any(_outcome(n) == "fail" for n in names), f"{check.id}: no fail fixture"
    doc = check.doc()
    assert check.title and check.summary()
    for section in ("Bad:", "Good:", "Source:"):
        assert section in doc, f"{check.id} docstring lacks {section!r}"


def test_ids_are_unique_slugs() -> None:
    ids = [c.id for c in builtin_checks()]
    assert len(ids) == len(set(ids))
    for check_id in ids:
        assert check_id == check_id.lower() and " " not in check_id
