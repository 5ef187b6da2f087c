"""Listening sockets for the tool's local servers (the sandbox, `webhooks listen`).

Light: no asyncio, no server library. Both servers bind through here so that a port in
use, a missing address or a privileged port reads the same one-line error everywhere.
"""

from __future__ import annotations

import errno
import socket


class BindError(Exception):
    """The address cannot be listened on; the message says which and why, in one line."""


_BIND_REASONS = {
    errno.EADDRINUSE: "the port is already in use",
    errno.EACCES: "permission denied (ports below 1024 need privileges)",
    errno.EADDRNOTAVAIL: "this machine has no such address",
}


def bind(host: str, port: int) -> socket.socket:
    """A TCP socket bound to `host`:`port` (0 = any free port), not yet listening."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # proto=IPPROTO_TCP, not 0: asyncio only sets TCP_NODELAY on accepted sockets whose
    # proto says TCP, and without it every keep-alive answer waits ~40 ms (Nagle).
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        reason = _BIND_REASONS.get(exc.errno or 0) or exc.strerror or str(exc)
        shown = f"[{host}]" if ":" in host else host
        raise BindError(f"cannot listen on {shown}:{port}: {reason}") from exc
    except BaseException:
        sock.close()
        raise
    return sock


def socket_url(sock: socket.socket) -> str:
    """`http://host:port` of a bound socket (IPv6 hosts in brackets)."""
    host, port = sock.getsockname()[:2]
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"
