"""List pagination (``limit``/``continue``) for ``KubeClient``, with one restart on 410.

A continue token expires (~5 min on a real API server, 410 Gone): the list then restarts
once from the beginning and objects already yielded (by namespace/name) are skipped, so
every object is yielded at most once. The only state kept for this is the set of yielded
keys (~100 bytes per object), never the objects; one page is held at a time. A second
410 raises KubeGone. Pages are handed out whole, so a caller can work on one page at a
time (``bot.sources.live_reads`` decodes one page at a time per process).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from typing import Any

from bot.kube.errors import KubeError, KubeGone

log = logging.getLogger(__name__)

Query = list[tuple[str, str]]


def _key(item: dict[str, Any]) -> str:
    meta = item.get("metadata") or {}
    return f"{meta.get('namespace') or ''}/{meta.get('name') or ''}"


def pages(
    get: Callable[[Query], dict[str, Any]],
    query: Query,
    *,
    api_version: str,
    kind: str,
    where: str,
) -> Iterator[list[dict[str, Any]]]:
    """The items of the list that ``get(query)`` answers, one page at a time (see the
    module docstring), with ``kind``/``apiVersion`` filled in; ``where`` names the list in
    messages. A page may come out empty (everything in it was yielded before a restart)."""
    yielded: set[str] = set()
    restarted = False
    token: str | None = None
    while True:
        page_query = [*query, ("continue", token)] if token else query
        try:
            page = get(page_query)
        except KubeGone:
            if token is None or restarted:
                raise
            log.info("list %s: continue token expired (410), restarting once", where)
            restarted, token = True, None
            continue
        items = page.get("items")
        if not isinstance(items, list):
            raise KubeError(f"{where}: list answer without items", reason="BadList")
        token = str((page.get("metadata") or {}).get("continue") or "") or None
        out: list[dict[str, Any]] = []
        for item in items:
            if not isinstance(item, dict):
                continue
            key = _key(item)
            if restarted and key in yielded:
                continue
            if token is not None:  # only a page with a successor can meet a 410 later
                yielded.add(key)
            item.setdefault("kind", kind)
            item.setdefault("apiVersion", api_version)
            out.append(item)
        del page, items
        yield out
        del out  # hold one page at a time, also while waiting for the next
        if token is None:
            return
