"""bot.sources.live_reads: a list is decoded one page at a time per process, so a fleet's
threads take turns with whole pages instead of switching between each other's objects."""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from bot.core.snapshot import CoverageStatus
from bot.kube.client import KubeClient, KubeTarget, Timeouts
from bot.sources.builder import SnapshotBuilder
from bot.sources.live_reads import LISTS, read_list
from tests.fakes.kube_api import FakeKubeAPI
from tests.sources import NOW

FAST = Timeouts(connect=2, read=5, retries=0)
PAGE = 20
NODES = 60
NODE_LIST = next(spec for spec in LISTS if spec.kind == "Node")


def node(i: int) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Node", "metadata": {"name": f"node-{i:03d}"}}


def test_threads_decode_whole_pages_in_turn(tmp_path: Path) -> None:
    """Two clusters read at once: the decoding of each page is never interleaved with the
    other thread's, and the lock is let go between pages (while a thread waits for its
    next page, the other decodes), so the turns are whole pages, and more than one each."""
    seen: list[str] = []
    failures: list[BaseException] = []

    def inspect(_obj: Mapping[str, Any]) -> None:
        seen.append(threading.current_thread().name)
        time.sleep(0.001)  # gives the other thread every chance to cut in

    def read(client: KubeClient, builder: SnapshotBuilder) -> None:
        try:
            assert read_list(client, builder, NODE_LIST, inspect=inspect) == NODES
        except BaseException as e:  # re-raised by the test, not lost in the thread
            failures.append(e)

    with ExitStack() as stack:
        clients, builders = [], []
        for i in range(2):
            api = FakeKubeAPI(objects=[node(n) for n in range(NODES)], latency=0.03)
            stack.enter_context(api)
            target = KubeTarget(name=f"c{i}", kubeconfig=api.write_kubeconfig(tmp_path / f"k{i}"))
            clients.append(KubeClient.connect(target, timeouts=FAST, page_size=PAGE))
            builders.append(
                SnapshotBuilder(cluster=f"c{i}", source="live", origin="", scanned_at=NOW)
            )
        threads = [
            threading.Thread(target=read, args=(c, b), name=f"reader-{i}")
            for i, (c, b) in enumerate(zip(clients, builders, strict=True))
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    if failures:
        raise failures[0]
    runs: list[int] = []  # lengths of the stretches one thread decoded without the other
    for i, name in enumerate(seen):
        if i and name == seen[i - 1]:
            runs[-1] += 1
        else:
            runs.append(1)
    assert len(seen) == 2 * NODES
    assert all(run % PAGE == 0 for run in runs), runs  # whole pages, never interleaved
    assert len(runs) > 2, runs  # not one whole list after the other: turns between pages
    for builder in builders:
        assert len(builder.nodes) == NODES
        assert builder.coverage["nodes"].status == CoverageStatus.READ
