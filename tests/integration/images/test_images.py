"""Every image of images.env is in the local registry, with the entrypoint and user it needs,
and runs: the inference image imports torch, the puller's tools work.

Containers run with buildah on the build script's storage (the image is already there after
a build; otherwise it is pulled from the local registry).
"""

from __future__ import annotations

import re

import pytest
from hack.images import build as images_build

from tests.integration.images.helpers import Buildah, run_build, skopeo_inspect

pytestmark = [pytest.mark.slow, pytest.mark.timeout(3 * 3600)]

EXPECTED = {
    # env var: (image name, tag prefix, Entrypoint, Cmd, users that are right)
    "KAITO_OPERATOR_IMAGE": ("kaito-operator", "0.1.0", ["kaito"], ["manager"], {"65532:65532"}),
    "KAITO_INFERENCE_IMAGE": (
        "kaito-inference",
        "0.1.0",
        ["kaito-inference"],
        ["--model=/workspace/weights", "--port=5000"],
        {"1000"},
    ),
    "KAITO_TUNING_IMAGE": ("kaito-tuning", "0.1.0", ["kaito-tune"], None, {"", "root", "0"}),
    "KAITO_PULLER_IMAGE": ("kaito-puller", "0.1.0", None, ["/bin/sh"], {"", "root", "0"}),
    "KAITO_PAUSE_IMAGE": ("pause", "3.10-kaito", ["/pause"], None, {"65535:65535"}),
}


def test_images_env_names_every_image(built_images: dict[str, str]) -> None:
    assert set(built_images) == set(EXPECTED)
    for key, ref in built_images.items():
        name, prefix = EXPECTED[key][:2]
        assert re.fullmatch(
            rf"10\.245\.0\.1:5000/kaito/{re.escape(name)}:{re.escape(prefix)}-[0-9a-f]{{12}}", ref
        ), ref


@pytest.mark.parametrize("key", sorted(EXPECTED))
def test_image_is_in_the_registry_with_its_entrypoint_and_user(
    built_images: dict[str, str], key: str
) -> None:
    ref = built_images[key]
    _, _, entrypoint, cmd, users = EXPECTED[key]
    manifest = skopeo_inspect(ref)
    assert manifest["Name"] == ref.rsplit(":", 1)[0]
    assert manifest["Architecture"] == "amd64"
    config = skopeo_inspect(ref, config=True)["config"]
    assert isinstance(config, dict)
    assert config.get("Entrypoint") == entrypoint
    assert config.get("Cmd") == cmd
    assert config.get("User", "") in users


def test_inference_image_imports_its_runtime(
    built_images: dict[str, str], buildah: Buildah
) -> None:
    with buildah.container(built_images["KAITO_INFERENCE_IMAGE"]) as ctr:
        out = buildah.run(
            ctr,
            "python3",
            "-c",
            "import os, kaito.inference, torch, transformers; "
            "print(os.getuid(), torch.__version__, transformers.__version__)",
        )
        uid, torch_version, _ = out.split()
        assert uid == "1000"
        assert torch_version.startswith("2.")
        assert "--model" in buildah.run(ctr, "kaito-inference", "--help")


def test_tuning_image_runs_kaito_tune_and_the_pusher(
    built_images: dict[str, str], buildah: Buildah
) -> None:
    with buildah.container(built_images["KAITO_TUNING_IMAGE"]) as ctr:
        buildah.run(ctr, "kaito-tune", "--help")
        assert "--image" in buildah.run(ctr, "python", "-m", "kaito.tuning.pusher", "--help")
        buildah.run(ctr, "python3", "-c", "import bitsandbytes, peft, kaito.tuning.train")


def test_operator_image_runs_kaito(built_images: dict[str, str], buildah: Buildah) -> None:
    with buildah.container(built_images["KAITO_OPERATOR_IMAGE"]) as ctr:
        assert "manager" in buildah.run(ctr, "kaito", "--help")


def test_puller_image_tools_work(built_images: dict[str, str], buildah: Buildah) -> None:
    with buildah.container(built_images["KAITO_PULLER_IMAGE"]) as ctr:
        assert "Version:" in buildah.run(ctr, "oras", "version")
        assert buildah.run(ctr, "skopeo", "--version").startswith("skopeo version")
        assert buildah.run(ctr, "curl", "--version").startswith("curl ")
        buildah.run(ctr, "sh", "-c", "tar --version >/dev/null")
        # skopeo reaches the local registry over plain HTTP without flags (registries.conf.d)
        pause = built_images["KAITO_PAUSE_IMAGE"]
        out = buildah.run(ctr, "skopeo", "inspect", f"docker://{pause}", network="host")
        assert '"Architecture": "amd64"' in out


def test_a_warm_build_builds_nothing(built_images: dict[str, str]) -> None:
    # The first run catches up with whatever changed in the work tree since the session's
    # build (others may be editing src/); the second, right after, has nothing to do.
    first = run_build()
    assert first.returncode == 0, first.stderr
    written = images_build.env_file().read_text()
    again = run_build()
    assert again.returncode == 0, again.stderr
    assert again.statuses() == dict.fromkeys(images_build.ENV_NAMES, "cached"), again.stdout
    assert images_build.env_file().read_text() == written
