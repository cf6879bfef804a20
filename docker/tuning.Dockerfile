# Image of a tuning Workspace's Job: the main container runs `kaito-tune`, the pusher sidecar
# runs `python -m kaito.tuning.pusher` from the same image (upstream uses kaito-base for the
# first and the oras CLI image for the second).
#
# It differs from the inference image by the `gpu` extra (bitsandbytes, for QLoRA's 4/8-bit
# loading); torch's Linux wheels bring their own CUDA runtime.
#
#   docker build -f docker/tuning.Dockerfile -t kaito-tuning:dev .
#
# BASE is any Debian-like image with python3 (>= 3.11) and pip. hack/images/build.sh passes
# the kaito-inference image it just built, so the tuning image shares its multi-GB dependency
# layer and adds only bitsandbytes and kaito itself (hence `USER root` below: that base ends
# with USER 1000). Like upstream's, the Job's containers run as root.
#
# The install layers are split as in inference.Dockerfile (see there, and for the ARGs).
ARG BASE=python:3.12-slim-bookworm

FROM ${BASE} AS requirements
USER root
COPY pyproject.toml /tmp/
RUN python3 -c "import tomllib; p = tomllib.load(open('/tmp/pyproject.toml', 'rb'))['project']; x = p['optional-dependencies']; print('\n'.join(p['dependencies'] + x['runtime'] + x['gpu']))" > /requirements.txt

FROM ${BASE}
USER root
ARG WHEELHOUSE
ARG PIP_CERT
ARG PIP_NO_CACHE_DIR=1
ENV PYTHONUNBUFFERED=1 \
    PYTORCH_CUDA_ALLOC_CONF=expandable_segments:True \
    YAML_FILE_PATH=/mnt/config/training_config.yaml \
    DATASET_FOLDER_PATH=/mnt/data

WORKDIR /workspace/kaito
COPY --from=requirements /requirements.txt /tmp/requirements.txt
RUN if [ -n "$WHEELHOUSE" ]; then \
        pip download --progress-bar=off -d "$WHEELHOUSE" -r /tmp/requirements.txt \
        && pip install --no-index --find-links="$WHEELHOUSE" -r /tmp/requirements.txt; \
    else pip install -r /tmp/requirements.txt; fi
COPY pyproject.toml README.md ./
COPY src ./src
COPY templates ./templates
RUN pip install --no-deps --force-reinstall . \
    && rm -rf /workspace/kaito/src /workspace/kaito/templates

# 5000: Prometheus /metrics of kaito-tune (upstream's tuning metrics port).
EXPOSE 5000
ENTRYPOINT ["kaito-tune"]
CMD []
