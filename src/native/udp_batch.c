// Batched UDP I/O for the agent's listeners (Linux): recvmmsg/sendmmsg, one JS call per batch.
//
// node:dgram pays, for every datagram, a 64 KiB buffer allocation, an ArrayBuffer, a Buffer, an
// rinfo object built property by property, a MakeCallback into JS and a SendWrap for the reply.
// On this project's bench that is ~8 us of user CPU per query against unbound's ~2.3 us, and it
// caps a Node server's max qps near half of unbound's (bench/RESULTS.md, `node-dgram-floor`).
// Here a readable socket costs one recvmmsg into fixed slots, one JS call for up to BATCH
// datagrams, and one sendmmsg for the replies JS wrote into a fixed output slab.
//
// Memory shared with JS (all allocated by JS, held by references for the socket's lifetime):
//   in:   BATCH slots of SLOT bytes, datagram i at i * SLOT
//   out:  replies, packed one after another; JS lists them in meta (slot, offset, length)
//   meta: Int32Array. Per received datagram i, at i * META_STRIDE:
//           [0] length (-1: longer than SLOT, cut by the kernel), [1] source port,
//           [2] IPv4 source (host order), [3] length of the IPv6 source text,
//           bytes 16..63 of the stride: the IPv6 source as inet_ntop text
//         From META_REPLIES on, three int32 per reply: slot, offset in out, length.
//   clock: Float64Array(3), one for the process (setClock): [0] the receive time of the batch
//         being handled, written before each callback; [1] JS's offset to performance.now();
//         [2] the time of the last stamp(). All uv_hrtime in ms. JS reads the clock from this
//         memory because performance.now() returns a new heap number on every call (16 B a
//         query, bench/hot-path.md); stamp() also costs less than performance.now() (~55 ns vs 63).
// The JS callback is `onBatch(count) -> number of replies written`. It runs inside
// napi_make_callback, so process.nextTick and promise jobs it queues run when it returns.
#define _GNU_SOURCE
#define NAPI_VERSION 8
#include <node_api.h>
#include <uv.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <stdio.h>
#include <sys/mman.h>
#include <linux/filter.h>
#include <sys/socket.h>
#include <unistd.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif

#define BATCH 32
#define READ_ROUNDS 8
#define SLOT 4096
#define META_STRIDE 16
#define META_REPLIES (BATCH * META_STRIDE)
#define META_INTS (META_REPLIES + BATCH * 3)

static double *g_clock = NULL;
static napi_ref g_clock_ref = NULL;

typedef struct {
  int fd;
  int sfd;  // replies leave from here: fd itself, or its send-only twin (open_pair)
  int family;
  uv_poll_t poll;
  napi_env env;
  napi_ref self, cb, in_ref, out_ref, meta_ref;
  napi_async_context actx;
  uint8_t *in, *out;
  size_t out_len;
  int32_t *meta;
  struct mmsghdr rm[BATCH];
  int received;  // what the last recvmmsg returned: the headers whose address length it rewrote
  struct iovec riov[BATCH];
  struct sockaddr_in6 ra[BATCH];
  struct mmsghdr sm[BATCH];
  struct iovec siov[BATCH];
} sock_t;

