"""``training_config.yaml`` as ``kaito-tune`` reads it: six sections, each checked up front.

Upstream (``parser.py`` + ``cli.py``) turns every section into a dataclass through
``HfArgumentParser`` and passes ``ModelConfig`` to ``from_pretrained``, ``QuantizationConfig`` to
``BitsAndBytesConfig``, ``LoraConfig`` to ``peft.LoraConfig``, ``TrainingArguments`` to
``transformers.TrainingArguments``, ``DataCollator`` to the collator and ``DatasetConfig`` to its
dataset manager. Here the sections that only this program interprets (model, dataset, collator)
become frozen attrs classes, and the three that belong to libraries stay plain mappings that are
handed to those libraries as they are, so every field the libraries accept keeps working.

Nothing here imports torch or transformers: a bad file is reported in milliseconds.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Final

import attrs
import yaml

from kaito.contracts.tuning_configmaps import SECTIONS
from kaito.tuning.errors import TuningError

DEFAULT_MODEL_PATH: Final = "/workspace/tfs/weights"
DEFAULT_OUTPUT_DIR: Final = "/mnt/results"


@attrs.frozen
class ModelConfig:
    """How to load the base model and its tokenizer (upstream ``cli.ModelConfig``)."""

    pretrained_model_name_or_path: str = DEFAULT_MODEL_PATH
    """Directory holding the base model's weights and tokenizer."""
    local_files_only: bool = False
    """Never contact a model hub (the default ConfigMaps set it)."""
    revision: str = "main"
    """Model revision, passed to ``from_pretrained``."""
    trust_remote_code: bool = False
    """Allow model code shipped with the weights."""
    torch_dtype: str | None = None
    """dtype name (``bfloat16``, ``float16``, ``float32``, ``auto``) to load the weights in."""
    device_map: str | None = "auto"
    """accelerate device map; ignored without CUDA (the model then stays on the CPU)."""
    chat_template: str | None = None
    """A chat template inline (contains ``{``, ``}`` or a newline) or a path to one."""
    extra: Mapping[str, Any] = attrs.field(factory=dict)
    """Any other ``from_pretrained`` keyword argument, passed through as given."""


@attrs.frozen
class DatasetConfig:
    """Where the data is and which columns hold it (upstream ``cli.DatasetConfig``)."""

    dataset_path: str | None = None
    """A file or directory; relative paths are taken from the data directory. Default: every
    supported file in the data directory."""
    dataset_extension: str | None = None
    """Force a format (``parquet``, ``json``, ``jsonl``, ``csv``) instead of the file suffix."""
    shuffle_dataset: bool = True
    """Shuffle the rows before splitting."""
    shuffle_seed: int = 42
    """Seed of that shuffle."""
    context_column: str | None = None
    """Prompt column of prompt/response data (default: ``prompt`` if present)."""
    response_column: str = "text"
    """Text column, or the response column of prompt/response data."""
    messages_column: str | None = None
    """Column of OpenAI-style ``[{"role", "content"}]`` conversations (default: ``messages``)."""
    train_test_split: float = 0.8
    """Share of the rows used for training; the rest is the evaluation set."""
    max_seq_length: int | None = None
    """Truncate examples to this many tokens (default: the tokenizer's limit, at most 2048)."""


@attrs.frozen
class DataCollatorConfig:
    """Batching options (upstream passes them to ``DataCollatorForLanguageModeling``)."""

    mlm: bool = False
    """Masked-LM objective. Causal models train without it; ``true`` is accepted and ignored,
    as upstream does when the tokenizer has no mask token."""
    mlm_probability: float = 0.15
    """Accepted for compatibility; unused for causal language modelling."""
    pad_to_multiple_of: int | None = None
    """Pad each batch to a multiple of this many tokens."""


@attrs.frozen
class TrainingConfig:
    """The whole ``training_config`` document."""

    model: ModelConfig = ModelConfig()
    quantization: Mapping[str, Any] = attrs.field(factory=dict)
    """``BitsAndBytesConfig`` keyword arguments."""
    lora: Mapping[str, Any] = attrs.field(factory=dict)
    """``peft.LoraConfig`` keyword arguments."""
    training_arguments: Mapping[str, Any] = attrs.field(factory=dict)
    """``transformers.TrainingArguments`` keyword arguments."""
    dataset: DatasetConfig = DatasetConfig()
    collator: DataCollatorConfig = DataCollatorConfig()

    @property
    def quantized(self) -> bool:
        """Whether the base model is loaded in 4 or 8 bits (QLoRA)."""
        return bool(self.quantization.get("load_in_4bit") or self.quantization.get("load_in_8bit"))

    @property
    def output_dir(self) -> Path:
        return Path(str(self.training_arguments.get("output_dir") or DEFAULT_OUTPUT_DIR))


def _section(doc: Mapping[str, Any], name: str) -> dict[str, Any]:
    value = doc.get(name)
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise TuningError(f"training_config.{name} must be a mapping, not {type(value).__name__}")
    return {str(k): v for k, v in value.items()}


def _build(cls: type[Any], name: str, values: dict[str, Any], *, rest: str | None = None) -> Any:
    known = {a.name for a in attrs.fields(cls)} - {rest or ""}
    unknown = sorted(set(values) - known)
    kwargs = {k: v for k, v in values.items() if k in known}
    if unknown:
        if rest is None:
            raise TuningError(
                f"training_config.{name}: unknown field(s) {', '.join(unknown)}; "
                f"known: {', '.join(sorted(known))}"
            )
        kwargs[rest] = {k: values[k] for k in unknown}
    try:
        return cls(**kwargs)
    except TypeError as err:
        raise TuningError(f"training_config.{name}: {err}") from None


def parse_training_config(text: str) -> TrainingConfig:
    """Parse ``training_config.yaml`` text; raise :class:`TuningError` for anything wrong."""
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as err:
        raise TuningError(f"training_config.yaml is not valid YAML: {err}") from None
    if document is None:
        document = {}
    if not isinstance(document, Mapping):
        raise TuningError("training_config.yaml must be a mapping with a training_config key")
    doc = document.get("training_config") or {}
    if not isinstance(doc, Mapping):
        raise TuningError("training_config must be a mapping of sections")
    unknown = sorted(str(k) for k in doc if k not in SECTIONS)
    if unknown:
        raise TuningError(
            f"Unrecognized section: {', '.join(unknown)} (allowed: {', '.join(SECTIONS)})"
        )
    lora = _section(doc, "LoraConfig")
    if "target_modules" not in lora and os.environ.get("DEFAULT_TARGET_MODULES"):
        modules = os.environ["DEFAULT_TARGET_MODULES"].split(",")
        lora["target_modules"] = [m.strip() for m in modules if m.strip()]
    return TrainingConfig(
        model=_build(ModelConfig, "ModelConfig", _section(doc, "ModelConfig"), rest="extra"),
        quantization=_section(doc, "QuantizationConfig"),
        lora=lora,
        training_arguments=_section(doc, "TrainingArguments"),
        dataset=_build(DatasetConfig, "DatasetConfig", _section(doc, "DatasetConfig")),
        collator=_build(DataCollatorConfig, "DataCollator", _section(doc, "DataCollator")),
    )


def load_training_config(path: Path) -> TrainingConfig:
    """Read and parse the config file at ``path``."""
    try:
        text = path.read_text()
    except OSError as err:
        raise TuningError(f"cannot read the tuning config {path}: {err.strerror}") from None
    return parse_training_config(text)
