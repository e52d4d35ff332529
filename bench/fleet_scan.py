"""Benchmark: a fleet scan of 50 fake clusters against the wall time of one.

Goal (issue #3): 50 clusters, each with 60 settings, 500 TLS secrets (certificate + key)
and 5 nodes, 25 ms added latency per API request, scan in under 4x the wall time of one
cluster (clusters are scanned concurrently, bounded by --concurrency), with peak memory
under 300 MB. Prints the one-cluster time (median of three), the fleet time and their
ratio, the sequential baseline, the peak RSS of the scanner process and the peak PSS of
it plus its worker processes (``--processes``: scan_fleet's opt-in process pool). The 50
fake API servers run in a child process of their own, which is not counted.

Keys and certificates are generated once (see ``secret_pool``: mostly RSA-2048, like real
clusters' TLS secrets); every cluster serves them with certificates made distinct by their
serial number, and the certificate parse cache is emptied before each timed phase, so no
cluster profits from a cache that a real fleet could not have. The TLS probe is off
(there is nothing to dial). The first scan is a warm-up that is not timed: it pays for
importing ``kubernetes`` (about a second, once per process).

Run: python bench/fleet_scan.py [--clusters 50] [--concurrency N] [--processes N]
     [--sequential 10]
     [--store]   (record into a temporary SQLite database, one transaction per cluster)
     [--profile FILE]   (instead: cProfile a sequential scan of --sequential clusters)
"""

from __future__ import annotations

import argparse
import base64
import cProfile
import multiprocessing
import os
import pstats
import resource
import statistics
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

from cryptography import x509  # noqa: E402
from cryptography.hazmat.primitives import hashes, serialization  # noqa: E402
from cryptography.hazmat.primitives.asymmetric import rsa  # noqa: E402

from bot.core.policy import CheckPolicy  # noqa: E402
from bot.fleet import scan_fleet  # noqa: E402
from bot.kube.client import KubeClient, KubeTarget, Timeouts  # noqa: E402
from bot.sources import certs  # noqa: E402
from bot.sources.live import ProbeOptions  # noqa: E402
from tests.fakes.kube_api import FakeKubeAPI  # noqa: E402
from tests.sources import PrivateKey, b64, ec_key, key_pem, name  # noqa: E402

GOAL_RATIO = 4.0
GOAL_RSS_MB = 300
NOW = datetime(2026, 6, 1, tzinfo=UTC)
DEFAULT_CONCURRENCY = scan_fleet.__kwdefaults__["concurrency"]
RSA_KEYS = 8
CA_CN = "bench-ca"
SERIAL_BYTES = 16
SERIAL_TAG = bytes([0x02, SERIAL_BYTES])
Template = tuple[tuple[bytes, ...], str]  # certificate chain (DER), base64 key PEM


def _patch_serial(der: bytes, cluster: int) -> bytes:
    """``der`` with the low 16 bits of its serial set to ``cluster``: a distinct certificate.

    The signature no longer matches, which nothing here notices: secbot reads facts from
    certificates and never verifies signatures, so parsing costs what a real one costs.
    """
    tlv = der.index(SERIAL_TAG)  # the serial's DER header, once in the TBS part
    end = tlv + len(SERIAL_TAG) + SERIAL_BYTES
    return der[: end - 2] + cluster.to_bytes(2, "big") + der[end:]


def _serial(i: int) -> int:
    # Fixed length (16 bytes, top byte 0x11: positive, no padding byte) so _patch_serial
    # can find and rewrite it; the low 16 bits are left for the cluster number.
    return (0x11 << (8 * SERIAL_BYTES - 8)) | (i << 16)


def _cert(
    cn: str, *, key: PrivateKey, issuer: tuple[x509.Name, PrivateKey], days: int, serial: int
) -> bytes:
    builder = (
        x509.CertificateBuilder()
        .subject_name(name(cn))
        .issuer_name(issuer[0])
        .public_key(key.public_key())
        .serial_number(serial)
        .not_valid_before(NOW - timedelta(days=300))
        .not_valid_after(NOW + timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=cn == CA_CN, path_length=None), critical=True)
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(cn)]), critical=False)
    )
    return builder.sign(issuer[1], hashes.SHA256()).public_bytes(serialization.Encoding.DER)


def secret_pool(count: int) -> list[Template]:
    """``count`` distinct TLS secrets as (certificate chain DER, key PEM), built once.

    Like real clusters' TLS secrets (cert-manager issues RSA-2048 by default), three in four
    are RSA-2048 leaves issued by an RSA-2048 CA, served as leaf + CA; the rest are EC P-256
    self-signed. RSA keys take ~50 ms each to generate, so RSA_KEYS of them are shared.
    """
    rsa_keys = [rsa.generate_private_key(65537, 2048) for _ in range(RSA_KEYS)]
    ca = (name(CA_CN), rsa_keys[0])
    ca_der = _cert(CA_CN, key=rsa_keys[0], issuer=ca, days=3650, serial=_serial(0))
    pool: list[Template] = []
    for i in range(1, count + 1):
        cn = f"svc-{i}.example"
        key: PrivateKey
        if i % 4:
            key = rsa_keys[i % RSA_KEYS]
            chain = (_cert(cn, key=key, issuer=ca, days=30 + i, serial=_serial(i)), ca_der)
        else:
            key = ec_key(f"bench-{i}")
            chain = (_cert(cn, key=key, issuer=(name(cn), key), days=30 + i, serial=_serial(i)),)
        pool.append((chain, b64(key_pem(key))))
    return pool


