// A closed-loop UDP DNS load generator that spends as little CPU per query as it can, so the
// max-qps phase measures the server and not the client. dnsperf sends and receives one datagram
// per system call from two threads; on this 2-CPU box it was 95-100 % busy on its CPU in every
// max-qps phase while the servers were 67-94 % busy on theirs (bench/hot-path.md). This client
// runs one thread, keeps `outstanding` queries in flight over `sockets` connected sockets, reads
// replies with recvmmsg and sends each socket's replacements with one sendmmsg.
//
// usage: batch-client SERVER PORT QUERYFILE SECONDS OUTSTANDING SOCKETS
// QUERYFILE: dnsperf's format, "name TYPE" a line (A, AAAA, ...), asked in order, cycling.
// Prints dnsperf's summary lines (Queries sent/completed/lost, Run time, Queries per second) so
// the bench reads both with one parser. A query unanswered after 2 s is counted lost (dnsperf -t 2)
// and its slot reused.
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_SOCKETS 16
#define BURST 64
#define QMAX 300
#define TIMEOUT_NS 2000000000LL
#define SWEEP_NS 1000000000LL

typedef struct {
  uint8_t wire[QMAX];
  int len;
} query_t;

typedef struct {
  int fd;
  int inflight;
  uint16_t next_id;
  int64_t *sent_at;  // per DNS ID: send time in ns, 0 when free
} sock_t;

static query_t *queries;
static size_t nqueries, cursor;

static int64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static int qtype_of(const char *t) {
  static const struct { const char *name; int code; } types[] = {
    {"A", 1}, {"NS", 2}, {"CNAME", 5}, {"SOA", 6}, {"PTR", 12}, {"MX", 15}, {"TXT", 16}, {"AAAA", 28}, {"SRV", 33}, {"ANY", 255},
  };
  for (size_t i = 0; i < sizeof types / sizeof types[0]; i++)
    if (strcasecmp(t, types[i].name) == 0) return types[i].code;
  return -1;
}

// The query for `name`/`type` (RD set, no EDNS, as dnsperf sends by default); its ID is patched per send.
static int encode(query_t *q, const char *name, int type) {
  uint8_t *p = q->wire;
  memset(p, 0, 12);
  p[2] = 0x01;  // RD
  p[5] = 1;     // QDCOUNT
  int o = 12;
  const char *s = name;
  while (*s) {
    const char *dot = strchr(s, '.');
    size_t l = dot ? (size_t)(dot - s) : strlen(s);
    if (l == 0 || l > 63 || o + 1 + (int)l + 5 > QMAX) return -1;
    p[o++] = (uint8_t)l;
    memcpy(p + o, s, l);
    o += (int)l;
    s += l;
    if (*s == '.') s++;
  }
  p[o++] = 0;
  p[o++] = (uint8_t)(type >> 8);
  p[o++] = (uint8_t)type;
  p[o++] = 0;
  p[o++] = 1;  // IN
  q->len = o;
  return 0;
}

static void load(const char *path) {
  FILE *f = fopen(path, "r");
  if (!f) {
    perror(path);
    exit(2);
  }
  size_t cap = 1024;
  queries = malloc(cap * sizeof *queries);
  char line[512], name[300], type[32];
  while (fgets(line, sizeof line, f)) {
    if (sscanf(line, "%299s %31s", name, type) != 2) continue;
    int t = qtype_of(type);
    if (t < 0) continue;
    if (nqueries == cap) queries = realloc(queries, (cap *= 2) * sizeof *queries);
    if (encode(&queries[nqueries], name, t) == 0) nqueries++;
  }
  fclose(f);
  if (nqueries == 0) {
    fprintf(stderr, "%s: no queries\n", path);
    exit(2);
  }
}

// Up to `want` new queries on `k` in one sendmmsg; returns how many the kernel took.
static int send_burst(sock_t *k, int want, int64_t t) {
  static struct mmsghdr mm[BURST];
  static struct iovec iov[BURST];
  static uint8_t buf[BURST][QMAX];
  if (want > BURST) want = BURST;
  int n = 0;
  for (int tries = 0; n < want && tries < 65536; tries++) {
    uint16_t id = k->next_id++;
    if (k->sent_at[id]) continue;  // still in flight
    query_t *q = &queries[cursor];
    cursor = (cursor + 1) % nqueries;
    memcpy(buf[n], q->wire, (size_t)q->len);
    buf[n][0] = (uint8_t)(id >> 8);
    buf[n][1] = (uint8_t)id;
    k->sent_at[id] = t;
    iov[n].iov_base = buf[n];
    iov[n].iov_len = (size_t)q->len;
    memset(&mm[n], 0, sizeof mm[n]);
    mm[n].msg_hdr.msg_iov = &iov[n];
    mm[n].msg_hdr.msg_iovlen = 1;
    n++;
  }
  int sent = 0;
  while (sent < n) {
    int r = sendmmsg(k->fd, mm + sent, (unsigned)(n - sent), 0);
    if (r < 0) {
      if (errno == EINTR) continue;
      break;  // the rest are released below and asked again later
    }
    sent += r;
  }
  for (int j = sent; j < n; j++) k->sent_at[(buf[j][0] << 8) | buf[j][1]] = 0;
  k->inflight += sent;
  return sent;
}

// Fill `k`'s window up to `per` queries in flight; returns how many were sent.
static uint64_t top_up(sock_t *k, int per, int64_t t) {
  uint64_t sent = 0;
  while (k->inflight < per) {
    int r = send_burst(k, per - k->inflight, t);
    if (r <= 0) break;
    sent += (uint64_t)r;
  }
  return sent;
}

