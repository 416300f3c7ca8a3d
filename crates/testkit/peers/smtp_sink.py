"""An SMTP server for ordo's tests (aiosmtpd): every message it accepts is written to a folder
as NNNNNN.eml, numbered in arrival order (written aside, then renamed), after any already there,
so a restarted server goes on numbering.

Usage: smtp_sink.py HOST PORT FOLDER [--tls | --implicit-tls] [--auth USER:PASSWORD]
  --tls   require STARTTLS, with a certificate for 127.0.0.1 and localhost issued by a test CA
          made on first start (FOLDER/ca.pem is the CA to trust; kept across restarts)
  --implicit-tls  TLS from the first byte (SMTPS, as on port 465), same certificate
  --auth  require AUTH (PLAIN or LOGIN, over TLS only when --tls) with these credentials
"""

import datetime
import ipaddress
import os
import ssl
import sys
import threading

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword


class Sink:
    def __init__(self, folder):
        self.folder = folder
        numbers = [int(f.split(".")[0]) for f in os.listdir(folder) if f.endswith(".eml")]
        self.next = max(numbers, default=0) + 1
        self.lock = threading.Lock()

    async def handle_DATA(self, server, session, envelope):
        with self.lock:
            n = self.next
            self.next += 1
        tmp = os.path.join(self.folder, f".{n:06}.tmp")
        with open(tmp, "wb") as f:
            f.write(envelope.original_content or envelope.content)
        os.rename(tmp, os.path.join(self.folder, f"{n:06}.eml"))
        return "250 Message accepted for delivery"


def make_certs(folder):
    """A CA and a server certificate it signed (a CA certificate cannot serve as a server's)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    ca_pem = os.path.join(folder, "ca.pem")
    cert_pem = os.path.join(folder, "server.pem")
    key_pem = os.path.join(folder, "server.key")
    if os.path.exists(key_pem):
        return cert_pem, key_pem
    now = datetime.datetime.now(datetime.timezone.utc)
    valid = (now - datetime.timedelta(minutes=5), now + datetime.timedelta(days=1))
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "ordo test CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name).issuer_name(ca_name).public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number()).not_valid_before(valid[0]).not_valid_after(valid[1])
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                     content_commitment=False, key_encipherment=False, data_encipherment=False,
                                     key_agreement=False, encipher_only=False, decipher_only=False), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]))
        .issuer_name(ca_name).public_key(key.public_key())
        .serial_number(x509.random_serial_number()).not_valid_before(valid[0]).not_valid_after(valid[1])
        .add_extension(x509.SubjectAlternativeName(
            [x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    with open(ca_pem, "wb") as f:
        f.write(ca.public_bytes(serialization.Encoding.PEM))
    with open(cert_pem, "wb") as f:
        f.write(cert.public_bytes(serialization.Encoding.PEM))
    with open(key_pem, "wb") as f:
        f.write(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                  serialization.NoEncryption()))
    return cert_pem, key_pem


def authenticator(user, password):
    def check(server, session, envelope, mechanism, auth_data):
        ok = (isinstance(auth_data, LoginPassword) and auth_data.login == user.encode()
              and auth_data.password == password.encode())
        # handled=False: aiosmtpd answers 535 itself (handled=True would leave the client waiting)
        return AuthResult(success=ok, handled=False)
    return check


if __name__ == "__main__":
    host, port, folder = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    rest = sys.argv[4:]
    os.makedirs(folder, exist_ok=True)
    options = {}
    if "--tls" in rest:
        cert, key = make_certs(folder)
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(cert, key)
        options.update(tls_context=context, require_starttls=True)
    if "--implicit-tls" in rest:
        cert, key = make_certs(folder)
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(cert, key)
        options.update(ssl_context=context)
    if "--auth" in rest:
        user, password = rest[rest.index("--auth") + 1].split(":", 1)
        options.update(authenticator=authenticator(user, password), auth_required=True,
                       # with implicit TLS the whole connection is TLS, which aiosmtpd's
                       # STARTTLS bookkeeping does not see: it would hide AUTH
                       auth_require_tls="--tls" in rest)
    # Messages are numbered into the folder; the certificates live there too (not .eml).
    controller = Controller(Sink(folder), hostname=host, port=port, **options)
    controller.start()
    threading.Event().wait()
