#!/usr/bin/env bash
# Builds the repository's Dockerfile with podman and tags the image.
#
#   deploy/build-image.sh [TAG]          (default TAG: localhost/postmortem-library:dev)
#
# No Docker engine and no container runtime are needed: `podman build
# --isolation=chroot` runs the RUN steps in a chroot. Where the public sources
# the Dockerfile defaults to cannot be reached, the script substitutes its
# build arguments (the Dockerfile itself is the same everywhere):
#   - base images: when Docker Hub is unreachable, a Debian bookworm base made
#     with mmdebstrap (python3 and venv for the Python stages; nodejs and npm
#     for the frontend stage). The tarballs are cached in $PML_CACHE_DIR
#     (default ~/.cache/pml/image); delete them to pick up Debian updates.
#   - torch: when the PyTorch CPU index is unreachable, the CPU wheel from a
#     local directory (PML_TORCH_WHEELS, else the find-links directory of this
#     machine's pip configuration), mounted read-only at /wheels for the build.
#   - TLS: the host's CA bundle (PML_BUILD_CA_BUNDLE, default Debian's path;
#     empty for none) is mounted over the image's for the RUN steps only, so a
#     TLS-intercepting proxy the host trusts is trusted by pip and npm too. The
#     image keeps its own bundle.
# PML_IMAGE_BASES=public|local and PML_TORCH_SOURCE=public|local force a choice.
set -euo pipefail
cd "$(dirname "$0")/.."

start=$(date +%s)
tag=${1:-localhost/postmortem-library:dev}
cache=${PML_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/pml}/image
build_args=()
volumes=()

reachable() {  # any HTTP answer counts; 000 means no connection
  [ "$(curl -s -o /dev/null -m 10 -w '%{http_code}' "$1" || true)" != 000 ]
}

# A local base image from a cached mmdebstrap tarball: local_base NAME PACKAGES
local_base() {
  local image=localhost/pml-base-$1:bookworm tarball=$cache/bookworm-$1.tar
  if [ ! -s "$tarball" ]; then
    mkdir -p "$cache"
    echo "build-image: making $tarball with mmdebstrap" >&2
    mmdebstrap --quiet --variant=minbase --format=tar --include="$2" bookworm "$tarball.part"
    mv "$tarball.part" "$tarball"
  fi
  if ! podman image exists "$image"; then
    podman import --quiet "$tarball" "$image" >/dev/null
  fi
  echo "$image"
}

bases=${PML_IMAGE_BASES:-auto}
if [ "$bases" = auto ]; then
  if reachable https://registry-1.docker.io/v2/; then bases=public; else bases=local; fi
fi
if [ "$bases" = local ]; then
  build_args+=(--build-arg "PYTHON_IMAGE=$(local_base python python3,python3-venv,ca-certificates)")
  build_args+=(--build-arg "NODE_IMAGE=$(local_base node nodejs,npm,ca-certificates)")
fi

# The torch pin, read from the Dockerfile so the two cannot disagree.
torch_version=$(sed -n 's/.*"torch==\([^"]*\)".*/\1/p' Dockerfile | head -1)
torch_source=${PML_TORCH_SOURCE:-auto}
if [ "$torch_source" = auto ]; then
  if reachable https://download.pytorch.org/whl/cpu/; then torch_source=public; else torch_source=local; fi
fi
if [ "$torch_source" = local ]; then
  wheels=${PML_TORCH_WHEELS:-}
  if [ -z "$wheels" ]; then
    # find-links from the environment and from pip's configuration files
    candidates="${PIP_FIND_LINKS:-} $(pip config list 2>/dev/null | sed -n "s/.*find-links='\(.*\)'/\1/p")"
    for dir in $candidates; do
      dir=${dir#file://}
      if compgen -G "$dir/torch-$torch_version+cpu-*.whl" >/dev/null; then wheels=$dir; break; fi
    done
  fi
  if [ -z "$wheels" ] || ! compgen -G "$wheels/torch-$torch_version+cpu-*.whl" >/dev/null; then
    echo "build-image: the PyTorch CPU index is unreachable and no directory with" \
      "torch-$torch_version+cpu-*.whl was found; set PML_TORCH_WHEELS" >&2
    exit 1
  fi
  # torch's own dependencies (sympy, networkx, ...) come from PyPI.
  build_args+=(--build-arg "TORCH_INDEX_URL=https://pypi.org/simple")
  build_args+=(--build-arg "TORCH_PIP_OPTIONS=--find-links /wheels")
  volumes+=(--volume "$(realpath "$wheels"):/wheels:ro")
fi

ca_bundle=${PML_BUILD_CA_BUNDLE-/etc/ssl/certs/ca-certificates.crt}
if [ -n "$ca_bundle" ] && [ -s "$ca_bundle" ]; then
  volumes+=(--volume "$(realpath "$ca_bundle"):/etc/ssl/certs/ca-certificates.crt:ro")
fi

echo "build-image: bases=$bases torch=$torch_source tag=$tag" >&2
# docker format keeps HEALTHCHECK (the OCI format has no field for it).
podman build --isolation=chroot --layers --format docker \
  "${build_args[@]}" "${volumes[@]}" --tag "$tag" --file Dockerfile .
seconds=$(($(date +%s) - start))
size=$(podman image inspect --format '{{.Size}}' "$tag")
echo "build-image: built $tag in ${seconds} s; image size $((size / 1000000)) MB" >&2
