"""A faithful fake kube-apiserver: a real HTTP(S) server on 127.x.y.z for the real client.

The real ``kubernetes`` client (and bot/kube) talk to it over HTTP: resourceVersions, paged
lists with consistent snapshots and 410 Expired continue tokens, field and label selectors,
merge/JSON patches with resourceVersion preconditions and dryRun, create, bearer-token auth,
RBAC denials with SelfSubjectAccessReview answers, Status bodies shaped like the real ones,
injected latency and failures, a request log and a kubeconfig writer. See kube_store.py
(objects, paging, writes), kube_routes.py (HTTP, auth, routing), kube_select.py (selectors,
patches, reviews, discovery), kube_types.py (types and Status errors); tls.py holds the probe
listener.

    with FakeKubeAPI(objects=[...]) as api:
        api.write_kubeconfig(tmp_path / "kubeconfig")
"""

from __future__ import annotations

import base64
import json
import os
import threading
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import yaml

from tests.fakes.kube_routes import KubeServer
from tests.fakes.kube_store import KubeStore, Validator
from tests.fakes.kube_types import JSON, Attrs, FailRule, Recorded, ResourceType
from tests.fakes.serving import BackgroundServer
from tests.fakes.tls import FakeTLSEndpoint, self_signed, server_context

__all__ = ["FakeKubeAPI", "FakeTLSEndpoint", "Recorded"]

VERSION = {
    "major": "1",
    "minor": "30",
    "gitVersion": "v1.30.4+rke2r1",
    "gitCommit": "a51b3b711150f57ffc1f526a640ec058514ed596",
    "gitTreeState": "clean",
    "buildDate": "2024-08-14T00:00:00Z",
    "goVersion": "go1.22.5 X:boringcrypto",
    "compiler": "gc",
    "platform": "linux/amd64",
}


