"""Which `Host` headers the sandbox answers: its guard against DNS rebinding.

A web page can make a browser send requests to 127.0.0.1 by pointing a name it controls
at that address (DNS rebinding). Such a request carries the attacker's name in `Host`, so
a server that answers only the names it is known by cannot be reached that way.

Accepted: the loopback names (`localhost`, `*.localhost`, 127.0.0.0/8, `::1`) with any
port; names under the other special-use TLDs of RFC 6761 (`.test`, `.invalid`,
`.example`), which the public DNS never delegates, so a remote attacker cannot point one
anywhere (only the machine's owner can, in a hosts file or a proxy's aliases); the
address the server was bound to, when it was given explicitly; every name of
`--allowed-host`. A server bound to a wildcard address (0.0.0.0, ::) cannot know which
of the machine's addresses clients will use, so it also accepts any IP literal: rebinding
needs a name, and an IP literal in `Host` is not one. A request without `Host` (HTTP/1.0)
is answered, since browsers always send one. Anything else gets 421 MISDIRECTED_REQUEST.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass

from makini_cli.sandbox.settings import is_loopback


def host_name(header: str) -> str:
    """`[::1]:8765` → `::1`, `Example.COM.:80` → `example.com`: the name without port."""
    value = header.strip().lower()
    if value.startswith("["):
        name, _, _ = value[1:].partition("]")
    elif value.count(":") == 1:
        name = value.partition(":")[0]
    else:
        name = value  # a bare name, or an IPv6 literal without brackets (not valid, but clear)
    return name.rstrip(".")


#: RFC 6761 special-use top-level domains besides `localhost` (see the module's doc).
SPECIAL_USE_TLDS = ("test", "invalid", "example")


def _special_use(name: str) -> bool:
    return name.rpartition(".")[2] in SPECIAL_USE_TLDS


def _is_ip(name: str) -> bool:
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return False
    return True


def _is_wildcard(host: str) -> bool:
    try:
        return ipaddress.ip_address(host.strip("[]")).is_unspecified
    except ValueError:
        return False


@dataclass(frozen=True)
class HostPolicy:
    names: frozenset[str]
    any_ip_literal: bool = False

    def allows(self, header: str | None) -> bool:
        if header is None:
            return True
        name = host_name(header)
        if is_loopback(name) or _special_use(name) or name in self.names:
            return True
        return self.any_ip_literal and _is_ip(name)


def host_policy(bound_host: str | None, allowed: Iterable[str] = ()) -> HostPolicy:
    """The policy of a server bound to `bound_host` (None: loopback only)."""
    names = {host_name(name) for name in allowed if name.strip()}
    wildcard = bound_host is not None and _is_wildcard(bound_host)
    if bound_host is not None and not wildcard:
        names.add(bound_host.strip().strip("[]").lower().rstrip("."))
    return HostPolicy(frozenset(names), any_ip_literal=wildcard)
