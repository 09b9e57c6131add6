#!/bin/sh
# The container's entrypoint: runs the agent (the arguments, e.g. `node dist/cli.js -localip …`)
# as its child and starts it again when it dies by a signal (SIGKILL, the OOM killer, a native
# crash or a V8 fatal error abort), without the kubelet's CrashLoopBackOff. A POSIX shell, not a
# second Node runtime: about 1.7 MiB of RSS under dash (bench/RESULTS.md), and no DNS work.
#
# While the agent is down, pods' queries to the kube-dns ClusterIP go to kube-dns through
# kube-proxy (src/node/rules.ts); nothing of the node setup is removed or re-added across a
# restart (the new agent finds addresses and rules in place).
#
# - The first restart is immediate; a child that dies again within 30 s of its start waits 1, 2,
#   4 … 30 s before the next one, so a crash loop does not spin the node's CPU.
# - An exit with a status (0 after SIGTERM, 1 for a rejected configuration, 2 for bad flags) is
#   the agent's decision: passed on as ours, the kubelet decides what comes next.
# - SIGTERM (and SIGINT, SIGQUIT) goes to the child as SIGTERM: lameduck, teardown, exit; we wait
#   for it and exit with its status. A non-interactive shell starts background children with
#   SIGINT and SIGQUIT ignored, hence TERM for all three.
set -u
if [ $# -eq 0 ]; then
  echo 'usage: supervise.sh COMMAND [ARG...]' >&2
  exit 2
fi

child=
stopping=
delay=0

log() {
  printf '{"ts":"%s","level":"%s","msg":"%s"%s}\n' "$(date -u +%Y-%m-%dT%H:%M:%S.%3NZ)" "$1" "$2" "$3" >&2
}

stop() {
  stopping=$1
  if [ -n "$child" ]; then kill -TERM "$child" 2>/dev/null; fi
}
trap 'stop TERM' TERM
trap 'stop INT' INT
trap 'stop QUIT' QUIT

while :; do
  read -r up _ </proc/uptime
  started=${up%.*}
  "$@" &
  child=$!
  # A signal that came before $child was set had no one to go to.
  if [ -n "$stopping" ]; then kill -TERM "$child" 2>/dev/null; fi
  # A trapped signal ends `wait` early (status > 128): wait again until the child is gone, then
  # once more for its own status (dash returns a reaped child's status again). 2>/dev/null: dash
  # would print "Killed" among the agent's JSON log lines; our own line below says it.
  while kill -0 "$child" 2>/dev/null; do wait "$child" 2>/dev/null; done
  wait "$child" 2>/dev/null
  code=$?
  child=
  if [ -n "$stopping" ]; then exit "$code"; fi
  if [ "$code" -le 128 ]; then exit "$code"; fi
  read -r up _ </proc/uptime
  if [ $((${up%.*} - started)) -ge 30 ]; then delay=0; fi
  log error 'agent died by a signal, starting it again' ",\"signal\":$((code - 128)),\"delaySeconds\":$delay"
  if [ "$delay" -gt 0 ]; then
    sleep "$delay" &
    pause=$!
    wait "$pause"
    kill "$pause" 2>/dev/null
    if [ -n "$stopping" ]; then exit $((128 + 15)); fi
  fi
  if [ "$delay" -eq 0 ]; then delay=1; elif [ "$delay" -lt 16 ]; then delay=$((delay * 2)); else delay=30; fi
done
