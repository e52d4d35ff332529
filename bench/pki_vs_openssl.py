"""Benchmark: ``secbot scan --pki`` against one ``openssl x509 -enddate`` per file.

Harvester's guidance for checking certificate expiry on a node is a loop of
``openssl x509 -enddate -noout -in FILE`` over the PKI folder. This script generates a
folder of certificate files (leaf + CA, like RKE2's), times that loop and one
``secbot scan --pki DIR --format json --no-store`` end to end (process start included),
and prints both figures and their ratio. Goal: secbot at least 50x faster.

Run: ``/work/venv/bin/python bench/pki_vs_openssl.py [--files 1000] [--runs 3]``.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

GOAL = 50.0


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def _cert(
    cn: str,
    *,
    key: ec.EllipticCurvePrivateKey,
    issuer: x509.Name,
    signer: ec.EllipticCurvePrivateKey,
    not_after: datetime,
    ca: bool,
) -> bytes:
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name(cn))
        .issuer_name(issuer)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_after - timedelta(days=365))
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        .sign(signer, hashes.SHA256())
    )
    return cert.public_bytes(serialization.Encoding.PEM)


def generate(folder: Path, count: int) -> list[Path]:
    """``count`` files ``node-N/client-N.crt``, each a leaf plus the shared CA."""
    now = datetime.now(UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = _cert(
        "bench-ca",
        key=ca_key,
        issuer=_name("bench-ca"),
        signer=ca_key,
        not_after=now + timedelta(days=3650),
        ca=True,
    )
    files = []
    for i in range(count):
        key = ec.generate_private_key(ec.SECP256R1())
        # Spread expiry over -10..+400 days so the scan has findings of every tier.
        leaf = _cert(
            f"client-{i}",
            key=key,
            issuer=_name("bench-ca"),
            signer=ca_key,
            not_after=now + timedelta(days=(i % 410) - 10),
            ca=False,
        )
        path = folder / f"node-{i // 100}" / f"client-{i}.crt"
        path.parent.mkdir(exist_ok=True)
        path.write_bytes(leaf + ca)
        files.append(path)
    return files


def time_secbot(secbot: Path, folder: Path, runs: int) -> float:
    """Best wall time of ``runs`` scans; exits if the scan does not produce output."""
    best = float("inf")
    for _ in range(runs):
        start = time.perf_counter()
        proc = subprocess.run(
            [str(secbot), "scan", "--pki", str(folder), "--format", "json", "--no-store"],
            capture_output=True,
            check=False,
        )
        best = min(best, time.perf_counter() - start)
        if not proc.stdout.strip():
            sys.stderr.write(proc.stderr.decode(errors="replace")[-2000:])
            sys.exit(f"secbot scan produced no output (exit code {proc.returncode})")
    return best


def time_openssl(openssl: str, files: list[Path]) -> float:
    start = time.perf_counter()
    for path in files:
        subprocess.run(
            [openssl, "x509", "-enddate", "-noout", "-in", str(path)],
            capture_output=True,
            check=True,
        )
    return time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=3, help="secbot runs (the best counts)")
    args = parser.parse_args()
    openssl = shutil.which("openssl")
    if openssl is None:
        print("openssl not found on PATH: no baseline to compare with; skipping")
        return 0
    secbot = Path(sys.executable).with_name("secbot")
    if not secbot.exists():
        print(f"secbot entry point not found at {secbot}; install the package into this venv")
        return 1
    with tempfile.TemporaryDirectory(prefix="pki-bench-") as tmp:
        folder = Path(tmp)
        files = generate(folder, args.files)
        ours = time_secbot(secbot, folder, args.runs)
        baseline = time_openssl(openssl, files)
    ratio = baseline / ours
    verdict = "met" if ratio >= GOAL else "NOT met"
    print(
        f"secbot: {ours:.2f} s  openssl x{len(files)}: {baseline:.1f} s  "
        f"ratio: {ratio:.1f}x (goal >= {GOAL:.0f}x: {verdict})"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
