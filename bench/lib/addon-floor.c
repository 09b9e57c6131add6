// The batch addon's floor: the least a server inside Node's event loop on the agent's I/O can do
// per query. An N-API module that reads a UDP socket as src/native/udp_batch.c does (libuv polls
// it; on readable, recvmmsg up to 32 datagrams, again while batches come back full, up to 8 times),
// answers every question with one fixed A record built here in C (no cache, no parsing beyond the
// question's end, no metrics), calls one JS function per batch as the agent's handler is called
// (napi_make_callback; the function does nothing), and sends the batch's replies with one sendmmsg.
// So the agent's CPU and latency above this row are what its JS hit path costs, and this row is
// also the most that answering hits in C inside the addon could reach. Unlike the agent it sends
// from the polled socket (no send-only twin), so at full rate it pays epoll's write-space
// callbacks, which the agent does not.
// JS: require(built .node).serve(ip, port, onBatch)
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <node_api.h>
#include <string.h>
#include <sys/socket.h>
#include <uv.h>

#define BATCH 32
#define READ_ROUNDS 8
#define SLOT 4096

static int fd = -1;
static uv_poll_t poll_h;
static napi_env g_env;
static napi_ref g_cb, g_self;
static napi_async_context g_actx;
static unsigned char in[BATCH][SLOT], out[BATCH][SLOT];
static struct sockaddr_in6 peers[BATCH];
static struct mmsghdr rm[BATCH], sm[BATCH];
static struct iovec riov[BATCH], siov[BATCH];
// A 10.0.0.1, TTL 30, its name a pointer to the question's.
static const unsigned char ANSWER[16] = {0xc0, 0x0c, 0, 1, 0, 1, 0, 0, 0, 30, 0, 4, 10, 0, 0, 1};

static int answer(const unsigned char *q, int len, unsigned char *o) {
  if (len < 12) return -1;
  int p = 12;
  while (p < len && q[p] != 0) p += q[p] + 1;
  int qend = p + 5;
  if (qend > len) return -1;
  memcpy(o, q, (size_t)qend);
  memcpy(o + qend, ANSWER, sizeof ANSWER);
  o[2] = 0x80 | (q[2] & 0x01);  // QR, RD copied
  o[3] = 0x80;                  // RA, NOERROR
  o[4] = 0, o[5] = 1, o[6] = 0, o[7] = 1;
  memset(o + 8, 0, 4);  // no authority, no additional (the query's OPT is not echoed)
  return qend + (int)sizeof ANSWER;
}

static void call_js(void) {
  napi_handle_scope scope;
  if (napi_open_handle_scope(g_env, &scope) != napi_ok) return;
  napi_value self, cb, ret;
  if (napi_get_reference_value(g_env, g_self, &self) == napi_ok && napi_get_reference_value(g_env, g_cb, &cb) == napi_ok)
    napi_make_callback(g_env, g_actx, self, cb, 0, NULL, &ret);
  napi_close_handle_scope(g_env, scope);
}

static int read_batch(void) {
  for (int i = 0; i < BATCH; i++) rm[i].msg_hdr.msg_namelen = sizeof peers[i];
  int n = recvmmsg(fd, rm, BATCH, MSG_DONTWAIT, NULL);
  if (n <= 0) return n;
  int k = 0;
  for (int i = 0; i < n; i++) {
    int len = answer(in[i], (int)rm[i].msg_len, out[k]);
    if (len < 0) continue;
    siov[k].iov_base = out[k];
    siov[k].iov_len = (size_t)len;
    sm[k].msg_hdr.msg_name = &peers[i];
    sm[k].msg_hdr.msg_namelen = rm[i].msg_hdr.msg_namelen;
    k++;
  }
  call_js();
  for (int sent = 0; sent < k;) {
    int r = sendmmsg(fd, sm + sent, (unsigned)(k - sent), MSG_DONTWAIT);
    if (r < 0 && errno == EINTR) continue;
    sent += r > 0 ? r : 1;  // a refused reply is skipped, as the agent does
  }
  return n;
}

static void on_readable(uv_poll_t *p, int status, int events) {
  (void)p, (void)status, (void)events;
  for (int round = 0; round < READ_ROUNDS; round++)
    if (read_batch() < BATCH) return;
}

static napi_value Serve(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value a[3];
  char ip[64];
  size_t iplen;
  int32_t port;
  if (napi_get_cb_info(env, info, &argc, a, NULL, NULL) != napi_ok || argc != 3 ||
      napi_get_value_string_utf8(env, a[0], ip, sizeof ip, &iplen) != napi_ok || napi_get_value_int32(env, a[1], &port) != napi_ok) {
    napi_throw_error(env, NULL, "serve(ip, port, onBatch)");
    return NULL;
  }
  struct sockaddr_in sa;
  memset(&sa, 0, sizeof sa);
  sa.sin_family = AF_INET;
  sa.sin_port = htons((uint16_t)port);
  int rcvbuf = 4 << 20;
  if (inet_pton(AF_INET, ip, &sa.sin_addr) != 1 || (fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0)) < 0 ||
      setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf) < 0 || bind(fd, (struct sockaddr *)&sa, sizeof sa) < 0) {
    napi_throw_error(env, NULL, strerror(errno));
    return NULL;
  }
  for (int i = 0; i < BATCH; i++) {
    riov[i].iov_base = in[i];
    riov[i].iov_len = SLOT;
    rm[i].msg_hdr.msg_iov = &riov[i];
    rm[i].msg_hdr.msg_iovlen = 1;
    rm[i].msg_hdr.msg_name = &peers[i];
    sm[i].msg_hdr.msg_iov = &siov[i];
    sm[i].msg_hdr.msg_iovlen = 1;
  }
  g_env = env;
  napi_value global, name;
  uv_loop_t *loop;
  if (napi_create_reference(env, a[2], 1, &g_cb) != napi_ok || napi_get_global(env, &global) != napi_ok ||
      napi_create_reference(env, global, 1, &g_self) != napi_ok ||
      napi_create_string_utf8(env, "addon-floor", NAPI_AUTO_LENGTH, &name) != napi_ok ||
      napi_async_init(env, NULL, name, &g_actx) != napi_ok || napi_get_uv_event_loop(env, &loop) != napi_ok ||
      uv_poll_init_socket(loop, &poll_h, fd) != 0 || uv_poll_start(&poll_h, UV_READABLE, on_readable) != 0) {
    napi_throw_error(env, NULL, "addon-floor: setting up the poll failed");
    return NULL;
  }
  return NULL;
}

NAPI_MODULE_INIT() {
  napi_value fn;
  napi_create_function(env, "serve", NAPI_AUTO_LENGTH, Serve, NULL, &fn);
  napi_set_named_property(env, exports, "serve", fn);
  return exports;
}
