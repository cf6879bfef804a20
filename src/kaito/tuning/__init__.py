"""The fine-tuning program that runs inside a tuning Workspace's Job (``kaito-tune``).

It mirrors upstream Kaito's ``presets/workspace/tuning/text-generation`` (``fine_tuning.py``,
``cli.py``, ``dataset.py``, ``metrics_server.py``) and its ORAS pusher sidecar: read
``training_config.yaml``, train a LoRA adapter with transformers + PEFT on the files in
``/mnt/data``, write ``adapter_config.json`` + ``adapter_model.safetensors`` and the completion
marker, and (``kaito.tuning.pusher``) push the result as an OCI image whose ``/data`` holds the
adapter.

Importing this package is cheap: torch and transformers are imported only by the modules that
train. It imports nothing of the operator (``kaito.api``, ``kaito.runtime``, controllers), and
the operator imports nothing of it: the ConfigMap contract both sides read lives in
:mod:`kaito.contracts.tuning_configmaps`.
"""

COMPLETION_MARKER = "fine_tuning_completed.txt"
"""Written to the output directory after the adapter; the pusher waits for it (upstream name)."""

FAILURE_MARKER = "fine_tuning_failed.txt"
"""Written to an existing output directory when ``kaito-tune`` fails, holding the reason: the
pusher sidecar then exits instead of waiting for a completion that will never come."""

ADAPTER_FILES = ("adapter_config.json", "adapter_model.safetensors")
"""The files that make an adapter, and all that the pusher puts into the image's ``/data``."""
