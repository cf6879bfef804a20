# shellcheck shell=bash
# Sourced by hack/testenv/build.sh and hack/node/build.sh: sets $kube_version_ldflags, the -X
# flags that stamp KUBERNETES_VERSION into Kubernetes binaries built from Go modules (what
# `kubectl version` and the kubelet's node status report).
kube_major="${KUBERNETES_VERSION#v}"; kube_major="${kube_major%%.*}"
kube_minor="${KUBERNETES_VERSION#v*.}"; kube_minor="${kube_minor%%.*}"
kube_version_ldflags=""
for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
  kube_version_ldflags+=" -X $pkg.gitVersion=${KUBERNETES_VERSION} -X $pkg.gitMajor=${kube_major}"
  kube_version_ldflags+=" -X $pkg.gitMinor=${kube_minor} -X $pkg.gitTreeState=clean"
  kube_version_ldflags+=" -X $pkg.buildDate=1970-01-01T00:00:00Z"
done
