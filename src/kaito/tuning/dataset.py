"""Finding, reading and shaping the training data under ``/mnt/data``.

Upstream's ``dataset.py`` hands the first file whose name contains a known extension to
``datasets.load_dataset`` and trains on one text column. This module reads every supported file
in the data directory (the ``urls`` input downloads one file per URL), with pyarrow for parquet
and the standard library for JSON, JSON lines and CSV, and recognises the three shapes the
Workspace documentation promises:

* plain text: one text column (``response_column``, default ``text``);
* prompt/response: ``context_column`` (default ``prompt``) and ``response_column`` (default
  ``response`` when there is no ``text`` column);
* chat: a ``messages`` column of OpenAI-style ``[{"role": ..., "content": ...}]`` lists.

Rows become :class:`Example` values: the text to train on and, for prompt/response data, the
prompt prefix whose tokens are left out of the loss.
"""

from __future__ import annotations

import csv
import json
import random
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, Final, Protocol

import attrs

from kaito.tuning.config import DatasetConfig
from kaito.tuning.errors import TuningError

FORMATS: Final = {
    ".parquet": "parquet",
    ".json": "json",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".csv": "csv",
}
"""Supported file suffixes and the reader each selects."""

PROMPT_COLUMNS: Final = ("prompt", "context", "instruction", "question")
RESPONSE_COLUMNS: Final = ("response", "completion", "answer", "output")

Row = Mapping[str, Any]


class ChatFormatter(Protocol):
    """The part of a tokenizer used to render conversations (``apply_chat_template``)."""

    def __call__(self, messages: list[dict[str, str]], *, add_generation_prompt: bool) -> str: ...


@attrs.frozen
class Example:
    """One training example."""

    text: str
    """The whole text, prompt included."""
    prompt: str = ""
    """The leading part of ``text`` that is context only: its tokens get no loss."""


def dataset_files(data_dir: Path, config: DatasetConfig) -> list[Path]:
    """The files to read: ``dataset_path`` if set, else every supported file under ``data_dir``."""
    root = data_dir
    if config.dataset_path:
        path = Path(config.dataset_path)
        root = path if path.is_absolute() else data_dir / path
        if root.is_file():
            return [root]
    if not root.is_dir():
        raise TuningError(f"dataset path {root} does not exist")
    wanted = config.dataset_extension
    files = sorted(
        p
        for p in root.rglob("*")
        if p.is_file()
        and not any(part.startswith(".") for part in p.relative_to(root).parts)
        and (p.suffix.lower() in FORMATS if wanted is None else True)
    )
    if not files:
        raise TuningError(
            f"no dataset file found under {root} (supported: {', '.join(sorted(FORMATS))})"
        )
    return files


def _format_of(path: Path, config: DatasetConfig) -> str:
    if config.dataset_extension:
        ext = config.dataset_extension.lower().lstrip(".")
        if f".{ext}" not in FORMATS:
            raise TuningError(
                f"unsupported dataset_extension {config.dataset_extension!r} "
                f"(supported: {', '.join(sorted(FORMATS))})"
            )
        return FORMATS[f".{ext}"]
    try:
        return FORMATS[path.suffix.lower()]
    except KeyError:
        raise TuningError(f"unsupported dataset file {path.name}") from None


def _read_parquet(path: Path) -> list[Row]:
    import pyarrow.parquet as pq

    rows: list[Row] = pq.read_table(path).to_pylist()
    return rows


def _read_json(path: Path) -> list[Row]:
    text = path.read_text(encoding="utf-8")
    stripped = text.lstrip()
    if stripped.startswith("["):
        data = json.loads(text)
        if not all(isinstance(r, dict) for r in data):
            raise TuningError(f"{path.name}: a JSON array of objects is expected")
        return list(data)
    return _read_jsonl(path)


def _read_jsonl(path: Path) -> list[Row]:
    rows: list[Row] = []
    with path.open(encoding="utf-8") as fh:
        for number, line in enumerate(fh, 1):
            if not line.strip():
                continue
            row = json.loads(line)
            if not isinstance(row, dict):
                raise TuningError(f"{path.name}:{number}: a JSON object is expected")
            rows.append(row)
    return rows


