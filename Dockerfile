# nodelocaldns-ts image: Node 22 slim, iptables (nft and legacy), iproute2, non-root.
# Runs as uid 65532 with file capabilities instead of root: node may bind :53 and configure the
# interface (NET_BIND_SERVICE, NET_ADMIN); iptables/ip get NET_ADMIN + NET_RAW, and DAC_OVERRIDE
# for the host's /run/xtables.lock. The DaemonSet must add NET_ADMIN (as upstream does) and must
# not set allowPrivilegeEscalation: false (that would disable file capabilities).

FROM node:22-bookworm-slim AS build
# gcc: the batch UDP I/O addon (src/native/udp_batch.c); --require fails the build without it, so
# the image never falls back to node:dgram. It links only glibc and Node's N-API/libuv symbols.
RUN apt-get update && apt-get install -y --no-install-recommends gcc libc6-dev && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY package.json package-lock.json tsconfig.json ./
RUN npm ci --ignore-scripts
COPY src ./src
RUN npx tsc -p tsconfig.json && node src/native/build.mjs --require

FROM node:22-bookworm-slim AS deps
WORKDIR /app
COPY package.json package-lock.json ./
# --ignore-scripts: `prepare` runs tsc, which is a dev dependency; dist/ comes from the build stage.
RUN npm ci --omit=dev --ignore-scripts

FROM node:22-bookworm-slim
# -conf /etc/Corefile is written by the agent: that one file belongs to the runtime user.
RUN apt-get update \
 && apt-get install -y --no-install-recommends iptables iproute2 libcap2-bin \
 && setcap cap_net_admin,cap_net_bind_service,cap_net_raw+ep "$(readlink -f "$(command -v node)")" \
 && setcap cap_net_admin,cap_net_raw,cap_dac_override+ep /usr/sbin/xtables-nft-multi \
 && setcap cap_net_admin,cap_net_raw,cap_dac_override+ep /usr/sbin/xtables-legacy-multi \
 && setcap cap_net_admin+ep "$(readlink -f "$(command -v ip)")" \
 && apt-get purge -y libcap2-bin && apt-get autoremove -y \
 && rm -rf /var/lib/apt/lists/* \
 && touch /etc/Corefile && chown 65532:65532 /etc/Corefile
WORKDIR /app
COPY --from=deps /app/node_modules ./node_modules
COPY --from=build /src/dist ./dist
COPY package.json ./
# The supervisor (PID 1, restarts the agent when it dies by a signal) and the liveness probe.
COPY --chmod=755 src/supervise.sh /app/supervise.sh
COPY --chmod=755 src/dns-probe.sh /app/dns-probe.sh
USER 65532:65532
EXPOSE 53/udp 53/tcp 9253/tcp 8080/tcp 8181/tcp
# --max-semi-space-size=4 (MiB): V8 otherwise grows the young generation to 2 x 16 MiB under query
# load. Measured with 9984 cached names at 20k qps (bench/memory.md): RSS 126 -> 99 MiB, CPU per
# query unchanged within noise. --heap-growing-percent=30: old space may grow 1.3x past the live
# set before a major GC (V8 picks up to 4x on a small heap); under a flood of misses the peak RSS
# went 97 -> 83 MiB, agent CPU within run-to-run noise (bench/memory.md). --expose-gc: once a
# burst's grown heap stops growing the agent runs one full GC (src/server/memory-trim.ts), as V8's
# own memory reducer often leaves it grown. bench/lib/servers.mjs and bench/fuzz read these flags
# from this line, and manifests/base/daemonset.yaml repeats it as the container's command.
ENTRYPOINT ["/app/supervise.sh", "node", "--max-semi-space-size=4", "--heap-growing-percent=30", "--expose-gc", "/app/dist/cli.js"]
