# kaito-puller: one small image for init containers and sidecars that move images and files
# around: skopeo (adapter and data images), curl (tuning input URLs), /bin/sh and tar
# (kaito's puller scripts), and the `oras` CLI (OCI artifacts). Replaces upstream's skopeo,
# curl and oras images where only our own registry can be reached.
#
#   docker build -f docker/puller.Dockerfile -t kaito-puller:dev .
#
# hack/images/build.sh builds it with buildah from its debootstrap'ed bookworm base for both
# stages, with the host's Go toolchain (GO), module and build caches and CA bundle mounted
# under /run/kaito-build.
ARG BASE=debian:bookworm-slim
ARG GO_BASE=golang:1.26-bookworm

FROM ${GO_BASE} AS oras
ARG ORAS_VERSION=v1.2.3
ARG GO=go
ARG GOPROXY
ARG GOMODCACHE
ARG GOCACHE
ARG SSL_CERT_FILE
ENV CGO_ENABLED=0 GOTOOLCHAIN=local GOFLAGS=-trimpath
# BuildMetadata empty, as oras' release builds set it (else `oras version` says +unreleased).
RUN GOBIN=/out ${GO} install -ldflags="-s -w -X oras.land/oras/internal/version.BuildMetadata=" \
        oras.land/oras/cmd/oras@${ORAS_VERSION} \
    && /out/oras version

FROM ${BASE}
# skopeo's containers-common depends on the CNI plugins (45 MB) that only container engines
# use: removed (apt would call that a broken dependency; nothing here runs apt again). The
# registries.conf.d entry lets skopeo pull from the local kaito registry over plain HTTP.
RUN apt-get update \
    && apt-get install -y --no-install-recommends skopeo curl ca-certificates tar \
    && dpkg --remove --force-depends containernetworking-plugins \
    && rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin \
    && mkdir -p /etc/containers/registries.conf.d \
    && { [ -f /etc/containers/policy.json ] \
         || echo '{"default": [{"type": "insecureAcceptAnything"}]}' > /etc/containers/policy.json; } \
    && printf '%s\n' '# the local kaito registry (plain HTTP, never leaves the host)' \
         '[[registry]]' 'location = "10.245.0.1:5000"' 'insecure = true' \
         > /etc/containers/registries.conf.d/50-kaito-local.conf
COPY --from=oras /out/oras /usr/local/bin/oras
# Runs as root like upstream's skopeo image: pull secrets are mounted under /root/.docker.
# No entrypoint: pods name the tool (`skopeo`, `oras`, `curl` or `sh -c SCRIPT`).
WORKDIR /
CMD ["/bin/sh"]
