"""Fixtures for the inference server: a tiny model, two LoRA adapters, a loaded engine, clients."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import attrs
import httpx
import pytest

from kaito.inference.app import create_app
from kaito.inference.config import InferenceConfig
from kaito.inference.engines.transformers import TransformersEngine
from tests.support.tiny_model import build_tiny_adapter, build_tiny_model

ADAPTERS = ("adapter-a", "adapter-b")


@pytest.fixture(scope="session")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_model(tmp_path_factory.mktemp("model") / "tiny-llama")


@pytest.fixture(scope="session")
def adapters_dir(model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("adapters")
    for seed, name in enumerate(ADAPTERS):
        build_tiny_adapter(model_dir, root / name, seed=seed)
    (root / "not-an-adapter").mkdir()  # no adapter_config.json: must be skipped
    return root


@pytest.fixture(scope="session")
async def engine(model_dir: Path, adapters_dir: Path) -> AsyncIterator[TransformersEngine]:
    eng = TransformersEngine(str(model_dir), adapters_dir=str(adapters_dir), max_concurrency=1)
    await eng.load()
    yield eng
    await eng.aclose()


@pytest.fixture
def base_config(model_dir: Path, adapters_dir: Path) -> InferenceConfig:
    return InferenceConfig(model=str(model_dir), adapters_dir=str(adapters_dir))


ClientFactory = Callable[..., contextlib.AbstractAsyncContextManager[httpx.AsyncClient]]


@pytest.fixture
def make_client(base_config: InferenceConfig, engine: TransformersEngine) -> ClientFactory:
    """``async with make_client(**config_overrides) as client`` over the shared loaded engine."""

    @contextlib.asynccontextmanager
    async def factory(**overrides: Any) -> AsyncIterator[httpx.AsyncClient]:
        app = create_app(attrs.evolve(base_config, **overrides), engine)
        transport = httpx.ASGITransport(app, raise_app_exceptions=False)
        async with (
            app.router.lifespan_context(app),
            httpx.AsyncClient(transport=transport, base_url="http://testserver") as client,
        ):
            client.app = app  # type: ignore[attr-defined]
            yield client

    return factory


@pytest.fixture
async def client(make_client: ClientFactory) -> AsyncIterator[httpx.AsyncClient]:
    async with make_client() as c:
        yield c
