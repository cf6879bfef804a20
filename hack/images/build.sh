#!/usr/bin/env bash
# Build kaito's images (kaito-operator, kaito-inference, kaito-tuning, kaito-puller, pause) and
# push them to the local registry 10.245.0.1:5000 (started when not running), with docker or
# podman when one answers, else with buildah FROM debootstrap'ed Debian bases; then write
# ${XDG_CACHE_HOME:-~/.cache}/kaito/images/images.env. Tags are content-addressed: an image
# whose tag is already in the registry is skipped, so a warm run builds and pushes nothing.
#
#   hack/images/build.sh                  every image
#   hack/images/build.sh kaito-puller     only some (and what they are built FROM)
#   hack/images/build.sh --force          rebuild and push even what is in the registry
#   hack/images/build.sh --prune          then delete older tags of them from the registry and
#                                         garbage-collect it (stops it for a few seconds)
#   hack/images/build.sh --env-file       print the images.env path
#
# Caches: ~/.cache/kaito/images (KAITO_IMAGES_CACHE: bases, wheels, images.env) and
# ~/.cache/kaito/buildah (KAITO_BUILDAH_ROOT: buildah's storage).
# The work is hack/images/build.py, run with the repository's .venv (`make venv`).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
py="$root/.venv/bin/python"
[[ -x "$py" ]] || { echo "hack/images/build.sh: $py missing; run \`make venv\` first" >&2; exit 1; }
exec "$py" "$root/hack/images/build.py" "$@"
