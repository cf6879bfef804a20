"""kaito-tune on CPU with the tiny model: it learns, writes the adapter and the marker, reports
progress in logs and on /metrics, and refuses QLoRA without a GPU in one sentence."""

from __future__ import annotations

import json
import re
import urllib.request
from pathlib import Path

import attrs
import pytest

from kaito.tuning import ADAPTER_FILES, COMPLETION_MARKER, FAILURE_MARKER
from kaito.tuning.__main__ import main
from kaito.tuning.config import parse_training_config
from kaito.tuning.metrics import TuningMetrics
from kaito.tuning.train import run
from tests.tuning.conftest import TuneRun
from tests.tuning.helpers import training_config, write_parquet

STEP_LINE = re.compile(r"step=(\d+)/(\d+) epoch=([\d.]+) loss=([\d.]+)")


def test_console_script_trains_and_writes_the_adapter(kaito_tune_run: TuneRun) -> None:
    run_ = kaito_tune_run
    assert run_.returncode == 0, run_.stderr
    steps = [
        (int(m[1]), int(m[2]), float(m[3]), float(m[4])) for m in STEP_LINE.finditer(run_.stderr)
    ]
    assert [s[0] for s in steps] == list(range(1, 13))
    assert all(total == 12 for _, total, _, _ in steps)
    assert steps[-1][2] == pytest.approx(6.0)  # 12 steps of 4 over 8 rows
    losses = [loss for *_, loss in steps]
    assert losses[-1] < losses[0] - 0.05, losses
    assert sum(losses[-3:]) / 3 < sum(losses[:3]) / 3
    for name in ADAPTER_FILES:
        assert (run_.output_dir / name).stat().st_size > 0
    assert (run_.output_dir / COMPLETION_MARKER).read_text().startswith("Fine-Tuning completed at ")
    config = json.loads((run_.output_dir / "adapter_config.json").read_text())
    assert config["peft_type"] == "LORA"
    assert config["r"] == 8
    assert sorted(config["target_modules"]) == ["k_proj", "o_proj", "q_proj", "v_proj"]


def test_adapter_weights_moved_away_from_their_initialisation(kaito_tune_run: TuneRun) -> None:
    from safetensors.torch import load_file

    tensors = load_file(str(kaito_tune_run.output_dir / "adapter_model.safetensors"))
    lora_b = [t for name, t in tensors.items() if "lora_B" in name]
    assert len(lora_b) == 2 * 4  # two layers, four projections
    assert all(float(t.abs().sum()) > 0 for t in lora_b)  # PEFT initialises B to zero


def test_in_process_run_serves_progress_on_metrics(tiny_model: Path, tmp_path: Path) -> None:
    conversation = [
        {"role": "system", "content": "Answer briefly."},
        {"role": "user", "content": "What does kaito do?"},
        {"role": "assistant", "content": "It tunes models."},
    ]
    data = tmp_path / "data"
    write_parquet(data / "chat.parquet", [{"messages": conversation} for _ in range(4)])
    config = parse_training_config(training_config(tmp_path / "out", steps=4))
    config = attrs.evolve(
        config, model=attrs.evolve(config.model, pretrained_model_name_or_path=str(tiny_model))
    )
    metrics = TuningMetrics()
    port = metrics.serve(0, "127.0.0.1")
    try:
        result = run(config, data_dir=data, metrics=metrics)
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
            body = response.read().decode()
    finally:
        metrics.close()
    values = dict(
        line.split(" ", 1) for line in body.splitlines() if line and not line.startswith("#")
    )
    assert result.steps == 4
    assert float(values["kaito_tuning_step"]) == 4
    assert float(values["kaito_tuning_max_steps"]) == 4
    assert float(values["kaito_tuning_epoch"]) == pytest.approx(4.0)
    assert float(values["kaito_tuning_loss"]) == pytest.approx(result.losses[-1][1], rel=1e-6)
    assert float(values["kaito_tuning_train_examples"]) == 4
    assert float(values["kaito_tuning_completed"]) == 1
    assert "_created" not in body
    assert (tmp_path / "out" / COMPLETION_MARKER).exists()


def test_qlora_on_cpu_is_a_clear_error(
    tiny_model: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "training_config.yaml"
    config.write_text(training_config(tmp_path / "out", quantized=True))
    (tmp_path / "out").mkdir()  # the mounted results volume
    stale = tmp_path / "out" / COMPLETION_MARKER
    code = main(
        [
            "--config",
            str(config),
            "--data-dir",
            str(tmp_path),
            "--model",
            str(tiny_model),
            "--metrics-port",
            "-1",
        ]
    )
    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith("kaito-tune: error: QLoRA needs a CUDA GPU: QuantizationConfig asks for ")
    assert "4-bit" in err
    assert "Traceback" not in err
    assert not stale.exists()
    assert not (tmp_path / "out" / "adapter_model.safetensors").exists()
    failed = (tmp_path / "out" / FAILURE_MARKER).read_text()
    assert failed.startswith("QLoRA needs a CUDA GPU")  # releases the pusher sidecar


def test_default_qlora_config_without_a_config_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["--config", str(tmp_path / "absent.yaml"), "--method", "qlora"])
    assert code == 2
    assert "QLoRA needs a CUDA GPU" in capsys.readouterr().err


def test_user_errors_end_with_one_line(
    tiny_model: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "training_config.yaml"
    config.write_text(training_config(tmp_path / "out"))
    empty = tmp_path / "data"
    empty.mkdir()
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / FAILURE_MARKER).write_text("stale")
    argv = ["--data-dir", str(empty), "--model", str(tiny_model), "--metrics-port", "-1"]
    assert main(["--config", str(config), *argv]) == 2
    assert "no dataset file found under" in capsys.readouterr().err
    assert (tmp_path / "out" / FAILURE_MARKER).read_text().startswith("no dataset file found")
    assert main(["--config", str(tmp_path / "missing.yaml"), *argv]) == 2
    assert "cannot read the tuning config" in capsys.readouterr().err
    write_parquet(empty / "d.parquet", [{"text": "x"}])
    assert main(["--config", str(config), *argv[:2], "--model", str(tmp_path), *argv[4:]]) == 2
    assert f"cannot load the tokenizer from {tmp_path}" in capsys.readouterr().err
