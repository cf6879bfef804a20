"""The building blocks: URL guard, image references, DNS names, quantities, selectors."""

from __future__ import annotations

import pytest

from kaito.api.meta import LabelSelector, LabelSelectorRequirement, label_selector_as_map
from kaito.api.quantity import QuantityError, format_binary, format_memory, gib, parse_quantity
from kaito.api.validation.images import image_reference_error
from kaito.api.validation.names import dns1123_label_errors, dns1123_subdomain_errors
from kaito.urlguard import (
    CLUSTER_HOST,
    HOST_SYNTAX,
    INVALID,
    LOCAL_ADDRESS,
    LOCAL_HOST,
    SCHEME,
    data_source_url_error,
    parse_networks,
)


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://huggingface.co/datasets/x/resolve/main/train.parquet?download=true", None),
        ("http://example.com:8080/data.jsonl", None),
        ("HTTPS://EXAMPLE.COM/data", None),
        ("https://8.8.8.8/data", None),
        ("https://[2606:4700::1111]/data", None),
        ("ftp://example.com/data", SCHEME),
        ("file:///etc/passwd", INVALID),
        ("gopher://example.com/", SCHEME),
        ("not a url", INVALID),
        ("/relative/path", INVALID),
        ("https://", INVALID),
        ("http://example.com:99999/", INVALID),
        ("http://localhost/", LOCAL_HOST),
        ("http://LOCALHOST./", LOCAL_HOST),
        ("http://api.localhost/", LOCAL_HOST),
        ("http://metadata.google.internal/computeMetadata/v1/", LOCAL_HOST),
        ("http://instance-data.ec2.internal/", LOCAL_HOST),
        ("http://127.0.0.1/", LOCAL_ADDRESS),
        ("http://127.1/", LOCAL_ADDRESS),
        ("http://2130706433/", LOCAL_ADDRESS),
        ("http://0x7f.0.0.1/", LOCAL_ADDRESS),
        ("http://0.0.0.0:8080/", LOCAL_ADDRESS),
        ("http://[::1]/", LOCAL_ADDRESS),
        ("http://[::ffff:127.0.0.1]/", LOCAL_ADDRESS),
        ("http://[::ffff:169.254.169.254]/", LOCAL_ADDRESS),
        ("http://[fe80::1%25eth0]/", LOCAL_ADDRESS),
        ("http://169.254.169.254/latest/meta-data/", LOCAL_ADDRESS),
        ("http://10.1.2.3/", LOCAL_ADDRESS),
        ("http://172.16.0.1/", LOCAL_ADDRESS),
        ("http://192.168.1.1/", LOCAL_ADDRESS),
        ("http://100.100.100.200/", LOCAL_ADDRESS),
        ("http://[fd00::1]/", LOCAL_ADDRESS),
        ("http://224.0.0.1/", LOCAL_ADDRESS),
        ("http://user:pw@127.0.0.1/", LOCAL_ADDRESS),
        ("http://evil.com@10.0.0.1/", LOCAL_ADDRESS),
        ("http://cafe.be/", None),
        # curl percent-decodes, IDN-maps and strips what urlsplit keeps: none of it passes
        ("http://%31%32%37.0.0.1/", HOST_SYNTAX),
        ("http://%6c%6f%63%61%6c%68%6f%73%74/", HOST_SYNTAX),
        ("http://\uff11\uff12\uff17.0.0.1/", INVALID),  # fullwidth digits
        ("http://\u2460\u2461\u2466.0.0.1/", INVALID),  # circled digits
        ("http://127\u30020\u30020\u30021/", INVALID),  # ideographic full stop
        ("http://127.0.0.1\u200b/", INVALID),  # zero-width space
        ("http://xn--caf-dma.be/", None),  # punycode is plain LDH: resolved and checked later
        ("http://b\u00fccher.example/", INVALID),
        ("http://127.0.0.1\\@example.com/", INVALID),
        ("http://exa_mple.com/", HOST_SYNTAX),
        ("http://-lead.example.com/", HOST_SYNTAX),
        ("http://a..b.example.com/", HOST_SYNTAX),
        ("http://0177.0.0.1/", LOCAL_ADDRESS),
        ("http://0x7f000001/", LOCAL_ADDRESS),
        ("http://[::]/", LOCAL_ADDRESS),
        ("http://[::127.0.0.1]/", LOCAL_ADDRESS),
        ("http://[2002:7f00:1::]/", LOCAL_ADDRESS),  # 6to4 of 127.0.0.1
        ("http://239.1.1.1/", LOCAL_ADDRESS),
        # cluster-internal names: Services, the API server, search-path single labels
        ("http://kubernetes.default.svc/api", CLUSTER_HOST),
        ("https://kubernetes.default.svc.cluster.local/", CLUSTER_HOST),
        ("http://minio.data.svc.cluster.local:9000/bucket/train.jsonl", CLUSTER_HOST),
        ("http://kubernetes/", CLUSTER_HOST),
        ("http://my-data-service:8080/train.jsonl", CLUSTER_HOST),
        ("http://printer.local/", CLUSTER_HOST),
        ("http://db.corp.internal/", CLUSTER_HOST),
        ("http://metadata/", LOCAL_HOST),
    ],
)
def test_data_source_url(url: str, expected: str | None) -> None:
    assert data_source_url_error(url) == expected


