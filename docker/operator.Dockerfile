# Image of kaito's control plane: `kaito manager` and `kaito provisioner` (one image, two
# Deployments). Slim: only the operator's dependencies, none of the model runtime (torch ...).
#
#   docker build -f docker/operator.Dockerfile -t kaito-operator:dev .
FROM python:3.12-slim-bookworm AS build
ENV PIP_NO_CACHE_DIR=1
WORKDIR /src
COPY pyproject.toml README.md ./
COPY src ./src
COPY templates ./templates
RUN pip wheel --no-deps -w /wheels . && pip install --prefix=/install /wheels/*.whl

FROM python:3.12-slim-bookworm
ENV PYTHONUNBUFFERED=1 PYTHONDONTWRITEBYTECODE=1
COPY --from=build /install /usr/local
# The Deployments run as this non-root user with a read-only root filesystem.
USER 65532:65532
ENTRYPOINT ["kaito"]
CMD ["manager"]