#define CHECK(call)                                                        \
  do {                                                                     \
    if ((call) != napi_ok) {                                               \
      napi_throw_error(env, NULL, "udp_batch: N-API call failed: " #call); \
      return NULL;                                                         \
    }                                                                      \
  } while (0)

static void flush_replies(sock_t *k, int32_t m) {
  if (m <= 0 || k->fd < 0) return;
  if (m > BATCH) m = BATCH;
  const int32_t *rep = k->meta + META_REPLIES;
  int n = 0;
  for (int j = 0; j < m; j++) {
    int32_t slot = rep[j * 3], off = rep[j * 3 + 1], len = rep[j * 3 + 2];
    if (slot < 0 || slot >= BATCH || off < 0 || len <= 0 || (size_t)off + (size_t)len > k->out_len) continue;
    k->siov[n].iov_base = k->out + off;
    k->siov[n].iov_len = (size_t)len;
    memset(&k->sm[n].msg_hdr, 0, sizeof(struct msghdr));
    k->sm[n].msg_hdr.msg_iov = &k->siov[n];
    k->sm[n].msg_hdr.msg_iovlen = 1;
    k->sm[n].msg_hdr.msg_name = &k->ra[slot];
    k->sm[n].msg_hdr.msg_namelen = k->rm[slot].msg_hdr.msg_namelen;
    n++;
  }
  int sent = 0;
  while (sent < n) {
    int r = sendmmsg(k->sfd, k->sm + sent, (unsigned)(n - sent), MSG_DONTWAIT);
    if (r > 0) {
      sent += r;
      continue;
    }
    if (r < 0 && errno == EINTR) continue;
    // Longer than the interface's MTU with DF set (see open_pair): this one leaves from the polled
    // socket, which lets the kernel fragment it as it always did.
    if (r < 0 && errno == EMSGSIZE && k->sfd != k->fd) {
      while (sendmsg(k->fd, &k->sm[sent].msg_hdr, MSG_DONTWAIT) < 0 && errno == EINTR) {
      }
      sent++;
      continue;
    }
    // One reply the kernel refused (EAGAIN with a full send buffer, EPERM from a firewall, ...):
    // skip it, as node:dgram would lose it, and keep sending the rest.
    sent++;
  }
}

static int read_batch(sock_t *k);

static void on_readable(uv_poll_t *p, int status, int events) {
  (void)events;
  sock_t *k = uv_handle_get_data((uv_handle_t *)p);
  if (k->fd < 0) return;
  if (status < 0) {
    // libuv stopped polling on POLLERR. A pending socket error is not fatal to a server socket:
    // clear it and keep reading, rather than fall silent.
    int soerr = 0;
    socklen_t sl = sizeof soerr;
    getsockopt(k->fd, SOL_SOCKET, SO_ERROR, &soerr, &sl);
    uv_poll_start(&k->poll, UV_READABLE, on_readable);
    return;
  }
  // A full batch says more datagrams are queued: read them now rather than after a turn of the
  // event loop (its poll, timers and checks), which a saturated socket paid once every BATCH
  // datagrams (max qps +2 % in alternating rounds). A partial batch drained the queue, so at
  // moderate rates this is one batch a wake-up, as before. Bounded, so timers and the TCP
  // listeners still get a turn after READ_ROUNDS * BATCH datagrams.
  for (int round = 0; round < READ_ROUNDS && k->fd >= 0; round++)
    if (read_batch(k) < BATCH) return;
}

// One recvmmsg, one JS call for what it read, one sendmmsg for the replies; returns what
// recvmmsg returned.
static int read_batch(sock_t *k) {
  // The headers were set up at open; the kernel writes back only each received message's
  // address length (and its flags and length, read below), so that is all there is to reset.
  for (int i = 0; i < k->received; i++) k->rm[i].msg_hdr.msg_namelen = sizeof(k->ra[i]);
  int n = recvmmsg(k->fd, k->rm, BATCH, MSG_DONTWAIT, NULL);
  k->received = n > 0 ? n : 0;
  if (n <= 0) return n;  // EAGAIN (another reader was faster) or a transient error: wait for the next event
  for (int i = 0; i < n; i++) {
    int32_t *m = k->meta + i * META_STRIDE;
    m[0] = (k->rm[i].msg_hdr.msg_flags & MSG_TRUNC) ? -1 : (int32_t)k->rm[i].msg_len;
    if (k->family == AF_INET) {
      const struct sockaddr_in *a = (const struct sockaddr_in *)&k->ra[i];
      m[1] = ntohs(a->sin_port);
      m[2] = (int32_t)ntohl(a->sin_addr.s_addr);
      m[3] = 0;
    } else {
      const struct sockaddr_in6 *a = &k->ra[i];
      char *text = (char *)(m + 4);
      m[1] = ntohs(a->sin6_port);
      m[2] = 0;
      m[3] = inet_ntop(AF_INET6, &a->sin6_addr, text, 48) ? (int32_t)strlen(text) : 0;
    }
  }
  if (g_clock) g_clock[0] = (double)uv_hrtime() / 1e6;
  napi_env env = k->env;
  napi_handle_scope scope;
  if (napi_open_handle_scope(env, &scope) != napi_ok) return -1;
  napi_value self, cb, argv[1], ret;
  int32_t replies = 0;
  if (napi_get_reference_value(env, k->self, &self) == napi_ok && napi_get_reference_value(env, k->cb, &cb) == napi_ok &&
      napi_create_int32(env, n, &argv[0]) == napi_ok) {
    napi_status st = napi_make_callback(env, k->actx, self, cb, 1, argv, &ret);
    if (st == napi_ok) {
      napi_get_value_int32(env, ret, &replies);
    } else {
      // The handler threw: the same outcome as a throwing 'message' listener on a dgram socket.
      bool pending = false;
      napi_value err;
      if (napi_is_exception_pending(env, &pending) == napi_ok && pending && napi_get_and_clear_last_exception(env, &err) == napi_ok)
        napi_fatal_exception(env, err);
    }
  }
  napi_close_handle_scope(env, scope);
  flush_replies(k, replies);
  return n;
}

static int parse_addr(int family, const char *ip, int port, struct sockaddr_in6 *sa, socklen_t *len) {
  memset(sa, 0, sizeof *sa);
  if (family == AF_INET) {
    *len = sizeof(struct sockaddr_in);
    return uv_ip4_addr(ip, port, (struct sockaddr_in *)sa);
  }
  *len = sizeof(struct sockaddr_in6);
  return uv_ip6_addr(ip, port, sa);  // takes fe80::1%eth0 as node:dgram does
}

// A reply sent from the socket the event loop polls costs a wake-up call: once the loopback (or
// veth) has taken the datagram, sock_wfree finds epoll's entry on the socket's wait queue and
// wakes it for write space, under a spin lock taken with interrupts off. At max qps that was 7.6 %
// of the agent's CPU (perf, 480k qps), for an event nobody asked for. So replies leave from a
// second socket bound to the same address and port that nothing polls: both join one SO_REUSEPORT
// group whose classic BPF program sends every query to the first (the polled one), and the
// kernel's reply path stays the same (same source address and port, same routing).
//
// Exclusivity stays as a plain bind: a first bind without SO_REUSEPORT fails with EADDRINUSE when
// anything holds the address (a second agent, node-cache's CoreDNS), and is released just before
// the pair binds. A process of the same user binding the port later with SO_REUSEPORT would join
// the group and get no queries (the program picks index 0); it does not take the agent's traffic.
//
// Returns 0 with *fd and *sfd set, or a negative errno from the exclusive bind (the caller's error);
// any failure after it (a kernel without SO_ATTACH_REUSEPORT_CBPF, Linux < 4.5) falls back to one
// socket that polls and sends, bound as before.
// A UDP socket bound to `sa`, its receive buffer set (when rcvbuf > 0): the descriptor, or a
// negative errno.
static int open_bound(int family, const struct sockaddr_in6 *sa, socklen_t sl, int reuseport, int rcvbuf) {
  int fd = socket(family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return -errno;
  int one = 1;
  if ((reuseport && setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) < 0) ||
      (rcvbuf > 0 && setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf) < 0) || bind(fd, (const struct sockaddr *)sa, sl) < 0) {
    int e = -errno;
    close(fd);
    return e;
  }
  return fd;
}

