"""Loading the base model and tokenizer, quantised for QLoRA, and wrapping it with LoRA.

Mirrors the model half of upstream's ``fine_tuning.py``: ``AutoTokenizer`` /
``AutoModelForCausalLM.from_pretrained`` with the ``ModelConfig`` arguments, a
``BitsAndBytesConfig`` from ``QuantizationConfig`` plus ``prepare_model_for_kbit_training`` when
4- or 8-bit loading is asked for, then ``get_peft_model`` with ``LoraConfig``. The difference is
the QLoRA guard: bitsandbytes quantisation needs CUDA, and without it :func:`check_quantization`
says so in one sentence before anything heavy is loaded.
"""

from __future__ import annotations

import codecs
import importlib
import importlib.util
import logging
from pathlib import Path
from typing import Any

from kaito.tuning.config import ModelConfig, TrainingConfig
from kaito.tuning.errors import TuningError

log = logging.getLogger(__name__)

_DTYPES = ("float32", "float16", "bfloat16", "float64")


def cuda_available() -> bool:
    """Whether torch sees a CUDA device."""
    import torch

    return bool(torch.cuda.is_available())


def check_quantization(config: TrainingConfig) -> None:
    """Fail early, with a sentence rather than a stack trace, when QLoRA cannot run here."""
    if not config.quantized:
        return
    bits = "4-bit" if config.quantization.get("load_in_4bit") else "8-bit"
    if not cuda_available():
        raise TuningError(
            f"QLoRA needs a CUDA GPU: QuantizationConfig asks for {bits} loading "
            "(load_in_4bit/load_in_8bit), which bitsandbytes only does on NVIDIA GPUs, and no "
            "CUDA device is visible. Run on a GPU node, or use method lora "
            "(QuantizationConfig load_in_4bit: false, load_in_8bit: false)."
        )
    if importlib.util.find_spec("bitsandbytes") is None:
        raise TuningError(
            f"QLoRA needs the bitsandbytes package for {bits} loading, and it is not installed "
            "in this image (pip install 'kaito[gpu]')."
        )


def load_chat_template(template: str | None) -> str | None:
    """Upstream's ``load_chat_template``: inline when it looks like Jinja, else a file path."""
    if template is None:
        return None
    if any(c in template for c in "{}\n"):
        return codecs.decode(template, "unicode_escape")
    try:
        return Path(template).read_text()
    except OSError as err:
        raise TuningError(f"cannot read chat_template {template}: {err.strerror}") from None


def _dtype(name: str | None) -> Any:
    import torch

    if name is None or name == "auto":
        return name
    if name not in _DTYPES:
        raise TuningError(
            f"ModelConfig.torch_dtype {name!r} is not one of auto, {', '.join(_DTYPES)}"
        )
    return getattr(torch, name)


def _hub_args(model: ModelConfig) -> dict[str, Any]:
    return {
        "local_files_only": model.local_files_only,
        "revision": model.revision,
        "trust_remote_code": model.trust_remote_code,
    }


def load_tokenizer(model: ModelConfig) -> Any:
    """The base model's tokenizer, with a pad token and the configured chat template."""
    from transformers import AutoTokenizer

    path = model.pretrained_model_name_or_path
    try:
        tokenizer = AutoTokenizer.from_pretrained(path, **_hub_args(model))
    except (OSError, ValueError) as err:
        raise TuningError(f"cannot load the tokenizer from {path}: {err}") from None
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    template = load_chat_template(model.chat_template)
    if template is not None:
        tokenizer.chat_template = template
    return tokenizer


def load_model(config: TrainingConfig, *, gradient_checkpointing: bool = False) -> Any:
    """The base model, quantised if asked, wrapped as a trainable PEFT LoRA model."""
    # Both libraries are only partly typed; they are used through ``Any``.
    transformers: Any = importlib.import_module("transformers")
    peft: Any = importlib.import_module("peft")

    model_config = config.model
    kwargs: dict[str, Any] = {**_hub_args(model_config), **model_config.extra}
    dtype = _dtype(model_config.torch_dtype)
    if dtype is not None:
        major = int(transformers.__version__.split(".", 1)[0])
        kwargs["dtype" if major >= 5 else "torch_dtype"] = dtype
    if cuda_available() and model_config.device_map is not None:
        kwargs["device_map"] = model_config.device_map
    if config.quantized:
        try:
            kwargs["quantization_config"] = transformers.BitsAndBytesConfig(**config.quantization)
        except (TypeError, ValueError) as err:
            raise TuningError(f"QuantizationConfig: {err}") from None
    path = model_config.pretrained_model_name_or_path
    try:
        model = transformers.AutoModelForCausalLM.from_pretrained(path, **kwargs)
    except (OSError, ValueError) as err:
        raise TuningError(f"cannot load the base model from {path}: {err}") from None
    log.info("base model loaded from %s (%s)", path, type(model).__name__)
    if config.quantized:
        model = peft.prepare_model_for_kbit_training(
            model, use_gradient_checkpointing=gradient_checkpointing
        )
        log.info("QLoRA enabled: base weights quantised by bitsandbytes")
    elif gradient_checkpointing:
        model.enable_input_require_grads()
    lora_args = {"task_type": "CAUSAL_LM", **config.lora}
    try:
        lora = peft.LoraConfig(**lora_args)
        model = peft.get_peft_model(model, lora)
    except (TypeError, ValueError) as err:
        raise TuningError(f"LoraConfig: {err}") from None
    model.config.use_cache = False  # the cache only helps generation
    trainable, total = model.get_nb_trainable_parameters()
    log.info(
        "LoRA r=%s alpha=%s on %s: %d trainable of %d parameters (%.3f%%)",
        lora.r,
        lora.lora_alpha,
        sorted(lora.target_modules) if lora.target_modules else "default modules",
        trainable,
        total,
        100 * trainable / max(total, 1),
    )
    return model
