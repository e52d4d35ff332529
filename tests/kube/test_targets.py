"""load_targets: the clusters file and the kubeconfig fallback."""

from __future__ import annotations

import os
import tempfile
from datetime import timedelta
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.errors import UserError
from bot.kube.client import KubeTarget, load_targets
from bot.kube.errors import KubeConfigError

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "clusters.yaml"


def kubeconfig(path: Path, *, current: str | None, contexts: tuple[str, ...] = ()) -> Path:
    doc: dict[str, object] = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "c", "cluster": {"server": "https://127.0.0.1:6443"}}],
        "users": [{"name": "u", "user": {"token": "t"}}],
        "contexts": [{"name": n, "context": {"cluster": "c", "user": "u"}} for n in contexts],
    }
    if current is not None:
        doc["current-context"] = current
    path.write_text(yaml.safe_dump(doc))
    return path


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """An empty HOME and no KUBECONFIG: nothing from the developer's machine leaks in."""
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.delenv("KUBECONFIG", raising=False)
    return home


def write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def test_full_file(env: Path, tmp_path: Path) -> None:
    (tmp_path / "kc").mkdir()
    kc = kubeconfig(tmp_path / "kc" / "prod.yaml", current="p")
    (env / ".kube").mkdir()
    home_kc = kubeconfig(env / ".kube" / "fleet.yaml", current=None)
    clusters = write(
        tmp_path / "clusters.yaml",
        """
clusters:
  - name: prod-a
    kubeconfig: kc/prod.yaml
    labels: {env: prod, site: fra1}
    slack: {channel: "#harvester-prod"}
  - name: prod-b
    kubeconfig: ~/.kube/fleet.yaml
    context: prod-b
    role: rancher
    slack: {channel: C0123ABCDE}
  - name: lab
    context: harvester-lab
  - name: home
    in-cluster: true
""",
    )
    assert load_targets(clusters) == [
        KubeTarget(
            name="prod-a",
            kubeconfig=kc,
            labels={"env": "prod", "site": "fra1"},
            slack_channel="#harvester-prod",
        ),
        KubeTarget(
            name="prod-b",
            kubeconfig=home_kc,
            context="prod-b",
            role="rancher",
            slack_channel="C0123ABCDE",
        ),
        KubeTarget(name="lab", context="harvester-lab"),
        KubeTarget(name="home", in_cluster=True),
    ]


def test_targets_are_immutable_and_hashable(env: Path) -> None:
    target = KubeTarget(name="a", labels={"env": "prod"})
    with pytest.raises(TypeError):
        target.labels["env"] = "dev"  # type: ignore[index]
    assert {target: 1}[KubeTarget(name="a", labels={"env": "prod"})] == 1


def test_example_file_is_valid_apart_from_missing_kubeconfigs(env: Path) -> None:
    (env / ".kube").mkdir()
    kubeconfig(env / ".kube" / "harvester-prod-a.yaml", current="x")
    kubeconfig(env / ".kube" / "harvester-fleet.yaml", current="x")
    kubeconfig(env / ".kube" / "rancher-mgmt.yaml", current="x")
    targets = load_targets(EXAMPLE)
    assert [t.name for t in targets] == ["prod-a", "prod-b", "lab", "home", "rancher"]
    assert [t.scan_interval for t in targets] == [None, None, timedelta(days=1), None, None]
    assert [t.role for t in targets][-1] == "rancher"


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ("6 hours", "'scan-interval': '6 hours' is not a duration like 90s, 15m, 6h, 7d or 2w"),
        ("4m", "'scan-interval' '4m' is shorter than 5 minutes"),
    ],
)
def test_bad_scan_interval(tmp_path: Path, value: str, problem: str) -> None:
    path = tmp_path / "clusters.yaml"
    path.write_text(f"clusters: [{{name: a, context: x, scan-interval: '{value}'}}]")
    with pytest.raises(UserError) as e:
        load_targets(path)
    assert str(e.value) == f"{path}: entry 1 (a): {problem}"