def cluster_secrets(pool: Sequence[Template], cluster: int) -> list[dict[str, str]]:
    """The pool's secrets with certificates of this cluster's own (patched serials).

    Keys are shared (they are never cached); certificates are distinct per cluster, as in a
    real fleet, so no cluster profits from another's certificate parse cache.
    """
    return [
        {
            "tls.crt": b64("".join(_pem(_patch_serial(der, cluster)) for der in chain)),
            "tls.key": key,
        }
        for chain, key in pool
    ]


def _pem(der: bytes) -> str:
    body = base64.b64encode(der).decode()
    lines = "\n".join(body[i : i + 64] for i in range(0, len(body), 64))
    return f"-----BEGIN CERTIFICATE-----\n{lines}\n-----END CERTIFICATE-----\n"


def cluster_objects(secrets: Sequence[dict[str, str]], *, settings: int, nodes: int) -> list[Any]:
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
        for i, data in enumerate(secrets)
    ]
    return objects


def _connect(target: KubeTarget) -> KubeClient:
    return KubeClient.connect(target, timeouts=Timeouts(connect=5, read=60, retries=0))


def timed_scan(
    targets: Sequence[KubeTarget], *, concurrency: int, engine: Any, processes: int = 1
) -> float:
    certs.clear_cache()  # see the module docstring
    start = time.perf_counter()
    report = scan_fleet(
        targets,
        now=NOW,
        policy=CheckPolicy(),
        connect=_connect,
        probe=ProbeOptions(enabled=False),
        concurrency=concurrency,
        processes=processes,
        engine=engine,
    )
    elapsed = time.perf_counter() - start
    bad = [s.run.snapshot.cluster for s in report.scans if not s.run.snapshot.covers("secrets")]
    if bad:
        raise SystemExit(f"clusters not read completely: {bad}")
    return elapsed


def profile(targets: Sequence[KubeTarget], out: Path) -> None:
    """Scan ``targets`` one after the other under cProfile; print the top and save it.

    The scan runs in this thread (scan_fleet's workers are invisible to cProfile).
    """
    from bot.checks.registry import builtin_checks
    from bot.checks.runner import run_checks
    from bot.fleet import read_target

    checks, probe, profiler = builtin_checks(), ProbeOptions(enabled=False), cProfile.Profile()
    certs.clear_cache()
    for target in targets:
        profiler.enable()
        snapshot = read_target(target, now=NOW, connect=_connect, probe=probe)
        run_checks(snapshot, checks, CheckPolicy())
        profiler.disable()
    profiler.dump_stats(out)
    pstats.Stats(profiler).sort_stats("tottime").print_stats(30)
    print(f"profile of {len(targets)} cluster(s) written to {out}")


