"""Server configuration: defaults < ``inference_config.yaml`` (``--config``) < command-line flags.

The operator mounts the workspace's ``inference_config.yaml`` ConfigMap at ``/mnt/config`` and
passes flags on the command line. Upstream's flag spellings (``--pretrained_model_name_or_path``,
``--torch_dtype``, ``--trust_remote_code``, ``--kaito-config-file``, ``--kaito-adapters-dir``...)
are accepted as aliases so that upstream's pod commands work unchanged. Keys in the file may use
dashes or underscores; upstream's vLLM-only keys are accepted and passed to the vLLM engine.
"""

from __future__ import annotations

import argparse
import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import attrs
import yaml

log = logging.getLogger(__name__)

ENGINES = ("transformers", "vllm")
PIPELINES = ("text-generation", "conversational")
IGNORED_FILE_KEYS = frozenset({"max_probe_steps", "kv_cache_cpu_memory_utilization"})
"""Upstream keys that only tune vLLM's memory probing; accepted and ignored."""


class ConfigError(ValueError):
    """The configuration file or flags are invalid (exit code 2)."""


@attrs.frozen(kw_only=True)
class InferenceConfig:
    """Everything the server needs to start."""

    model: str = "/workspace/weights"
    """Directory with the model weights and tokenizer, or a HuggingFace model id (with
    ``allow_remote_files``: downloaded when the server starts)."""
    download_dir: str | None = None
    """Where a model given by id is downloaded (vLLM's ``--download-dir``; the HuggingFace
    cache directory); default: the HuggingFace cache."""
    served_model_name: str | None = None
    """Model id in the OpenAI API; defaults to the model directory's name."""
    engine: str = "transformers"
    """``transformers`` or ``vllm`` (only where vllm is installed)."""
    host: str = "0.0.0.0"
    port: int = 5000
    dtype: str = "auto"
    """``auto``, ``float32``, ``float16`` or ``bfloat16``."""
    device: str = "auto"
    """``auto`` (GPU when there is one), ``cpu``, ``cuda`` or ``cuda:N``."""
    trust_remote_code: bool = False
    allow_remote_files: bool = False
    """Let transformers fetch missing files from the hub (upstream's ``allow_remote_files``)."""
    chat_template: str | None = None
    """A Jinja chat template, or the path of a file holding one."""
    pipeline: str = "text-generation"
    """Which ``/chat`` field is required when a request has neither: ``prompt`` or ``messages``."""
    adapters_dir: str = "/mnt/adapter"
    combination_type: str = "svd"
    """PEFT ``add_weighted_adapter`` combination type (upstream: ``svd``)."""
    max_concurrent_requests: int = 1
    """Generations running at the same time."""
    max_queue_size: int = 16
    """Requests that may wait for a running slot; beyond this the server answers 429."""
    max_input_tokens: int | None = None
    """Longest accepted prompt; defaults to the model's context length."""
    max_output_tokens: int = 4096
    """Largest accepted ``max_tokens``."""
    max_body_bytes: int = 1 << 20
    """Largest accepted request body (413 beyond)."""
    body_timeout: float = 30.0
    """Seconds a request's body may take to arrive once its headers did (408 beyond)."""
    header_timeout: float = 30.0
    """Seconds a connection may take to send a request's headers, from being opened or from
    the end of the previous response (closed beyond)."""
    keep_alive_timeout: int = 5
    """Seconds an idle keep-alive connection stays open (uvicorn's ``timeout_keep_alive``)."""
    max_connections: int = 256
    """Connections served at once; requests on further connections get 503."""
    log_level: str = "info"
    engine_args: Mapping[str, Any] = attrs.field(factory=dict)
    """Extra engine arguments (the file's ``vllm:`` section for the vLLM engine)."""


_FIELDS = {f.name: f for f in attrs.fields(InferenceConfig)}
_INT_FIELDS = {
    "port",
    "max_concurrent_requests",
    "max_queue_size",
    "max_output_tokens",
    "max_body_bytes",
    "max_connections",
    "keep_alive_timeout",
}
_SECONDS_FIELDS = {"body_timeout", "header_timeout"}


