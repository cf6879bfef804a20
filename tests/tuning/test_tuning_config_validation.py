"""Table tests: kaito.api.tuning_config reproduces upstream's checks and their exact text."""

from __future__ import annotations

import pytest

from kaito.api.tuning_config import (
    FieldError,
    admission_message,
    config_errors,
    merge,
    validate_training_config,
    validate_tuning_configmap,
)
from kaito.contracts import tuning_configmaps as defaults

CM = "my-config"
NS = "team-a"


def cfg(body: str) -> str:
    """A training_config.yaml whose sections are ``body`` (already indented by two)."""
    return "training_config:\n" + body


VALID_LORA = cfg(
    "  ModelConfig:\n    torch_dtype: bfloat16\n"
    "  QuantizationConfig:\n    load_in_4bit: false\n"
    "  TrainingArguments:\n    output_dir: /mnt/results\n"
)
VALID_QLORA = cfg("  QuantizationConfig:\n    load_in_4bit: true\n")

QLORA_NEEDS = (
    "missing field(s): For method 'qlora', either 'load_in_4bit' or 'load_in_8bit' must be "
    f"true in ConfigMap '{CM}', QuantizationConfig"
)

CASES = [
    # (id, yaml, method, expected errors)
    ("valid lora", VALID_LORA, "lora", []),
    ("valid qlora 4bit", VALID_QLORA, "qlora", []),
    ("valid qlora 8bit", cfg("  QuantizationConfig:\n    load_in_8bit: true\n"), "qlora", []),
    ("method is case-insensitive", VALID_QLORA, "QLoRA", []),
    ("no sections at all, lora", cfg("  {}\n"), "lora", []),
    (
        "unrecognized section",
        cfg("  ModelConfig: {}\n  Bogus:\n    a: 1\n"),
        "lora",
        ["invalid value: Unrecognized section: Bogus: training_config.yaml"],
    ),
    (
        "no training_config key",
        "something_else: {}\n",
        "lora",
        ["invalid value: Expected 'training_config' key to contain a map: training_config.yaml"],
    ),
    (
        "training_config not a map",
        "training_config: 3\n",
        "lora",
        [
            f"Failed to parse 'training_config.yaml' in ConfigMap '{CM}' in namespace '{NS}': "
            "yaml: unmarshal errors:\n  line 1: cannot unmarshal !!int `3` into "
            "map[string]interface {}: config",
            "invalid value: Expected 'training_config' key to contain a map: training_config.yaml",
        ],
    ),
    (
        "section key not a string",
        cfg("  1: {}\n"),
        "lora",
        ["invalid value: Section key must be a string: training_config.yaml"],
    ),
    (
        "both 4 and 8 bit",
        cfg("  QuantizationConfig:\n    load_in_4bit: true\n    load_in_8bit: true\n"),
        "qlora",
        [
            "Cannot set both 'load_in_4bit' and 'load_in_8bit' to true in ConfigMap "
            f"'{CM}': QuantizationConfig"
        ],
    ),
    (
        "lora with 4bit",
        VALID_QLORA,
        "lora",
        [
            f"For method 'lora', 'load_in_4bit' or 'load_in_8bit' in ConfigMap '{CM}' must not "
            "be true: QuantizationConfig"
        ],
    ),
    (
        "lora with 8bit",
        cfg("  QuantizationConfig:\n    load_in_8bit: true\n"),
        "lora",
        [
            f"For method 'lora', 'load_in_4bit' or 'load_in_8bit' in ConfigMap '{CM}' must not "
            "be true: QuantizationConfig"
        ],
    ),
    ("qlora with both false", VALID_LORA, "qlora", [QLORA_NEEDS]),
    ("qlora without QuantizationConfig", cfg("  ModelConfig: {}\n"), "qlora", [QLORA_NEEDS]),
    ("qlora with empty QuantizationConfig", cfg("  QuantizationConfig:\n"), "qlora", [QLORA_NEEDS]),
    (
        "4bit flag is a string",
        cfg('  QuantizationConfig:\n    load_in_4bit: "true"\n'),
        "qlora",
        ["invalid value: value must be either nil or a boolean, got type string: load_in_4bit"],
    ),
    (
        "8bit flag is a number",
        cfg("  QuantizationConfig:\n    load_in_8bit: 1\n"),
        "lora",
        ["invalid value: value must be either nil or a boolean, got type int: load_in_8bit"],
    ),
    (
        "QuantizationConfig is a list",
        cfg("  QuantizationConfig: [a]\n"),
        "lora",
        [
            "invalid value: failed to unmarshal runtime.RawExtension: yaml: unmarshal errors:\n"
            "  line 1: cannot unmarshal !!seq into map[string]interface {}: load_in_4bit"
        ],
    ),
    (
        "output_dir outside /mnt",
        cfg("  TrainingArguments:\n    output_dir: ../etc\n"),
        "lora",
        ["invalid value: Invalid output_dir specified: '../etc', must be a directory: output_dir"],
    ),
    (
        "output_dir is /mnt itself",
        cfg("  TrainingArguments:\n    output_dir: /\n"),
        "lora",
        ["invalid value: Invalid output_dir specified: '/', must be a directory: output_dir"],
    ),
    (
        "output_dir empty",
        cfg('  TrainingArguments:\n    output_dir: ""\n'),
        "lora",
        ["invalid value: Invalid output_dir specified: '', must be a directory: output_dir"],
    ),
    (
        "output_dir relative is under /mnt",
        cfg("  TrainingArguments:\n    output_dir: results/run1\n"),
        "lora",
        [],
    ),
    (
        "output_dir not a string",
        cfg("  TrainingArguments:\n    output_dir: 42\n"),
        "lora",
        [
            f"invalid value: output_dir is not a string in ConfigMap '{CM}' in namespace '{NS}': "
            "output_dir"
        ],
    ),
    (
        "TrainingArguments is a scalar",
        cfg("  TrainingArguments: fast\n"),
        "lora",
        [
            f"Failed to parse 'output_dir' in ConfigMap '{CM}' in namespace '{NS}': failed to "
            "unmarshal runtime.RawExtension: yaml: unmarshal errors:\n  line 1: cannot unmarshal "
            "!!str `fast` into map[string]interface {}: output_dir"
        ],
    ),
    (
        "several problems, merged and sorted by message",
        cfg(
            "  Extra: {}\n  QuantizationConfig:\n    load_in_4bit: true\n"
            "  TrainingArguments:\n    output_dir: ../../x\n"
        ),
        "lora",
        [
            f"For method 'lora', 'load_in_4bit' or 'load_in_8bit' in ConfigMap '{CM}' must not "
            "be true: QuantizationConfig",
            "invalid value: Invalid output_dir specified: '../../x', must be a directory: "
            "output_dir",
            "invalid value: Unrecognized section: Extra: training_config.yaml",
        ],
    ),
]


