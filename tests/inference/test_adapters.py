"""Adapters: discovery under the adapters dir, strengths from env vars, weighted merge, listing."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
import torch

from kaito.inference.adapters import AdapterError, discover_adapters, parse_strength
from kaito.inference.engines.transformers import TransformersEngine
from tests.inference.conftest import ADAPTERS


def test_discovery_skips_dirs_without_adapter_config(adapters_dir: Path) -> None:
    found = discover_adapters(str(adapters_dir), environ={"adapter-b": "0.25"})
    assert [(a.name, a.strength) for a in found] == [("adapter-a", 1.0), ("adapter-b", 0.25)]
    assert all(Path(a.path, "adapter_config.json").is_file() for a in found)


def test_missing_adapters_dir_means_no_adapters(tmp_path: Path) -> None:
    assert discover_adapters(str(tmp_path / "absent")) == []


@pytest.mark.parametrize("raw", ["abc", "-1", "nan", "inf"])
def test_bad_strength_is_refused(raw: str) -> None:
    with pytest.raises(AdapterError, match="adapter-a"):
        parse_strength("adapter-a", raw)


async def _logits(model_dir: Path, adapters_dir: Path) -> torch.Tensor:
    engine = TransformersEngine(str(model_dir), adapters_dir=str(adapters_dir))
    await engine.load()
    try:
        ids = torch.tensor([engine.tokenize("strength test", add_special_tokens=True)])
        with torch.no_grad():
            return engine.model(input_ids=ids).logits[0, -1].clone()
    finally:
        await engine.aclose()


async def test_strength_zero_vs_one_changes_the_logits(
    model_dir: Path, adapters_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    base = await _logits(model_dir, tmp_path / "no-adapters")
    for name in ADAPTERS:
        monkeypatch.setenv(name, "0")
    off = await _logits(model_dir, adapters_dir)
    monkeypatch.setenv("adapter-a", "1")
    on = await _logits(model_dir, adapters_dir)
    monkeypatch.setenv("adapter-b", "1")
    both = await _logits(model_dir, adapters_dir)

    torch.testing.assert_close(off, base, atol=1e-5, rtol=1e-5)
    assert (on - base).abs().max() > 1e-2
    assert (both - on).abs().max() > 1e-2


async def test_models_lists_the_model_and_each_adapter(client: httpx.AsyncClient) -> None:
    response = await client.get("/v1/models")
    assert response.status_code == 200
    body = response.json()
    assert body["object"] == "list"
    ids = [m["id"] for m in body["data"]]
    assert ids == ["tiny-llama", *ADAPTERS]
    base, *adapters = body["data"]
    assert base["owned_by"] == "kaito"
    assert base["parent"] is None
    assert all(a["parent"] == "tiny-llama" and a["strength"] == 1.0 for a in adapters)


async def test_requests_may_name_an_adapter(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/v1/completions", json={"model": "adapter-b", "prompt": "hi", "max_tokens": 2}
    )
    assert response.status_code == 200
    assert response.json()["model"] == "adapter-b"