static int open_pair(int family, const struct sockaddr_in6 *sa, socklen_t sl, int rcvbuf, int *fd, int *sfd) {
  *fd = *sfd = -1;
  // Port 0: the kernel's choice cannot be handed over between sockets without a window; one socket.
  int port_given = ((const struct sockaddr_in *)sa)->sin_port != 0;  // same offset in sockaddr_in6
  int probe = open_bound(family, sa, sl, 0, port_given ? 0 : rcvbuf);
  if (probe < 0) return probe;
  if (!port_given) {
    *fd = *sfd = probe;
    return 0;
  }
  close(probe);
  int r = open_bound(family, sa, sl, 1, rcvbuf), s = -1;
  // Every datagram to the group goes to its member at index 0: the first bound, `r`.
  struct sock_filter code[] = {BPF_STMT(BPF_RET | BPF_K, 0)};
  struct sock_fprog prog = {.len = 1, .filter = code};
  int ok = r >= 0 && setsockopt(r, SOL_SOCKET, SO_ATTACH_REUSEPORT_CBPF, &prog, sizeof prog) == 0;
  // The send-only twin never reads: the smallest receive buffer bounds what could ever queue there.
  if (ok) {
    s = open_bound(family, sa, sl, 1, 1);
    ok = s >= 0;
  }
  // IPv4 replies from the twin carry DF (ignoring learned path MTUs, so no ICMP can shrink them):
  // a datagram without DF gets its IP ID from __ip_select_ident, a hash and an atomic per send,
  // 2 % of the agent's CPU at max qps (perf); with DF the ID is 0 (RFC 6864 §4.1). One longer than
  // the interface MTU fails with EMSGSIZE and is sent again from the polled socket, fragmented as
  // before, so no client sees a difference in what arrives.
  if (ok && family == AF_INET) {
    int pmtu = IP_PMTUDISC_PROBE;
    setsockopt(s, IPPROTO_IP, IP_MTU_DISCOVER, &pmtu, sizeof pmtu);
  }
  if (ok) {
    *fd = r;
    *sfd = s;
    return 0;
  }
  if (s >= 0) close(s);
  if (r >= 0) close(r);
  int one = open_bound(family, sa, sl, 0, rcvbuf);
  if (one < 0) return one;
  *fd = *sfd = one;
  return 0;
}

