"""One training run: tokenise the examples, train with ``transformers.Trainer``, save, mark done.

Upstream trains with TRL's ``SFTTrainer``; the plain ``Trainer`` with a small causal-LM collator
does the same job for the three data shapes of :mod:`kaito.tuning.dataset` (prompt tokens of
prompt/response data are left out of the loss, as TRL's completion-only loss does) and takes
every ``TrainingArguments`` field from the config. After training the adapter is saved with
``save_model`` (``adapter_config.json`` + ``adapter_model.safetensors``) and then, last of all,
the completion marker ``fine_tuning_completed.txt`` that the pusher sidecar waits for.
"""

from __future__ import annotations

import importlib
import logging
import math
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import attrs

from kaito.tuning import COMPLETION_MARKER
from kaito.tuning.config import TrainingConfig
from kaito.tuning.dataset import Example, load_examples
from kaito.tuning.errors import TuningError
from kaito.tuning.metrics import TuningMetrics
from kaito.tuning.model import check_quantization, cuda_available, load_model, load_tokenizer

log = logging.getLogger(__name__)

IGNORE_INDEX = -100
"""Label value that ``CrossEntropyLoss`` skips."""
MAX_SEQ_LENGTH = 2048
"""Upper bound on the default example length (the tokenizer's own limit can be huge)."""


@attrs.frozen
class TrainingResult:
    """What a finished run produced."""

    output_dir: Path
    steps: int
    train_examples: int
    losses: Sequence[tuple[int, float]]
    """(step, loss) for every logged step, in order."""


def _encode(
    tokenizer: Any, examples: Sequence[Example], max_length: int, templated: bool
) -> list[dict[str, list[int]]]:
    add_special = not templated
    rows: list[dict[str, list[int]]] = []
    skipped = 0
    for example in examples:
        ids: list[int] = tokenizer(
            example.text, add_special_tokens=add_special, truncation=True, max_length=max_length
        )["input_ids"]
        labels = list(ids)
        if example.prompt:
            prompt_ids = tokenizer(example.prompt, add_special_tokens=add_special)["input_ids"]
            masked = min(len(prompt_ids), len(ids))
            labels[:masked] = [IGNORE_INDEX] * masked
        if sum(1 for label in labels[1:] if label != IGNORE_INDEX) == 0:
            skipped += 1
            continue
        rows.append({"input_ids": ids, "labels": labels})
    if skipped:
        log.warning("%d example(s) had no response tokens within %d tokens", skipped, max_length)
    if not rows:
        raise TuningError("no example has any token to train on")
    return rows


class _ListDataset:
    """A map-style dataset over encoded rows (what ``DataLoader`` needs)."""

    def __init__(self, rows: list[dict[str, list[int]]]) -> None:
        self.rows = rows

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, index: int) -> dict[str, list[int]]:
        return self.rows[index]


class CausalCollator:
    """Right-pads ``input_ids`` (pad token) and ``labels`` (-100); builds ``attention_mask``."""

    def __init__(self, pad_token_id: int, pad_to_multiple_of: int | None = None) -> None:
        self.pad_token_id = pad_token_id
        self.pad_to_multiple_of = pad_to_multiple_of

    def __call__(self, features: list[dict[str, list[int]]]) -> dict[str, Any]:
        import torch

        width = max(len(f["input_ids"]) for f in features)
        if self.pad_to_multiple_of:
            width = math.ceil(width / self.pad_to_multiple_of) * self.pad_to_multiple_of
        ids, labels, mask = [], [], []
        for f in features:
            pad = width - len(f["input_ids"])
            ids.append(f["input_ids"] + [self.pad_token_id] * pad)
            labels.append(f["labels"] + [IGNORE_INDEX] * pad)
            mask.append([1] * len(f["input_ids"]) + [0] * pad)
        return {
            "input_ids": torch.tensor(ids, dtype=torch.long),
            "labels": torch.tensor(labels, dtype=torch.long),
            "attention_mask": torch.tensor(mask, dtype=torch.long),
        }


