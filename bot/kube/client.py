"""``KubeClient``: the one typed door to a Kubernetes API (the only user of ``kubernetes``).

Design:
- One ``ApiClient`` per cluster (own connection pool, own ``Configuration``; the library's
  global default is never touched), safe for one thread per cluster.
- Requests go through ``ApiClient.param_serialize`` / ``call_api`` and the raw answer is
  parsed by ``json.loads``: callers get wire JSON dicts and no pydantic model is built
  (faster, and immune to the v37 models' strictness about server data).
- Every call carries ``_request_timeout=(connect, read)``; ``Configuration.retries`` is an
  explicit urllib3 ``Retry`` (see ``Timeouts``).
- Every failure leaves as a ``KubeError`` subclass (``bot.kube.errors``), raised ``from``
  the library's exception; messages never carry tokens or keys.
- ``kubernetes`` and ``urllib3`` are imported inside functions (about a second).
"""

from __future__ import annotations

import builtins
import itertools
from collections.abc import Iterator
from typing import Any

from bot.kube import credentials as _credentials
from bot.kube import paging
from bot.kube.config import (
    KubeTarget,
    Timeouts,
    build_configuration,
    public_host,
    resource_path,
)
from bot.kube.credentials import ClientCredentials
from bot.kube.errors import (
    KubeConfigError,
    from_api_exception,
    from_status,
    from_transport,
    json_object,
    scrub,
)
from bot.kube.targets import load_targets

__all__ = ["ClientCredentials", "KubeClient", "KubeTarget", "Timeouts", "load_targets"]

DEFAULT_TIMEOUTS = Timeouts()
_MERGE_PATCH = "application/merge-patch+json"


