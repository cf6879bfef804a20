"""The pusher sidecar: wait for the completion marker, then push the adapter as an OCI image.

Upstream's sidecar (``pkg/workspace/image/pusher.sh`` in the ``oras`` CLI image) polls every
second for ``<output_dir>/fine_tuning_completed.txt``, builds the one-layer image of
:mod:`kaito.tuning.oci` and pushes it with ``oras`` using the push secret mounted as
``/root/.docker/config.json``. This is the same flow with the ``oras`` Python package:

    python -m kaito.tuning.pusher --dir /mnt/results --image registry.example/adapter:v1 \\
        --model-name phi-3-mini-4k-instruct

It exits 0 once the manifest is pushed, 1 when the push fails, 2 on bad arguments or a missing
adapter file, and 3 when there is nothing to push: kaito-tune left ``fine_tuning_failed.txt``
instead of the completion marker, ``--timeout`` passed, or SIGTERM arrived first.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol

from kaito.tuning import COMPLETION_MARKER, FAILURE_MARKER
from kaito.tuning.oci import CONFIG_MEDIA_TYPE, LAYER_MEDIA_TYPE, AdapterImage, build_adapter_image

log = logging.getLogger("kaito.tuning.pusher")


class MarkerTimeout(Exception):
    """The completion marker did not appear: timeout, SIGTERM, or kaito-tune failed."""


class Stop(Protocol):
    """What the wait checks between polls; :class:`threading.Event` is one."""

    def wait(self, timeout: float) -> bool:
        """Sleep up to ``timeout`` seconds; return whether the wait should stop."""
        ...


class SignalStop:
    """A stop flag that a signal handler may set.

    Not a :class:`threading.Event`: its ``set()`` takes a non-reentrant lock that ``wait()``
    holds for a moment on every poll, so a handler calling it on the interrupted main thread
    can deadlock (the pusher then ignores SIGTERM until it is killed). Assigning a bool is
    safe; ``time.sleep`` resumes after the handler, so the wait ends within one poll.
    """

    def __init__(self) -> None:
        self._stopped = False

    def set(self) -> None:
        """Ask the wait to stop."""
        self._stopped = True

    def wait(self, timeout: float) -> bool:
        """Sleep ``timeout`` seconds unless already stopped; return whether stopped."""
        if not self._stopped:
            time.sleep(timeout)
        return self._stopped


def wait_for_marker(
    marker: Path,
    *,
    failure: Path | None = None,
    poll_interval: float = 1.0,
    timeout: float | None = None,
    stop: Stop | None = None,
    clock: Callable[[], float] = time.monotonic,
) -> None:
    """Block until ``marker`` exists.

    Raise :class:`MarkerTimeout` when ``failure`` (kaito-tune's failure marker) appears first,
    on timeout, or when ``stop`` is set.
    """
    stop = stop or threading.Event()
    deadline = None if timeout is None else clock() + timeout
    while not marker.exists():
        if failure is not None and failure.exists():
            reason = failure.read_text(errors="replace").strip()
            raise MarkerTimeout(f"kaito-tune failed ({reason})")
        if deadline is not None and clock() >= deadline:
            raise MarkerTimeout(f"{marker} did not appear within {timeout:g} s")
        if stop.wait(poll_interval):
            if marker.exists():  # the trainer may have finished just before the signal
                return
            raise MarkerTimeout(f"stopped before {marker} appeared")


def push_image(
    image: AdapterImage,
    reference: str,
    *,
    plain_http: bool = False,
    docker_config: Path | None = None,
) -> str:
    """Push ``image`` to ``reference`` (``host[:port]/repo[:tag]``); return the manifest digest.

    Credentials come from ``docker_config`` (a ``config.json``) or, as with the oras CLI, from
    ``$DOCKER_CONFIG/config.json`` or ``~/.docker/config.json``.
    """
    import oras.provider

    registry: Any = oras.provider.Registry(insecure=plain_http)
    configs = None
    if docker_config is not None:
        configs = str(docker_config)
    elif os.environ.get("DOCKER_CONFIG"):
        configs = str(Path(os.environ["DOCKER_CONFIG"]) / "config.json")
    response = registry.push(
        target=reference,
        config_path=configs,
        files=[f"{image.layer}:{LAYER_MEDIA_TYPE}"],
        manifest_config=f"{image.config}:{CONFIG_MEDIA_TYPE}",
        manifest_annotations=dict(image.annotations) or None,
        disable_path_validation=True,
        quiet=True,
    )
    digest: str = response.headers.get("Docker-Content-Digest", "")
    return digest


def _parse_annotations(text: str) -> Mapping[str, str]:
    data = json.loads(text) if text else {}
    if "$manifest" in data:  # oras --annotation-file layout, as upstream passes it
        data = data["$manifest"]
    if not isinstance(data, dict):
        raise ValueError("annotations must be a JSON object")
    return {str(k): str(v) for k, v in data.items()}


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m kaito.tuning.pusher",
        description="Wait for kaito-tune to finish, then push the adapter as an OCI image.",
    )
    p.add_argument("--dir", type=Path, default=Path("/mnt/results"), help="default %(default)s")
    p.add_argument("--image", required=True, help="target reference, host[:port]/repo[:tag]")
    p.add_argument("--model-name", help="preset name, annotated as sh.kaito.model.name")
    p.add_argument(
        "--annotations",
        default=os.environ.get("ANNOTATIONS_DATA", ""),
        help='manifest annotations as JSON ({"k": "v"} or {"$manifest": {...}})',
    )
    p.add_argument("--wait-path", type=Path, help=f"default <dir>/{COMPLETION_MARKER}")
    p.add_argument("--poll-interval", type=float, default=1.0)
    p.add_argument("--timeout", type=float, help="give up after this many seconds")
    p.add_argument("--plain-http", action="store_true", help="talk HTTP, not HTTPS")
    p.add_argument("--docker-config", type=Path, help="credentials file (config.json)")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """Run the pusher; return the exit status."""
    args = _parser().parse_args(argv)
    logging.basicConfig(
        level=logging.INFO, format="%(levelname)s %(asctime)s %(name)s] %(message)s"
    )
    try:
        annotations = _parse_annotations(args.annotations)
    except ValueError as err:
        print(f"pusher: error: --annotations: {err}", file=sys.stderr)
        return 2
    stop = SignalStop()
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
    marker = args.wait_path or args.dir / COMPLETION_MARKER
    log.info("waiting for %s", marker)
    try:
        wait_for_marker(
            marker,
            failure=args.dir / FAILURE_MARKER,
            poll_interval=args.poll_interval,
            timeout=args.timeout,
            stop=stop,
        )
    except MarkerTimeout as err:
        print(f"pusher: error: {err}; nothing pushed", file=sys.stderr)
        return 3
    with tempfile.TemporaryDirectory(prefix="kaito-pusher-") as work:
        try:
            image = build_adapter_image(
                args.dir, Path(work), model_name=args.model_name, annotations=annotations
            )
        except FileNotFoundError as err:
            print(f"pusher: error: {err}", file=sys.stderr)
            return 2
        log.info(
            "pushing %s (layer %s) to %s", ", ".join(image.files), image.layer_digest, args.image
        )
        try:
            digest = push_image(
                image, args.image, plain_http=args.plain_http, docker_config=args.docker_config
            )
        except Exception as err:  # requests, oras and registry errors alike
            print(f"pusher: error: push to {args.image} failed: {err}", file=sys.stderr)
            return 1
    log.info("pushed %s@%s", args.image, digest or "(digest not reported)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