static void free_sock(uv_handle_t *h) {
  sock_t *k = uv_handle_get_data(h);
  free(k);
}

// open(self, host, port, family (4|6), recvBufferSize, onBatch, in, out, meta) -> External
// Throws an Error whose `code` is the errno name (EADDRINUSE, EADDRNOTAVAIL, ...).
static napi_value Open(napi_env env, napi_callback_info info) {
  size_t argc = 9;
  napi_value a[9];
  CHECK(napi_get_cb_info(env, info, &argc, a, NULL, NULL));
  if (argc < 9) {
    napi_throw_type_error(env, NULL, "udp_batch.open: 9 arguments expected");
    return NULL;
  }
  char host[64];
  size_t hl;
  int32_t port, fam, rcvbuf;
  CHECK(napi_get_value_string_utf8(env, a[1], host, sizeof host, &hl));
  CHECK(napi_get_value_int32(env, a[2], &port));
  CHECK(napi_get_value_int32(env, a[3], &fam));
  CHECK(napi_get_value_int32(env, a[4], &rcvbuf));
  void *in, *out, *meta;
  size_t in_len, out_len, meta_len;
  CHECK(napi_get_arraybuffer_info(env, a[6], &in, &in_len));
  CHECK(napi_get_arraybuffer_info(env, a[7], &out, &out_len));
  CHECK(napi_get_arraybuffer_info(env, a[8], &meta, &meta_len));
  if (in_len < (size_t)BATCH * SLOT || meta_len < META_INTS * sizeof(int32_t)) {
    napi_throw_range_error(env, NULL, "udp_batch.open: buffers too small");
    return NULL;
  }
  int family = fam == 6 ? AF_INET6 : AF_INET;
  struct sockaddr_in6 sa;
  socklen_t sl;
  int err = parse_addr(family, host, port, &sa, &sl);
  int fd = -1, sfd = -1;
  if (err == 0) err = open_pair(family, &sa, sl, rcvbuf, &fd, &sfd);
  uv_loop_t *loop = NULL;
  if (err == 0 && napi_get_uv_event_loop(env, &loop) != napi_ok) err = UV_EINVAL;
  sock_t *k = NULL;
  if (err == 0) {
    k = calloc(1, sizeof *k);
    if (!k) err = UV_ENOMEM;
  }
  if (err == 0) {
    err = uv_poll_init(loop, &k->poll, fd);
    if (err != 0) {
      free(k);
      k = NULL;
    }
  }
  if (err != 0) {
    if (sfd >= 0 && sfd != fd) close(sfd);
    if (fd >= 0) close(fd);
    napi_value code, msg, e;
    char text[160];
    snprintf(text, sizeof text, "bind %s %s:%d", uv_err_name(err), host, port);
    napi_create_string_utf8(env, uv_err_name(err), NAPI_AUTO_LENGTH, &code);
    napi_create_string_utf8(env, text, NAPI_AUTO_LENGTH, &msg);
    napi_create_error(env, code, msg, &e);
    napi_throw(env, e);
    return NULL;
  }
  k->fd = fd;
  k->sfd = sfd;
  k->family = family;
  k->env = env;
  k->in = in;
  k->out = out;
  k->out_len = out_len;
  k->meta = meta;
  for (int i = 0; i < BATCH; i++) {
    k->riov[i].iov_base = k->in + (size_t)i * SLOT;
    k->riov[i].iov_len = SLOT;
    k->rm[i].msg_hdr.msg_iov = &k->riov[i];
    k->rm[i].msg_hdr.msg_iovlen = 1;
    k->rm[i].msg_hdr.msg_name = &k->ra[i];
    k->rm[i].msg_hdr.msg_namelen = sizeof(k->ra[i]);
  }
  uv_handle_set_data((uv_handle_t *)&k->poll, k);
  napi_value name;
  CHECK(napi_create_reference(env, a[0], 1, &k->self));
  CHECK(napi_create_reference(env, a[5], 1, &k->cb));
  CHECK(napi_create_reference(env, a[6], 1, &k->in_ref));
  CHECK(napi_create_reference(env, a[7], 1, &k->out_ref));
  CHECK(napi_create_reference(env, a[8], 1, &k->meta_ref));
  CHECK(napi_create_string_utf8(env, "nodelocaldns:udp", NAPI_AUTO_LENGTH, &name));
  CHECK(napi_async_init(env, a[0], name, &k->actx));
  err = uv_poll_start(&k->poll, UV_READABLE, on_readable);
  napi_value ext;
  CHECK(napi_create_external(env, k, NULL, NULL, &ext));
  if (err != 0) {
    napi_throw_error(env, uv_err_name(err), "udp_batch: poll start failed");
    return NULL;
  }
  return ext;
}

