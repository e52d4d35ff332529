"""Regression tests from the security review.

Aspects: `get setting` hides a broken-JSON value that may hold a password, folds key
names like Go does, hides Rancher's import token; the operator gate and the parser read
the same subcommand however the text is padded; a kubeconfig token with a newline is
refused without echoing it; a YAML scalar alias repeated many times is refused.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.kube.client import KubeClient, KubeTarget, Timeouts
from bot.kube.errors import KubeConfigError
from bot.slack.commands import parse, subcommand_of
from bot.slack.listeners.live import mask_setting
from bot.sources.yamlsafe import DocumentError, load_documents
from tests.fakes.kube_api import FakeKubeAPI


def test_get_setting_masks_what_it_cannot_parse() -> None:
    broken = '{"Configs":{"reg":{"Auth":{"Username":"u","Password":"CANARY-pw"}}}'
    assert mask_setting(broken) == "****"
    folded = '{"Configs":{"reg":{"Auth":{"Username":"u","Pa\u017f\u017fword":"CANARY-pw"}}}}'
    assert "CANARY-pw" not in (mask_setting(folded) or "")
    url = "https://rancher.example.com/v3/import/q8xk8hTOKEN_c-m-abcd1234.yaml"
    assert mask_setting(url) == "https://rancher.example.com/v3/import/****"


@pytest.mark.parametrize("pad", ["\u3000", " ", "\x1c", "\x85"])
def test_gate_and_parser_agree_on_padded_text(pad: str) -> None:
    text = pad * 3997 + "scan"
    assert subcommand_of(text) == type(parse(text)).__name__.lower() == "scan"


def test_token_with_a_newline_is_refused_without_echo(tmp_path: Path) -> None:
    with FakeKubeAPI() as api:
        kubeconfig = api.write_kubeconfig(tmp_path / "k.yaml", token="SECRET-TOKEN-xyz\nfoo")
        target = KubeTarget(name="c1", kubeconfig=kubeconfig)
        client = KubeClient.connect(target, timeouts=Timeouts(connect=1, read=2, retries=0))
        with pytest.raises(KubeConfigError) as raised:
            client.version()
    assert "SECRET-TOKEN" not in str(raised.value)
    assert raised.value.__cause__ is None and raised.value.__suppress_context__


def test_repeated_scalar_alias_is_refused() -> None:
    text = 'a: &x "' + "A" * 100_000 + '"\nb: [' + ", ".join(["*x"] * 2000) + "]\n"
    with pytest.raises(DocumentError):
        list(load_documents(text))


def test_oem_proxy_value_cut_inside_a_password_is_masked_whole() -> None:
    from bot.checks.node_evidence import proxy_assignments

    assert proxy_assignments('Environment=HTTP_PROXY=http://user:Se"cret@proxy:3128') == {
        "HTTP_PROXY": "****"
    }
    assert proxy_assignments('    HTTPS_PROXY: "http://user:pa #ss@proxy:3128"') == {
        "HTTPS_PROXY": "****"
    }
    assert proxy_assignments("    HTTP_PROXY: http://user:pw@proxy:3128") == {
        "HTTP_PROXY": "http://user:****@proxy:3128"
    }


def test_ssl_certificates_key_hidden_by_json_escapes_is_redacted(tmp_path: Path) -> None:
    import json
    from datetime import UTC, datetime

    from bot.sources.manifests import read_manifests

    key = "-----BEGIN EC PRIVATE KEY-----\nCANARYKEYBODY\n-----END EC PRIVATE KEY-----\n"
    value = json.dumps({"publicCertificate": "", "privateKey": key}).replace(
        "-----BEGIN", "\\u002d----BEGIN"
    )
    setting = {
        "apiVersion": "harvesterhci.io/v1beta1",
        "kind": "Setting",
        "metadata": {"name": "ssl-certificates"},
        "value": value,
    }
    path = tmp_path / "s.json"
    path.write_text(json.dumps(setting), encoding="utf-8")
    snap = read_manifests([path], cluster="c", scanned_at=datetime(2026, 6, 1, tzinfo=UTC))
    assert "CANARYKEYBODY" not in repr(snap)