def _read_csv(path: Path) -> list[Row]:
    with path.open(encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


_READERS: Final = {
    "parquet": _read_parquet,
    "json": _read_json,
    "jsonl": _read_jsonl,
    "csv": _read_csv,
}


def read_rows(files: Sequence[Path], config: DatasetConfig) -> list[Row]:
    """All rows of ``files``, in file order."""
    rows: list[Row] = []
    for path in files:
        try:
            rows.extend(_READERS[_format_of(path, config)](path))
        except TuningError:
            raise
        except Exception as err:  # json, csv, UnicodeDecodeError, OSError and pyarrow's own
            raise TuningError(f"cannot read dataset file {path.name}: {err}") from None
    if not rows:
        raise TuningError("the dataset has no rows")
    return rows


@attrs.frozen
class Layout:
    """Which columns hold the data; exactly one of the three shapes."""

    text: str | None = None
    prompt: str | None = None
    response: str | None = None
    messages: str | None = None


def detect_layout(columns: Sequence[str], config: DatasetConfig) -> Layout:
    """Pick the data shape from the columns present and the ``DatasetConfig`` overrides."""
    cols = set(columns)
    overrides = (
        ("messages_column", config.messages_column),
        ("context_column", config.context_column),
    )
    for name, column in overrides:
        if column is not None and column not in cols:
            raise TuningError(
                f"DatasetConfig.{name} {column!r} is not a column of the dataset "
                f"(columns: {', '.join(columns)})"
            )
    if config.messages_column is not None:
        return Layout(messages=config.messages_column)
    prompt = config.context_column or next((c for c in PROMPT_COLUMNS if c in cols), None)
    response = config.response_column if config.response_column in cols else None
    if prompt is not None:
        response = response or next((c for c in RESPONSE_COLUMNS if c in cols), None)
        if response is not None:
            return Layout(prompt=prompt, response=response)
    if response is not None:
        return Layout(text=response)
    if "messages" in cols:
        return Layout(messages="messages")
    if len(columns) == 1:
        return Layout(text=columns[0])
    raise TuningError(
        "cannot tell which column holds the text: expected a 'text' column, prompt/response "
        f"columns or a 'messages' column, got {', '.join(columns)}; set DatasetConfig "
        "response_column, context_column or messages_column"
    )


def _messages(value: Any, row_number: int) -> list[dict[str, str]]:
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError:
            raise TuningError(f"row {row_number}: messages is not JSON") from None
    if not isinstance(value, list) or not value:
        raise TuningError(f"row {row_number}: messages must be a non-empty list")
    out: list[dict[str, str]] = []
    for message in value:
        if not isinstance(message, Mapping) or "role" not in message or "content" not in message:
            raise TuningError(f"row {row_number}: each message needs 'role' and 'content'")
        out.append({"role": str(message["role"]), "content": str(message["content"])})
    return out


def to_examples(
    rows: Sequence[Row], layout: Layout, chat: ChatFormatter | None, eos: str = ""
) -> Iterator[Example]:
    """Render rows as :class:`Example` values.

    Conversations and prompt/response pairs use the tokenizer's chat template when there is one
    (``chat``); without it a pair becomes ``prompt + "\\n" + response``. Plain text and template-
    less pairs end with ``eos`` so the model learns where a response stops.
    """
    for number, row in enumerate(rows, 1):
        if layout.messages is not None:
            messages = _messages(row.get(layout.messages), number)
            if chat is None:
                text = "\n".join(f"{m['role']}: {m['content']}" for m in messages) + eos
            else:
                text = chat(messages, add_generation_prompt=False)
            yield Example(text=text)
        elif layout.prompt is not None and layout.response is not None:
            prompt, response = str(row.get(layout.prompt) or ""), str(row.get(layout.response))
            if chat is None:
                prefix = f"{prompt}\n" if prompt else ""
                yield Example(text=prefix + response + eos, prompt=prefix)
            else:
                user = [{"role": "user", "content": prompt}]
                prefix = chat(user, add_generation_prompt=True)
                turn = [*user, {"role": "assistant", "content": response}]
                full = chat(turn, add_generation_prompt=False)
                yield Example(text=full, prompt=prefix if full.startswith(prefix) else "")
        else:
            assert layout.text is not None
            value = row.get(layout.text)
            if value is not None and str(value).strip():
                yield Example(text=str(value) + eos)


def split(examples: list[Example], config: DatasetConfig) -> tuple[list[Example], list[Example]]:
    """Shuffle (if asked) and split into training and evaluation examples."""
    if not 0 < config.train_test_split <= 1:
        raise TuningError("DatasetConfig.train_test_split must be in (0, 1]")
    if config.shuffle_dataset:
        examples = list(examples)
        random.Random(config.shuffle_seed).shuffle(examples)
    cut = max(1, round(len(examples) * config.train_test_split))
    return examples[:cut], examples[cut:]


def load_examples(
    data_dir: Path, config: DatasetConfig, chat: ChatFormatter | None, eos: str = ""
) -> tuple[list[Example], list[Example], Layout]:
    """Everything above in one call: (train, eval, layout)."""
    rows = read_rows(dataset_files(data_dir, config), config)
    columns = list(dict.fromkeys(k for row in rows for k in row))
    layout = detect_layout(columns, config)
    examples = list(to_examples(rows, layout, chat, eos))
    if not examples:
        raise TuningError("the dataset has no non-empty examples")
    train, evaluation = split(examples, config)
    return train, evaluation, layout