class KubeClient:
    """Typed wrapper over one cluster's API. Build it with ``KubeClient.connect``."""

    def __init__(
        self,
        *,
        api_client: Any,
        target: KubeTarget,
        timeouts: Timeouts,
        page_size: int,
        credentials: ClientCredentials,
    ) -> None:
        self._api = api_client
        self._timeouts = timeouts
        self._request_timeout = (timeouts.connect, timeouts.read)
        self._credentials = credentials
        self.target = target
        self.page_size = page_size
        self.host: str = public_host(str(api_client.configuration.host))

    @classmethod
    def connect(
        cls, target: KubeTarget, *, timeouts: Timeouts = DEFAULT_TIMEOUTS, page_size: int = 250
    ) -> KubeClient:
        """Load the target's kubeconfig/in-cluster config; no request is sent yet.

        Raises KubeConfigError (a UserError: one line naming the file and the problem)
        for a missing or malformed kubeconfig, an unknown context or no in-cluster env.
        """
        if page_size < 1:
            raise ValueError("page_size must be at least 1")
        from kubernetes.client.api_client import ApiClient

        cfg, resolved = build_configuration(target, timeouts)
        creds = _credentials.in_cluster() if resolved is None else _credentials.from_user(resolved)
        api = ApiClient(configuration=cfg)
        api.user_agent = "secbot (kubernetes-client/python 37)"
        return cls(
            api_client=api, target=target, timeouts=timeouts, page_size=page_size, credentials=creds
        )

    def __repr__(self) -> str:
        return f"KubeClient({self.target.name!r}, host={self.host!r})"

    def __enter__(self) -> KubeClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Release the connection pool."""
        self._api.close()

    def credentials(self) -> ClientCredentials:
        """What the kubeconfig authenticates with (public cert, token expiry; no secret)."""
        return self._credentials

    def _call(
        self,
        method: str,
        path: str,
        *,
        query: builtins.list[tuple[str, str]] | None = None,
        body: dict[str, Any] | None = None,
        content_type: str | None = None,
    ) -> dict[str, Any]:
        """One request; the parsed JSON object it answers, or a KubeError."""
        from kubernetes.client.exceptions import ApiException
        from kubernetes.config import ConfigException
        from urllib3.exceptions import HTTPError

        headers = {"Accept": "application/json"}
        if content_type:
            headers["Content-Type"] = content_type
        try:
            request = self._api.param_serialize(
                method=method,
                resource_path=path,
                query_params=query or [],
                header_params=headers,
                body=body,
                auth_settings=["BearerToken"],  # also runs the exec/refresh hook if any
            )
            response = self._api.call_api(*request, _request_timeout=self._request_timeout)
            try:
                data = response.read()
            finally:
                response.response.release_conn()
        except ApiException as e:
            raise from_api_exception(e) from e
        except HTTPError as e:
            raise from_transport(e, host=self.host, timeouts=self._request_timeout) from e
        except ConfigException as e:  # an exec plugin or token file failed on refresh
            raise KubeConfigError(f"{self.target.name}: credentials: {scrub(str(e))}") from e
        except (ValueError, TypeError):
            # http.client refuses a header value with a newline and echoes it, token and
            # all: say what is wrong without chaining the original (it would be logged).
            raise KubeConfigError(
                f"{self.target.name}: the credentials contain characters not allowed in an "
                "HTTP header (a newline at the end of a token?)"
            ) from None
        if not 200 <= response.status <= 299:
            raise from_status(
                status=response.status,
                reason=str(response.reason or ""),
                body=data,
                headers=response.headers,
            )
        return json_object(data, where=f"{self.host}{path}")

    def version(self) -> dict[str, str]:
        """``/version`` of the API server (gitVersion, major, minor, platform...)."""
        doc = self._call("GET", "/version")
        return {k: v for k, v in doc.items() if isinstance(v, str)}

    def get(
        self, *, api_version: str, kind: str, name: str, namespace: str | None = None
    ) -> dict[str, Any]:
        """One object as wire JSON; KubeNotFound if it does not exist."""
        path = resource_path(api_version=api_version, kind=kind, namespace=namespace, name=name)
        return self._call("GET", path)

    def patch(
        self,
        *,
        api_version: str,
        kind: str,
        name: str,
        body: dict[str, Any],
        namespace: str | None = None,
        dry_run: bool = False,
        field_manager: str = "secbot",
    ) -> dict[str, Any]:
        """JSON merge patch (RFC 7386). Put ``metadata.resourceVersion`` in ``body`` to make
        it conditional: a stale one gives KubeConflict. ``dry_run`` validates (admission
        webhooks included) without storing. Never retried (not idempotent in general)."""
        path = resource_path(api_version=api_version, kind=kind, namespace=namespace, name=name)
        query = [("fieldManager", field_manager)]
        if dry_run:
            query.append(("dryRun", "All"))
        return self._call("PATCH", path, query=query, body=body, content_type=_MERGE_PATCH)

    def create(
        self,
        *,
        api_version: str,
        kind: str,
        body: dict[str, Any],
        namespace: str | None = None,
        field_manager: str = "secbot",
    ) -> dict[str, Any]:
        """POST a new object; KubeConflict (409) if one of that name exists. Never retried."""
        path = resource_path(api_version=api_version, kind=kind, namespace=namespace)
        query = [("fieldManager", field_manager)]
        return self._call("POST", path, query=query, body=body, content_type="application/json")

    def replace(
        self,
        *,
        api_version: str,
        kind: str,
        name: str,
        body: dict[str, Any],
        namespace: str | None = None,
        field_manager: str = "secbot",
    ) -> dict[str, Any]:
        """PUT the whole object. With ``metadata.resourceVersion`` in ``body`` it is
        conditional: a stale one gives KubeConflict (409). Never retried."""
        path = resource_path(api_version=api_version, kind=kind, namespace=namespace, name=name)
        query = [("fieldManager", field_manager)]
        return self._call("PUT", path, query=query, body=body, content_type="application/json")

    def can_i(
        self,
        *,
        verb: str,
        resource: str,
        group: str = "",
        namespace: str | None = None,
        name: str | None = None,
    ) -> bool:
        """Ask the server (SelfSubjectAccessReview) whether we may ``verb`` ``resource``
        (the object ``name``: a role limited by resourceNames allows only named asks)."""
        attributes: dict[str, str] = {"verb": verb, "resource": resource, "group": group}
        if namespace:
            attributes["namespace"] = namespace
        if name:
            attributes["name"] = name
        review = {
            "apiVersion": "authorization.k8s.io/v1",
            "kind": "SelfSubjectAccessReview",
            "spec": {"resourceAttributes": attributes},
        }
        answer = self._call(
            "POST",
            "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews",
            body=review,
            content_type="application/json",
        )
        status = answer.get("status")
        return isinstance(status, dict) and status.get("allowed") is True

    def list(
        self,
        *,
        api_version: str,
        kind: str,
        namespace: str | None = None,
        field_selector: str | None = None,
        label_selector: str | None = None,
    ) -> Iterator[dict[str, Any]]:
        """The objects of ``list_pages``, one by one."""
        pages = self.list_pages(
            api_version=api_version,
            kind=kind,
            namespace=namespace,
            field_selector=field_selector,
            label_selector=label_selector,
        )
        return itertools.chain.from_iterable(pages)

    def list_pages(
        self,
        *,
        api_version: str,
        kind: str,
        namespace: str | None = None,
        field_selector: str | None = None,
        label_selector: str | None = None,
    ) -> Iterator[builtins.list[dict[str, Any]]]:
        """Every matching object as wire JSON dicts, one page (``limit=page_size``) at a time.

        Lazy: nothing is sent until the first ``next()``, and errors (KubeForbidden...)
        surface there. Only one page is held at a time. Items get ``kind``/``apiVersion``
        filled in when the server leaves them out (it does for built-in types), so each
        one can be fed to ``bot.sources.objects.ingest`` alone. ``namespace=None`` lists
        all namespaces. A continue token that expired (410 Gone) restarts the list once,
        never yielding an object twice (``bot.kube.paging``).
        """
        path = resource_path(api_version=api_version, kind=kind, namespace=namespace)
        query: builtins.list[tuple[str, str]] = [("limit", str(self.page_size))]
        if field_selector:
            query.append(("fieldSelector", field_selector))
        if label_selector:
            query.append(("labelSelector", label_selector))
        return paging.pages(
            lambda page_query: self._call("GET", path, query=page_query),
            query,
            api_version=api_version,
            kind=kind,
            where=f"{self.host}{path}",
        )
