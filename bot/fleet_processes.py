"""The worker processes of a fleet scan (``bot.fleet.scan_fleet`` with ``processes`` > 1).

Reading and checking a cluster is CPU work (decoding hundreds of certificates and keys)
and threads share one interpreter lock, so the clusters can be spread over worker
processes started from a fork server (never forked from a process that runs threads),
each with its own bounded thread pool. A worker sends each result back as it is done; a
worker that dies turns the clusters it was reading into ERROR coverage, like any other
failure. Recording stays in the parent.
"""

from __future__ import annotations

import multiprocessing
import os
import queue
import threading
from collections.abc import Iterator, Sequence
from multiprocessing.reduction import ForkingPickler
from types import MappingProxyType
from typing import Any

from bot.checks.runner import CheckRun, pack_run, run_checks, unpack_run
from bot.core.snapshot import CoverageStatus, Snapshot
from bot.fleet import Job, failed_snapshot


def in_processes(job: Job, *, processes: int, threads: int) -> Iterator[tuple[int, CheckRun]]:
    """(index, run) of every target as it completes, from worker processes.

    Each worker takes target indices from ``tasks`` and answers on ``results`` first
    (pid, index, None) when it starts one, then (pid, index, pickled run or the name of
    the error that kept it from sending it).
    """
    ctx = multiprocessing.get_context("forkserver")
    # Workers fork from the server with these imported: not once per worker and scan.
    # ("kubernetes.client" is what bot.kube imports lazily on the first connect.)
    ctx.set_forkserver_preload(["bot.fleet", __name__, "kubernetes.client"])
    # Targets and probe options keep read-only mappingproxies, which pickle does not take:
    # they travel as a copy and arrive read-only again (multiprocessing's pickler only).
    ForkingPickler.register(MappingProxyType, _proxy_reduce)
    tasks: Any = ctx.Queue()
    results: Any = ctx.Queue()
    pool = [
        ctx.Process(target=_worker, args=(job, tasks, results, threads)) for _ in range(processes)
    ]
    for proc in pool:
        proc.daemon = True
        proc.start()
    for index in [*range(len(job.targets)), *[None] * (processes * threads)]:
        tasks.put(index)
    left, started = set(range(len(job.targets))), dict[int, int]()
    try:
        while left:
            try:
                pid, index, payload = results.get(timeout=0.5)
            except queue.Empty:
                for index in _lost(pool, started, left):
                    left.discard(index)
                    yield index, run_checks(_died(job, index), job.checks, job.policy)
                continue
            if payload is None:
                started[index] = pid
                continue
            left.discard(index)
            yield (
                index,
                (
                    unpack_run(payload)  # trusted: from our own worker process
                    if isinstance(payload, bytes)
                    else run_checks(_died(job, index, payload), job.checks, job.policy)
                ),
            )
    finally:
        for proc in pool:
            proc.join(timeout=5)
            if proc.is_alive():
                proc.terminate()


def _proxy_reduce(proxy: MappingProxyType[Any, Any]) -> tuple[Any, tuple[dict[Any, Any]]]:
    return _read_only, (dict(proxy),)


def _read_only(items: dict[Any, Any]) -> MappingProxyType[Any, Any]:
    return MappingProxyType(items)


def _lost(
    pool: Sequence[multiprocessing.process.BaseProcess], started: dict[int, int], left: set[int]
) -> list[int]:
    """Targets that will not be answered: started by a dead worker, or all workers gone."""
    if not any(proc.is_alive() for proc in pool):
        return sorted(left)
    dead = {proc.pid for proc in pool if proc.exitcode not in (None, 0)}
    return sorted(i for i in left if started.get(i) in dead)


def _died(job: Job, index: int, error: str = "the worker process exited") -> Snapshot:
    reason = f"internal error while reading the cluster: {error}"
    target = job.targets[index]
    return failed_snapshot(target, now=job.now, status=CoverageStatus.ERROR, reason=reason)


def _worker(job: Job, tasks: Any, results: Any, threads: int) -> None:
    """Body of a worker process: ``threads`` threads scan the targets named on ``tasks``."""

    def loop() -> None:
        pid = os.getpid()
        while (index := tasks.get()) is not None:
            results.put((pid, index, None))
            run = job.scan(index)
            try:
                payload: bytes | str = pack_run(run)
            except Exception as e:  # boundary: an unpicklable result must not hang the parent
                payload = type(e).__name__
            results.put((pid, index, payload))

    pool = [threading.Thread(target=loop, name=f"fleet-{i}") for i in range(threads)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()
    results.close()
    results.join_thread()  # every answer is flushed before the process ends
