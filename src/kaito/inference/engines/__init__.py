"""Model engines behind the HTTP server (see :mod:`kaito.inference.engines.base`).

``transformers`` is always available (the runtime extra installs it); ``vllm`` only where the
``vllm`` package is importable, as on upstream's GPU images.
"""

from __future__ import annotations

import importlib.util

from kaito.inference.config import ConfigError, InferenceConfig
from kaito.inference.engines.base import Engine


def vllm_available() -> bool:
    return importlib.util.find_spec("vllm") is not None


def create_engine(config: InferenceConfig) -> Engine:
    """The engine ``config.engine`` names, configured from ``config``."""
    if config.engine == "vllm":
        if not vllm_available():
            raise ConfigError("--engine vllm needs the vllm package, which is not installed")
        from kaito.inference.engines.vllm import VllmEngine

        return VllmEngine.from_config(config)
    from kaito.inference.engines.transformers import TransformersEngine

    return TransformersEngine(
        config.model,
        served_model_name=config.served_model_name,
        dtype=config.dtype,
        device=config.device,
        trust_remote_code=config.trust_remote_code,
        local_files_only=not config.allow_remote_files,
        download_dir=config.download_dir,
        chat_template=config.chat_template,
        adapters_dir=config.adapters_dir,
        combination_type=config.combination_type,
        max_concurrency=config.max_concurrent_requests,
    )
