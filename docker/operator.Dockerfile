# Image of kaito's control plane: `kaito manager` and `kaito provisioner` (one image, two
# Deployments). Slim: only the operator's dependencies, none of the model runtime (torch ...).
#
#   docker build -f docker/operator.Dockerfile -t kaito-operator:dev .
#
# BASE is any Debian-like image with python3 (>= 3.11) and pip: hack/images/build.sh passes
# its debootstrap'ed bookworm base (python 3.11) when it builds with buildah.
#
# As in inference.Dockerfile, the dependencies are one layer that depends only on the list
# derived from pyproject.toml, and kaito's wheel (built in a stage of its own) another, so a
# change under src/ rebuilds and ships only the small one.
ARG BASE=python:3.12-slim-bookworm

FROM ${BASE} AS requirements
COPY pyproject.toml /tmp/
RUN python3 -c "import tomllib; p = tomllib.load(open('/tmp/pyproject.toml', 'rb'))['project']; print('\n'.join(p['dependencies']))" > /requirements.txt

FROM ${BASE} AS wheel
ARG PIP_CERT
ARG PIP_NO_CACHE_DIR=1
WORKDIR /src
COPY pyproject.toml README.md ./
COPY src ./src
COPY templates ./templates
RUN pip wheel --no-deps -w /wheels .

FROM ${BASE}
# Build-time only (see inference.Dockerfile).
ARG WHEELHOUSE
ARG PIP_CERT
ARG PIP_NO_CACHE_DIR=1
COPY --from=requirements /requirements.txt /tmp/requirements.txt
RUN if [ -n "$WHEELHOUSE" ]; then \
        pip download --progress-bar=off -d "$WHEELHOUSE" -r /tmp/requirements.txt \
        && pip install --no-index --find-links="$WHEELHOUSE" -r /tmp/requirements.txt; \
    else pip install -r /tmp/requirements.txt; fi
COPY --from=wheel /wheels /tmp/wheels
RUN pip install --no-deps /tmp/wheels/*.whl && rm -rf /tmp/wheels /tmp/requirements.txt
ENV PYTHONUNBUFFERED=1 PYTHONDONTWRITEBYTECODE=1
# The Deployments run as this non-root user with a read-only root filesystem.
USER 65532:65532
ENTRYPOINT ["kaito"]
CMD ["manager"]
