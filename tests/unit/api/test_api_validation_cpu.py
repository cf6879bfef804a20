"""Admission of CPU presets and CPU instance types (kaito's own rules, upstream's wording)."""

from __future__ import annotations

from typing import Any

import attrs
import pytest

from kaito.api import workspace_from_dict
from kaito.api.quantity import gib
from kaito.api.validation import validate_create
from kaito.api.validation.admission import review
from kaito.api.validation.gpu import millicores
from kaito.presets import default_catalog
from tests.unit.api.api_builders import CATALOG, CLOUD, edited, inference_dict, tuning_dict

SMOLLM2 = "smollm2-135m-instruct"
BYPASS = {"kaito.sh/bypass-resource-checks": "True"}


def _inference(instance_type: str, preset: str) -> dict[str, object]:
    data = inference_dict(instanceType=instance_type)
    data["inference"] = {"preset": {"name": preset}}
    return data


@pytest.mark.parametrize("sku", ["Standard_D2s_v5", "Standard_D4s_v5", "standard_d8s_v5"])
def test_cpu_preset_on_cpu_sku_is_accepted_without_gpu_checks(sku: str) -> None:
    result = validate_create(
        edited(_inference(sku, SMOLLM2), "resource.count", 2), catalog=CATALOG, cloud=CLOUD
    )
    assert (result.errors, result.warnings) == ([], [])


@pytest.mark.parametrize("sku", ["Standard_NC6s_v3", "Standard_NC24ads_A100_v4"])
def test_cpu_preset_on_gpu_sku_is_accepted(sku: str) -> None:
    result = validate_create(
        workspace_from_dict(_inference(sku, SMOLLM2)), catalog=CATALOG, cloud=CLOUD
    )
    assert (result.errors, result.warnings) == ([], [])


def test_gpu_preset_on_cpu_sku_is_refused_with_one_clear_message() -> None:
    result = validate_create(
        workspace_from_dict(_inference("Standard_D4s_v5", "phi-3-mini-4k-instruct")),
        catalog=CATALOG,
        cloud=CLOUD,
    )
    assert result.errors == [
        "invalid value: Insufficient number of GPUs: Instance type Standard_D4s_v5 is a CPU "
        "instance type with no GPUs, but preset phi-3-mini-4k-instruct requires at least 1: "
        "resource.instanceType"
    ]


def test_bypass_annotation_does_not_give_a_cpu_sku_gpus() -> None:
    ws = edited(_inference("Standard_D4s_v5", "falcon-40b"), "metadata.annotations", BYPASS)
    (error,) = validate_create(ws, catalog=CATALOG, cloud=CLOUD).errors
    assert "Standard_D4s_v5 is a CPU instance type with no GPUs" in error
    assert "preset falcon-40b requires at least 2" in error


def test_cpu_preset_that_does_not_fit_the_node_is_refused_unless_bypassed() -> None:
    catalog = default_catalog()
    big = attrs.evolve(catalog.inference[SMOLLM2], cpu="4", memory=gib(12))
    cat = attrs.evolve(catalog, inference={**catalog.inference, SMOLLM2: big})
    ws = workspace_from_dict(_inference("Standard_D2s_v5", SMOLLM2))
    assert validate_create(ws, cloud=CLOUD, catalog=cat).errors == [
        "invalid value: Insufficient CPU: Instance type Standard_D2s_v5 provides 2 vCPUs, but "
        "preset smollm2-135m-instruct requires at least 4: resource.instanceType",
        "invalid value: Insufficient memory: Instance type Standard_D2s_v5 has 8Gi of memory, "
        "but preset smollm2-135m-instruct requires at least 12Gi: resource.instanceType",
    ]
    bypassed = edited(_inference("Standard_D2s_v5", SMOLLM2), "metadata.annotations", BYPASS)
    assert validate_create(bypassed, cloud=CLOUD, catalog=cat).errors == []
    assert (
        validate_create(
            workspace_from_dict(_inference("Standard_D4s_v5", SMOLLM2)), cloud=CLOUD, catalog=cat
        ).errors
        == []
    )


def _tuning(instance_type: str, preset: str, method: str) -> dict[str, object]:
    data = tuning_dict(instanceType=instance_type)
    data["tuning"]["preset"] = {"name": preset}  # type: ignore[index]
    data["tuning"]["method"] = method  # type: ignore[index]
    return data


def test_cpu_tuning_with_lora_on_a_cpu_sku_is_accepted_without_warnings() -> None:
    result = validate_create(
        workspace_from_dict(_tuning("Standard_D4s_v5", SMOLLM2, "lora")),
        catalog=CATALOG,
        cloud=CLOUD,
    )
    assert (result.errors, result.warnings) == ([], [])


def test_cpu_tuning_refuses_qlora() -> None:
    ws = workspace_from_dict(_tuning("Standard_D4s_v5", SMOLLM2, "qlora"))
    assert validate_create(ws, catalog=CATALOG, cloud=CLOUD).errors == [
        "invalid value: Tuning method qlora is not supported for preset smollm2-135m-instruct; "
        "supported methods: lora: tuning.method"
    ]


def test_gpu_tuning_on_a_cpu_sku_is_refused() -> None:
    ws = workspace_from_dict(_tuning("Standard_D8s_v5", "phi-3-mini-4k-instruct", "qlora"))
    result = validate_create(ws, catalog=CATALOG, cloud=CLOUD)
    assert result.errors == [
        "invalid value: Insufficient number of GPUs: Instance type Standard_D8s_v5 is a CPU "
        "instance type with no GPUs, but tuning preset phi-3-mini-4k-instruct requires at "
        "least 1: resource.instanceType"
    ]
    assert result.warnings == []


@pytest.mark.parametrize(
    ("text", "millis"), [("1", 1000), ("2", 2000), ("500m", 500), ("1.5", 1500)]
)
def test_millicores(text: str, millis: int) -> None:
    assert millicores(text) == millis


def test_the_webhook_admits_the_cpu_sample_and_denies_a_gpu_preset_on_a_cpu_sku() -> None:
    def decide(data: dict[str, object]) -> dict[str, Any]:
        request = {"uid": "u", "operation": "CREATE", "object": data}
        response: dict[str, Any] = review({"request": request}, catalog=CATALOG, cloud=CLOUD)[
            "response"
        ]
        return response

    assert decide(_inference("Standard_D4s_v5", SMOLLM2))["allowed"] is True
    denied = decide(_inference("Standard_D4s_v5", "phi-3-mini-4k-instruct"))
    assert denied["allowed"] is False
    assert "is a CPU instance type with no GPUs" in denied["status"]["message"]