def _bool(value: str) -> bool:
    lowered = value.strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    raise argparse.ArgumentTypeError(f"expected true or false, got {value!r}")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="kaito-inference",
        description="Serve a model with upstream Kaito's /chat API and the OpenAI API.",
        argument_default=argparse.SUPPRESS,
    )
    add = p.add_argument
    add("--config", "--kaito-config-file", dest="config", help="inference_config.yaml path")
    add("--model", "--model-path", "--pretrained_model_name_or_path", dest="model")
    add("--download-dir", "--download_dir", dest="download_dir")
    add("--served-model-name", "--served_model_name", dest="served_model_name")
    add("--engine", choices=ENGINES)
    add("--host")
    add("--port", type=int)
    add(
        "--dtype", "--torch_dtype", dest="dtype", choices=("auto", "float32", "float16", "bfloat16")
    )
    add("--device", "--device_map", dest="device")
    for flag, alias in (
        ("--trust-remote-code", "--trust_remote_code"),
        ("--allow-remote-files", "--allow_remote_files"),
    ):
        add(flag, alias, dest=alias[2:], nargs="?", const=True, type=_bool)
    add("--chat-template", "--chat_template", dest="chat_template")
    add("--pipeline", choices=PIPELINES)
    add("--adapters-dir", "--kaito-adapters-dir", dest="adapters_dir")
    add("--combination-type", "--combination_type", dest="combination_type")
    add("--max-concurrent-requests", dest="max_concurrent_requests", type=int)
    add("--max-queue-size", dest="max_queue_size", type=int)
    add("--max-input-tokens", dest="max_input_tokens", type=int)
    add("--max-output-tokens", dest="max_output_tokens", type=int)
    add("--max-body-bytes", dest="max_body_bytes", type=int)
    add("--body-timeout", dest="body_timeout", type=float, help="seconds (default 30)")
    add("--header-timeout", dest="header_timeout", type=float, help="seconds (default 30)")
    add("--keep-alive-timeout", dest="keep_alive_timeout", type=int, help="seconds (default 5)")
    add("--max-connections", dest="max_connections", type=int, help="default 256")
    add("--log-level", dest="log_level", choices=("debug", "info", "warning", "error"))
    return p


def read_config_file(path: Path) -> dict[str, Any]:
    """Settings from ``inference_config.yaml`` (field names with ``-`` or ``_``)."""
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"cannot read config file {path}: {exc}") from exc
    if not isinstance(data, dict):
        raise ConfigError(f"config file {path} must hold a mapping, got {type(data).__name__}")
    settings: dict[str, Any] = {}
    for raw_key, value in data.items():
        key = str(raw_key).replace("-", "_")
        if key == "vllm":
            if not isinstance(value, dict):
                raise ConfigError(f"'vllm' in {path} must be a mapping")
            settings["engine_args"] = {str(k).replace("-", "_"): v for k, v in value.items()}
        elif key in _FIELDS and key != "engine_args":
            settings[key] = value
        elif key in IGNORED_FILE_KEYS:
            log.info("config key %r only applies to upstream's vLLM wrapper; ignored", raw_key)
        else:
            log.warning("unknown key %r in %s ignored", raw_key, path)
    return settings


def _check(settings: Mapping[str, Any]) -> None:
    for key, value in settings.items():
        if key in _INT_FIELDS and (not isinstance(value, int) or isinstance(value, bool)):
            raise ConfigError(f"{key} must be an integer, got {value!r}")
        if key in _INT_FIELDS and key != "port" and value < (0 if key == "max_queue_size" else 1):
            raise ConfigError(f"{key} must be positive, got {value}")
    for key in _SECONDS_FIELDS & set(settings):
        value = settings[key]
        valid = isinstance(value, int | float) and not isinstance(value, bool)
        if not valid or not 0 < value < float("inf"):
            raise ConfigError(f"{key} must be a positive number of seconds, got {value!r}")
    if settings.get("engine", "transformers") not in ENGINES:
        raise ConfigError(f"engine must be one of {', '.join(ENGINES)}")
    if settings.get("pipeline", "text-generation") not in PIPELINES:
        raise ConfigError(f"pipeline must be one of {', '.join(PIPELINES)}")
    max_input = settings.get("max_input_tokens")
    if max_input is not None and (not isinstance(max_input, int) or max_input < 1):
        raise ConfigError(f"max_input_tokens must be a positive integer, got {max_input!r}")


def load_config(argv: Sequence[str] | None = None) -> InferenceConfig:
    """Parse flags (and the config file they name) into an :class:`InferenceConfig`."""
    namespace, unknown = build_parser().parse_known_args(argv)
    if unknown:
        log.warning("ignoring unknown arguments: %s", " ".join(unknown))
    flags = vars(namespace)
    config_path = flags.pop("config", None)
    settings = read_config_file(Path(config_path)) if config_path else {}
    settings.update(flags)
    _check(settings)
    return InferenceConfig(**settings)
