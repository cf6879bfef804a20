"""Configuration: defaults < inference_config.yaml < flags; upstream's flag spellings accepted."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from kaito.inference.__main__ import main
from kaito.inference.config import ConfigError, InferenceConfig, load_config


def test_defaults() -> None:
    config = load_config([])
    assert config == InferenceConfig()
    assert (config.port, config.model, config.adapters_dir) == (
        5000,
        "/workspace/weights",
        "/mnt/adapter",
    )


def test_file_then_flags(tmp_path: Path) -> None:
    path = tmp_path / "inference_config.yaml"
    path.write_text(
        "max-concurrent-requests: 2\n"
        "max_queue_size: 3\n"
        "dtype: bfloat16\n"
        "max_probe_steps: 6\n"  # upstream vLLM-only key: ignored
        "vllm:\n  max-model-len: 2048\n  cpu-offload-gb: 0\n"
    )
    config = load_config(["--config", str(path), "--max-queue-size", "9", "--port", "6000"])
    assert config.max_concurrent_requests == 2
    assert config.max_queue_size == 9  # the flag wins over the file
    assert config.dtype == "bfloat16"
    assert config.port == 6000
    assert config.engine_args == {"max_model_len": 2048, "cpu_offload_gb": 0}


def test_upstream_flag_spellings() -> None:
    config = load_config(
        [
            "--pretrained_model_name_or_path=/w",
            "--torch_dtype=float16",
            "--trust_remote_code",
            "--allow_remote_files",
            "False",
            "--pipeline=conversational",
            "--kaito-adapters-dir=/a",
            "--served_model_name=phi",
            "--unknown-flag=1",
        ]
    )
    assert config.model == "/w"
    assert config.dtype == "float16"
    assert config.trust_remote_code is True
    assert config.allow_remote_files is False
    assert config.pipeline == "conversational"
    assert config.adapters_dir == "/a"
    assert config.served_model_name == "phi"


def test_slow_client_settings(tmp_path: Path) -> None:
    defaults = load_config([])
    assert (defaults.body_timeout, defaults.header_timeout) == (30.0, 30.0)
    assert (defaults.keep_alive_timeout, defaults.max_connections) == (5, 256)
    path = tmp_path / "inference_config.yaml"
    path.write_text("body-timeout: 10\nmax_connections: 64\n")
    config = load_config(
        [
            "--config",
            str(path),
            "--header-timeout=2.5",
            "--keep-alive-timeout=3",
            "--body-timeout=4",
        ]
    )
    assert (config.body_timeout, config.header_timeout) == (4.0, 2.5)
    assert (config.keep_alive_timeout, config.max_connections) == (3, 64)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("- a list\n", "must hold a mapping"),
        ("body_timeout: 0\n", "body_timeout must be a positive number of seconds"),
        ("header-timeout: soon\n", "header_timeout must be a positive number of seconds"),
        ("max_connections: 0\n", "max_connections must be positive"),
        ("max_queue_size: lots\n", "max_queue_size must be an integer"),
        ("max_concurrent_requests: 0\n", "must be positive"),
        ("engine: tgi\n", "engine must be one of"),
        ("vllm: 3\n", "'vllm'"),
        ("key: [unclosed\n", "cannot read config file"),
    ],
)
def test_bad_files(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "inference_config.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=message):
        load_config(["--config", str(path)])


def test_main_exits_2_on_bad_config(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--config", str(tmp_path / "missing.yaml")]) == 2
    assert "cannot read config file" in capsys.readouterr().err


def test_vllm_engine_needs_vllm(capsys: pytest.CaptureFixture[str]) -> None:
    from kaito.inference.engines import vllm_available

    if vllm_available():
        pytest.skip("vllm is installed here")
    assert main(["--engine", "vllm"]) == 2
    assert "needs the vllm package" in capsys.readouterr().err


def test_the_server_imports_nothing_of_the_operator() -> None:
    code = (
        "import sys, kaito.inference.app, kaito.inference.__main__, "
        "kaito.inference.engines.transformers; "
        "print(sorted(m for m in sys.modules if m.startswith('kaito.') "
        "and not m.startswith('kaito.inference')))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    )
    assert result.stdout.strip() == "[]"