class TreeSampler(threading.Thread):
    """Samples this process and its descendants (the fleet's worker processes and their
    fork server), leaving out the fake servers' process ``skip``: the peak of the sum of
    their PSS, which splits pages shared between processes (the fork server's imports)
    among them instead of counting them once per process as RSS would, and the CPU time
    each has used (the last value seen for a process that has exited)."""

    def __init__(self, skip: int) -> None:
        super().__init__(daemon=True)
        self.skip, self.peak_mb, self.stop = skip, 0.0, threading.Event()
        self.cpu: dict[int, float] = {}

    def run(self) -> None:
        while not self.stop.wait(0.05):
            self.sample()

    def sample(self) -> None:
        pids = self._tree(os.getpid())
        self.peak_mb = max(self.peak_mb, sum(_pss_mb(p) for p in pids))
        for pid in pids:
            self.cpu[pid] = max(self.cpu.get(pid, 0.0), cpu_seconds(pid))

    def cpu_total(self) -> float:
        self.sample()
        return sum(self.cpu.values())

    def _tree(self, pid: int) -> list[int]:
        pids = [pid]
        for task in Path(f"/proc/{pid}/task").glob("*/children"):
            try:
                kids = [int(k) for k in task.read_text().split()]
            except OSError:
                continue
            pids += [p for k in kids if k != self.skip for p in self._tree(k)]
        return pids


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (0 once it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _pss_mb(pid: int) -> float:
    try:
        rollup = Path(f"/proc/{pid}/smaps_rollup").read_text()
    except OSError:
        return 0.0
    kib = next((line.split()[1] for line in rollup.splitlines() if line.startswith("Pss:")), 0)
    return int(kib) / 1024


def open_engine(folder: Path) -> Any:
    from bot.store.db import make_engine, upgrade

    engine = make_engine(f"sqlite:///{folder / 'bench.db'}")
    upgrade(engine)
    return engine


def serve_fakes(conn: Connection, args: argparse.Namespace, folder: Path) -> None:
    """Start the fake clusters, send their kubeconfig paths, serve until told to stop."""
    pool = secret_pool(args.secrets)
    with ExitStack() as stack:
        apis = [
            stack.enter_context(
                FakeKubeAPI(
                    objects=cluster_objects(
                        cluster_secrets(pool, i), settings=args.settings, nodes=args.nodes
                    ),
                    latency=args.latency,
                )
            )
            for i in range(args.clusters)
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
        "--processes", type=int, default=1, help="worker processes for the fleet (scan_fleet)"
    )
    parser.add_argument(
        "--sequential", type=int, default=10, help="clusters in the sequential baseline"
    )
    parser.add_argument("--store", action="store_true", help="record into SQLite")
    parser.add_argument(
        "--profile", metavar="FILE", help="instead: profile --sequential clusters into FILE"
    )
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
        skip = 0  # the fakes' process, not part of the scanner's memory
        if args.in_process:
            thread = threading.Thread(target=serve_fakes, args=(theirs, args, folder), daemon=True)
            thread.start()
        else:  # remote clusters do not use the scanner's CPU: give them their own process
            child = multiprocessing.get_context("fork").Process(
                target=serve_fakes, args=(theirs, args, folder), daemon=True
            )
            child.start()
            skip = child.pid or 0
        sampler = TreeSampler(skip=skip)
        sampler.start()
        stack.callback(sampler.stop.set)
        stack.callback(ours.send, "stop")
        paths = ours.recv()
        targets = [KubeTarget(name=f"c{i:03d}", kubeconfig=Path(p)) for i, p in enumerate(paths)]
        engine = open_engine(folder) if args.store else None
        print(f"setup: {args.clusters} fake clusters in {time.perf_counter() - t0:.1f}s")
        timed_scan(targets[:1], concurrency=1, engine=None)  # warm-up: imports
        if args.processes > 1:  # warm-up: the fork server and its imports
            timed_scan(targets[:2], concurrency=2, engine=None, processes=args.processes)
        seq_n = max(1, min(args.sequential, args.clusters))
        if args.profile:
            profile(targets[:seq_n], Path(args.profile))
            return
        # The median of three, each with an empty certificate cache like any first scan.
        one = statistics.median(
            timed_scan(targets[i : i + 1], concurrency=1, engine=engine) for i in range(3)
        )
        cpu, fake_cpu = sampler.cpu_total(), cpu_seconds(skip) if skip else 0.0
        fleet = timed_scan(
            targets, concurrency=args.concurrency, engine=engine, processes=args.processes
        )
        cpu, fake_cpu = sampler.cpu_total() - cpu, (cpu_seconds(skip) if skip else 0.0) - fake_cpu
        seq = timed_scan(targets[:seq_n], concurrency=1, engine=engine)
        seq_all = seq * args.clusters / seq_n
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
    tree_mb = sampler.peak_mb
    ratio = fleet / one
    where = "in this process" if args.in_process else "in a child process"
    print(
        f"{args.settings} settings, {args.secrets} TLS secrets, {args.nodes} nodes per cluster; "
        f"latency {args.latency * 1000:.0f} ms/request; fakes {where}; "
        f"store: {'SQLite' if args.store else 'none'}"
    )
    print(f"one cluster:                  {one:7.2f}s")
    print(
        f"fleet of {args.clusters} (concurrency {args.concurrency}, processes "
        f"{args.processes}):  {fleet:7.2f}s  "
        f"= {ratio:.1f}x one cluster (goal < {GOAL_RATIO:.0f}x: "
        f"{'ok' if ratio < GOAL_RATIO else 'MISSED'})"
    )
    cores = len(os.sched_getaffinity(0))
    floor = (cpu + fake_cpu) / cores
    print(
        f"  CPU of the scan {cpu:.2f}s ({cpu / args.clusters * 1000:.0f} ms per cluster, all "
        f"its processes), of the fake servers {fake_cpu:.2f}s; on {cores} core(s) the fleet "
        f"cannot take less than {floor:.2f}s = {floor / one:.1f}x one cluster"
    )
    extrapolated = "" if seq_n == args.clusters else f" (measured on {seq_n}, extrapolated)"
    print(f"sequential baseline:          {seq_all:7.2f}s{extrapolated}")
    worst = max(rss_mb, tree_mb)
    verdict = "ok" if worst < GOAL_RSS_MB else "MISSED"
    print(
        f"peak RSS of the scanner:      {rss_mb:7.0f} MB; with its worker processes "
        f"{tree_mb:.0f} MB PSS (goal < {GOAL_RSS_MB} MB: {verdict})"
    )


if __name__ == "__main__":
    main()