def _progress_callback(metrics: TuningMetrics | None, losses: list[tuple[int, float]]) -> Any:
    from transformers import TrainerCallback

    class Progress(TrainerCallback):
        """Logs step, epoch and loss, and mirrors them into the Prometheus gauges."""

        def on_train_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            log.info(
                "training: %d step(s) over %s epoch(s), batch size %d",
                state.max_steps,
                state.num_train_epochs,
                args.per_device_train_batch_size,
            )
            if metrics is not None:
                metrics.max_steps.set(state.max_steps)

        def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            if metrics is not None:
                metrics.observe(step=state.global_step, epoch=state.epoch)

        def on_log(
            self, args: Any, state: Any, control: Any, logs: Any = None, **kwargs: Any
        ) -> None:
            if not logs or "loss" not in logs:
                return
            loss, lr = float(logs["loss"]), logs.get("learning_rate")
            losses.append((state.global_step, loss))
            log.info(
                "step=%d/%d epoch=%.2f loss=%.4f learning_rate=%s",
                state.global_step,
                state.max_steps,
                state.epoch or 0.0,
                loss,
                f"{lr:.3g}" if isinstance(lr, int | float) else "-",
            )
            if metrics is not None:
                metrics.observe(
                    step=state.global_step,
                    epoch=state.epoch,
                    loss=loss,
                    learning_rate=float(lr) if isinstance(lr, int | float) else None,
                )

    return Progress()


def _training_arguments(config: TrainingConfig, output_dir: Path) -> Any:
    from transformers import TrainingArguments

    args: dict[str, Any] = {
        "report_to": "none",
        "dataloader_pin_memory": cuda_available(),
        "disable_tqdm": True,
        "logging_steps": 1,
        "label_names": ["labels"],
        **config.training_arguments,
        "output_dir": str(output_dir),
    }
    try:
        return TrainingArguments(**args)
    except (TypeError, ValueError) as err:
        raise TuningError(f"TrainingArguments: {err}") from None


def run(
    config: TrainingConfig,
    *,
    data_dir: Path,
    output_dir: Path | None = None,
    metrics: TuningMetrics | None = None,
) -> TrainingResult:
    """Train a LoRA adapter as ``config`` says; write it and the marker to the output dir."""
    check_quantization(config)
    output = output_dir or config.output_dir
    output.mkdir(parents=True, exist_ok=True)
    marker = output / COMPLETION_MARKER
    marker.unlink(missing_ok=True)  # a marker from an earlier run must not release the pusher

    from transformers import PrinterCallback, Trainer, set_seed

    hf_logging: Any = importlib.import_module("transformers.utils.logging")  # untyped

    args = _training_arguments(config, output)
    if args.disable_tqdm:
        hf_logging.disable_progress_bar()
    set_seed(args.seed)
    tokenizer = load_tokenizer(config.model)
    chat = None
    if tokenizer.chat_template:

        def chat(messages: list[dict[str, str]], *, add_generation_prompt: bool) -> str:
            text: str = tokenizer.apply_chat_template(
                messages, tokenize=False, add_generation_prompt=add_generation_prompt
            )
            return text

    train_examples, eval_examples, layout = load_examples(
        data_dir, config.dataset, chat, eos=tokenizer.eos_token or ""
    )
    log.info(
        "dataset: %d training / %d evaluation example(s), columns %s",
        len(train_examples),
        len(eval_examples),
        {k: v for k, v in attrs.asdict(layout).items() if v is not None},
    )
    if config.collator.mlm:
        log.warning("DataCollator.mlm is ignored: causal language models train with mlm=false")
    max_length = config.dataset.max_seq_length or min(
        int(tokenizer.model_max_length), MAX_SEQ_LENGTH
    )
    templated = chat is not None and layout.text is None
    train_rows = _encode(tokenizer, train_examples, max_length, templated)
    eval_rows = _encode(tokenizer, eval_examples, max_length, templated) if eval_examples else []
    if metrics is not None:
        metrics.examples.set(len(train_rows))

    model = load_model(config, gradient_checkpointing=bool(args.gradient_checkpointing))
    losses: list[tuple[int, float]] = []
    trainer = Trainer(
        model=model,
        args=args,
        train_dataset=_ListDataset(train_rows),
        eval_dataset=_ListDataset(eval_rows) if eval_rows else None,
        data_collator=CausalCollator(tokenizer.pad_token_id, config.collator.pad_to_multiple_of),
        callbacks=[_progress_callback(metrics, losses)],
    )
    trainer.remove_callback(PrinterCallback)
    trainer.train()
    trainer.save_model(str(output))
    if trainer.is_world_process_zero():
        stamp = datetime.now(UTC).strftime("%Y-%m-%d-%H-%M-%S")
        marker.write_text(f"Fine-Tuning completed at {stamp}\n")
        log.info("Fine-Tuning completed: adapter written to %s", output)
    if metrics is not None:
        metrics.completed.set(1)
    return TrainingResult(
        output_dir=output,
        steps=int(trainer.state.global_step),
        train_examples=len(train_rows),
        losses=losses,
    )