static sock_t *unwrap(napi_env env, napi_value v) {
  void *p = NULL;
  if (napi_get_value_external(env, v, &p) != napi_ok) return NULL;
  return p;
}

// sendTo(handle, buffer, address: number (IPv4, host order) | string, port) -> 0 or a negative errno.
// For replies that leave outside a batch (cache misses answered later).
static napi_value SendTo(napi_env env, napi_callback_info info) {
  size_t argc = 4;
  napi_value a[4], ret;
  CHECK(napi_get_cb_info(env, info, &argc, a, NULL, NULL));
  sock_t *k = argc == 4 ? unwrap(env, a[0]) : NULL;
  int32_t rc = UV_EBADF;
  void *data;
  size_t len;
  int32_t port;
  napi_valuetype t;
  if (k && k->fd >= 0 && napi_get_buffer_info(env, a[1], &data, &len) == napi_ok && napi_get_value_int32(env, a[3], &port) == napi_ok &&
      napi_typeof(env, a[2], &t) == napi_ok) {
    struct sockaddr_in6 sa;
    socklen_t sl = 0;
    rc = UV_EINVAL;
    if (t == napi_number && k->family == AF_INET) {
      uint32_t ip;
      napi_get_value_uint32(env, a[2], &ip);
      struct sockaddr_in *s4 = (struct sockaddr_in *)&sa;
      memset(&sa, 0, sizeof sa);
      s4->sin_family = AF_INET;
      s4->sin_port = htons((uint16_t)port);
      s4->sin_addr.s_addr = htonl(ip);
      sl = sizeof *s4;
      rc = 0;
    } else if (t == napi_string) {
      char ip[64];
      size_t il;
      if (napi_get_value_string_utf8(env, a[2], ip, sizeof ip, &il) == napi_ok) rc = parse_addr(k->family, ip, port, &sa, &sl);
    }
    if (rc == 0) {
      ssize_t r;
      do r = sendto(k->sfd, data, len, MSG_DONTWAIT, (struct sockaddr *)&sa, sl);
      while (r < 0 && errno == EINTR);
      if (r < 0 && errno == EMSGSIZE && k->sfd != k->fd) {  // as in flush_replies
        do r = sendto(k->fd, data, len, MSG_DONTWAIT, (struct sockaddr *)&sa, sl);
        while (r < 0 && errno == EINTR);
      }
      rc = r < 0 ? -errno : 0;
    }
  }
  CHECK(napi_create_int32(env, rc, &ret));
  return ret;
}

