"""The tuning Job's ``data-downloader``: fetch input URLs without letting them reach inside.

Upstream runs ``curl -sSL`` here, which percent-decodes and IDN-maps host names and follows
redirects anywhere, so a URL the webhook judged public could still read a loopback or
metadata endpoint. This downloader is the enforcement point the webhook cannot be:

- every URL, and every redirect hop, passes :func:`kaito.urlguard.data_source_url_error`;
- the host name is resolved here, *every* address it resolves to is judged with
  :func:`kaito.urlguard.address_forbidden`, and the connection goes to that checked address
  (no second lookup a rebinding DNS server could answer differently); TLS still verifies
  the certificate against the name;
- proxies from the environment are ignored, the body is capped (``--max-bytes``) and every
  socket operation has a timeout.

    python -m kaito.tuning.fetch --dest /mnt/data [--trusted-network 10.0.0.0/8] [URL...]

Without URL arguments it reads them, space-separated, from ``DATA_URLS`` (the variable
upstream's downloader container carries, which the Job keeps).

Each URL lands in ``--dest`` under its path's last segment. Exit status 0 when all arrived
non-empty, 2 when a URL is refused (retrying cannot help), 1 when a download failed after
its retries. The reason goes to stderr and, in a pod, to ``/dev/termination-log`` so it reaches
the pod's status. Standard library only.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import ipaddress
import os
import socket
import ssl
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Final
from urllib.parse import unquote, urljoin, urlsplit

from kaito.urlguard import (
    Address,
    Network,
    address_forbidden,
    data_source_url_error,
    parse_networks,
)

MAX_REDIRECTS: Final = 5
RETRY_STATUSES: Final = frozenset({408, 425, 429, 500, 502, 503, 504})
TERMINATION_LOG: Final = Path("/dev/termination-log")
CHUNK: Final = 1 << 20

Resolver = Callable[[str, int], list[Address]]


class Refused(Exception):
    """The URL (or a hop it redirects to) must not be fetched: not retried."""


class FetchFailed(Exception):
    """The download did not succeed; ``retryable`` says whether another attempt may."""

    def __init__(self, message: str, *, retryable: bool) -> None:
        super().__init__(message)
        self.retryable = retryable


def resolve(host: str, port: int) -> list[Address]:
    """Every address ``host`` resolves to for a TCP connection (literals resolve to themselves)."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as err:
        raise FetchFailed(f"cannot resolve {host}: {err.strerror}", retryable=True) from None
    seen: dict[str, Address] = {}
    for _family, _type, _proto, _name, sockaddr in infos:
        text = str(sockaddr[0]).split("%", 1)[0]
        seen.setdefault(text, ipaddress.ip_address(text))
    return list(seen.values())


class _PinnedHTTP(http.client.HTTPConnection):
    """An HTTP connection to ``address``, whatever ``host`` (sent as Host) resolves to."""

    def __init__(self, host: str, port: int, address: Address, timeout: float) -> None:
        super().__init__(host, port, timeout=timeout)
        self.address = address

    def connect(self) -> None:
        self.sock = socket.create_connection((str(self.address), self.port), self.timeout)


class _PinnedHTTPS(http.client.HTTPSConnection):
    """An HTTPS connection to ``address``; the certificate is checked against ``host``."""

    def __init__(
        self, host: str, port: int, address: Address, timeout: float, context: ssl.SSLContext
    ) -> None:
        super().__init__(host, port, timeout=timeout, context=context)
        self.address = address
        self.tls = context

    def connect(self) -> None:
        raw = socket.create_connection((str(self.address), self.port), self.timeout)
        self.sock = self.tls.wrap_socket(raw, server_hostname=self.host)


