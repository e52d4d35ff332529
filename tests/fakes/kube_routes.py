"""HTTP side of the fake kube-apiserver: the server, routing, authentication, RBAC denials,
injected failures, discovery and SelfSubjectAccessReview.

The order of the checks is the real server's filter chain: (injected failure, standing in for
a proxy or load balancer in front) -> authentication (401) -> authorization (403, before the
resource is even resolved, so a denied unknown resource is 403 not 404) -> routing (404).
"""

from __future__ import annotations

import contextlib
import hmac
import socket
import ssl
import threading
import time
import traceback
import uuid
from collections.abc import Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Protocol
from urllib.parse import parse_qs, urlsplit

from tests.fakes import kube_select as sel
from tests.fakes.kube_store import KubeStore, Validator
from tests.fakes.kube_types import (
    JSON,
    NO_RESOURCE,
    ApiError,
    Attrs,
    FailRule,
    Query,
    Recorded,
    ResourceType,
    bad_request,
    dumps,
    forbidden,
    injected,
)

Response = tuple[int, bytes, dict[str, str]]
CT_JSON = "application/json"
NOT_ALLOWED = "the server does not allow this method on the requested resource"


class DropConnection(Exception):
    """Close the connection without answering (FailRule status 0)."""


class ApiState(Protocol):
    store: KubeStore
    token: str
    user: str
    accept_client_cert: bool
    version_info: dict[str, str]
    on_patch: Validator | None
    latency: float
    server_errors: list[str]

    def record(self, rec: Recorded) -> None: ...
    def take_failure(self, method: str, path: str) -> FailRule | None: ...
    def denies(self, attrs: Attrs) -> bool: ...


def parse_attrs(method: str, path: str, *, watch: bool) -> Attrs:
    """authorizer.Attributes of a request, from its method and URL path."""
    parts = [p for p in path.split("/") if p]
    if parts[:1] == ["api"] and len(parts) > 2:
        group, version, rest = "", parts[1], parts[2:]
    elif parts[:1] == ["apis"] and len(parts) > 3:
        group, version, rest = parts[1], parts[2], parts[3:]
    else:
        return Attrs(verb=method.lower(), path=path)
    namespace = ""
    if rest[0] == "namespaces" and len(rest) > 2 and not (len(rest) == 3 and rest[2] == "status"):
        namespace, rest = rest[1], rest[2:]
    name = rest[1] if len(rest) > 1 else ""
    verbs = {"POST": "create", "PUT": "update", "PATCH": "patch"}
    if method == "GET":
        verb = "get" if name else ("watch" if watch else "list")
    elif method == "DELETE":
        verb = "delete" if name else "deletecollection"
    else:
        verb = verbs.get(method, method.lower())
    sub = rest[2] if len(rest) > 2 else ""
    return Attrs(verb, path, True, group, version, rest[0], namespace, name, sub, tuple(rest[3:]))


def _one(query: Query, key: str) -> str:
    return (query.get(key) or [""])[-1]


def authenticate(api: ApiState, headers: Mapping[str, str]) -> None:
    auth = headers.get("authorization", "")
    if auth.startswith("Bearer "):
        ok = hmac.compare_digest(auth[7:].encode(), api.token.encode())
    else:  # no token: only a client certificate can have authenticated the caller
        ok = not auth and api.accept_client_cert
    if not ok:
        raise ApiError(401, "Unauthorized", "Unauthorized")


def handle(
    api: ApiState, *, method: str, path: str, query: Query, headers: Mapping[str, str], body: bytes
) -> Response:
    """One request through the filter chain; raises ApiError for any Status answer."""
    a = parse_attrs(method, path, watch=_one(query, "watch").lower() in ("true", "1"))
    rule = api.take_failure(method, path)
    if rule is not None:
        if rule.status == 0:
            raise DropConnection
        rt = api.store.resolve(a.group, a.version, a.resource)
        rt = rt or ResourceType(a.group, a.version, a.resource, a.resource, bool(a.namespace))
        raise injected(rule, a, rt=rt, user=api.user, continuing=bool(_one(query, "continue")))
    authenticate(api, headers)
    if (
        a.resource_request
        and a.group == "authorization.k8s.io"
        and a.resource == "selfsubjectaccessreviews"
        and method == "POST"
    ):
        return 201, dumps(sel.review(sel.json_body(body), denies=api.denies, user=api.user)), {}
    if not a.resource_request:
        return _non_resource(api, a)
    if api.denies(a):
        raise forbidden(a, api.user)
    rt = api.store.resolve(a.group, a.version, a.resource)
    if (
        rt is None
        or a.extra
        or (a.namespace and not rt.namespaced)
        or (rt.namespaced and a.name and not a.namespace)
        or a.subresource not in ("", "status")
    ):
        raise ApiError(404, "NotFound", NO_RESOURCE, details={})
    return _resource(api, rt, a=a, query=query, headers=headers, body=body)


