"""TLS for outgoing requests: the system's trusted CAs, plus extra CA certificates an operator
names (a push gateway on a private CA, say)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from cryptography import x509
from OpenSSL import crypto

# IOpenSSLTrustRoot is what optionsForClientTLS's trustRoot must provide; Twisted documents it
# there but exports it only from this module.
from twisted.internet._sslverify import IOpenSSLTrustRoot
from twisted.internet.interfaces import IOpenSSLClientConnectionCreator
from twisted.internet.ssl import optionsForClientTLS, platformTrust
from zope.interface import implementer


class TlsConfigError(ValueError):
    pass


class TlsPolicy(Protocol):
    """How to check the certificate of the server at `hostname` (a DNS name or an IP literal)."""

    def creator_for(self, hostname: str) -> IOpenSSLClientConnectionCreator: ...


@implementer(IOpenSSLTrustRoot)
class _SystemAndExtraTrust:
    """The platform's trust store with some more CA certificates added to it."""

    def __init__(self, certificates: Sequence[crypto.X509]):
        self._certificates = list(certificates)

    def _addCACertsToContext(self, context: object) -> None:  # noqa: N802 - IOpenSSLTrustRoot's name
        platformTrust()._addCACertsToContext(context)
        store = context.get_cert_store()  # type: ignore[attr-defined]
        for certificate in self._certificates:
            store.add_cert(certificate)


def load_ca_certificates(paths: Sequence[str]) -> list[crypto.X509]:
    """Every certificate in the PEM files; TlsConfigError names the file that is unusable."""
    certificates: list[crypto.X509] = []
    for path in paths:
        try:
            with open(path, "rb") as f:
                data = f.read()
        except OSError as e:
            raise TlsConfigError(f"cannot read {path}: {e.strerror}") from None
        try:
            loaded = x509.load_pem_x509_certificates(data)
        except ValueError:
            raise TlsConfigError(f"{path} holds no PEM certificate") from None
        certificates.extend(crypto.X509.from_cryptography(c) for c in loaded)
    return certificates


@dataclass(frozen=True)
class TlsSettings:
    """How to verify servers' certificates: always against the hostname, with the system's CAs
    and `extra_ca_certificates` (already loaded, see load_ca_certificates)."""

    extra_ca_certificates: tuple[crypto.X509, ...] = ()

    @classmethod
    def with_extra_ca_files(cls, paths: Sequence[str]) -> TlsSettings:
        return cls(tuple(load_ca_certificates(paths)))

    def creator_for(self, hostname: str) -> IOpenSSLClientConnectionCreator:
        if self.extra_ca_certificates:
            return optionsForClientTLS(hostname, trustRoot=_SystemAndExtraTrust(self.extra_ca_certificates))
        return optionsForClientTLS(hostname)
