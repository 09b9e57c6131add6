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

log() {
  printf '{"ts":"%s","level":"%s","msg":"%s"%s}\n' "$(date -u +%Y-%m-%dT%H:%M:%S.%3NZ)" "$1" "$2" "$3" >&2
}

# V8's heap, sized from the agent's memory budget (src/config/memory-limit.ts): -memory-limit
# (a Kubernetes quantity) from the agent's arguments, else the cgroup's limit, times
# -memory-budget-percent (75). The agent keeps RSS under that budget by shrinking its caches and
# the queue of misses (src/server/memory-guard.ts), and also treats 85 % of V8's heap limit as
# full, because past that limit V8 aborts the process. Sizing, from measurements (bench/memory.md,
# bench/crash-safety.md):
#   --min-semi-space-size=2 --max-semi-space-size=2  a young generation of a fixed 2 x 2 MiB, as
#                          the image's command gives: it neither grows to 2 x 16 MiB under load nor
#                          unmaps pages inside a scavenge when the load drops (bench/hot-path.md)
#   --max-old-space-size   budget - 40 MiB, at least 24 (16 MiB is live with 10k names cached).
#                          ~50 MiB of an idle agent's RSS is outside the heap (node binary text,
#                          malloc arena, libraries), so the RSS budget is reached before this
#                          limit and the guard, not V8, decides. A tighter limit (budget - 69 =
#                          27 MiB for 128Mi) aborted the agent within 3 s of a 10k/s flood of
#                          misses at 87 MiB RSS: the pending queries alone filled it.
# With a 128Mi limit: budget 96 MiB, old space 56 MiB, heap limit 62 MiB. Past the old-space limit
# V8 aborts and the loop below starts the agent again. Flags already on the command line win;
# nothing is added when the command is not node or there is no limit.
to_mib() { # Kubernetes quantity -> whole MiB (rounded down); fails on forms sh cannot compute
  case $1 in
    *Ki) n=${1%Ki} u=1024 ;; *Mi) n=${1%Mi} u=1048576 ;; *Gi) n=${1%Gi} u=1073741824 ;;
    *Ti) n=${1%Ti} u=1099511627776 ;; *k) n=${1%k} u=1000 ;; *M) n=${1%M} u=1000000 ;;
    *G) n=${1%G} u=1000000000 ;; *T) n=${1%T} u=1000000000000 ;; *) n=$1 u=1 ;;
  esac
  case $n in '' | *[!0-9]*) return 1 ;; esac
  echo $((n * u / 1048576))
}

v8_sizing() {
  limit= percent=75 given=
  prev=
  for a in "$@"; do
    case $prev in -memory-limit | --memory-limit) limit=$a ;; -memory-budget-percent | --memory-budget-percent) percent=$a ;; esac
    case $a in
      -memory-limit=* | --memory-limit=*) limit=${a#*=} ;;
      -memory-budget-percent=* | --memory-budget-percent=*) percent=${a#*=} ;;
      --max-old-space-size=* | --max-old-space-size) given="$given old" ;;
      --max-semi-space-size=* | --max-semi-space-size | --min-semi-space-size=* | --min-semi-space-size) given="$given semi" ;;
    esac
    prev=$a
  done
  case $percent in '' | *[!0-9]*) return ;; esac
  if [ -n "$limit" ]; then
    source=-memory-limit
    mib=$(to_mib "$limit") || { log warn 'V8 heap not sized: -memory-limit is not a whole quantity the supervisor can read' ",\"memoryLimit\":\"$limit\""; return; }
  else
    raw=
    for f in /sys/fs/cgroup/memory.max /sys/fs/cgroup/memory/memory.limit_in_bytes; do
      if [ -r "$f" ]; then read -r raw <"$f"; source=$f; break; fi
    done
    case $raw in '' | max | *[!0-9]*) return ;; esac
    # cgroup v1's "no limit" is 2^63 rounded down to a page; anything past 1 EiB is no limit.
    if [ ${#raw} -ge 19 ]; then return; fi
    mib=$((raw / 1048576))
  fi
  if [ "$mib" -eq 0 ]; then return; fi
  budget=$((mib * percent / 100))
  semi=2
  old=$((budget - 40))
  if [ "$old" -lt 24 ]; then old=24; fi
  case $given in *old*) ;; *) v8flags="$v8flags --max-old-space-size=$old" ;; esac
  case $given in *semi*) ;; *) v8flags="$v8flags --min-semi-space-size=$semi --max-semi-space-size=$semi" ;; esac
  log info 'V8 heap sized from the memory budget' ",\"limitMiB\":$mib,\"source\":\"$source\",\"budgetMiB\":$budget,\"v8Flags\":\"${v8flags# }\""
}

child=
stopping=
delay=0
v8flags=
case ${1##*/} in
  node | nodejs)
    v8_sizing "$@"
    if [ -n "$v8flags" ]; then
      cmd=$1
      shift
      # shellcheck disable=SC2086 # word splitting is what separates the flags
      set -- "$cmd" $v8flags "$@"
    fi
    ;;
esac

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