BAD = [
    ("clusters: []", "{f}: 'clusters' must be a non-empty list"),
    ("- a\n- b", "{f}: expected a mapping with only the key 'clusters'"),
    (
        "clusters: [{name: a, context: x}]\nextra: 1",
        "{f}: expected a mapping with only the key 'clusters'",
    ),
    (
        "clusters: [{name: a, context: x}, {name: b, kubeconfig: /nonexistent/kc}]",
        "{f}: entry 2 (b): 'kubeconfig' /nonexistent/kc does not exist",
    ),
    (
        "clusters: [{name: a, context: x}, {name: a, context: y}]",
        "{f}: entry 2 (a): duplicate name 'a'",
    ),
    (
        "clusters: [{context: x}]",
        "{f}: entry 1: 'name' None must be 1-63 characters of letters, digits and . _ : @ -",
    ),
    (
        "clusters: [{name: 'bad name', context: x}]",
        "{f}: entry 1: 'name' 'bad name' must be 1-63 characters of letters, digits and . _ : @ -",
    ),
    (
        "clusters: [{name: a, in-cluster: true, context: x}]",
        "{f}: entry 1 (a): 'in-cluster: true' excludes 'kubeconfig' and 'context'",
    ),
    (
        "clusters: [{name: a, in-cluster: true, kubeconfig: /x}]",
        "{f}: entry 1 (a): 'in-cluster: true' excludes 'kubeconfig' and 'context'",
    ),
    (
        "clusters: [{name: a, in-cluster: 'yes please'}]",
        "{f}: entry 1 (a): 'in-cluster' must be true or false",
    ),
    (
        "clusters: [{name: a}]",
        "{f}: entry 1 (a): needs 'kubeconfig', 'context' or 'in-cluster: true'",
    ),
    (
        "clusters: [{name: a, context: x, kubconfig: /x}]",
        "{f}: entry 1 (a): unknown key 'kubconfig' (expected: context, in-cluster, kubeconfig, "
        "labels, name, role, scan-interval, slack, vip)",
    ),
    (
        "clusters: [{name: a, context: x, role: rke}]",
        "{f}: entry 1 (a): 'role' must be one of harvester, rancher, not 'rke'",
    ),
    (
        "clusters: [{name: a, context: x, labels: {env: 1}}]",
        "{f}: entry 1 (a): label 'env' must have a string value of at most 63 characters",
    ),
    (
        "clusters: [{name: a, context: x, labels: [env]}]",
        "{f}: entry 1 (a): 'labels' must be a mapping of strings",
    ),
    (
        "clusters: [{name: a, context: x, slack: {channel: 'ops'}}]",
        "{f}: entry 1 (a): slack channel 'ops' must be '#name' or a channel id (C...)",
    ),
    (
        "clusters: [{name: a, context: x, slack: {chan: '#ops'}}]",
        "{f}: entry 1 (a): 'slack' must be a mapping with only 'channel'",
    ),
    (
        "clusters: [{name: a, context: ''}]",
        "{f}: entry 1 (a): 'context' must be a non-empty string",
    ),
    ("clusters: [a]", "{f}: entry 1: must be a mapping (name, kubeconfig, context, ...)"),
    (
        "base: &b {name: a, context: x}\nclusters: [*b]",
        "clusters file {f} uses YAML aliases (*name), which are not allowed",
    ),
    (
        "clusters: [{name: a",
        "clusters file {f} is not valid YAML at line 1: "
        "expected ',' or '}}', but got '<stream end>'",
    ),
]


@pytest.mark.parametrize(("text", "message"), BAD)
def test_invalid_files(env: Path, tmp_path: Path, text: str, message: str) -> None:
    path = write(tmp_path / "clusters.yaml", text)
    with pytest.raises(UserError) as caught:
        load_targets(path)
    assert str(caught.value) == message.format(f=path)


def test_missing_and_oversized_files(env: Path, tmp_path: Path) -> None:
    with pytest.raises(
        UserError, match=r"^clusters file .*/nope.yaml does not exist \(SECBOT_CLUSTERS_FILE\)$"
    ):
        load_targets(tmp_path / "nope.yaml")
    big = write(tmp_path / "big.yaml", "clusters: []\n" + "#" * (1024 * 1024))
    with pytest.raises(UserError) as caught:
        load_targets(big)
    assert str(caught.value) == f"clusters file {big} is larger than 1048576 bytes"


