"""TLS for the fakes: a self-signed server certificate and a bare TLS listener for probe tests.

``FakeTLSEndpoint`` stands in for a kubelet, kube-scheduler, RKE2 supervisor or ingress: it
completes a TLS handshake presenting exactly the chain it was given (expired, self-signed
or weak ones included; the security level is lowered so OpenSSL loads anything) and then
just drains the connection. ``cryptography`` is fine here: this is test code.
"""

from __future__ import annotations

import ipaddress
import socketserver
import ssl
import tempfile
import threading
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.fakes.serving import BackgroundServer

Pem = bytes | str


def _bytes(pem: Pem) -> bytes:
    return pem.encode() if isinstance(pem, str) else pem


def self_signed(host: str, *, days: int = 30) -> tuple[bytes, bytes]:
    """(certificate PEM, PKCS#8 key PEM) for ``host`` (SAN IP or DNS, plus localhost)."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "fake-kube-apiserver")])
    try:
        sans: list[x509.GeneralName] = [x509.IPAddress(ipaddress.ip_address(host))]
    except ValueError:
        sans = [x509.DNSName(host)]
    sans.append(x509.DNSName("localhost"))
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=days))
        .add_extension(x509.SubjectAlternativeName(sans), critical=False)
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return cert.public_bytes(serialization.Encoding.PEM), key_pem


def server_context(chain_pem: Pem | Sequence[Pem], key_pem: Pem) -> ssl.SSLContext:
    """A server context presenting ``chain_pem`` (leaf first); no client certificate asked."""
    chain = (
        _bytes(chain_pem)
        if isinstance(chain_pem, bytes | str)
        else b"".join(
            _bytes(p) if _bytes(p).endswith(b"\n") else _bytes(p) + b"\n" for p in chain_pem
        )
    )
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.set_ciphers("DEFAULT:@SECLEVEL=0")  # serve weak test keys (RSA-1024, SHA-1) too
    # load_cert_chain only reads files; the key lives in a private temporary directory.
    with tempfile.TemporaryDirectory(prefix="fake-tls-") as tmp:
        cert_file, key_file = Path(tmp, "chain.pem"), Path(tmp, "key.pem")
        cert_file.write_bytes(chain)
        key_file.write_bytes(_bytes(key_pem))
        ctx.load_cert_chain(cert_file, key_file)
    return ctx


class _TLSServer(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], ctx: ssl.SSLContext) -> None:
        self.ctx = ctx
        self.handshakes = 0
        self.server_names: list[str | None] = []
        self.count_lock = threading.Lock()
        ctx.sni_callback = self._sni
        super().__init__(address, _TLSHandler)

    def _sni(self, _sock: ssl.SSLObject, name: str | None, _ctx: ssl.SSLContext) -> None:
        with self.count_lock:
            self.server_names.append(name)


class _TLSHandler(socketserver.BaseRequestHandler):
    server: _TLSServer

    def handle(self) -> None:
        conn = self.server.ctx.wrap_socket(
            self.request, server_side=True, do_handshake_on_connect=False
        )
        conn.settimeout(5.0)
        try:
            conn.do_handshake()
            with self.server.count_lock:
                self.server.handshakes += 1
            while conn.recv(4096):  # drain until the prober hangs up
                pass
        except (ssl.SSLError, OSError):
            pass  # probers close abruptly right after the handshake; that is normal
        finally:
            conn.close()


class FakeTLSEndpoint(BackgroundServer):
    """A TLS listener on ``host:port`` (port 0: any free port) serving a fixed chain."""

    def __init__(
        self,
        *,
        chain_pem: Pem | Sequence[Pem],
        key_pem: Pem,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        self._server = _TLSServer((host, port), server_context(chain_pem, key_pem))
        self.host: str = host
        self.port: int = self._server.server_address[1]

    @property
    def handshakes(self) -> int:
        """Completed handshakes so far."""
        return self._server.handshakes

    @property
    def server_names(self) -> list[str | None]:
        """The SNI name of each ClientHello (None when the client sent none)."""
        return list(self._server.server_names)