class Downloader:
    """Fetches URLs under the SSRF policy; one instance per Job (settings from flags)."""

    def __init__(
        self,
        *,
        trusted: tuple[Network, ...] = (),
        max_bytes: int = 10 << 30,
        timeout: float = 30.0,
        resolver: Resolver = resolve,
        tls: ssl.SSLContext | None = None,
    ) -> None:
        self.trusted = trusted
        self.max_bytes = max_bytes
        self.timeout = timeout
        self.resolver = resolver
        self.tls = tls or ssl.create_default_context()

    def _check(self, url: str) -> tuple[str, int, Address]:
        reason = data_source_url_error(url, self.trusted)
        if reason is not None:
            raise Refused(f"{url}: {reason}")
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = parts.port or (443 if parts.scheme.lower() == "https" else 80)
        addresses = self.resolver(host, port)
        if not addresses:
            raise FetchFailed(f"{host} resolves to no address", retryable=True)
        bad = [a for a in addresses if address_forbidden(a, self.trusted)]
        if bad:
            raise Refused(
                f"{url}: {host} resolves to {bad[0]}: data source URL must not target "
                "a loopback, private, or link-local address"
            )
        return host, port, addresses[0]

    def _connection(self, url: str) -> http.client.HTTPConnection:
        host, port, address = self._check(url)
        if urlsplit(url).scheme.lower() == "https":
            return _PinnedHTTPS(host, port, address, self.timeout, self.tls)
        return _PinnedHTTP(host, port, address, self.timeout)

    def fetch(self, url: str, target: Path) -> int:
        """Download ``url`` into ``target``; follow at most 5 redirects, each re-checked."""
        current = url
        for _hop in range(MAX_REDIRECTS + 1):
            conn = self._connection(current)
            parts = urlsplit(current)
            path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
            try:
                conn.request("GET", path, headers={"User-Agent": "kaito-data-downloader"})
                resp = conn.getresponse()
                if resp.status in (301, 302, 303, 307, 308):
                    location = resp.getheader("Location")
                    if not location:
                        raise FetchFailed(f"{current}: redirect without Location", retryable=False)
                    current = urljoin(current, location)
                    continue
                if resp.status != 200:
                    raise FetchFailed(
                        f"{current} answered HTTP {resp.status} {resp.reason}",
                        retryable=resp.status in RETRY_STATUSES,
                    )
                return self._save(resp, current, target)
            except (OSError, http.client.HTTPException) as err:
                raise FetchFailed(f"{current}: {err}", retryable=True) from None
            finally:
                conn.close()
        raise FetchFailed(f"{url}: more than {MAX_REDIRECTS} redirects", retryable=False)

    def _save(self, resp: http.client.HTTPResponse, url: str, target: Path) -> int:
        length = resp.getheader("Content-Length")
        if length is not None and length.isdigit() and int(length) > self.max_bytes:
            raise FetchFailed(f"{url} is {length} bytes, over --max-bytes", retryable=False)
        partial = target.with_name(f".{target.name}.part")
        size = 0
        with partial.open("wb") as out:
            while chunk := resp.read(CHUNK):
                size += len(chunk)
                if size > self.max_bytes:
                    partial.unlink(missing_ok=True)
                    raise FetchFailed(f"{url} is over --max-bytes", retryable=False)
                out.write(chunk)
        if size == 0:
            partial.unlink(missing_ok=True)
            raise FetchFailed(f"{url} was empty", retryable=True)
        partial.replace(target)
        return size


def file_name(url: str, index: int, taken: set[str]) -> str:
    """The path's last segment (decoded, without query), made unique and safe as a file name."""
    segment = unquote(urlsplit(url).path.rsplit("/", 1)[-1])
    name = segment if segment not in ("", ".", "..") and "/" not in segment else f"data-{index}"
    stem, n = name, 1
    while name in taken:
        n += 1
        name = f"{n}-{stem}"
    taken.add(name)
    return name


def download_all(
    urls: Sequence[str],
    dest: Path,
    downloader: Downloader,
    *,
    attempts: int = 3,
    backoff: float = 5.0,
    sleep: Callable[[float], None] = time.sleep,
) -> None:
    """Every URL into ``dest``; raise :class:`Refused` or the last :class:`FetchFailed`."""
    dest.mkdir(parents=True, exist_ok=True)
    for url in urls:  # refuse before downloading anything
        reason = data_source_url_error(url, downloader.trusted)
        if reason is not None:
            raise Refused(f"{url}: {reason}")
    taken: set[str] = set()
    for index, url in enumerate(urls):
        target = dest / file_name(url, index, taken)
        for attempt in range(1, attempts + 1):
            try:
                size = downloader.fetch(url, target)
            except FetchFailed as err:
                if not err.retryable or attempt == attempts:
                    raise
                print(f"attempt {attempt}: {err}", file=sys.stderr)
                sleep(backoff * attempt)
                continue
            print(f"{url} -> {target} ({size} bytes)")
            break


def _report(message: str) -> None:
    print(message, file=sys.stderr, flush=True)
    if TERMINATION_LOG.exists():  # the kubelet's file; never create one outside a pod
        with contextlib.suppress(OSError):
            TERMINATION_LOG.write_text(message[:4000])


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="kaito-fetch", description="Download tuning input URLs under the SSRF policy."
    )
    parser.add_argument("urls", nargs="*", metavar="URL", help="default: $DATA_URLS")
    parser.add_argument("--dest", type=Path, required=True, help="directory to write into")
    parser.add_argument(
        "--trusted-network",
        action="append",
        default=[],
        metavar="CIDR",
        help="a private network the operator allows (repeatable)",
    )
    parser.add_argument("--max-bytes", type=int, default=10 << 30, help="per-URL size cap")
    parser.add_argument("--timeout", type=float, default=30.0, help="per-operation timeout (s)")
    parser.add_argument("--attempts", type=int, default=3)
    args = parser.parse_args(argv)
    urls = args.urls or os.environ.get("DATA_URLS", "").split()
    if not urls:
        parser.error("no URL given (arguments or DATA_URLS)")
    try:
        trusted = parse_networks(args.trusted_network)
    except ValueError as err:
        parser.error(str(err))
    downloader = Downloader(trusted=trusted, max_bytes=args.max_bytes, timeout=args.timeout)
    try:
        download_all(urls, args.dest, downloader, attempts=args.attempts)
    except Refused as err:
        _report(f"refused: {err}")
        return 2
    except FetchFailed as err:
        _report(f"failed to download: {err}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
