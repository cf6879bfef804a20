# Image of a tuning Workspace's Job: the main container runs `kaito-tune`, the pusher sidecar
# runs `python -m kaito.tuning.pusher` from the same image (upstream uses kaito-base for the
# first and the oras CLI image for the second).
#
# It differs from the inference image by the `gpu` extra (bitsandbytes, for QLoRA's 4/8-bit
# loading); torch's Linux wheels bring their own CUDA runtime.
#
#   docker build -f docker/tuning.Dockerfile -t kaito-tuning:dev .
FROM python:3.12-slim-bookworm

ENV PIP_NO_CACHE_DIR=1 \
    PYTHONUNBUFFERED=1 \
    PYTORCH_CUDA_ALLOC_CONF=expandable_segments:True \
    YAML_FILE_PATH=/mnt/config/training_config.yaml \
    DATASET_FOLDER_PATH=/mnt/data

WORKDIR /workspace/kaito
COPY pyproject.toml README.md ./
COPY src ./src
RUN pip install '.[runtime,gpu]' && rm -rf /workspace/kaito/src

# 5000: Prometheus /metrics of kaito-tune (upstream's tuning metrics port).
EXPOSE 5000
ENTRYPOINT ["kaito-tune"]
