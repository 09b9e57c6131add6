/*
 * Open-loop lookup load for the incident bench, built twice: with gcc (glibc) and musl-gcc (musl),
 * so each libc's own resolver runs exactly as in a pod: it reads the pod's /etc/resolv.conf
 * (search list, ndots:5), glibc sends A and AAAA in parallel from one socket, musl asks every
 * nameserver at once and takes no TCP retry for a truncated answer (1.2.3).
 *
 *   lookup-load RATE SECONDS NAME[,NAME...]
 *
 * Starts RATE getaddrinfo(AF_UNSPEC) calls per second for SECONDS, each on its own thread, the
 * names taken in turn: open loop, so a slow lookup does not slow the schedule. Prints one line per
 * lookup: "start_ms latency_ms ok addresses", start in ms since the epoch. Lookups still running
 * 5.5 s after the last start are printed with latency -1 (the client's 5 s timeout has passed).
 */
#define _GNU_SOURCE
#include <netdb.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

struct lookup {
  const char *name;
  long long start_ms;
  double t0;
  volatile int done;
};

static pthread_mutex_t out_lock = PTHREAD_MUTEX_INITIALIZER;

static double mono(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static long long wall_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void *run(void *arg) {
  struct lookup *l = arg;
  struct addrinfo hints, *res = NULL, *ai;
  int n = 0, rc;
  memset(&hints, 0, sizeof hints);
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM; /* one entry per address */
  rc = getaddrinfo(l->name, NULL, &hints, &res);
  double ms = mono() - l->t0;
  if (rc == 0) {
    for (ai = res; ai; ai = ai->ai_next) n++;
    freeaddrinfo(res);
  }
  pthread_mutex_lock(&out_lock);
  if (!l->done) {
    printf("%lld %.1f %d %d\n", l->start_ms, ms, rc == 0, n);
    fflush(stdout);
    l->done = 1;
  }
  pthread_mutex_unlock(&out_lock);
  return NULL;
}

int main(int argc, char **argv) {
  if (argc != 4) {
    fprintf(stderr, "usage: %s RATE SECONDS NAME[,NAME...]\n", argv[0]);
    return 64;
  }
  double rate = atof(argv[1]);
  double seconds = atof(argv[2]);
  char *names[64];
  int nnames = 0;
  for (char *tok = strtok(argv[3], ","); tok && nnames < 64; tok = strtok(NULL, ",")) names[nnames++] = tok;
  long total = (long)(rate * seconds);
  if (rate <= 0 || total <= 0 || nnames == 0) return 64;
  struct lookup *all = calloc(total, sizeof *all);
  pthread_attr_t attr;
  pthread_attr_init(&attr);
  pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
  pthread_attr_setstacksize(&attr, 256 * 1024);
  double begin = mono();
  for (long i = 0; i < total; i++) {
    double due = begin + i * 1000.0 / rate;
    double now = mono();
    if (due > now) {
      double wait = due - now;
      struct timespec ts = {(time_t)(wait / 1000), (long)((wait - (long)(wait / 1000) * 1000) * 1e6)};
      nanosleep(&ts, NULL);
    }
    struct lookup *l = &all[i];
    l->name = names[i % nnames];
    l->start_ms = wall_ms();
    l->t0 = mono();
    pthread_t th;
    if (pthread_create(&th, &attr, run, l) != 0) {
      pthread_mutex_lock(&out_lock);
      printf("%lld -1 0 0\n", l->start_ms);
      l->done = 1;
      pthread_mutex_unlock(&out_lock);
    }
  }
  /* Let the last lookups run out their 5 s, then report the ones still waiting. */
  for (int k = 0; k < 55; k++) {
    int open = 0;
    for (long i = 0; i < total; i++) if (!all[i].done) open++;
    if (!open) break;
    usleep(100 * 1000);
  }
  pthread_mutex_lock(&out_lock);
  for (long i = 0; i < total; i++)
    if (!all[i].done) {
      printf("%lld -1 0 0\n", all[i].start_ms);
      all[i].done = 1;
    }
  fflush(stdout);
  _exit(0);
}
