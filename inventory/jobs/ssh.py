"""SSH to devices with asyncssh: pinned host keys, key or password auth, capped output.

A host key is trusted only when pinned on the device's access settings; on first use the
key the host presents is recorded as *pending* and the job fails until someone approves it
(or sets the key by hand). A different key than the pinned one fails the job.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

import asyncssh


class SSHError(Exception):
    """A readable failure (never contains the credential)."""


class HostKeyUnknown(SSHError):
    def __init__(self, presented: str):
        self.presented = presented
        super().__init__(
            f"The host key of this device is not approved yet. The host presented {fingerprint(presented)}; "
            "approve it (admin: Device SSH access → 'Approve pending host key', or "
            "POST /api/jobs/access/<device id>/approve-host-key/) or set the key by hand, then retry."
        )


class HostKeyMismatch(SSHError):
    pass


def normalize_public_key(text: str) -> str:
    """'ssh-ed25519 AAAA…' (comment dropped); ValueError if it is not an SSH public key."""
    try:
        key = asyncssh.import_public_key(text.strip())
    except (asyncssh.KeyImportError, ValueError, TypeError):
        raise ValueError("Not an SSH public key; expected OpenSSH format, e.g. 'ssh-ed25519 AAAA…'.") from None
    return " ".join(key.export_public_key("openssh").decode().split()[:2])


def fingerprint(public_key: str) -> str:
    try:
        key = asyncssh.import_public_key(public_key)
    except (asyncssh.KeyImportError, ValueError, TypeError):
        return "(invalid key)"
    return f"{key.get_algorithm()} {key.get_fingerprint('sha256')}"


def check_private_key(text: str) -> None:
    try:
        asyncssh.import_private_key(text)
    except (asyncssh.KeyImportError, asyncssh.KeyEncryptionError, ValueError, TypeError) as exc:
        if isinstance(exc, asyncssh.KeyEncryptionError) or "assphrase" in str(exc):
            raise ValueError("The private key is passphrase-protected; store an unencrypted key.") from None
        raise ValueError("Not a private key in a format SSH understands (OpenSSH or PEM).") from None


@dataclass
class Target:
    host: str
    port: int
    username: str
    credential_type: str  # "key" | "password"
    secret: str
    host_key: str  # pinned; empty = not approved

    def __repr__(self):  # never show the secret
        return f"<Target {self.username}@{self.host}:{self.port}>"


@dataclass
class CommandResult:
    exit_status: int | None
    stdout: str
    stderr: str
    stdout_truncated: bool = False
    stderr_truncated: bool = False
    stdout_bytes: int = 0
    stderr_bytes: int = 0
    timed_out: bool = False
    signal: str = ""
    extra: dict = field(default_factory=dict)

    def as_dict(self) -> dict:
        data = {
            "exit_status": self.exit_status, "stdout": self.stdout, "stderr": self.stderr,
            "stdout_truncated": self.stdout_truncated, "stderr_truncated": self.stderr_truncated,
            "stdout_bytes": self.stdout_bytes, "stderr_bytes": self.stderr_bytes, "timed_out": self.timed_out,
        }
        if self.signal:
            data["signal"] = self.signal
        return data


async def fetch_host_key(host: str, port: int, timeout: float) -> str:
    key = await asyncio.wait_for(asyncssh.get_server_host_key(host, port), timeout)
    if key is None:
        raise SSHError(f"{host}:{port} presented no host key.")
    return key.export_public_key("openssh").decode().strip()


async def _read_capped(stream, limit: int, sink: dict):
    buf, total = bytearray(), 0
    sink["buf"], sink["total"] = buf, 0
    while True:
        chunk = await stream.read(65536)
        if not chunk:
            break
        total += len(chunk)
        sink["total"] = total
        room = limit - len(buf)
        if room > 0:
            buf += chunk[:room]


def _text(data: bytes) -> str:
    return bytes(data).decode("utf-8", errors="replace")


async def _connect(target: Target, connect_timeout: float):
    if not target.host_key:
        try:
            presented = await fetch_host_key(target.host, target.port, connect_timeout)
        except (OSError, asyncio.TimeoutError, asyncssh.Error) as exc:
            raise SSHError(f"Cannot reach {target.host}:{target.port}: {_reason(exc)}") from None
        raise HostKeyUnknown(presented)
    options = {"username": target.username or None, "known_hosts": ([asyncssh.import_public_key(target.host_key)], [], []),
               "connect_timeout": connect_timeout}
    if target.credential_type == "password":
        options.update(password=target.secret, client_keys=None, preferred_auth="password,keyboard-interactive")
    else:
        options.update(client_keys=[asyncssh.import_private_key(target.secret)], password=None,
                       preferred_auth="publickey")
    try:
        return await asyncssh.connect(target.host, target.port, agent_path=None, config=None, **options)
    except asyncssh.HostKeyNotVerifiable:
        try:
            presented = fingerprint(await fetch_host_key(target.host, target.port, connect_timeout))
        except Exception:  # noqa: BLE001 - best effort for the message only
            presented = "unknown"
        raise HostKeyMismatch(
            f"Host key mismatch for {target.host}:{target.port}: pinned {fingerprint(target.host_key)}, "
            f"presented {presented}. The job was stopped; if the host was reinstalled, pin the new key."
        ) from None
    except asyncssh.PermissionDenied:
        raise SSHError(f"Authentication failed for user '{target.username}' on {target.host}:{target.port} "
                       "(wrong credential or user).") from None
    except (OSError, asyncio.TimeoutError, asyncssh.Error) as exc:
        raise SSHError(f"Cannot connect to {target.host}:{target.port}: {_reason(exc)}") from None


def _reason(exc: BaseException) -> str:
    if isinstance(exc, asyncio.TimeoutError):
        return "timed out"
    return getattr(exc, "reason", None) or str(exc) or type(exc).__name__


async def run_command(target: Target, command: str, *, timeout: float, output_limit: int,
                      connect_timeout: float = 15.0, stdin: bytes | None = None) -> CommandResult:
    """Run one command; on timeout the channel is closed and partial output kept.

    ``stdin``: bytes sent as the command's standard input (then end of file). Secret content
    goes there, never into the command: asyncssh logs commands (INFO), not channel data."""
    conn = await _connect(target, connect_timeout)
    out, err = {}, {}
    timed_out = False
    try:
        async with conn:
            if stdin is None:
                proc = await conn.create_process(command, encoding=None, stdin=asyncssh.DEVNULL)
            else:
                proc = await conn.create_process(command, encoding=None)
                proc.stdin.write(stdin)
                proc.stdin.write_eof()
            readers = asyncio.gather(_read_capped(proc.stdout, output_limit, out),
                                     _read_capped(proc.stderr, output_limit, err))
            try:
                await asyncio.wait_for(asyncio.shield(readers), timeout)
                await asyncio.wait_for(proc.wait_closed(), 5)
            except asyncio.TimeoutError:
                timed_out = True
                readers.cancel()
                proc.close()
            exit_status = None if timed_out else proc.exit_status
            signal = (proc.exit_signal or ("",))[0] if not timed_out and proc.exit_signal else ""
    except asyncssh.Error as exc:
        raise SSHError(f"SSH session to {target.host}:{target.port} failed: {_reason(exc)}") from None
    return CommandResult(
        exit_status=exit_status, stdout=_text(out.get("buf", b"")), stderr=_text(err.get("buf", b"")),
        stdout_truncated=out.get("total", 0) > output_limit, stderr_truncated=err.get("total", 0) > output_limit,
        stdout_bytes=out.get("total", 0), stderr_bytes=err.get("total", 0), timed_out=timed_out, signal=signal,
    )
