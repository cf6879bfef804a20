# Image of kaito's control plane: `kaito manager` and `kaito provisioner` (one image, two
# Deployments). Slim: only the operator's dependencies, none of the model runtime (torch ...).
#
#   docker build -f docker/operator.Dockerfile -t kaito-operator:dev .
#
# BASE is any Debian-like image with python3 (>= 3.11) and pip: hack/images/build.sh passes
# its debootstrap'ed bookworm base (python 3.11) when it builds with buildah. `pip --root`
# keeps the interpreter's own install paths (/usr/local/... on both), copied over as they are.
ARG BASE=python:3.12-slim-bookworm
FROM ${BASE} AS build
# Build-time only (see inference.Dockerfile).
ARG WHEELHOUSE
ARG PIP_CERT
ARG PIP_NO_CACHE_DIR=1
WORKDIR /src
COPY pyproject.toml README.md ./
COPY src ./src
COPY templates ./templates
RUN pip wheel --no-deps -w /wheels . \
    && if [ -n "$WHEELHOUSE" ]; then \
        pip download --progress-bar=off -d "$WHEELHOUSE" /wheels/*.whl \
        && rm -f "$WHEELHOUSE"/kaito-*.whl \
        && pip install --root=/install --no-index --find-links="$WHEELHOUSE" /wheels/*.whl; \
    else pip install --root=/install /wheels/*.whl; fi

FROM ${BASE}
ENV PYTHONUNBUFFERED=1 PYTHONDONTWRITEBYTECODE=1
COPY --from=build /install /
# The Deployments run as this non-root user with a read-only root filesystem.
USER 65532:65532
ENTRYPOINT ["kaito"]
CMD ["manager"]
