"""Benchmark: a fleet scan of 50 fake clusters against the wall time of one.

Goal (issue #3): 50 clusters, each with 60 settings, 500 TLS secrets (certificate + key)
and 5 nodes, 25 ms added latency per API request, scan in under 4x the wall time of one
cluster (clusters are scanned concurrently, bounded by --concurrency), with peak memory
under 300 MB. Prints the one-cluster time, the fleet time and their ratio, the sequential
baseline and the peak RSS of the process (which also hosts the 50 fake API servers).

The certificates are small EC (P-256) certificates generated once and reused by every
cluster (so certificate parsing is partly cached, see bot.sources.certs); the TLS probe
is off (there is nothing to dial). The first scan of a cluster is a warm-up that is not
timed: it pays for importing ``kubernetes`` (about a second, once per process).

Run: python bench/fleet_scan.py [--clusters 50] [--concurrency N] [--sequential 10]
     [--store]   (record into a temporary SQLite database, one transaction per cluster)
"""

from __future__ import annotations

import argparse
import multiprocessing
import resource
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from contextlib import ExitStack
from datetime import UTC, datetime, timedelta
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # the fakes live in tests/, which is not installed

from bot.core.policy import CheckPolicy  # noqa: E402
from bot.fleet import scan_fleet  # noqa: E402
from bot.kube.client import KubeClient, KubeTarget, Timeouts  # noqa: E402
from bot.sources.live import ProbeOptions  # noqa: E402
from tests.fakes.kube_api import FakeKubeAPI  # noqa: E402
from tests.sources import b64, ec_key, key_pem, make_cert, pem  # noqa: E402

GOAL_RATIO = 4.0
GOAL_RSS_MB = 300
NOW = datetime(2026, 6, 1, tzinfo=UTC)
DEFAULT_CONCURRENCY = scan_fleet.__kwdefaults__["concurrency"]


def secret_pool(count: int) -> list[dict[str, str]]:
    """``count`` distinct (tls.crt, tls.key) data maps, base64, built once."""
    pool = []
    for i in range(count):
        key = ec_key(f"bench-{i}")
        cert = make_cert(f"svc-{i}.example", key=key, not_after=NOW + timedelta(days=30 + i))
        pool.append({"tls.crt": b64(pem(cert)), "tls.key": b64(key_pem(key))})
    return pool


def cluster_objects(pool: Sequence[dict[str, str]], *, settings: int, nodes: int) -> list[Any]:
    objects: list[dict[str, Any]] = [
        {
            "apiVersion": "harvesterhci.io/v1beta1",
            "kind": "Setting",
            "metadata": {"name": f"setting-{i:02d}"},
            "value": "",
            "default": f"default-{i}",
        }
        for i in range(settings - 1)
    ]
    objects.append(
        {
            "apiVersion": "harvesterhci.io/v1beta1",
            "kind": "Setting",
            "metadata": {"name": "server-version"},
            "default": "v1.5.1",
        }
    )
    objects += [
        {
            "apiVersion": "v1",
            "kind": "Node",
            "metadata": {
                "name": f"node-{n}",
                "labels": {"node-role.kubernetes.io/control-plane": "true"},
            },
            "status": {"addresses": [{"type": "InternalIP", "address": f"10.0.0.{10 + n}"}]},
        }
        for n in range(nodes)
    ]
    objects += [
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": f"tls-{i}", "namespace": f"ns-{i % 20}"},
            "type": "kubernetes.io/tls",
            "data": data,
        }
        for i, data in enumerate(pool)
    ]
    return objects


def timed_scan(targets: Sequence[KubeTarget], *, concurrency: int, engine: Any) -> float:
    def connect(target: KubeTarget) -> KubeClient:
        return KubeClient.connect(target, timeouts=Timeouts(connect=5, read=60, retries=0))

    start = time.perf_counter()
    report = scan_fleet(
        targets,
        now=NOW,
        policy=CheckPolicy(),
        connect=connect,
        probe=ProbeOptions(enabled=False),
        concurrency=concurrency,
        engine=engine,
    )
    elapsed = time.perf_counter() - start
    bad = [s.run.snapshot.cluster for s in report.scans if not s.run.snapshot.covers("secrets")]
    if bad:
        raise SystemExit(f"clusters not read completely: {bad}")
    return elapsed


