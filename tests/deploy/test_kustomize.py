"""The test renderer (kustomize.py) against ``kubectl kustomize``, and its own rules."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.deploy.kustomize import KustomizeError, apply_op, identity, render
from tests.deploy.manifests import EVERY, KUBECTL, KUSTOMIZE, kubectl_render


@pytest.mark.skipif(KUBECTL is None, reason="kubectl is not installed on this machine")
@pytest.mark.parametrize("overlay", EVERY)
def test_the_renderer_matches_kubectl_kustomize(overlay: str) -> None:
    ours = sorted((identity(o), o) for o in render(KUSTOMIZE / overlay))
    theirs = sorted((identity(o), o) for o in kubectl_render(KUSTOMIZE / overlay))
    assert [k for k, _ in ours] == [k for k, _ in theirs]
    for (key, mine), (_, kubectl) in zip(ours, theirs, strict=True):
        assert mine == kubectl, key


def test_json_patch_operations() -> None:
    doc = {"spec": {"list": [1, 2], "map": {"a": 1}}}
    apply_op(doc, {"op": "add", "path": "/spec/list/-", "value": 3})
    apply_op(doc, {"op": "add", "path": "/spec/list/0", "value": 0})
    apply_op(doc, {"op": "replace", "path": "/spec/map/a", "value": 2})
    apply_op(doc, {"op": "add", "path": "/spec/map/b~1c", "value": "x"})
    apply_op(doc, {"op": "remove", "path": "/spec/list/1"})
    assert doc == {"spec": {"list": [0, 2, 3], "map": {"a": 2, "b/c": "x"}}}
    with pytest.raises(KustomizeError, match="nothing to replace"):
        apply_op(doc, {"op": "replace", "path": "/spec/missing", "value": 1})
    with pytest.raises(KustomizeError, match="unsupported patch op"):
        apply_op(doc, {"op": "move", "from": "/spec/map", "path": "/x"})


def _write(folder: Path, kustomization: str, **files: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "kustomization.yaml").write_text(kustomization)
    for name, text in files.items():
        (folder / name).write_text(text)
    return folder


CM = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c, namespace: n}\ndata: {a: '1'}\n"


def test_unsupported_fields_and_bad_targets_are_errors(tmp_path: Path) -> None:
    head = "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\n"
    bad = _write(tmp_path / "a", head + "resources: [cm.yaml]\nnamespace: x\n", **{"cm.yaml": CM})
    with pytest.raises(KustomizeError, match="unsupported fields"):
        render(bad)
    none = _write(
        tmp_path / "b",
        head
        + "resources: [cm.yaml]\npatches:\n- target: {kind: Secret}\n"
        + "  patch: '[{op: add, path: /data/b, value: x}]'\n",
        **{"cm.yaml": CM},
    )
    with pytest.raises(KustomizeError, match="matches nothing"):
        render(none)
    twice = _write(
        tmp_path / "c",
        head + "resources: [cm.yaml, again.yaml]\n",
        **{
            "cm.yaml": CM,
            "again.yaml": CM,
        },
    )
    with pytest.raises(KustomizeError, match="defined twice"):
        render(twice)
