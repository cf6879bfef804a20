"""The SSRF guard for tuning input URLs (upstream ``validateDataSourceURL``, HEAD).

The data-downloader init container fetches these URLs from inside the cluster,
so a URL pointing at loopback, a private network, link-local addresses (cloud
instance metadata at 169.254.169.254) or a metadata hostname would let a
Workspace author read internal endpoints. Admission checks what it can without
resolving names (a webhook must answer fast and deterministically): literal
addresses in any form ``curl`` accepts (``127.1``, ``2130706433``, ``0x7f.0.0.1``,
``[::ffff:127.0.0.1]``) and well-known local/metadata hostnames. Names that only
*resolve* to such addresses are out of reach here.
"""

from __future__ import annotations

import ipaddress
import socket
from typing import Final
from urllib.parse import urlsplit

INVALID: Final = "invalid data source URL"
SCHEME: Final = "data source URL must use HTTP or HTTPS"
LOCAL_HOST: Final = "data source URL must not target a local or metadata endpoint"
LOCAL_ADDRESS: Final = "data source URL must not target a loopback, private, or link-local address"

METADATA_HOSTNAMES: Final = frozenset(
    {
        "metadata.google.internal",
        "metadata.google",
        "instance-data.ec2.internal",
        "instance-data",
        "metadata",
        "metadata.azure.internal",
    }
)


def _literal_address(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    bare = host.split("%", 1)[0]
    try:
        return ipaddress.ip_address(bare)
    except ValueError:
        pass
    # inet_aton accepts the shorthand forms curl and browsers accept ("127.1",
    # "2130706433", "0x7f.1"); it does no DNS. Only try it on all-numeric-ish hosts.
    if bare and all(ch in "0123456789abcdefx." for ch in bare) and any(c.isdigit() for c in bare):
        try:
            return ipaddress.IPv4Address(socket.inet_aton(bare))
        except OSError:
            return None
    return None


def _forbidden(addr: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    if isinstance(addr, ipaddress.IPv6Address):
        mapped = addr.ipv4_mapped or addr.sixtofour
        if mapped is not None and _forbidden(mapped):
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
        or addr in ipaddress.IPv4Network("100.64.0.0/10")  # carrier-grade NAT / cluster ranges
    )


def data_source_url_error(url: str) -> str | None:
    """The upstream message for a URL the tuning data-downloader must not fetch, else ``None``."""
    if any(ch.isspace() for ch in url):
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
    host = host.lower().rstrip(".")
    if host == "localhost" or host.endswith(".localhost") or host in METADATA_HOSTNAMES:
        return LOCAL_HOST
    addr = _literal_address(host)
    if addr is not None and _forbidden(addr):
        return LOCAL_ADDRESS
    return None
