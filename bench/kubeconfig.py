"""Benchmark: connecting to every cluster of one big (Rancher-style) kubeconfig.

Rancher writes one kubeconfig with a context per downstream cluster; a fleet of 300 names
one ~0.5 MB file 300 times. secbot parses each kubeconfig once (libyaml, remembered by the
SHA-256 of its bytes) and hands the ``kubernetes`` loader only the chosen context's
entries. The baseline is what a connect cost before: secbot parsed the file with the
pure-Python YAML loader to resolve the context, then the library's ``load_kube_config``
parsed it again (pure Python too) and deep-copied it, once per cluster. Goal: a connect
stays in milliseconds however many clusters the file holds. Prints the time per connect
and for the whole fleet, both ways.

Run: python bench/kubeconfig.py [--clusters 300] [--baseline 5]
"""

from __future__ import annotations

import argparse
import base64
import os
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot.kube.config import Timeouts, build_configuration  # noqa: E402
from bot.kube.kubeconfig import forget_kubeconfigs  # noqa: E402
from bot.kube.targets import KubeTarget  # noqa: E402
from bot.kube.yamlfile import parse_yaml  # noqa: E402

GOAL_MS = 20.0


def write_kubeconfig(path: Path, clusters: int) -> None:
    ca = base64.b64encode(os.urandom(1100)).decode()  # the size of a real CA certificate
    doc = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {
                "name": f"c{i}",
                "cluster": {
                    "server": f"https://rancher.example/k8s/clusters/c-m-{i:05d}",
                    "certificate-authority-data": ca,
                },
            }
            for i in range(clusters)
        ],
        "users": [
            {"name": f"u{i}", "user": {"token": f"kubeconfig-user-{i}:{'x' * 52}"}}
            for i in range(clusters)
        ],
        "contexts": [
            {"name": f"ctx{i}", "context": {"cluster": f"c{i}", "user": f"u{i}"}}
            for i in range(clusters)
        ],
        "current-context": "ctx0",
    }
    path.write_text(yaml.safe_dump(doc))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clusters", type=int, default=300)
    parser.add_argument("--baseline", type=int, default=5, help="connects timed the old way")
    args = parser.parse_args()
    from kubernetes.client.configuration import Configuration
    from kubernetes.config import load_kube_config

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "rancher.yaml"
        write_kubeconfig(path, args.clusters)
        timeouts = Timeouts()
        build_configuration(KubeTarget(name="warm-up", kubeconfig=path), timeouts)  # imports
        forget_kubeconfigs()
        start = time.perf_counter()
        for i in range(args.clusters):
            target = KubeTarget(name=f"c{i}", kubeconfig=path, context=f"ctx{i}")
            cfg, _ = build_configuration(target, timeouts)
            assert cfg.host.endswith(f"c-m-{i:05d}")
        ours = time.perf_counter() - start
        n = max(1, min(args.baseline, args.clusters))
        start = time.perf_counter()
        for i in range(n):
            parse_yaml(path.read_text(), c_loader=False)
            load_kube_config(
                config_file=str(path),
                context=f"ctx{i}",
                client_configuration=Configuration(),
                persist_config=False,
            )
        old = (time.perf_counter() - start) / n
        size_kb = path.stat().st_size / 1024
    per = ours / args.clusters * 1000
    print(f"one kubeconfig of {size_kb:.0f} KB with {args.clusters} contexts")
    print(
        f"secbot:   {per:7.1f} ms per connect, {ours:6.2f}s for all "
        f"(goal < {GOAL_MS:.0f} ms: {'ok' if per < GOAL_MS else 'MISSED'})"
    )
    print(
        f"baseline: {old * 1000:7.1f} ms per connect, {old * args.clusters:6.2f}s for all "
        f"(two pure-Python parses per connect, measured on {n})"
    )


if __name__ == "__main__":
    main()