def test_trusted_networks_admit_only_their_own_literal_addresses() -> None:
    trusted = parse_networks(["10.245.0.1/32", "fd00:1::/64"])
    assert data_source_url_error("http://10.245.0.1:8000/train.jsonl", trusted) is None
    assert data_source_url_error("http://[fd00:1::5]/train.jsonl", trusted) is None
    assert data_source_url_error("http://10.245.0.2/", trusted) == LOCAL_ADDRESS
    assert data_source_url_error("http://127.0.0.1/", trusted) == LOCAL_ADDRESS
    assert data_source_url_error("http://kubernetes.default.svc/", trusted) == CLUSTER_HOST
    with pytest.raises(ValueError, match=r"'10\.0\.0\.0/33' is not an IP network"):
        parse_networks(["10.0.0.0/33"])


@pytest.mark.parametrize(
    "ref",
    [
        "ACR_REPO_HERE.azurecr.io/ADAPTER_HERE:0.0.1",
        "ACR_REPO_HERE.azurecr.io/IMAGE_NAME_HERE:0.0.1",
        "mcr.microsoft.com/aks/kaito/kaito-phi-3-mini-4k-instruct:0.1.1",
        "busybox",
        "library/busybox:latest",
        "localhost:5000/a/b:tag",
        "registry.example.com/a@sha256:" + "a" * 64,
        "registry.example.com:443/a/b:1.0@sha256:" + "b" * 64,
        "[::1]:5000/img:1",
    ],
)
def test_image_reference_accepted(ref: str) -> None:
    assert image_reference_error(ref) is None


@pytest.mark.parametrize(
    "ref",
    [
        "",
        "has space:1",
        "https://registry.example.com/a:1",
        "registry.example.com/a:",
        "registry.example.com//a",
        "registry.example.com/a:bad:tag",
        "registry.example.com/-a:1",
        "registry.example.com/a@sha256:xyz",
        "a/" * 200 + "b",
    ],
)
def test_image_reference_rejected(ref: str) -> None:
    assert image_reference_error(ref) is not None


def test_dns_names() -> None:
    assert dns1123_label_errors("workspace-phi-3-mini") == []
    assert dns1123_label_errors("a.b") != []
    assert dns1123_subdomain_errors("a.b-c") == []
    assert dns1123_subdomain_errors("-a") != []
    assert dns1123_subdomain_errors("a" * 254) == ["must be no more than 253 characters"]


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("16Gi", 16 * 1024**3),
        ("16.5Gi", 17716740096),
        ("1Ki", 1024),
        ("1k", 1000),
        ("1.5G", 1_500_000_000),
        ("500m", 1),
        ("1e3", 1000),
        ("100", 100),
        (7, 7),
    ],
)
def test_parse_quantity(text: str | int, value: int) -> None:
    assert parse_quantity(text) == value


@pytest.mark.parametrize("text", ["", "Gi", "1GB", "1.2.3", "one"])
def test_parse_quantity_rejects(text: str) -> None:
    with pytest.raises(QuantityError):
        parse_quantity(text)


def test_format_quantities() -> None:
    assert format_binary(16 * 1024**3) == "16Gi"
    assert format_binary(17716740096) == "16896Mi"  # what Go's Quantity.String() prints
    assert format_binary(1000) == "1000"
    assert format_memory(17716740096) == "16.5Gi"
    assert format_memory(gib(131.42)) == "131.42Gi"
    assert format_memory(512 * 1024**2) == "512Mi"


def test_label_selector_as_map() -> None:
    sel = LabelSelector(
        match_labels={"a": "1"},
        match_expressions=[LabelSelectorRequirement(key="b", operator="In", values=["2"])],
    )
    assert label_selector_as_map(sel) == {"a": "1", "b": "2"}
    assert label_selector_as_map(None) == {}
    bad = LabelSelector(match_expressions=[LabelSelectorRequirement(key="b", operator="Foo")])
    with pytest.raises(ValueError, match='"Foo" is not a valid selector operator'):
        label_selector_as_map(bad)
