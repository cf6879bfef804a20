"""The provider-neutral values and errors."""

from __future__ import annotations

import pytest

from kaito.provisioner.cloud import (
    CloudError,
    CreateInProgress,
    ImageFamily,
    InstanceNotFound,
    InstanceRequest,
    InvalidRequest,
    QuotaExceeded,
    SkuUnavailable,
    Taint,
    Throttled,
    TransientError,
)


def test_taint_renders_like_aks_node_taints() -> None:
    assert str(Taint("sku", "gpu")) == "sku=gpu:NoSchedule"
    assert str(Taint("dedicated", "", "NoExecute")) == "dedicated:NoExecute"


def test_request_copies_labels_and_tags_and_freezes_taints() -> None:
    labels = {"a": "1"}
    taints = [Taint("sku", "gpu")]
    request = InstanceRequest("ws1", "Standard_NC6s_v3", labels=labels, taints=taints)
    labels["b"] = "2"
    taints.append(Taint("x"))
    assert request.labels == {"a": "1"}
    assert request.taints == (Taint("sku", "gpu"),)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("ubuntu", ImageFamily.UBUNTU),
        ("Ubuntu", ImageFamily.UBUNTU),
        ("AzureLinux", ImageFamily.AZURE_LINUX),
        (ImageFamily.AZURE_LINUX, ImageFamily.AZURE_LINUX),
    ],
)
def test_image_family_is_case_insensitive(value: str, expected: ImageFamily) -> None:
    assert InstanceRequest("ws1", "x", image_family=value).image_family is expected


def test_unknown_image_family_is_an_invalid_request() -> None:
    with pytest.raises(InvalidRequest, match=r"'windows'.*ubuntu, azurelinux"):
        InstanceRequest("ws1", "x", image_family="windows")


@pytest.mark.parametrize(
    ("kind", "retryable"),
    [
        (QuotaExceeded, False),
        (SkuUnavailable, False),
        (InvalidRequest, False),
        (InstanceNotFound, False),
        (Throttled, True),
        (TransientError, True),
        (CreateInProgress, True),
        (CloudError, True),
    ],
)
def test_retryable_follows_the_kind(kind: type[CloudError], retryable: bool) -> None:
    error = kind("words", code="Code")
    assert error.retryable is retryable
    assert isinstance(error, CloudError)


def test_error_keeps_the_clouds_words() -> None:
    error = Throttled("slow down", code="TooManyRequests", status=429, retry_after=3.0)
    assert error.message == "slow down"
    assert str(error) == "TooManyRequests: slow down"
    assert error.retry_after == 3.0
    assert error.status == 429
    assert str(CloudError("plain")) == "plain"
