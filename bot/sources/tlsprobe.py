"""Live TLS probe: handshake with a listener and keep the certificate chain it serves.

Harvester's auto-rotation and its upgrade pre-check judge the chain that kube-apiserver
*serves* (reference/harvester.md §2.2, §3.4), and the self-signed serving certificates of
kube-controller-manager / kube-scheduler that hang upgrades are visible only on the wire
(§3.2). So the probe dials each listener with certificate verification off (we want to
see expired and self-signed certificates, not be stopped by them) and records the DER
certificates as served, leaf first.

What we get: Python >= 3.13 has ``SSLSocket.get_unverified_chain()``; 3.10-3.12 have the
same method on the private ``_sslobj`` (it returns ``_ssl.Certificate`` objects that
export DER). Where neither exists, only the leaf (``getpeercert(binary_form=True)``) is
returned. Only the standard library is used here; decoding happens in the live source.

Timeouts: ``timeout`` bounds the TCP connect and, separately, the TLS handshake (the
socket timeout applies to each blocking step), so one dead endpoint costs at most about
2 x timeout. Many endpoints are probed in a bounded thread pool (``probe_all``).
"""

from __future__ import annotations

import ipaddress
import socket
import ssl
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from types import MappingProxyType

from bot.errors import BotError

DEFAULT_PORTS: Mapping[str, int] = MappingProxyType(
    {
        "kube-apiserver": 6443,
        "rke2-supervisor": 9345,
        "harvester-vip": 443,
        "kubelet": 10250,
        "kube-controller-manager": 10257,
        "kube-scheduler": 10259,
    }
)
_DER = 2  # _ssl.ENCODING_DER (X509_FILETYPE_ASN1)


@dataclass(frozen=True, slots=True)
class ProbeOptions:
    """What the live probe dials. Tests point ``ports`` at fake listeners."""

    enabled: bool = True
    timeout: float = 3.0  # seconds, per connect and per handshake
    ports: Mapping[str, int] = field(default_factory=lambda: DEFAULT_PORTS)
    # The Harvester VIP (management address); when None the live source reads it from
    # the harvester-system/vip ConfigMap, and skips the VIP if that is unknown too.
    vip: str | None = None
    concurrency: int = 16

    def __post_init__(self) -> None:
        if self.timeout <= 0 or self.concurrency < 1:
            raise ValueError("probe timeout must be > 0 and concurrency >= 1")


@dataclass(frozen=True, slots=True)
class ProbeTarget:
    """One listener to dial."""

    address: str
    port: int
    component: str
    node: str = ""
    expected_group: str | None = None


@dataclass(frozen=True, slots=True)
class ProbeResult:
    """The chain a target served (DER, leaf first) or the reason it served none."""

    target: ProbeTarget
    chain: tuple[bytes, ...] = ()
    error: str | None = None


class ProbeFailed(BotError):
    """A listener could not be dialled or did not complete a TLS handshake."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    return True


def _context() -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    # Verification off on purpose: expired or self-signed chains are what we look for.
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


def _chain(sock: ssl.SSLSocket) -> list[bytes]:
    public = getattr(sock, "get_unverified_chain", None)  # Python >= 3.13
    if public is not None:
        return [bytes(c) for c in public()]
    private = getattr(getattr(sock, "_sslobj", None), "get_unverified_chain", None)
    if private is not None:
        certs = private() or []
        return [bytes(c.public_bytes(_DER)) for c in certs]
    leaf = sock.getpeercert(binary_form=True)
    return [leaf] if leaf else []


def _reason(e: OSError, timeout: float) -> str:
    if isinstance(e, TimeoutError | socket.timeout):
        return f"timed out after {timeout:g} s"
    if isinstance(e, ConnectionRefusedError):
        return "connection refused"
    if isinstance(e, socket.gaierror):
        return "name resolution failed"
    if isinstance(e, ssl.SSLError):
        return f"TLS handshake failed: {e.reason or type(e).__name__}"
    return (e.strerror or type(e).__name__).lower()


def fetch_chain(host: str, port: int, *, timeout: float) -> list[bytes]:
    """Handshake with ``host:port`` and return the served chain (DER, leaf first).

    Raises ProbeFailed with a short reason (refused, timed out, TLS error). SNI is sent
    for host names only: an IP address is not a valid server name.
    """
    bare = host.strip("[]")
    try:
        with socket.create_connection((bare, port), timeout=timeout) as raw:
            raw.settimeout(timeout)
            server_name = None if _is_ip(bare) else bare
            with _context().wrap_socket(raw, server_hostname=server_name) as tls:
                chain = _chain(tls)
    except OSError as e:  # ssl.SSLError, timeouts and refusals are all OSErrors
        raise ProbeFailed(_reason(e, timeout)) from e
    if not chain:
        raise ProbeFailed("no certificate served")
    return chain


def _probe_one(target: ProbeTarget, timeout: float) -> ProbeResult:
    try:
        chain = fetch_chain(target.address, target.port, timeout=timeout)
    except ProbeFailed as e:
        return ProbeResult(target, error=e.reason)
    return ProbeResult(target, chain=tuple(chain))


def probe_all(
    targets: Sequence[ProbeTarget], *, timeout: float, concurrency: int
) -> list[ProbeResult]:
    """Probe every target with at most ``concurrency`` handshakes at once; keeps order."""
    if not targets:
        return []
    workers = max(1, min(concurrency, len(targets)))
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="tlsprobe") as pool:
        return list(pool.map(lambda t: _probe_one(t, timeout), targets))
