"""A fixed CA and serving certificate for the simulator's HTTPS (loopback only, not a secret).

The real API server only speaks TLS, and stock clients (kubectl, client-go) send
a bearer token only over TLS. A static pair keeps the simulator free of extra
dependencies: EC P-256, valid 2020-2120, SANs localhost, kubernetes(.default(.svc)),
127.0.0.1 and ::1. The key is public on purpose: it protects nothing.
"""

from __future__ import annotations

import os
import ssl
import tempfile

CA_PEM = """\
-----BEGIN CERTIFICATE-----
MIIBajCCARGgAwIBAgIBATAKBggqhkjOPQQDAjAcMRowGAYDVQQDDBF0cmFjZXdh
dGNoLXNpbS1jYTAgFw0yMDAxMDEwMDAwMDBaGA8yMTIwMDEwMTAwMDAwMFowHDEa
MBgGA1UEAwwRdHJhY2V3YXRjaC1zaW0tY2EwWTATBgcqhkjOPQIBBggqhkjOPQMB
BwNCAATihxL7pN4RuqyBo+HaLmMU4C/WyRDjEt/7dFtUjrgUZDJhkt+o5YoNC5vt
d2fWSjXyckBarb0PAg7i6cCijJDYo0IwQDAPBgNVHRMBAf8EBTADAQH/MA4GA1Ud
DwEB/wQEAwIBBjAdBgNVHQ4EFgQUJsIxoleyAM9feNiQf68f0y0vOb4wCgYIKoZI
zj0EAwIDRwAwRAIgDxTZ2NIFUGbv1YZNm6CMIGmGP8u/Nmp6WHcHZ5SW38ECIDay
aKl0AkbKaOQHxLGxxghRWlWRfMxY71TA2rA7J8he
-----END CERTIFICATE-----
"""

SERVER_CERT_PEM = """\
-----BEGIN CERTIFICATE-----
MIICBDCCAamgAwIBAgIBAjAKBggqhkjOPQQDAjAcMRowGAYDVQQDDBF0cmFjZXdh
dGNoLXNpbS1jYTAgFw0yMDAxMDEwMDAwMDBaGA8yMTIwMDEwMTAwMDAwMFowGTEX
MBUGA1UEAwwOa3ViZS1hcGlzZXJ2ZXIwWTATBgcqhkjOPQIBBggqhkjOPQMBBwNC
AATQ+fy7ze2x4lR+fHiuBU7S7yGq+kJtR0SFHFmFB9ADblKvRRX/cPNjwPq2I6iE
qxElKWIu8HOfGkmie62KEHBco4HcMIHZMAwGA1UdEwEB/wQCMAAwDgYDVR0PAQH/
BAQDAgWgMBMGA1UdJQQMMAoGCCsGAQUFBwMBMGQGA1UdEQRdMFuCCWxvY2FsaG9z
dIIKa3ViZXJuZXRlc4ISa3ViZXJuZXRlcy5kZWZhdWx0ghZrdWJlcm5ldGVzLmRl
ZmF1bHQuc3ZjhwR/AAABhxAAAAAAAAAAAAAAAAAAAAABMB0GA1UdDgQWBBRKnYWe
BnEw2jWrsTd3gznB1g0rSzAfBgNVHSMEGDAWgBQmwjGiV7IAz1942JB/rx/TLS85
vjAKBggqhkjOPQQDAgNJADBGAiEApgwaaIoL+llZhODGocXsZ0nf44YjrD3CKRl2
27cl8dMCIQCYg+ObYkCtbDGuKA1fv8+bZZLGyfxU3+v/uDFDZ9+pUQ==
-----END CERTIFICATE-----
"""

SERVER_KEY_PEM = """\
-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgtQFkUF5fvr69oQ9u
iPj3ATC/WU1FyhSqx9ykOSMVT5qhRANCAATQ+fy7ze2x4lR+fHiuBU7S7yGq+kJt
R0SFHFmFB9ADblKvRRX/cPNjwPq2I6iEqxElKWIu8HOfGkmie62KEHBc
-----END PRIVATE KEY-----
"""


def server_context() -> ssl.SSLContext:
    """The TLS context the simulated API server serves with."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    # load_cert_chain only reads files: write the pair to a private, short-lived directory.
    with tempfile.TemporaryDirectory(prefix="tracewatch-sim-") as tmp:
        cert, key = os.path.join(tmp, "tls.crt"), os.path.join(tmp, "tls.key")
        for path, text in ((cert, SERVER_CERT_PEM), (key, SERVER_KEY_PEM)):
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as handle:
                handle.write(text)
        context.load_cert_chain(cert, key)
    return context


def client_context() -> ssl.SSLContext:
    """A client TLS context trusting the simulator's CA (hostname checked as usual)."""
    return ssl.create_default_context(cadata=CA_PEM)