def test_not_utf8(env: Path, tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_bytes(b"clusters: [{name: \xff}]")
    with pytest.raises(UserError) as caught:
        load_targets(path)
    assert str(caught.value) == f"clusters file {path} is not UTF-8 text"


def test_no_file_uses_first_kubeconfig_with_a_current_context(
    env: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = kubeconfig(tmp_path / "a.yaml", current=None)
    second = kubeconfig(tmp_path / "b.yaml", current="harvester-b")
    third = kubeconfig(tmp_path / "c.yaml", current="harvester-c")
    missing = tmp_path / "missing.yaml"
    monkeypatch.setenv("KUBECONFIG", os.pathsep.join(map(str, [missing, first, second, third])))
    assert load_targets(None) == [KubeTarget(name="harvester-b", context="harvester-b")]


def test_no_file_uses_home_kubeconfig(env: Path) -> None:
    (env / ".kube").mkdir()
    kubeconfig(env / ".kube" / "config", current="local")
    assert load_targets(None) == [KubeTarget(name="local", context="local")]


def test_no_file_and_no_kubeconfig(env: Path) -> None:
    with pytest.raises(UserError) as caught:
        load_targets(None)
    assert str(caught.value) == (
        "no clusters configured: set SECBOT_CLUSTERS_FILE to a clusters file (see "
        "examples/clusters.yaml), or set KUBECONFIG (or ~/.kube/config) to a kubeconfig "
        "with a current context"
    )


def test_no_file_and_kubeconfig_without_current_context(env: Path) -> None:
    (env / ".kube").mkdir()
    kubeconfig(env / ".kube" / "config", current=None, contexts=("a",))
    with pytest.raises(UserError, match=r"^no clusters configured"):
        load_targets(None)


def test_broken_default_kubeconfig_names_the_file(env: Path) -> None:
    (env / ".kube").mkdir()
    path = write(env / ".kube" / "config", "clusters: {not: a list}\n")
    with pytest.raises(KubeConfigError) as caught:
        load_targets(None)
    assert str(caught.value) == f"kubeconfig {path}: 'clusters' must be a list"


# Arbitrary text, and arbitrary YAML structures, never raise anything but UserError.
_scalars = st.none() | st.booleans() | st.integers() | st.text(max_size=20)
_values = st.recursive(
    _scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4)
    ),
    max_leaves=20,
)
_keys = st.sampled_from(
    ["name", "kubeconfig", "context", "in-cluster", "labels", "slack", "role", "x"]
)
_entries = st.dictionaries(_keys, _values, max_size=6)


def _check(text: str) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "clusters.yaml"
        path.write_text(text, encoding="utf-8", errors="surrogatepass")
        try:
            targets = load_targets(path)
        except UserError as e:
            assert "\n" not in str(e)
        else:
            assert all(isinstance(t, KubeTarget) for t in targets)


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(max_size=300))
def test_arbitrary_text_only_raises_user_error(text: str) -> None:
    _check(text)


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(_entries | _values, max_size=4))
def test_arbitrary_structures_only_raise_user_error(entries: list[object]) -> None:
    _check(yaml.safe_dump({"clusters": entries}))


def test_vip_is_an_ip_address(tmp_path: Path) -> None:
    kubeconfig = tmp_path / "k.yaml"
    kubeconfig.write_text("apiVersion: v1\nkind: Config\n", encoding="utf-8")
    good = tmp_path / "good.yaml"
    good.write_text(
        f"clusters: [{{name: a, kubeconfig: {kubeconfig}, vip: '192.168.10.10'}}]\n",
        encoding="utf-8",
    )
    (target,) = load_targets(good)
    assert target.vip == "192.168.10.10"
    bad = tmp_path / "bad.yaml"
    bad.write_text(f"clusters: [{{name: a, kubeconfig: {kubeconfig}, vip: vip.example}}]\n")
    with pytest.raises(UserError) as caught:
        load_targets(bad)
    assert str(caught.value) == f"{bad}: entry 1 (a): 'vip' 'vip.example' is not an IP address"