// close(handle): stops reading and closes the socket now (the port is free when this returns).
static napi_value Close(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value a[1];
  CHECK(napi_get_cb_info(env, info, &argc, a, NULL, NULL));
  sock_t *k = argc == 1 ? unwrap(env, a[0]) : NULL;
  if (!k || k->fd < 0) return NULL;
  uv_poll_stop(&k->poll);  // takes the fd out of epoll, so closing it below is safe
  // The twin first: until the polled socket goes, the group's program keeps steering queries to it.
  if (k->sfd != k->fd) close(k->sfd);
  close(k->fd);
  k->fd = -1;
  k->sfd = -1;
  napi_async_destroy(env, k->actx);
  napi_delete_reference(env, k->self);
  napi_delete_reference(env, k->cb);
  napi_delete_reference(env, k->in_ref);
  napi_delete_reference(env, k->out_ref);
  napi_delete_reference(env, k->meta_ref);
  uv_close((uv_handle_t *)&k->poll, free_sock);
  return NULL;
}

// trim(): hands the free pages of every malloc arena back to the kernel (glibc malloc_trim).
// Buffers' backing stores are malloc'd: after a burst V8 frees them, but glibc keeps the pages
// of a fragmented arena mapped, so RSS stayed ~15-30 MiB above the live heap. Returns 1 if
// memory was released, 0 if none, -1 where the C library has no malloc_trim (musl).
// setClock(ArrayBuffer of 3 doubles): the process's clock memory, held for good.
static napi_value SetClock(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value a[1];
  void *data;
  size_t len;
  CHECK(napi_get_cb_info(env, info, &argc, a, NULL, NULL));
  CHECK(napi_get_arraybuffer_info(env, a[0], &data, &len));
  if (len < 3 * sizeof(double) || ((uintptr_t)data & 7) != 0) {
    napi_throw_range_error(env, NULL, "udp_batch.setClock: 24 aligned bytes expected");
    return NULL;
  }
  if (g_clock_ref) napi_delete_reference(env, g_clock_ref);
  CHECK(napi_create_reference(env, a[0], 1, &g_clock_ref));
  g_clock = data;
  return NULL;
}

// stamp(): the current time into clock[2].
static napi_value Stamp(napi_env env, napi_callback_info info) {
  (void)env;
  (void)info;
  if (g_clock) g_clock[2] = (double)uv_hrtime() / 1e6;
  return NULL;
}

// uv_hrtime in ms, as the clock's entries: JS takes its offset from performance.now() once.
static napi_value HrtimeMs(napi_env env, napi_callback_info info) {
  (void)info;
  napi_value ret;
  CHECK(napi_create_double(env, (double)uv_hrtime() / 1e6, &ret));
  return ret;
}

static napi_value Trim(napi_env env, napi_callback_info info) {
  (void)info;
  napi_value ret;
#ifdef __GLIBC__
  CHECK(napi_create_int32(env, malloc_trim(0), &ret));
#else
  CHECK(napi_create_int32(env, -1, &ret));
#endif
  return ret;
}