def _resource(
    api: ApiState,
    rt: ResourceType,
    *,
    a: Attrs,
    query: Query,
    headers: Mapping[str, str],
    body: bytes,
) -> Response:
    store, ns = api.store, a.namespace
    dry = _one(query, "dryRun")
    if dry not in ("", "All"):
        raise bad_request(f'Invalid dry run value: "{dry}"; supported values: "All"')
    if a.verb == "get":
        return 200, store.read(rt, (ns, a.name)), {}
    if a.verb == "list":
        limit = _one(query, "limit") or "0"
        if not limit.isdigit():
            raise bad_request(f"limit: Invalid value: {limit!r}")
        match = sel.selector(
            rt, fields=_one(query, "fieldSelector"), labels=_one(query, "labelSelector")
        )
        page = store.list(
            rt, namespace=ns or None, match=match, limit=int(limit), token=_one(query, "continue")
        )
        return 200, page, {}
    if a.verb == "create":
        return (
            201,
            store.create(
                rt, sel.new_object(rt, sel.json_body(body), namespace=ns), dry_run=bool(dry)
            ),
            {},
        )
    if a.verb in ("patch", "update"):
        ctype = headers.get("content-type", "").split(";")[0].strip()
        obj = sel.typed(rt, sel.json_body(body)) if a.verb == "update" else {}

        def mutate(current: JSON) -> JSON:
            return (
                obj
                if a.verb == "update"
                else sel.apply_patch(rt, current, body=body, content_type=ctype)
            )

        page = store.replace(
            rt, ns, a.name, mutate=mutate, dry_run=bool(dry), validator=api.on_patch
        )
        return 200, page, {}
    if a.verb == "delete":
        return 200, dumps(store.delete(rt, (ns, a.name), dry_run=bool(dry))), {}
    if a.verb == "watch":
        raise bad_request("watch is not supported by the fake kube-apiserver")
    raise ApiError(405, "MethodNotAllowed", NOT_ALLOWED, details={})


def _non_resource(api: ApiState, a: Attrs) -> Response:
    if a.verb != "get":
        raise ApiError(405, "MethodNotAllowed", NOT_ALLOWED, details={})
    if a.path.strip("/") == "version":
        return 200, dumps(api.version_info), {}
    if a.path.strip("/") in ("healthz", "livez", "readyz"):
        return 200, b"ok", {"Content-Type": "text/plain; charset=utf-8"}
    doc = sel.discovery(a.path, api.store.types())
    if doc is None:  # the apiserver's plain Go mux answer, not a Status
        return 404, b"404 page not found\n", {"Content-Type": "text/plain; charset=utf-8"}
    return 200, dumps(doc), {}


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as urllib3 pools connections
    disable_nagle_algorithm = True  # headers and body go out in two writes
    server: KubeServer

    def do_GET(self) -> None:
        self._serve()

    do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_GET

    def log_message(self, format: str, *args: Any) -> None:
        pass  # the request log is api.requests

    def send_response(self, code: int, message: str | None = None) -> None:
        # The apiserver sends no Server header but an Audit-Id on every response.
        self.send_response_only(code, message)
        self.send_header("Date", self.date_time_string())
        self.send_header("Audit-Id", str(uuid.uuid4()))

    def _serve(self) -> None:
        api = self.server.api
        split = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length > 0 else b""
        headers = {k.lower(): v for k, v in self.headers.items()}
        query = parse_qs(split.query, keep_blank_values=True)
        api.record(Recorded(self.command, split.path, query, headers))
        if api.latency > 0:
            time.sleep(api.latency)
        extra: dict[str, str] = {}
        try:
            code, payload, extra = handle(
                api, method=self.command, path=split.path, query=query, headers=headers, body=body
            )
        except ApiError as e:
            code, payload, extra = e.code, dumps(e.body()), dict(e.headers)
            if e.plain:
                payload = (e.message + "\n").encode()
                extra["Content-Type"] = "text/plain; charset=utf-8"
        except DropConnection:
            self.close_connection = True
            return
        except Exception as e:  # boundary: a bug in the fake answers 500 and is kept for tests
            api.server_errors.append(traceback.format_exc())
            err = ApiError(500, "InternalError", f"Internal error occurred: {e}")
            code, payload = 500, dumps(err.body())
        self.send_response(code)
        self.send_header("Content-Type", extra.pop("Content-Type", CT_JSON))
        self.send_header("Cache-Control", "no-cache, private")
        for key, value in extra.items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(payload)


class KubeServer(ThreadingHTTPServer):
    """ThreadingHTTPServer that wraps TLS per connection and can cut keep-alive connections."""

    daemon_threads = True

    def __init__(self, address: tuple[str, int], api: ApiState, ctx: ssl.SSLContext | None) -> None:
        self.api, self.ctx = api, ctx
        self.conns: set[socket.socket] = set()
        self.closing = False
        self.conn_lock = threading.Lock()
        super().__init__(address, _Handler)

    def finish_request(self, request: Any, client_address: Any) -> None:
        sock: socket.socket = request
        if self.ctx is not None:  # handshake in the connection's thread, not in accept()
            try:
                sock = self.ctx.wrap_socket(request, server_side=True)
            except (ssl.SSLError, OSError):
                return
        with self.conn_lock:
            self.conns.add(sock)
        try:
            _Handler(sock, client_address, self)
        finally:
            with self.conn_lock:
                self.conns.discard(sock)
            if sock is not request:
                sock.close()

    def handle_error(self, request: Any, client_address: Any) -> None:
        if not self.closing:
            super().handle_error(request, client_address)

    def drop_connections(self) -> None:
        """Cut idle keep-alive connections so a closed fake really is unreachable."""
        self.closing = True
        with self.conn_lock:
            conns = list(self.conns)
        for conn in conns:
            # socket.shutdown, not SSLSocket's, which would unwrap under a reader
            with contextlib.suppress(OSError):
                socket.socket.shutdown(conn, socket.SHUT_RDWR)
