"""The adapter kaito-tune writes is one the inference server loads, and it changes the output.

The adapter directory holds only the two files the pusher puts into the image's ``/data``, as
the inference Workspace's adapter puller delivers them under ``/mnt/adapter/<name>``.
"""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
import torch

from kaito.inference.app import create_app
from kaito.inference.config import InferenceConfig
from kaito.inference.engines.transformers import TransformersEngine
from kaito.tuning import ADAPTER_FILES
from tests.tuning.conftest import TuneRun
from tests.tuning.helpers import TRAINING_TEXT

ADAPTER = "kaito-tuned"


@pytest.fixture(scope="module")
def adapters_dir(kaito_tune_run: TuneRun, tmp_path_factory: pytest.TempPathFactory) -> Path:
    assert kaito_tune_run.returncode == 0, kaito_tune_run.stderr
    root = tmp_path_factory.mktemp("mnt-adapter")
    (root / ADAPTER).mkdir()
    for name in ADAPTER_FILES:
        shutil.copy(kaito_tune_run.output_dir / name, root / ADAPTER / name)
    return root


async def _engine(model_dir: Path, adapters_dir: Path) -> TransformersEngine:
    engine = TransformersEngine(str(model_dir), adapters_dir=str(adapters_dir), dtype="float32")
    await engine.load()
    return engine


@pytest.fixture(scope="module")
async def engines(
    kaito_tune_run: TuneRun, adapters_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[tuple[TransformersEngine, TransformersEngine]]:
    model = kaito_tune_run.model_dir
    base = await _engine(model, tmp_path_factory.mktemp("no-adapters"))
    tuned = await _engine(model, adapters_dir)
    yield base, tuned
    await base.aclose()
    await tuned.aclose()


def _loss(engine: TransformersEngine, text: str) -> float:
    ids = torch.tensor([engine.tokenize(text, add_special_tokens=True)])
    with torch.no_grad():
        return float(engine.model(input_ids=ids, labels=ids).loss)


async def test_server_loads_the_tuned_adapter(
    engines: tuple[TransformersEngine, TransformersEngine],
) -> None:
    base, tuned = engines
    assert [a.name for a in base.adapters] == []
    assert [(a.name, a.strength) for a in tuned.adapters] == [(ADAPTER, 1.0)]


async def test_tuned_adapter_learned_the_training_text(
    engines: tuple[TransformersEngine, TransformersEngine],
) -> None:
    base, tuned = engines
    base_loss, tuned_loss = _loss(base, TRAINING_TEXT), _loss(tuned, TRAINING_TEXT)
    assert tuned_loss < base_loss - 0.05, (base_loss, tuned_loss)


async def _complete(engine: TransformersEngine, config: InferenceConfig) -> str:
    app = create_app(config, engine)
    transport = httpx.ASGITransport(app)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=transport, base_url="http://testserver") as client,
    ):
        models = (await client.get("/v1/models")).json()
        if engine.adapters:
            assert ADAPTER in [m["id"] for m in models["data"]]
        response = await client.post(
            "/v1/completions",
            json={"prompt": "kaito", "max_tokens": 24, "temperature": 0, "ignore_eos": True},
        )
        assert response.status_code == 200, response.text
        text: str = response.json()["choices"][0]["text"]
        return text


async def test_greedy_completion_changes_with_the_adapter(
    engines: tuple[TransformersEngine, TransformersEngine],
    kaito_tune_run: TuneRun,
    adapters_dir: Path,
) -> None:
    base, tuned = engines
    config = InferenceConfig(model=str(kaito_tune_run.model_dir), adapters_dir=str(adapters_dir))
    base_text = await _complete(base, config)
    tuned_text = await _complete(tuned, config)
    assert base_text != tuned_text
    assert await _complete(tuned, config) == tuned_text  # greedy: the change is not noise
