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
#
# BASE is any Debian-like image with python3 (>= 3.11) and pip: hack/images/build.sh passes
# its debootstrap'ed bookworm base (python 3.11) when it builds with buildah.
#
# Two install layers: the dependencies (torch & co, several GB) come from a requirements list
# derived from pyproject.toml (the `runtime` and `ray` extras) in a stage of its own, so the layer is rebuilt only when that
# list changes; a change under src/ rebuilds, pushes and pulls only the small kaito layer.
ARG BASE=python:3.12-slim-bookworm

FROM ${BASE} AS requirements
USER root
COPY pyproject.toml /tmp/
RUN python3 -c "import tomllib; p = tomllib.load(open('/tmp/pyproject.toml', 'rb'))['project']; x = p['optional-dependencies']; print('\n'.join(p['dependencies'] + x['runtime'] + x['ray']))" > /requirements.txt

FROM ${BASE}
# Build-time only (ARGs are not in the image's config). WHEELHOUSE: a directory of wheels kept
# between builds (hack/images/build.sh mounts one; pip's own HTTP cache stores nothing where
# a proxy strips the caching headers): `pip download` adds what is missing, then the install
# reads only from it. PIP_CERT: a CA bundle for PyPI's TLS.
ARG WHEELHOUSE
ARG PIP_CERT
ARG PIP_NO_CACHE_DIR=1
ENV PYTHONUNBUFFERED=1 \
    PYTORCH_CUDA_ALLOC_CONF=expandable_segments:True

WORKDIR /workspace/kaito
COPY --from=requirements /requirements.txt /tmp/requirements.txt
RUN if [ -n "$WHEELHOUSE" ]; then \
        pip download --progress-bar=off -d "$WHEELHOUSE" -r /tmp/requirements.txt \
        && pip install --no-index --find-links="$WHEELHOUSE" -r /tmp/requirements.txt; \
    else pip install -r /tmp/requirements.txt; fi
COPY pyproject.toml README.md ./
COPY src ./src
COPY templates ./templates
RUN pip install --no-deps . && rm -rf /workspace/kaito/src /workspace/kaito/templates \
    && useradd --uid 1000 --create-home --home-dir /home/kaito kaito \
    && mkdir -p /workspace/weights /mnt/adapter /mnt/config

# For images built FROM this one (`pip install vllm`): no pip cache in their layers.
ENV PIP_NO_CACHE_DIR=1
USER 1000
# 5000: POST /chat, the OpenAI API under /v1, GET /health (probes) and GET /metrics.
EXPOSE 5000
ENTRYPOINT ["kaito-inference"]
CMD ["--model=/workspace/weights", "--port=5000"]