def open_engine(folder: Path) -> Any:
    from bot.store.db import make_engine, upgrade

    engine = make_engine(f"sqlite:///{folder / 'bench.db'}")
    upgrade(engine)
    return engine


def serve_fakes(conn: Connection, args: argparse.Namespace, folder: Path) -> None:
    """Start the fake clusters, send their kubeconfig paths, serve until told to stop."""
    pool = secret_pool(args.secrets)
    objects = cluster_objects(pool, settings=args.settings, nodes=args.nodes)
    with ExitStack() as stack:
        apis = [
            stack.enter_context(FakeKubeAPI(objects=objects, latency=args.latency))
            for _ in range(args.clusters)
        ]
        conn.send([str(a.write_kubeconfig(folder / f"kc{i}")) for i, a in enumerate(apis)])
        conn.recv()  # "stop"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clusters", type=int, default=50)
    parser.add_argument("--settings", type=int, default=60)
    parser.add_argument("--secrets", type=int, default=500)
    parser.add_argument("--nodes", type=int, default=5)
    parser.add_argument("--latency", type=float, default=0.025)
    parser.add_argument("--concurrency", type=int, default=DEFAULT_CONCURRENCY)
    parser.add_argument(
        "--sequential", type=int, default=10, help="clusters in the sequential baseline"
    )
    parser.add_argument("--store", action="store_true", help="record into SQLite")
    parser.add_argument(
        "--in-process",
        action="store_true",
        help="run the fake servers in the scanner's process (they then share its GIL)",
    )
    args = parser.parse_args()

    t0 = time.perf_counter()
    with ExitStack() as stack:
        folder = Path(stack.enter_context(tempfile.TemporaryDirectory()))
        ours, theirs = multiprocessing.Pipe()
        if args.in_process:
            thread = threading.Thread(target=serve_fakes, args=(theirs, args, folder), daemon=True)
            thread.start()
        else:  # remote clusters do not use the scanner's CPU: give them their own process
            child = multiprocessing.get_context("fork").Process(
                target=serve_fakes, args=(theirs, args, folder), daemon=True
            )
            child.start()
        stack.callback(ours.send, "stop")
        paths = ours.recv()
        targets = [KubeTarget(name=f"c{i:03d}", kubeconfig=Path(p)) for i, p in enumerate(paths)]
        engine = open_engine(folder) if args.store else None
        print(f"setup: {args.clusters} fake clusters in {time.perf_counter() - t0:.1f}s")
        timed_scan(targets[:1], concurrency=1, engine=None)  # warm-up: imports, caches
        one = timed_scan(targets[:1], concurrency=1, engine=engine)
        cpu = time.process_time()
        fleet = timed_scan(targets, concurrency=args.concurrency, engine=engine)
        cpu = time.process_time() - cpu
        seq_n = max(1, min(args.sequential, args.clusters))
        seq = timed_scan(targets[:seq_n], concurrency=1, engine=engine)
        seq_all = seq * args.clusters / seq_n
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
    ratio = fleet / one
    where = "in this process" if args.in_process else "in a child process"
    print(
        f"{args.settings} settings, {args.secrets} TLS secrets, {args.nodes} nodes per cluster; "
        f"latency {args.latency * 1000:.0f} ms/request; fakes {where}; "
        f"store: {'SQLite' if args.store else 'none'}"
    )
    print(f"one cluster:                  {one:7.2f}s")
    print(
        f"fleet of {args.clusters} (concurrency {args.concurrency}):  {fleet:7.2f}s  "
        f"= {ratio:.1f}x one cluster (goal < {GOAL_RATIO:.0f}x: "
        f"{'ok' if ratio < GOAL_RATIO else 'MISSED'}); CPU {cpu:.2f}s "
        f"({cpu / args.clusters * 1000:.0f} ms per cluster)"
    )
    extrapolated = "" if seq_n == args.clusters else f" (measured on {seq_n}, extrapolated)"
    print(f"sequential baseline:          {seq_all:7.2f}s{extrapolated}")
    print(
        f"peak RSS of the scanner:      {rss_mb:7.0f} MB (goal < {GOAL_RSS_MB} MB: "
        f"{'ok' if rss_mb < GOAL_RSS_MB else 'MISSED'})"
    )


if __name__ == "__main__":
    main()
