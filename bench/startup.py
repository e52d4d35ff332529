"""Benchmark: start-up time of `secbot --help` and `secbot checks list`.

Goal (issue #2): each under 0.5 s, process start included. Prints best and median of N
runs next to the goal. Run: python bench/startup.py [--runs 7]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

GOAL_S = 0.5


def secbot_exe() -> str:
    exe = Path(sys.executable).with_name("secbot")
    return str(exe) if exe.exists() else "secbot"


def timed(cmd: list[str], runs: int) -> list[float]:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
        times.append(time.perf_counter() - start)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    exe = secbot_exe()
    print(f"{'command':<24} {'best':>8} {'median':>8} {'goal':>8}")
    for label, cmd in (
        ("secbot --help", [exe, "--help"]),
        ("secbot checks list", [exe, "checks", "list"]),
    ):
        t = timed(cmd, args.runs)
        verdict = "ok" if statistics.median(t) < GOAL_S else "SLOW"
        print(
            f"{label:<24} {min(t):>7.3f}s {statistics.median(t):>7.3f}s {GOAL_S:>7.1f}s  {verdict}"
        )


if __name__ == "__main__":
    main()