// releaseExecutablePages(): takes the node executable's clean pages out of our resident set.
// After start-up ~42 MiB of a 70 MiB RSS were pages of /usr/bin/node itself (V8's snapshot and
// builtins read while booting, smaps measured), shared with the page cache and identical to the
// file, most never touched again. MADV_DONTNEED on a read-only private file mapping unmaps them;
// a page used later faults back in from the page cache (a minor fault, no I/O). Only mappings
// with no anonymous (copy-on-write) pages are touched: relocated data (RELRO) differs from the
// file and must stay. Returns the bytes of the mappings released, or -1 if smaps is unreadable.
#define MAX_RANGES 64
static napi_value ReleaseExecutablePages(napi_env env, napi_callback_info info) {
  (void)info;
  napi_value ret;
  char exe[4096];
  ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
  FILE *f = n > 0 ? fopen("/proc/self/smaps", "r") : NULL;
  if (f == NULL) {
    CHECK(napi_create_double(env, -1, &ret));
    return ret;
  }
  exe[n] = 0;
  uintptr_t starts[MAX_RANGES], ends[MAX_RANGES];
  int ranges = 0;
  // The mapping being read: its range, whether it is a read-only mapping of the executable, and
  // its Anonymous field (-1 until seen). Decided when the next mapping starts, or at the end.
  uintptr_t start = 0, end = 0;
  int candidate = 0;
  long anon = -1;
  char line[4608];
  for (;;) {
    char *got = fgets(line, sizeof line, f);
    // A mapping's header starts with its address (lowercase hex); its fields with a capital.
    int header = got != NULL && ((line[0] >= '0' && line[0] <= '9') || (line[0] >= 'a' && line[0] <= 'f'));
    if (got == NULL || header) {
      if (candidate && anon == 0 && ranges < MAX_RANGES) {
        starts[ranges] = start;
        ends[ranges] = end;
        ranges++;
      }
      if (got == NULL) break;
      unsigned long a = 0, b = 0;
      char perms[8] = "", path[4096] = "";
      int fields = sscanf(line, "%lx-%lx %7s %*s %*s %*s %4095s", &a, &b, perms, path);
      start = a;
      end = b;
      anon = -1;
      candidate = fields == 4 && perms[0] == 'r' && perms[1] != 'w' && strcmp(path, exe) == 0;
    } else if (strncmp(line, "Anonymous:", 10) == 0) {
      anon = atol(line + 10);
    }
  }
  fclose(f);
  double released = 0;
  for (int i = 0; i < ranges; i++)
    if (madvise((void *)starts[i], ends[i] - starts[i], MADV_DONTNEED) == 0) released += (double)(ends[i] - starts[i]);
  CHECK(napi_create_double(env, released, &ret));
  return ret;
}

// A one-shot timer JS can truly cancel. An unreferenced Node timer that is cleared still wakes the
// loop when it was due: Node drops the empty list of a cleared timer only for referenced timers,
// so a timeout armed per query and cleared by the answer a millisecond later (the miss path's
// hedge delay, ~100 ms) woke an idle agent once per miss (bench/hot-path.md). uv_timer_stop takes
// this one out of libuv's heap, and the poll that follows sleeps until the next real deadline.
// Unreferenced: it never keeps the process alive. Held for the life of the process.
typedef struct {
  uv_timer_t t;
  napi_env env;
  napi_ref cb;
  napi_async_context actx;
} wake_timer_t;

static void on_wake(uv_timer_t *h) {
  wake_timer_t *w = uv_handle_get_data((uv_handle_t *)h);
  napi_env env = w->env;
  napi_handle_scope scope;
  if (napi_open_handle_scope(env, &scope) != napi_ok) return;
  napi_value cb, recv, ret;
  if (napi_get_reference_value(env, w->cb, &cb) == napi_ok && napi_get_global(env, &recv) == napi_ok &&
      napi_make_callback(env, w->actx, recv, cb, 0, NULL, &ret) != napi_ok) {
    bool pending = false;
    napi_value err;
    if (napi_is_exception_pending(env, &pending) == napi_ok && pending && napi_get_and_clear_last_exception(env, &err) == napi_ok)
      napi_fatal_exception(env, err);
  }
  napi_close_handle_scope(env, scope);
}

// timerCreate(callback) -> handle
static napi_value TimerCreate(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value a[1], name, ext;
  CHECK(napi_get_cb_info(env, info, &argc, a, NULL, NULL));
  uv_loop_t *loop = NULL;
  CHECK(napi_get_uv_event_loop(env, &loop));
  wake_timer_t *w = calloc(1, sizeof *w);
  if (!w) {
    napi_throw_error(env, "ENOMEM", "udp_batch.timerCreate: out of memory");
    return NULL;
  }
  w->env = env;
  uv_timer_init(loop, &w->t);
  uv_handle_set_data((uv_handle_t *)&w->t, w);
  uv_unref((uv_handle_t *)&w->t);
  CHECK(napi_create_reference(env, a[0], 1, &w->cb));
  CHECK(napi_create_string_utf8(env, "nodelocaldns.wakeTimer", NAPI_AUTO_LENGTH, &name));
  CHECK(napi_async_init(env, NULL, name, &w->actx));
  CHECK(napi_create_external(env, w, NULL, NULL, &ext));
  return ext;
}