int main(int argc, char **argv) {
  if (argc != 7) {
    fprintf(stderr, "usage: %s SERVER PORT QUERYFILE SECONDS OUTSTANDING SOCKETS\n", argv[0]);
    return 2;
  }
  const char *server = argv[1];
  int port = atoi(argv[2]);
  double seconds = atof(argv[4]);
  int outstanding = atoi(argv[5]), nsock = atoi(argv[6]);
  if (nsock < 1 || nsock > MAX_SOCKETS || outstanding < nsock || seconds <= 0 || seconds > 600) {
    fprintf(stderr, "bad arguments\n");
    return 2;
  }
  load(argv[3]);

  struct sockaddr_storage sa;
  socklen_t salen;
  memset(&sa, 0, sizeof sa);
  int family = strchr(server, ':') ? AF_INET6 : AF_INET;
  if (family == AF_INET) {
    struct sockaddr_in *a = (struct sockaddr_in *)&sa;
    a->sin_family = AF_INET;
    a->sin_port = htons((uint16_t)port);
    if (inet_pton(AF_INET, server, &a->sin_addr) != 1) return fprintf(stderr, "bad address %s\n", server), 2;
    salen = sizeof *a;
  } else {
    struct sockaddr_in6 *a = (struct sockaddr_in6 *)&sa;
    a->sin6_family = AF_INET6;
    a->sin6_port = htons((uint16_t)port);
    if (inet_pton(AF_INET6, server, &a->sin6_addr) != 1) return fprintf(stderr, "bad address %s\n", server), 2;
    salen = sizeof *a;
  }

  sock_t socks[MAX_SOCKETS];
  struct pollfd pfd[MAX_SOCKETS];
  for (int i = 0; i < nsock; i++) {
    int fd = socket(family, SOCK_DGRAM | SOCK_NONBLOCK, 0);
    if (fd < 0 || connect(fd, (struct sockaddr *)&sa, salen) < 0) return perror("socket/connect"), 2;
    int rcv = 4 << 20;
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcv, sizeof rcv);
    int64_t *sent_at = calloc(65536, sizeof(int64_t));
    if (!sent_at) return perror("calloc"), 2;
    socks[i] = (sock_t){.fd = fd, .inflight = 0, .next_id = (uint16_t)(i * 7919), .sent_at = sent_at};
    pfd[i] = (struct pollfd){.fd = fd, .events = POLLIN};
  }
  int per = outstanding / nsock;

  uint64_t sent = 0, completed = 0, lost = 0;
  int64_t start = now_ns(), end = start + (int64_t)(seconds * 1e9), last_sweep = start;
  for (int i = 0; i < nsock; i++) sent += top_up(&socks[i], per, start);

  static struct mmsghdr rm[BURST];
  static struct iovec riov[BURST];
  static uint8_t rbuf[BURST][512];
  for (int j = 0; j < BURST; j++) {
    riov[j].iov_base = rbuf[j];
    riov[j].iov_len = sizeof rbuf[j];
  }
  int64_t t = start;
  while ((t = now_ns()) < end) {
    int ready = poll(pfd, (nfds_t)nsock, 100);
    if (ready < 0 && errno != EINTR) return perror("poll"), 2;
    t = now_ns();
    for (int i = 0; i < nsock && ready > 0; i++) {
      if (!(pfd[i].revents & POLLIN)) continue;
      sock_t *k = &socks[i];
      for (;;) {
        for (int j = 0; j < BURST; j++) {
          memset(&rm[j].msg_hdr, 0, sizeof rm[j].msg_hdr);
          rm[j].msg_hdr.msg_iov = &riov[j];
          rm[j].msg_hdr.msg_iovlen = 1;
        }
        int n = recvmmsg(k->fd, rm, BURST, MSG_DONTWAIT, NULL);
        if (n <= 0) break;
        for (int j = 0; j < n; j++) {
          if (rm[j].msg_len < 12 || !(rbuf[j][2] & 0x80)) continue;
          uint16_t id = (uint16_t)((rbuf[j][0] << 8) | rbuf[j][1]);
          if (!k->sent_at[id]) continue;  // late reply to a query already counted lost
          k->sent_at[id] = 0;
          k->inflight--;
          completed++;
        }
        if (n < BURST) break;
      }
      if (t < end) sent += top_up(k, per, t);
    }
    if (t - last_sweep >= SWEEP_NS) {
      // Queries unanswered for 2 s are lost; their slots go back to the window. Once a second:
      // each sweep reads every socket's 65536 send times, CPU this client is meant to leave spare.
      last_sweep = t;
      for (int i = 0; i < nsock; i++)
        for (int id = 0; id < 65536; id++)
          if (socks[i].sent_at[id] && t - socks[i].sent_at[id] > TIMEOUT_NS) {
            socks[i].sent_at[id] = 0;
            socks[i].inflight--;
            lost++;
          }
      for (int i = 0; i < nsock; i++) sent += top_up(&socks[i], per, t);
    }
  }
  // Queries still in flight at the end are neither completed nor lost (dnsperf waits for them;
  // here the run's figure is what was answered within it).
  double run = (double)(t - start) / 1e9;
  uint64_t pending = 0;
  for (int i = 0; i < nsock; i++) pending += (uint64_t)socks[i].inflight;
  printf("  Queries sent:         %llu\n", (unsigned long long)(sent - pending));
  printf("  Queries completed:    %llu\n", (unsigned long long)completed);
  printf("  Queries lost:         %llu\n", (unsigned long long)lost);
  printf("  Run time (s):         %.6f\n", run);
  printf("  Queries per second:   %.6f\n", (double)completed / run);
  return 0;
}
