"""Dataset discovery, the four file formats and the three data shapes."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from kaito.tuning.config import DatasetConfig
from kaito.tuning.dataset import (
    Example,
    Layout,
    dataset_files,
    detect_layout,
    load_examples,
    read_rows,
    split,
    to_examples,
)
from kaito.tuning.errors import TuningError
from tests.tuning.helpers import write_parquet

ROWS = [{"prompt": "2+2=", "response": "4"}, {"prompt": "3+3=", "response": "6"}]


def _write(path: Path, fmt: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if fmt == "parquet":
        write_parquet(path, list(ROWS))
    elif fmt == "json":
        path.write_text(json.dumps(ROWS))
    elif fmt == "jsonl":
        path.write_text("".join(json.dumps(r) + "\n" for r in ROWS) + "\n")
    else:
        with path.open("w", newline="") as fh:
            writer = csv.DictWriter(fh, fieldnames=["prompt", "response"])
            writer.writeheader()
            writer.writerows(ROWS)
    return path


@pytest.mark.parametrize("fmt", ["parquet", "json", "jsonl", "csv"])
def test_each_format_reads_the_same_rows(tmp_path: Path, fmt: str) -> None:
    path = _write(tmp_path / f"train.{fmt}", fmt)
    assert read_rows([path], DatasetConfig()) == ROWS


def test_json_lines_in_a_json_file(tmp_path: Path) -> None:
    path = tmp_path / "d.json"
    path.write_text("".join(json.dumps(r) + "\n" for r in ROWS))
    assert read_rows([path], DatasetConfig()) == ROWS


def test_discovery_reads_every_supported_file_and_skips_others(tmp_path: Path) -> None:
    _write(tmp_path / "b.csv", "csv")
    _write(tmp_path / "sub" / "a.parquet", "parquet")
    (tmp_path / "notes.txt").write_text("ignore me")
    (tmp_path / ".hidden").mkdir()
    _write(tmp_path / ".hidden" / "x.json", "json")
    files = dataset_files(tmp_path, DatasetConfig())
    assert [p.relative_to(tmp_path).as_posix() for p in files] == ["b.csv", "sub/a.parquet"]
    assert len(read_rows(files, DatasetConfig())) == 4


def test_dataset_path_and_extension_override(tmp_path: Path) -> None:
    path = tmp_path / "data.bin"
    path.write_text(json.dumps(ROWS))
    config = DatasetConfig(dataset_path="data.bin", dataset_extension="json")
    assert dataset_files(tmp_path, config) == [path]
    assert read_rows([path], config) == ROWS


def test_missing_and_empty_data_say_so(tmp_path: Path) -> None:
    with pytest.raises(TuningError, match="no dataset file found under"):
        dataset_files(tmp_path, DatasetConfig())
    with pytest.raises(TuningError, match="does not exist"):
        dataset_files(tmp_path / "nope", DatasetConfig())
    (tmp_path / "empty.jsonl").write_text("\n")
    with pytest.raises(TuningError, match="no rows"):
        read_rows([tmp_path / "empty.jsonl"], DatasetConfig())
    (tmp_path / "bad.json").write_text("[1, 2]")
    with pytest.raises(TuningError, match="array of objects"):
        read_rows([tmp_path / "bad.json"], DatasetConfig())
    (tmp_path / "broken.parquet").write_bytes(b"not parquet")
    with pytest.raises(TuningError, match=r"cannot read dataset file broken\.parquet"):
        read_rows([tmp_path / "broken.parquet"], DatasetConfig())


@pytest.mark.parametrize(
    ("columns", "config", "layout"),
    [
        (["text"], DatasetConfig(), Layout(text="text")),
        (["text", "source"], DatasetConfig(), Layout(text="text")),
        (["body"], DatasetConfig(), Layout(text="body")),
        (["prompt", "response"], DatasetConfig(), Layout(prompt="prompt", response="response")),
        (["question", "answer"], DatasetConfig(), Layout(prompt="question", response="answer")),
        (["messages"], DatasetConfig(), Layout(messages="messages")),
        (["conv", "id"], DatasetConfig(messages_column="conv"), Layout(messages="conv")),
        (
            ["ctx", "out"],
            DatasetConfig(context_column="ctx", response_column="out"),
            Layout(prompt="ctx", response="out"),
        ),
    ],
)
def test_layout_detection(columns: list[str], config: DatasetConfig, layout: Layout) -> None:
    assert detect_layout(columns, config) == layout


def test_layout_errors_name_the_columns() -> None:
    with pytest.raises(TuningError, match="got a, b"):
        detect_layout(["a", "b"], DatasetConfig())
    with pytest.raises(TuningError, match="messages_column 'chat' is not a column"):
        detect_layout(["text"], DatasetConfig(messages_column="chat"))


def _chat(messages: list[dict[str, str]], *, add_generation_prompt: bool) -> str:
    text = "".join(f"<{m['role']}>{m['content']}</>" for m in messages)
    return text + ("<assistant>" if add_generation_prompt else "")


def test_prompt_response_with_chat_template_masks_the_prompt() -> None:
    (example,) = to_examples(
        [{"prompt": "hi", "response": "yo"}], Layout(prompt="prompt", response="response"), _chat
    )
    assert example.text == "<user>hi</><assistant>yo</>"
    assert example.prompt == "<user>hi</><assistant>"


def test_prompt_response_without_template() -> None:
    (example,) = to_examples(
        [{"prompt": "hi", "response": "yo"}],
        Layout(prompt="prompt", response="response"),
        None,
        eos="</s>",
    )
    assert example == Example(text="hi\nyo</s>", prompt="hi\n")


def test_messages_from_parquet_structs_and_json_strings() -> None:
    conv = [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}]
    rows = [{"messages": conv}, {"messages": json.dumps(conv)}]
    examples = list(to_examples(rows, Layout(messages="messages"), _chat))
    assert [e.text for e in examples] == ["<user>q</><assistant>a</>"] * 2
    assert all(e.prompt == "" for e in examples)
    with pytest.raises(TuningError, match="row 1: each message needs 'role' and 'content'"):
        list(to_examples([{"messages": [{"role": "user"}]}], Layout(messages="messages"), _chat))


def test_blank_text_rows_are_dropped() -> None:
    rows = [{"text": "a"}, {"text": "  "}, {"text": None}]
    assert [e.text for e in to_examples(rows, Layout(text="text"), None, eos="!")] == ["a!"]


def test_split_is_seeded_and_keeps_every_example() -> None:
    examples = [Example(text=str(i)) for i in range(10)]
    train, evaluation = split(examples, DatasetConfig(train_test_split=0.8, shuffle_seed=1))
    assert (len(train), len(evaluation)) == (8, 2)
    assert sorted(e.text for e in train + evaluation) == sorted(e.text for e in examples)
    again, _ = split(examples, DatasetConfig(train_test_split=0.8, shuffle_seed=1))
    assert again == train
    unshuffled, rest = split(examples, DatasetConfig(train_test_split=1, shuffle_dataset=False))
    assert (unshuffled, rest) == (examples, [])
    with pytest.raises(TuningError, match="train_test_split"):
        split(examples, DatasetConfig(train_test_split=0))


def test_load_examples_end_to_end(tmp_path: Path) -> None:
    write_parquet(tmp_path / "d.parquet", [{"text": f"row {i}"} for i in range(5)])
    train, evaluation, layout = load_examples(tmp_path, DatasetConfig(), None, eos="<e>")
    assert layout == Layout(text="text")
    assert (len(train), len(evaluation)) == (4, 1)
    assert all(e.text.endswith("<e>") for e in train + evaluation)
