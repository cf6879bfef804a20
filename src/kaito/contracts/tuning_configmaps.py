"""The tuning ConfigMap contract: its key, its sections, and upstream's default ConfigMaps.

``lora-params-template`` and ``qlora-params-template`` are upstream's defaults; the same files
are installed into ``kaito-system`` from ``manifests/configmaps/`` (upstream ships them in its
Helm chart). Keeping a copy as package data lets the controller copy the right one into a
Workspace's namespace, the webhook validate against the same section names, and ``kaito-tune``
fall back to it when no config file is mounted. Standard library and PyYAML only.
"""

from __future__ import annotations

from importlib import resources
from typing import Any, Final, cast

import yaml

CONFIG_KEY: Final = "training_config.yaml"
"""The ConfigMap key that holds the tuning configuration (mounted at ``/mnt/config``)."""
SECTIONS: Final = (
    "ModelConfig",
    "QuantizationConfig",
    "LoraConfig",
    "TrainingArguments",
    "DatasetConfig",
    "DataCollator",
)
"""The sections allowed under ``training_config`` (upstream's ``TrainingConfig`` struct)."""
TEMPLATE_NAMES: Final = {"lora": "lora-params-template", "qlora": "qlora-params-template"}
"""Default ConfigMap name by tuning method (lower-case), as upstream names them."""


def _method(method: str) -> str:
    key = method.lower()
    if key not in TEMPLATE_NAMES:
        raise ValueError(f"unknown tuning method {method!r}; expected one of lora, qlora")
    return key


def configmap_manifest(method: str) -> str:
    """The default ConfigMap for ``method`` as YAML text (namespace ``kaito-system``)."""
    name = TEMPLATE_NAMES[_method(method)]
    return resources.files(__package__).joinpath("configmaps", f"{name}.yaml").read_text()


def configmap(method: str) -> dict[str, Any]:
    """The default ConfigMap for ``method`` as a decoded object."""
    return cast(dict[str, Any], yaml.safe_load(configmap_manifest(method)))


def training_config_yaml(method: str) -> str:
    """The ``training_config.yaml`` text of the default ConfigMap for ``method``."""
    return cast(str, configmap(method)["data"][CONFIG_KEY])