@pytest.mark.parametrize(
    ("text", "method", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_upstream_messages(text: str, method: str, expected: list[str]) -> None:
    assert validate_training_config(text, method, configmap=CM, namespace=NS) == expected


def test_missing_key_reports_both_upstream_errors_once() -> None:
    got = validate_training_config(None, "lora", configmap=CM, namespace=NS)
    assert got == [
        f"ConfigMap '{CM}' does not contain 'training_config.yaml' in namespace '{NS}': config",
        "missing field(s): training_config.yaml in ConfigMap",
    ]


def test_unparsable_yaml_is_reported_by_schema_and_parse_checks() -> None:
    got = validate_training_config("training_config: [unclosed", "lora", configmap=CM, namespace=NS)
    assert len(got) == 2
    assert got[0].startswith(f"Failed to parse 'training_config.yaml' in ConfigMap '{CM}'")
    assert got[0].endswith(": config")
    assert got[1].startswith("invalid value: yaml: ")
    assert got[1].endswith(": training_config.yaml")


def test_accepts_a_decoded_document() -> None:
    doc = {"training_config": {"QuantizationConfig": {"load_in_4bit": True}}}
    assert validate_training_config(doc, "qlora", configmap=CM) == []
    assert validate_training_config(doc, "lora", configmap=CM) != []


def test_whole_configmap_object() -> None:
    cm = {
        "metadata": {"name": "x", "namespace": "ns"},
        "data": {"training_config.yaml": cfg("  Nope: {}\n")},
    }
    assert validate_tuning_configmap(cm, "lora") == [
        "invalid value: Unrecognized section: Nope: training_config.yaml"
    ]
    assert validate_tuning_configmap({"metadata": {"name": "x", "namespace": "ns"}}, "lora")[0] == (
        "ConfigMap 'x' does not contain 'training_config.yaml' in namespace 'ns': config"
    )


@pytest.mark.parametrize("method", ["lora", "qlora"])
def test_default_templates_are_valid_for_their_method(method: str) -> None:
    text = defaults.training_config_yaml(method)
    name = defaults.TEMPLATE_NAMES[method]
    assert validate_training_config(text, method, configmap=name, namespace="kaito-system") == []


def test_default_lora_template_is_rejected_for_qlora() -> None:
    text = defaults.training_config_yaml("lora")
    assert validate_training_config(text, "qlora", configmap="lora-params-template") == [
        "missing field(s): For method 'qlora', either 'load_in_4bit' or 'load_in_8bit' must be "
        "true in ConfigMap 'lora-params-template', QuantizationConfig"
    ]


def test_knative_merge_combines_paths_and_sorts() -> None:
    merged = merge(
        [
            FieldError.generic("b", "y"),
            FieldError.missing("z"),
            FieldError.generic("b", "x", "y"),
            FieldError.invalid("v", "w"),
        ]
    )
    assert [str(e) for e in merged] == ["b: x, y", "invalid value: v: w", "missing field(s): z"]


def test_admission_message_wraps_like_upstream_webhook() -> None:
    errors = [str(e) for e in config_errors(cfg("  X: {}\n"), "lora", configmap=CM)]
    assert admission_message(errors) == (
        "Failed to evaluate validateConfigMap: invalid value: Unrecognized section: X: "
        "training_config.yaml: tuning.Config"
    )