// timerStart(handle, ms): (re)arm, replacing any earlier arming.
static napi_value TimerStart(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value a[2];
  void *p;
  double ms;
  CHECK(napi_get_cb_info(env, info, &argc, a, NULL, NULL));
  CHECK(napi_get_value_external(env, a[0], &p));
  CHECK(napi_get_value_double(env, a[1], &ms));
  wake_timer_t *w = p;
  // libuv counts from the loop's time, read at the start of this turn: without a fresh reading a
  // timer armed late in a long turn fires that much early.
  uv_update_time(w->t.loop);
  uv_timer_start(&w->t, on_wake, ms > 0 ? (uint64_t)ms : 0, 0);
  return NULL;
}

// timerStop(handle)
static napi_value TimerStop(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value a[1];
  void *p;
  CHECK(napi_get_cb_info(env, info, &argc, a, NULL, NULL));
  CHECK(napi_get_value_external(env, a[0], &p));
  uv_timer_stop(&((wake_timer_t *)p)->t);
  return NULL;
}

NAPI_MODULE_INIT() {
  napi_value fn, num;
  napi_create_function(env, "open", NAPI_AUTO_LENGTH, Open, NULL, &fn);
  napi_set_named_property(env, exports, "open", fn);
  napi_create_function(env, "sendTo", NAPI_AUTO_LENGTH, SendTo, NULL, &fn);
  napi_set_named_property(env, exports, "sendTo", fn);
  napi_create_function(env, "close", NAPI_AUTO_LENGTH, Close, NULL, &fn);
  napi_set_named_property(env, exports, "close", fn);
  napi_create_function(env, "trim", NAPI_AUTO_LENGTH, Trim, NULL, &fn);
  napi_set_named_property(env, exports, "trim", fn);
  napi_create_function(env, "releaseExecutablePages", NAPI_AUTO_LENGTH, ReleaseExecutablePages, NULL, &fn);
  napi_set_named_property(env, exports, "releaseExecutablePages", fn);
  napi_create_int32(env, BATCH, &num);
  napi_set_named_property(env, exports, "BATCH", num);
  napi_create_int32(env, READ_ROUNDS, &num);
  napi_set_named_property(env, exports, "READ_ROUNDS", num);
  napi_create_int32(env, SLOT, &num);
  napi_set_named_property(env, exports, "SLOT", num);
  napi_create_int32(env, META_STRIDE, &num);
  napi_set_named_property(env, exports, "META_STRIDE", num);
  napi_create_int32(env, META_REPLIES, &num);
  napi_set_named_property(env, exports, "META_REPLIES", num);
  napi_create_int32(env, META_INTS, &num);
  napi_set_named_property(env, exports, "META_INTS", num);
  napi_create_function(env, "setClock", NAPI_AUTO_LENGTH, SetClock, NULL, &fn);
  napi_set_named_property(env, exports, "setClock", fn);
  napi_create_function(env, "stamp", NAPI_AUTO_LENGTH, Stamp, NULL, &fn);
  napi_set_named_property(env, exports, "stamp", fn);
  napi_create_function(env, "hrtimeMs", NAPI_AUTO_LENGTH, HrtimeMs, NULL, &fn);
  napi_set_named_property(env, exports, "hrtimeMs", fn);
  napi_create_function(env, "timerCreate", NAPI_AUTO_LENGTH, TimerCreate, NULL, &fn);
  napi_set_named_property(env, exports, "timerCreate", fn);
  napi_create_function(env, "timerStart", NAPI_AUTO_LENGTH, TimerStart, NULL, &fn);
  napi_set_named_property(env, exports, "timerStart", fn);
  napi_create_function(env, "timerStop", NAPI_AUTO_LENGTH, TimerStop, NULL, &fn);
  napi_set_named_property(env, exports, "timerStop", fn);
  return exports;
}
