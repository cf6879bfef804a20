"""``kaito-tune``: the command the tuning Job's main container runs.

Upstream runs ``python3 metrics_server.py & accelerate launch fine_tuning.py`` with the config in
``YAML_FILE_PATH`` (default ``/mnt/config/training_config.yaml``) and the data in
``DATASET_FOLDER_PATH`` (default ``/mnt/data``); the same environment variables work here, and
flags override them. Errors the user can fix end the program with one line on stderr (also
written to ``/dev/termination-log`` when Kubernetes provides it, so it reaches the pod status) and
exit status 2; any other failure is logged with its traceback and exits 1. Either way the reason
is also left in ``<output_dir>/fine_tuning_failed.txt`` so that the pusher sidecar stops waiting.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from kaito.contracts import tuning_configmaps as defaults
from kaito.tuning import FAILURE_MARKER
from kaito.tuning.config import (
    DEFAULT_OUTPUT_DIR,
    TrainingConfig,
    load_training_config,
    parse_training_config,
)
from kaito.tuning.errors import TuningError

log = logging.getLogger("kaito.tuning")

TERMINATION_LOG = Path("/dev/termination-log")


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="kaito-tune",
        description="Fine-tune a LoRA adapter for a causal language model (Kaito tuning Job).",
    )
    p.add_argument(
        "--config",
        type=Path,
        default=Path(os.environ.get("YAML_FILE_PATH", "/mnt/config/training_config.yaml")),
        help="training_config.yaml (env YAML_FILE_PATH; default %(default)s)",
    )
    p.add_argument(
        "--method",
        choices=sorted(defaults.TEMPLATE_NAMES),
        help="use this method's default ConfigMap when --config does not exist",
    )
    p.add_argument(
        "--data-dir",
        type=Path,
        default=Path(os.environ.get("DATASET_FOLDER_PATH", "/mnt/data")),
        help="directory with the dataset files (env DATASET_FOLDER_PATH; default %(default)s)",
    )
    p.add_argument(
        "--output-dir", type=Path, help="override TrainingArguments.output_dir (/mnt/results)"
    )
    p.add_argument("--model", help="override ModelConfig.pretrained_model_name_or_path")
    p.add_argument(
        "--metrics-port",
        type=int,
        default=int(os.environ.get("METRICS_PORT", "5000")),
        help="port of the Prometheus /metrics endpoint; 0 picks a free one, -1 disables it "
        "(default %(default)s)",
    )
    p.add_argument("--metrics-address", default="0.0.0.0", help="default %(default)s")
    p.add_argument(
        "--log-level",
        default="DEBUG" if os.environ.get("DEBUG_MODE", "").lower() == "true" else "INFO",
    )
    return p


def _config(args: argparse.Namespace) -> TrainingConfig:
    import attrs

    if not args.config.exists() and args.method:
        log.info("%s not found: using the default %s config", args.config, args.method)
        config = parse_training_config(defaults.training_config_yaml(args.method))
    else:
        config = load_training_config(args.config)
    if args.model:
        config = attrs.evolve(
            config, model=attrs.evolve(config.model, pretrained_model_name_or_path=args.model)
        )
    return config


def _report(message: str, output_dir: Path) -> None:
    print(f"kaito-tune: error: {message}", file=sys.stderr, flush=True)
    if TERMINATION_LOG.exists():
        with contextlib.suppress(OSError):
            TERMINATION_LOG.write_text(message)
    # Only into a directory that exists (the mounted results volume): never create one.
    if output_dir.is_dir():
        with contextlib.suppress(OSError):
            (output_dir / FAILURE_MARKER).write_text(message + "\n")


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``kaito-tune``; return the exit status."""
    args = _parser().parse_args(argv)
    logging.basicConfig(
        level=args.log_level.upper(),
        format="%(levelname)s %(asctime)s %(name)s] %(message)s",
        datefmt="%m-%d %H:%M:%S",
    )
    metrics = None
    output_dir: Path = args.output_dir or Path(DEFAULT_OUTPUT_DIR)
    try:
        config = _config(args)
        output_dir = args.output_dir or config.output_dir
        (output_dir / FAILURE_MARKER).unlink(missing_ok=True)
        from kaito.tuning.model import check_quantization

        check_quantization(config)  # before the metrics port and the heavy imports
        from kaito.tuning.metrics import TuningMetrics
        from kaito.tuning.train import run

        if args.metrics_port >= 0:
            metrics = TuningMetrics()
            port = metrics.serve(args.metrics_port, args.metrics_address)
            log.info("metrics on http://%s:%d/metrics", args.metrics_address, port)
        result = run(config, data_dir=args.data_dir, output_dir=args.output_dir, metrics=metrics)
    except TuningError as err:
        _report(str(err), output_dir)
        return 2
    except Exception as err:  # a crash, not a user error: keep the traceback in the log
        log.exception("fine-tuning failed")
        _report(f"fine-tuning failed: {type(err).__name__}: {err}", output_dir)
        return 1
    finally:
        if metrics is not None:
            metrics.close()
    log.info("done: %d step(s), adapter in %s", result.steps, result.output_dir)
    return 0


if __name__ == "__main__":
    sys.exit(main())
