"""kaito-inference-node's choices that need no Ray: roles, the head's address, bad input."""

from __future__ import annotations

import pytest

from kaito.inference import ray_node


def test_the_head_is_found_by_dns_else_by_the_service_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # no cluster DNS here: *.svc.cluster.local does not resolve
    monkeypatch.delenv("LLAMA_RAY_SERVICE_HOST", raising=False)
    assert ray_node.leader_host("llama-ray", "default") is None
    monkeypatch.setenv("LLAMA_RAY_SERVICE_HOST", "10.96.0.12")
    assert ray_node.leader_host("llama-ray", "default") == "10.96.0.12"


def test_bad_arguments_exit_2_with_a_reason(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["--nodes=1", "--leader-service=ws", "--namespace=ns"]
    assert ray_node.main(args) == 2
    assert "--nodes must be at least 2" in capsys.readouterr().err
    monkeypatch.setenv("PATH", "/nonexistent")
    assert ray_node.main(["--nodes=2", "--leader-service=ws", "--namespace=ns"]) == 2
    assert "ray package is not installed" in capsys.readouterr().err
