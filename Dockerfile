# nodelocaldns-ts image: Node 22 on Debian bookworm slim, iptables (nft and legacy), iproute2.
#
# BASE is any image with node, npm and Node's headers under /usr/local on Debian bookworm: the
# published build uses the official node:22-bookworm-slim; `npm run image` builds the same file
# on a local base made from Debian packages and the npm registry (image/local-base.sh) where no
# image registry can be reached.
#
# Privileges: the container runs as uid 0 with only the capabilities the DaemonSet grants
# (manifests/base/daemonset.yaml drops ALL, adds NET_ADMIN, NET_BIND_SERVICE and NET_RAW):
#   NET_ADMIN         the interface and its addresses (ip), iptables rules (nft and legacy)
#   NET_BIND_SERVICE  port 53
#   NET_RAW           iptables-legacy only: libiptc talks to the kernel over a raw socket
# uid 0 and no file capabilities, because the host's /run/xtables.lock (root, 0600, mounted from
# the node) must be opened by iptables-legacy: a non-root user would need DAC_OVERRIDE as well,
# and file capabilities outside the granted set make execve fail (EPERM). Without them
# allowPrivilegeEscalation: false costs nothing. test/e2e/image.test.ts runs this image that way.
ARG BASE=node:22-bookworm-slim

FROM ${BASE} AS build
# Behind a TLS-intercepting proxy npm needs its CA: image/build.sh mounts the host's bundle for the
# RUN steps and names it here. A build argument of these two stages only, never in the image.
ARG NODE_EXTRA_CA_CERTS
# gcc: the batch UDP I/O addon (src/native/udp_batch.c); --require fails the build without it, so
# the image never falls back to node:dgram. It links only glibc and Node's N-API/libuv symbols.
RUN apt-get update && apt-get install -y --no-install-recommends gcc libc6-dev && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY package.json package-lock.json tsconfig.json ./
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY src ./src
RUN npx tsc -p tsconfig.json && node src/native/build.mjs --require

FROM ${BASE} AS deps
ARG NODE_EXTRA_CA_CERTS
WORKDIR /app
COPY package.json package-lock.json ./
# --ignore-scripts: `prepare` runs tsc, which is a dev dependency; dist/ comes from the build stage.
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund

FROM ${BASE}
# /etc/Corefile (the -conf the agent renders, node-cache's path) is a link into /run/nodelocaldns,
# where the DaemonSet mounts an emptyDir: the root filesystem can then be read-only.
RUN apt-get update \
 && apt-get install -y --no-install-recommends iptables iproute2 \
 && rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin \
 && mkdir -p /run/nodelocaldns && ln -s /run/nodelocaldns/Corefile /etc/Corefile
WORKDIR /app
COPY --from=deps /app/node_modules ./node_modules
COPY --from=build /src/dist ./dist
COPY package.json ./
# The supervisor (PID 1, restarts the agent when it dies by a signal) and the liveness probe.
COPY --chmod=755 src/supervise.sh /app/supervise.sh
COPY --chmod=755 src/dns-probe.sh /app/dns-probe.sh
EXPOSE 53/udp 53/tcp 9253/tcp 8080/tcp 8181/tcp
# --min-semi-space-size=2 --max-semi-space-size=2 (MiB): a young generation of a fixed 2 x 2 MiB.
# V8 otherwise grows it to 2 x 16 MiB under query load (RSS 126 vs 99 MiB at a 4 MiB cap,
# bench/memory.md), and a young generation that grows under load and shrinks after it unmaps its
# pages inside a scavenge: ~1 ms added to a 0.4 ms pause at 40k qps of hits. A hit allocates
# nothing, so 2 MiB sees one scavenge every few seconds of hits (bench/hot-path.md); a fixed
# 4 MiB put idle RSS at 51 MiB. --no-memory-reducer: V8's reducer takes a hit load for an idle
# process (it allocates under 1 KB/ms) and ran three 4-8 ms mark-compacts in a row in the middle
# of it; the agent's trimmer (below) collects only when its event loop is calm.
# --heap-growing-percent=30: old space may grow 1.3x past the live set before a major GC (V8 picks
# up to 4x on a small heap); under a flood of misses the peak RSS went 97 -> 83 MiB, agent CPU
# within run-to-run noise (bench/memory.md). --expose-gc: once a burst's grown heap stops growing
# the agent runs one full GC (src/agent/memory-trim.ts): with the memory reducer off, that is what
# shrinks a grown heap. bench/lib/servers.mjs and bench/fuzz read these flags from this line, and
# manifests/base/daemonset.yaml repeats it as the container's command.
ENTRYPOINT ["/app/supervise.sh", "node", "--min-semi-space-size=2", "--max-semi-space-size=2", "--no-memory-reducer", "--heap-growing-percent=30", "--expose-gc", "/app/dist/cli.js"]
