"""A local HTTPS server for Client ID Metadata Documents, with a CA trusted by the test only.

    with DocumentServer(tmp_path) as docs:
        url = docs.publish("/client.json", {"client_name": "X", "redirect_uris": [...]})
        # docs.ca_file: the CA to trust (OAUTH_CIMD_CA_FILE); docs.hits[path]: fetches served

The certificate names 127.0.0.1 (an IP SAN) and ``localhost``; the server listens on 127.0.0.1
only. ``publish(path, document, client_id=<url>)`` fills the document's ``client_id`` with its
own URL unless told otherwise; ``route(path, status=, headers=, body=, drip=)`` serves anything
(``drip``: seconds between single bytes of the body, for a slow server; ``send_length=False``:
no Content-Length, the body ends when the connection closes).
"""

from __future__ import annotations

import datetime
import ipaddress
import json
import ssl
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

_SAME = object()


def make_ca_and_cert(directory: Path) -> tuple[Path, Path, Path]:
    """(ca.pem, server.pem, server.key) in ``directory``: a throwaway CA and a leaf it signed."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "inventory test CA")])
    ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name).public_key(ca_key.public_key())
          .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(minutes=5))
          .not_valid_after(now + datetime.timedelta(days=1))
          .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
          .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                       content_commitment=False, key_encipherment=False, data_encipherment=False,
                                       key_agreement=False, encipher_only=False, decipher_only=False), critical=True)
          .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
          .sign(ca_key, hashes.SHA256()))
    key = ec.generate_private_key(ec.SECP256R1())
    leaf = (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]))
            .issuer_name(ca_name).public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
                                                        x509.DNSName("localhost")]), critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
            .sign(ca_key, hashes.SHA256()))
    paths = directory / "ca.pem", directory / "server.pem", directory / "server.key"
    paths[0].write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    paths[1].write_bytes(leaf.public_bytes(serialization.Encoding.PEM))
    paths[2].write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return paths


class DocumentServer:
    def __init__(self, directory: Path):
        self.directory = Path(directory)
        self.routes: dict[str, dict] = {}
        self.hits: dict[str, int] = {}
        self.httpd = None

    def __enter__(self):
        self.ca_file, cert, key = make_ca_and_cert(self.directory)
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                path = self.path.split("?")[0]
                server.hits[path] = server.hits.get(path, 0) + 1
                route = server.routes.get(path) or {"status": 404, "headers": {}, "body": b"", "drip": 0,
                                                    "send_length": True}
                self.send_response(route["status"])
                for name, value in route["headers"].items():
                    self.send_header(name, value)
                if "Content-Length" not in route["headers"] and route["send_length"]:
                    self.send_header("Content-Length", str(len(route["body"])))
                self.send_header("Connection", "close")
                self.end_headers()
                try:
                    if route["drip"]:
                        for i in range(len(route["body"])):
                            self.wfile.write(route["body"][i:i + 1])
                            self.wfile.flush()
                            time.sleep(route["drip"])
                    else:
                        self.wfile.write(route["body"])
                except (BrokenPipeError, ConnectionResetError, ssl.SSLError):
                    pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert, key)
        self.httpd.socket = context.wrap_socket(self.httpd.socket, server_side=True)
        self.port = self.httpd.server_address[1]
        self.base = f"https://127.0.0.1:{self.port}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(5)

    def route(self, path, *, status=200, headers=None, body=b"", drip=0.0, send_length=None) -> str:
        self.routes[path] = {"status": status, "headers": dict(headers or {}), "body": body, "drip": drip,
                             "send_length": not drip if send_length is None else send_length}
        return self.base + path

    def publish(self, path, document: dict, *, client_id=_SAME, content_type="application/json",
                cache_control=None) -> str:
        url = self.base + path
        doc = {"client_id": url if client_id is _SAME else client_id, **document}
        headers = {"Content-Type": content_type}
        if cache_control:
            headers["Cache-Control"] = cache_control
        return self.route(path, headers=headers, body=json.dumps(doc).encode())
