/*
 * A musl-linked client for tests: resolves argv[1] for IPv4 with getaddrinfo, as a program on an
 * Alpine image does, and prints one address per line. musl reads only /etc/resolv.conf and asks
 * port 53 without EDNS (512 B over UDP); before 1.2.4 it never retries a truncated reply over
 * TCP, so the records in that reply are all it gets. Exit 2 with the error when nothing resolves.
 */
#include <arpa/inet.h>
#include <netdb.h>
#include <stdio.h>
#include <string.h>

int main(int argc, char **argv) {
  struct addrinfo hints, *res, *ai;
  char text[INET_ADDRSTRLEN];
  int rc;

  if (argc != 2) {
    fprintf(stderr, "usage: %s NAME\n", argv[0]);
    return 64;
  }
  memset(&hints, 0, sizeof hints);
  hints.ai_family = AF_INET;
  hints.ai_socktype = SOCK_STREAM; /* one entry per address */
  rc = getaddrinfo(argv[1], NULL, &hints, &res);
  if (rc != 0) {
    fprintf(stderr, "getaddrinfo %s: %s\n", argv[1], gai_strerror(rc));
    return 2;
  }
  for (ai = res; ai != NULL; ai = ai->ai_next) {
    inet_ntop(AF_INET, &((struct sockaddr_in *)ai->ai_addr)->sin_addr, text, sizeof text);
    puts(text);
  }
  freeaddrinfo(res);
  return 0;
}
