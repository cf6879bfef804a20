# Image of an inference Workspace's pods: the container runs `kaito-inference` (upstream runs
# its kaito-base image's inference_api.py). Only the `runtime` extra is installed: the server
# imports nothing of the operator. torch's Linux wheels bring their own CUDA runtime, so the
# same image serves on GPU nodes and on CPU; where vLLM is wanted, build FROM this image and
# `pip install vllm`, then start with `--engine vllm`.
#
# Weights are expected at /workspace/weights (the model-weights volume), adapters under
# /mnt/adapter/<name> with their strength in the env var <name>, the workspace's
# inference_config.yaml at /mnt/config (passed with --config).
#
#   docker build -f docker/inference.Dockerfile -t kaito-inference:dev .
FROM python:3.12-slim-bookworm

ENV PIP_NO_CACHE_DIR=1 \
    PYTHONUNBUFFERED=1 \
    PYTORCH_CUDA_ALLOC_CONF=expandable_segments:True

WORKDIR /workspace/kaito
COPY pyproject.toml README.md ./
COPY src ./src
RUN pip install '.[runtime]' && rm -rf /workspace/kaito/src \
    && useradd --uid 1000 --create-home --home-dir /home/kaito kaito \
    && mkdir -p /workspace/weights /mnt/adapter /mnt/config

USER 1000
# 5000: POST /chat, the OpenAI API under /v1, GET /health (probes) and GET /metrics.
EXPOSE 5000
ENTRYPOINT ["kaito-inference"]
CMD ["--model=/workspace/weights", "--port=5000"]
