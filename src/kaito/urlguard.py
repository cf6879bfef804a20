"""The SSRF guard for tuning input URLs (upstream ``validateDataSourceURL``, made strict).

The data downloader fetches these URLs from inside the cluster, so a URL pointing at
loopback, a private network, link-local addresses (cloud instance metadata at
169.254.169.254), a metadata hostname or a cluster Service would let a Workspace author
read internal endpoints. Two layers share this module:

- admission (:func:`data_source_url_error`) checks the URL as written, without resolving
  names (a webhook must answer fast and deterministically). It accepts only hosts that
  are plain ASCII LDH names with a dot, or literal addresses: percent-encoded, IDN,
  fullwidth or zero-width characters never reach a downloader that might decode them
  differently, and every numeric shorthand ``inet_aton`` accepts (``127.1``,
  ``2130706433``, ``0x7f.0.0.1``) is judged as the address it is;
- the downloader (:mod:`kaito.tuning.fetch`) re-checks every redirect hop the same way
  and judges each *resolved* address with :func:`address_forbidden` before it connects.

``trusted`` networks (the manager's ``--trusted-data-networks``) are the operator's
explicit exceptions, e.g. an in-house data server on a private address.
"""

from __future__ import annotations

import ipaddress
import re
import socket
from collections.abc import Iterable
from typing import Final, TypeAlias
from urllib.parse import urlsplit

Address: TypeAlias = ipaddress.IPv4Address | ipaddress.IPv6Address
Network: TypeAlias = ipaddress.IPv4Network | ipaddress.IPv6Network

INVALID: Final = "invalid data source URL"
SCHEME: Final = "data source URL must use HTTP or HTTPS"
HOST_SYNTAX: Final = (
    "data source URL host must be a plain ASCII DNS name or an IP address "
    "(no percent-encoding, Unicode or IDN)"
)
LOCAL_HOST: Final = "data source URL must not target a local or metadata endpoint"
CLUSTER_HOST: Final = (
    "data source URL must not target a cluster-internal name (use a fully qualified public name)"
)
LOCAL_ADDRESS: Final = "data source URL must not target a loopback, private, or link-local address"

METADATA_HOSTNAMES: Final = frozenset(
    {
        "metadata.google.internal",
        "metadata.google",
        "instance-data.ec2.internal",
        "metadata.azure.internal",
        "instance-data",
        "metadata",
    }
)
INTERNAL_SUFFIXES: Final = (".svc", ".cluster.local", ".local", ".internal", ".localdomain")
"""Names only a cluster's or a site's own DNS answers: Services, mDNS, cloud-internal zones."""

_LABEL: Final = r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?"
_LDH_NAME: Final = re.compile(rf"(?:{_LABEL}\.)*{_LABEL}")
_CGNAT: Final = ipaddress.IPv4Network("100.64.0.0/10")  # carrier-grade NAT, often cluster ranges


def parse_networks(values: Iterable[str]) -> tuple[Network, ...]:
    """CIDRs (``10.0.0.0/8``, ``fd00::/8``, a bare address) as networks; ValueError names one."""
    networks = []
    for value in values:
        text = value.strip()
        if not text:
            continue
        try:
            networks.append(ipaddress.ip_network(text, strict=False))
        except ValueError:
            raise ValueError(f"{text!r} is not an IP network (CIDR)") from None
    return tuple(networks)


def literal_address(host: str) -> Address | None:
    """``host`` as the address ``curl`` or ``inet_aton`` would read it, else ``None`` (a name)."""
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        pass
    # inet_aton accepts the shorthand forms curl and browsers accept ("127.1",
    # "2130706433", "0x7f.1"); it does no DNS. Only try it on all-numeric-ish hosts.
    if host and all(ch in "0123456789abcdefx." for ch in host) and any(c.isdigit() for c in host):
        try:
            return ipaddress.IPv4Address(socket.inet_aton(host))
        except OSError:
            return None
    return None


def _always_forbidden(addr: Address) -> bool:
    if isinstance(addr, ipaddress.IPv6Address):
        mapped = addr.ipv4_mapped or addr.sixtofour
        if mapped is not None and _always_forbidden(mapped):
            return True
        if addr in ipaddress.IPv6Network("ff02::/16"):  # link-local multicast
            return True
    elif addr in ipaddress.IPv4Network("224.0.0.0/24"):  # link-local multicast
        return True
    return (
        addr.is_loopback
        or addr.is_private
        or addr.is_link_local
        or addr.is_unspecified
        or addr.is_reserved
        or addr.is_multicast
        or addr in _CGNAT
    )


def address_forbidden(addr: Address, trusted: tuple[Network, ...] = ()) -> bool:
    """Whether the downloader must not connect to ``addr`` (unless a trusted network has it)."""
    if any(addr.version == net.version and addr in net for net in trusted):
        return False
    return _always_forbidden(addr)


def _host_error(netloc: str, host: str, trusted: tuple[Network, ...]) -> str | None:
    authority = netloc.rsplit("@", 1)[-1]
    if authority.startswith("["):
        if "%" in host:  # an IPv6 zone names a local interface
            return LOCAL_ADDRESS
        try:
            addr: Address | None = ipaddress.IPv6Address(host)
        except ValueError:
            return INVALID
    else:
        name = host[:-1] if host.endswith(".") else host  # one root dot; "a.." stays invalid
        if not _LDH_NAME.fullmatch(name) or len(name) > 253:
            return HOST_SYNTAX
        addr = literal_address(name)
        if addr is None:
            return _name_error(name)
    if addr is not None and address_forbidden(addr, trusted):
        return LOCAL_ADDRESS
    return None


def _name_error(name: str) -> str | None:
    if name == "localhost" or name.endswith(".localhost") or name in METADATA_HOSTNAMES:
        return LOCAL_HOST
    if "." not in name or name.endswith(INTERNAL_SUFFIXES):
        # a single label resolves through the pod's search path: a Service in the cluster
        return CLUSTER_HOST
    return None


def data_source_url_error(url: str, trusted: tuple[Network, ...] = ()) -> str | None:
    """Why the tuning data downloader must not fetch ``url`` (upstream's words), else ``None``."""
    if not url.isascii() or not url.isprintable() or any(ch.isspace() for ch in url):
        return INVALID
    try:
        parts = urlsplit(url)
        host = parts.hostname
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError:
        return INVALID
    if not parts.scheme or not parts.netloc or not host:
        return INVALID
    if parts.scheme.lower() not in ("http", "https"):
        return SCHEME
    if "\\" in parts.netloc:
        return INVALID
    return _host_error(parts.netloc, host.lower(), trusted)