class FakeKubeAPI(BackgroundServer):
    """Fake kube-apiserver; a context manager (``start``/``close``) serving on ``url``."""

    def __init__(
        self,
        *,
        objects: Iterable[Mapping[str, Any]] = (),
        token: str = "fake-token",
        latency: float = 0.0,
        host: str = "127.0.0.1",
        tls: bool = False,
        user: str = "secbot",
    ) -> None:
        self.store = KubeStore()
        self.token = token
        self.user = user  # the name in Forbidden messages and SSAR reasons
        self.latency = latency
        self.tls = tls
        self.requests: list[Recorded] = []
        self.server_errors: list[str] = []  # tracebacks of bugs in the fake itself
        self.on_patch: Validator | None = None
        self.accept_client_cert = False
        self.version_info: dict[str, str] = dict(VERSION)
        self.ca_pem: bytes | None = None
        self._lock = threading.Lock()
        self._fails: list[FailRule] = []
        self._denied: list[Attrs] = []
        self.add_all(objects)
        ctx = None
        if tls:
            self.ca_pem, key_pem = self_signed(host)
            ctx = server_context(self.ca_pem, key_pem)
        self._server = KubeServer((host, 0), self, ctx)
        self.host: str = host
        self.port: int = self._server.server_address[1]

    @property
    def url(self) -> str:
        return f"{'https' if self.tls else 'http'}://{self.host}:{self.port}"

    def _after_close(self) -> None:
        self._server.drop_connections()

    # -- objects --------------------------------------------------------------------------------
    def add(self, obj: Mapping[str, Any]) -> JSON:
        """Store (or replace) ``obj``; returns the stored copy with server metadata."""
        stored: JSON = json.loads(self.store.add(obj))
        return stored

    def add_all(self, objects: Iterable[Mapping[str, Any]]) -> None:
        """Bulk ``add`` without decoding each result (fleet fixtures); ``kind: *List`` expands."""
        for obj in objects:
            items = obj.get("items")
            if str(obj.get("kind", "")).endswith("List") and isinstance(items, list):
                self.add_all(items)
            else:
                self.store.add(obj)

    def _find(self, api_version: str, kind: str, namespace: str) -> tuple[ResourceType, str] | None:
        rt = self.store.lookup(api_version, kind)
        return None if rt is None else (rt, (namespace or "default") if rt.namespaced else "")

    def get(self, api_version: str, kind: str, name: str, namespace: str = "") -> JSON | None:
        """The stored object (a copy), or None; namespaced kinds default to ``default``."""
        found = self._find(api_version, kind, namespace)
        return None if found is None else self.store.get(found[0], (found[1], name))

    def remove(self, api_version: str, kind: str, name: str, namespace: str = "") -> bool:
        """Delete a stored object (no request involved); False when there was none."""
        found = self._find(api_version, kind, namespace)
        if found is None or self.store.get(found[0], (found[1], name)) is None:
            return False
        self.store.delete(found[0], (found[1], name), dry_run=False)
        return True

    def expire_continue_tokens(self) -> None:
        """Every continue token issued so far now gets 410 Expired (like etcd compaction)."""
        self.store.expire_continue_tokens()

    # -- failures and RBAC ----------------------------------------------------------------------
    def fail(
        self,
        path_prefix: str,
        status: int,
        *,
        times: int | None = None,
        retry_after: int | None = None,
        method: str | None = None,
        message: str | None = None,
        plain: bool = False,
    ) -> None:
        """Answer requests whose path starts with ``path_prefix`` with a Status error.

        ``times`` None: until ``clear_failures``. ``retry_after`` adds the header (and
        ``details.retryAfterSeconds`` where the apiserver sets it). ``status`` 0 drops the
        connection unanswered. ``plain`` sends the message as text/plain, like the 429 of
        API priority-and-fairness. Earlier rules win.
        """
        with self._lock:
            self._fails.append(
                FailRule(
                    path_prefix,
                    status,
                    times,
                    retry_after,
                    method.upper() if method else None,
                    message,
                    plain,
                )
            )

    def clear_failures(self) -> None:
        with self._lock:
            self._fails.clear()

    def take_failure(self, method: str, path: str) -> FailRule | None:
        with self._lock:
            for rule in self._fails:
                if path.startswith(rule.path_prefix) and rule.method in (None, method):
                    if rule.times is not None:
                        rule.times -= 1
                        if rule.times <= 0:
                            self._fails.remove(rule)
                    return rule
        return None

    def deny(
        self, *, verb: str, resource: str, group: str = "", namespace: str | None = None
    ) -> None:
        """RBAC: the user may not ``verb`` ``resource`` ("*" matches any verb or resource).

        ``namespace`` None: anywhere; a namespace also denies the cluster-wide request
        (listing all namespaces needs the permission in every one).
        """
        with self._lock:
            self._denied.append(Attrs(verb, "", True, group, "", resource, namespace or "*"))

    def clear_denials(self) -> None:
        with self._lock:
            self._denied.clear()

    def denies(self, attrs: Attrs) -> bool:
        with self._lock:
            return any(
                rule.verb in ("*", attrs.verb)
                and rule.resource in ("*", attrs.resource)
                and rule.group in ("*", attrs.group)
                and (rule.namespace in ("*", attrs.namespace) or not attrs.namespace)
                for rule in self._denied
            )

    # -- observation ----------------------------------------------------------------------------
    def record(self, rec: Recorded) -> None:
        with self._lock:
            self.requests.append(rec)

    def requests_to(self, path_prefix: str, method: str | None = None) -> list[Recorded]:
        with self._lock:
            return [
                r
                for r in self.requests
                if r.path.startswith(path_prefix) and method in (None, r.method)
            ]

    # -- kubeconfig -----------------------------------------------------------------------------
    def write_kubeconfig(
        self,
        path: Path,
        *,
        context: str = "fake",
        cluster: str = "fake",
        token: str | None = None,
        client_cert_pem: bytes | None = None,
        client_key_pem: bytes | None = None,
    ) -> Path:
        """Write (or merge into) a kubeconfig for this server; mode 0600.

        ``token`` defaults to the server's token unless a client certificate is given; with a
        certificate the server accepts requests that carry no token (it cannot see the
        certificate over plain HTTP). An existing file keeps its other entries and its
        current-context.
        """
        user: JSON = {}
        if token is not None or client_cert_pem is None:
            user["token"] = self.token if token is None else token
        if client_cert_pem is not None:
            self.accept_client_cert = True
            user["client-certificate-data"] = base64.b64encode(client_cert_pem).decode()
            if client_key_pem is not None:
                user["client-key-data"] = base64.b64encode(client_key_pem).decode()
        server: JSON = {"server": self.url}
        if self.tls:
            server["insecure-skip-tls-verify"] = True
        doc: JSON = {"apiVersion": "v1", "kind": "Config", "preferences": {}}
        if path.exists():
            doc = yaml.safe_load(path.read_text()) or doc
        for section, entry in (
            ("clusters", {"name": cluster, "cluster": server}),
            ("users", {"name": context, "user": user}),
            ("contexts", {"name": context, "context": {"cluster": cluster, "user": context}}),
        ):
            doc[section] = [e for e in doc.get(section) or [] if e.get("name") != entry["name"]]
            doc[section].append(entry)
        doc.setdefault("current-context", context)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            yaml.safe_dump(doc, f, sort_keys=False)
        return path
