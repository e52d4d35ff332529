"""``get setting NAME [cluster]``: a live read of one Harvester setting, secrets masked.

The read runs on the worker (a cluster may take seconds to answer). Before anything is
shown, ``mask_setting`` removes what must never reach Slack (reference/harvester.md §2):

* ``http-proxy``: the credentials in the proxy URLs (``http://user:****@proxy:3128``);
* ``ssl-certificates``: ``privateKey``;
* ``containerd-registry``: ``Password``, ``Auth`` and ``IdentityToken`` of every
  registry (and of the deprecated ``Auths`` map);

and, for any setting, as a safety net: every JSON key that names a secret (password,
private key, token, secret, auth) and every URL's user info. A value that is not JSON
but holds a PEM private key is replaced whole.
"""

from __future__ import annotations

import json
import re
from typing import Any

from bot.core.masking import MASK, mask_url_credentials
from bot.errors import UserError
from bot.kube.errors import KubeError, KubeNotFound
from bot.slack.blocks.settings import setting_message
from bot.slack.command_types import GetSetting
from bot.slack.listeners.changes import target_named
from bot.slack.listeners.outcome import Later, Request
from bot.slack.worker import Message

SETTINGS_API = "harvesterhci.io/v1beta1"
# Key names (lower-cased, "-" and "_" removed) whose values are secrets wherever they are.
_SECRET_KEY = re.compile(r"password|passwd|privatekey|token|secret|credential|^auth$|apikey")
_PRIVATE_KEY = re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----")
# Rancher's cluster-registration-url carries the import token in its path.
_IMPORT_TOKEN = re.compile(r"(/v3/import/)[^/\s\"]+")


def _secret_key(key: str) -> bool:
    # casefold, not lower: Go's JSON decoder folds the long s (U+017F) onto "s" too.
    return bool(_SECRET_KEY.search(key.casefold().replace("-", "").replace("_", "")))


def _mask_text(text: str) -> str:
    return _IMPORT_TOKEN.sub(r"\1****", mask_url_credentials(text))


def _mask(doc: Any, *, secret: bool = False) -> Any:
    """``doc`` with secrets masked; ``secret``: ``doc`` sits under a secret-named key."""
    if isinstance(doc, dict):
        # An object under a secret-named key (the containerd Configs.<host>.Auth struct)
        # is walked field by field, so its Username still shows.
        return {
            mask_url_credentials(str(k)): _mask(v, secret=_secret_key(str(k)))
            for k, v in doc.items()
        }
    if isinstance(doc, list):
        return [_mask(v, secret=secret) for v in doc]
    if isinstance(doc, str):
        if (secret and doc) or _PRIVATE_KEY.search(doc):
            return MASK
        return _mask_text(doc)
    if secret and isinstance(doc, int | float) and not isinstance(doc, bool):
        return MASK
    return doc


def mask_setting(value: str | None) -> str | None:
    """The setting text with every secret in it replaced by ``****``."""
    if not value:
        return value
    try:
        doc = json.loads(value)
    except ValueError:
        # Broken JSON cannot be walked key by key, and it may hold a password (a
        # containerd-registry value with one brace missing): show none of it.
        if _PRIVATE_KEY.search(value) or value.lstrip()[:1] in ("{", "["):
            return MASK
        return _mask_text(value)
    if not isinstance(doc, dict | list | str):
        return value
    return json.dumps(_mask(doc), ensure_ascii=False)


def get_setting(command: GetSetting, r: Request) -> Later:
    s = r.services
    target = target_named(command.cluster, s.load_targets(), subcommand="get", command=s.command)

    def job() -> Message:
        try:
            client = s.connect(target)
            try:
                obj = client.get(api_version=SETTINGS_API, kind="Setting", name=command.name)
            finally:
                client.close()
        except KubeNotFound:
            raise UserError(f"{target.name} has no setting {command.name!r}") from None
        except KubeError as e:  # messages of bot.kube never carry credentials
            raise UserError(f"could not read {command.name!r} on {target.name}: {e}") from None
        value, default = obj.get("value"), obj.get("default")
        return setting_message(
            cluster=target.name,
            name=command.name,
            value=mask_setting(value if isinstance(value, str) else None),
            default=mask_setting(default if isinstance(default, str) else None),
        )

    return Later(job)
