"""Helpers shared by the tuning tests: tiny datasets and configs written on the spot."""

from __future__ import annotations

from pathlib import Path


def write_parquet(path: Path, rows: list[dict[str, object]]) -> Path:
    import pyarrow as pa
    import pyarrow.parquet as pq

    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.Table.from_pylist(rows), path)
    return path


TRAINING_TEXT = "kaito tunes models. kaito tunes models. kaito tunes models."


def training_config(output_dir: Path, *, steps: int = 12, quantized: bool = False) -> str:
    """A small but complete ``training_config.yaml`` for the tiny model on CPU."""
    return f"""\
training_config:
  ModelConfig:
    torch_dtype: "float32"
    local_files_only: true
  QuantizationConfig:
    load_in_4bit: {"true" if quantized else "false"}
  LoraConfig:
    r: 8
    lora_alpha: 16
    lora_dropout: 0.0
    target_modules: ["q_proj", "k_proj", "v_proj", "o_proj"]
  TrainingArguments:
    output_dir: "{output_dir}"
    save_strategy: "no"
    per_device_train_batch_size: 4
    max_steps: {steps}
    learning_rate: 0.01
  DataCollator:
    mlm: true
  DatasetConfig:
    shuffle_dataset: true
    train_test_split: 1
"""
