#!/usr/bin/env bash
# `npm run image`: builds the Dockerfile with buildah into the local container storage as
# $IMAGE (default localhost/nodelocaldns:dev) and prints its size. The base is the local
# stand-in from image/local-base.sh unless BASE names one (BASE=node:22-bookworm-slim where a
# registry is reachable). Root, buildah and podman needed; no daemon.
#
# --isolation chroot: RUN steps need no OCI runtime and create no cgroup (this host's cgroups
# belong to the host). --network host: apt-get and npm ci reach their registries.
set -euo pipefail
cd "$(dirname "$0")/.."
IMAGE=${IMAGE:-localhost/nodelocaldns:dev}
for tool in buildah podman; do
  command -v "$tool" >/dev/null || { echo "image: $tool not installed (apt-get install buildah podman)" >&2; exit 1; }
done
BASE=${BASE:-$(bash image/local-base.sh)}
# The host's CA bundle for npm ci, in case its registry is reached through a TLS-intercepting
# proxy: a volume of the RUN steps, so it is in no layer.
ca=()
if [ -r /etc/ssl/certs/ca-certificates.crt ]; then
  ca=(-v /etc/ssl/certs/ca-certificates.crt:/build-ca.crt:ro --build-arg NODE_EXTRA_CA_CERTS=/build-ca.crt)
fi
start=$(date +%s)
buildah bud --isolation chroot --network host --layers "${ca[@]}" \
  --build-arg "BASE=$BASE" -t "$IMAGE" -f Dockerfile . >&2
size=$(podman image inspect --format '{{.Size}}' "$IMAGE")
echo "built $IMAGE on $BASE in $(( $(date +%s) - start )) s, $(( size / 1000000 )) MB" >&2
echo "$IMAGE"
