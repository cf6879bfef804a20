"""The data downloader refuses at connect time what curl -sSL would have fetched.

A loopback listener stands in for an internal endpoint: every bypass below must leave it
without a single connection. The data server the downloader may use lives on 127.0.0.2,
made reachable with a trusted network, as an operator would allow an in-house server.
"""

from __future__ import annotations

import http.server
import ipaddress
import select
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from kaito.tuning.fetch import Downloader, FetchFailed, Refused, download_all, file_name, main
from kaito.urlguard import Address, parse_networks
from tests.support.http_server import serving

DATA = b'{"messages": [{"role": "user", "content": "hi"}]}\n'
TRUSTED = parse_networks(["127.0.0.2/32"])


class Sentinel:
    """A listener on 127.0.0.1 that must never be connected to."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]

    def connections(self) -> int:
        count = 0
        while select.select([self.sock], [], [], 0)[0]:
            conn, _ = self.sock.accept()
            conn.close()
            count += 1
        return count


@pytest.fixture
def sentinel() -> Iterator[Sentinel]:
    s = Sentinel()
    yield s
    s.sock.close()


class Routes(http.server.BaseHTTPRequestHandler):
    routes: dict[str, tuple[int, dict[str, str], bytes]] = {}
    hits: list[str] = []

    def do_GET(self) -> None:
        self.hits.append(self.path)
        status, headers, body = self.routes.get(self.path, (404, {}, b"no such file"))
        if callable(body):
            status, headers, body = body()
        self.send_response(status)
        for key, value in headers.items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def server() -> Iterator[tuple[str, type[Routes]]]:
    handler = type("Handler", (Routes,), {"routes": {}, "hits": []})
    with serving("127.0.0.2", handler) as base:
        yield base, handler


def test_a_trusted_server_is_downloaded_into_dest(
    server: tuple[str, type[Routes]], tmp_path: Path
) -> None:
    base, handler = server
    handler.routes["/sets/train.jsonl?sig=abc"] = (200, {}, DATA)
    download_all([f"{base}/sets/train.jsonl?sig=abc"], tmp_path, Downloader(trusted=TRUSTED))
    assert (tmp_path / "train.jsonl").read_bytes() == DATA
    assert [p.name for p in tmp_path.iterdir()] == ["train.jsonl"]  # no partial file left


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:{port}/",
        "http://127.1:{port}/",
        "http://2130706433:{port}/",
        "http://%31%32%37.0.0.1:{port}/",
        "http://%6c%6f%63%61%6c%68%6f%73%74:{port}/",
        "http://\uff11\uff12\uff17.0.0.1:{port}/",
        "http://\u2460\u2461\u2466.0.0.1:{port}/",
        "http://127\u30020\u30020\u30021:{port}/",
        "http://127.0.0.1\u200b:{port}/",
        "http://localhost:{port}/",
        "http://[::ffff:127.0.0.1]:{port}/",
    ],
)
def test_internal_urls_are_refused_before_connecting(
    url: str, sentinel: Sentinel, tmp_path: Path
) -> None:
    with pytest.raises(Refused):
        download_all([url.format(port=sentinel.port)], tmp_path, Downloader(trusted=TRUSTED))
    assert sentinel.connections() == 0
    assert list(tmp_path.iterdir()) == []


def test_a_redirect_to_loopback_is_refused_at_the_hop(
    server: tuple[str, type[Routes]], sentinel: Sentinel, tmp_path: Path
) -> None:
    base, handler = server
    handler.routes["/train.jsonl"] = (
        302,
        {"Location": f"http://127.0.0.1:{sentinel.port}/secret"},
        b"",
    )
    with pytest.raises(Refused, match=r"127\.0\.0\.1"):
        download_all([f"{base}/train.jsonl"], tmp_path, Downloader(trusted=TRUSTED))
    assert handler.hits == ["/train.jsonl"]
    assert sentinel.connections() == 0


def test_a_redirect_to_a_name_that_resolves_inside_is_refused(
    server: tuple[str, type[Routes]], sentinel: Sentinel, tmp_path: Path
) -> None:
    base, handler = server
    handler.routes["/train.jsonl"] = (
        307,
        {"Location": f"http://data.example.com:{sentinel.port}/x"},
        b"",
    )

    def resolver(host: str, port: int) -> list[Address]:
        return [ipaddress.ip_address("127.0.0.2" if host == "127.0.0.2" else "127.0.0.1")]

    downloader = Downloader(trusted=TRUSTED, resolver=resolver)
    with pytest.raises(Refused, match=r"data\.example\.com resolves to 127\.0\.0\.1"):
        download_all([f"{base}/train.jsonl"], tmp_path, downloader)
    assert sentinel.connections() == 0


def test_a_name_with_any_internal_address_is_refused(sentinel: Sentinel, tmp_path: Path) -> None:
    """A rebinding DNS answer (public first, loopback second) is judged as a whole."""

    def resolver(host: str, port: int) -> list[Address]:
        return [ipaddress.ip_address("93.184.215.14"), ipaddress.ip_address("127.0.0.1")]

    with pytest.raises(Refused):
        Downloader(resolver=resolver).fetch(
            f"http://data.example.com:{sentinel.port}/", tmp_path / "f"
        )
    assert sentinel.connections() == 0


def test_the_connection_goes_to_the_checked_address_not_a_second_lookup(
    server: tuple[str, type[Routes]], tmp_path: Path
) -> None:
    """The host name travels as Host; the socket goes to the address that was judged."""
    base, handler = server
    port = int(base.rsplit(":", 1)[1])
    handler.routes["/d.jsonl"] = (200, {}, DATA)
    lookups: list[str] = []

    def resolver(host: str, p: int) -> list[Address]:
        lookups.append(host)
        return [ipaddress.ip_address("127.0.0.2")]

    downloader = Downloader(trusted=TRUSTED, resolver=resolver)
    downloader.fetch(f"http://data.example.com:{port}/d.jsonl", tmp_path / "d.jsonl")
    assert lookups == ["data.example.com"]
    assert (tmp_path / "d.jsonl").read_bytes() == DATA


def test_too_many_redirects_and_oversized_bodies_fail_without_retry(
    server: tuple[str, type[Routes]], tmp_path: Path
) -> None:
    base, handler = server
    handler.routes["/loop"] = (302, {"Location": "/loop"}, b"")
    handler.routes["/big"] = (200, {}, b"x" * 2048)
    downloader = Downloader(trusted=TRUSTED, max_bytes=1024)
    with pytest.raises(FetchFailed, match="more than 5 redirects") as loop:
        download_all([f"{base}/loop"], tmp_path, downloader, sleep=_no_sleep)
    assert not loop.value.retryable
    assert handler.hits.count("/loop") == 6
    with pytest.raises(FetchFailed, match="over --max-bytes"):
        download_all([f"{base}/big"], tmp_path, downloader, sleep=_no_sleep)
    assert handler.hits.count("/big") == 1
    assert list(tmp_path.iterdir()) == []


def _no_sleep(seconds: float) -> None:
    pass


def test_server_errors_are_retried_and_client_errors_are_not(
    server: tuple[str, type[Routes]], tmp_path: Path
) -> None:
    base, handler = server
    answers = iter([(503, {}, b"busy"), (200, {}, DATA)])
    handler.routes["/flaky.jsonl"] = (0, {}, lambda: next(answers))  # type: ignore[dict-item]
    slept: list[float] = []
    download_all([f"{base}/flaky.jsonl"], tmp_path, Downloader(trusted=TRUSTED), sleep=slept.append)
    assert (tmp_path / "flaky.jsonl").read_bytes() == DATA
    assert slept == [5.0]
    with pytest.raises(FetchFailed, match="HTTP 404"):
        download_all([f"{base}/missing"], tmp_path, Downloader(trusted=TRUSTED), sleep=slept.append)
    assert handler.hits.count("/missing") == 1


def test_file_names_are_the_last_segment_made_unique() -> None:
    taken: set[str] = set()
    assert file_name("https://x.example.com/a/train.jsonl?x=1", 0, taken) == "train.jsonl"
    assert file_name("https://y.example.com/b/train.jsonl", 1, taken) == "2-train.jsonl"
    assert file_name("https://x.example.com/", 2, taken) == "data-2"
    assert file_name("https://x.example.com/a/..", 3, taken) == "data-3"
    assert file_name("https://x.example.com/a/%2e%2e%2fetc", 4, taken) == "data-4"


def test_main_exits_2_on_a_refused_url_before_downloading_anything(
    server: tuple[str, type[Routes]],
    sentinel: Sentinel,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    base, handler = server
    handler.routes["/ok.jsonl"] = (200, {}, DATA)
    code = main(
        [
            f"--dest={tmp_path}",
            "--trusted-network=127.0.0.2/32",
            f"{base}/ok.jsonl",
            f"http://kubernetes.default.svc:{sentinel.port}/",
        ]
    )
    assert code == 2
    assert "cluster-internal name" in capsys.readouterr().err
    assert handler.hits == []
    assert sentinel.connections() == 0


def test_main_reads_the_urls_from_data_urls_as_upstreams_container_carries_them(
    server: tuple[str, type[Routes]],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    base, handler = server
    handler.routes["/a.jsonl"] = (200, {}, DATA)
    handler.routes["/b.jsonl"] = (200, {}, DATA)
    monkeypatch.setenv("DATA_URLS", f"{base}/a.jsonl {base}/b.jsonl")
    assert main([f"--dest={tmp_path}", "--trusted-network=127.0.0.2/32"]) == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.jsonl", "b.jsonl"]
