# The pod sandbox ("pause") image of the local node's containerd: only the static `pause`
# binary (built by hack/node/build.sh from kubernetes' build/pause/linux/pause.c), as
# registry.k8s.io/pause is, running as 65535:65535.
#
#   docker build -f docker/pause.Dockerfile "$(hack/node/build.sh)"
#
# The build context is the directory holding the `pause` binary.
FROM scratch
COPY pause /pause
USER 65535:65535
ENTRYPOINT ["/pause"]
