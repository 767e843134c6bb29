/* TCP connections and growable byte buffers. */
#include "load.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* A blocking connect (the servers are local), then non-blocking with Nagle off: the
 * servers set TCP_NODELAY on their side too, and small frames must not wait. */
int net_dial(const char *host, const char *port) {
    struct addrinfo hints, *res = NULL, *ai;
    int fd = -1, one = 1;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV;
    if (getaddrinfo(host, port, &hints, &res) != 0) return -1;
    for (ai = res; ai; ai = ai->ai_next) {
        fd = socket(ai->ai_family, ai->ai_socktype, ai->ai_protocol);
        if (fd < 0) continue;
        if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0) break;
        close(fd);
        fd = -1;
    }
    freeaddrinfo(res);
    if (fd < 0) return -1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
    return fd;
}

void bytes_reserve(bytes *b, size_t extra) {
    if (b->len + extra <= b->cap) return;
    size_t cap = b->cap ? b->cap : 4096;
    while (cap < b->len + extra) cap *= 2;
    uint8_t *grown = realloc(b->data, cap);
    if (!grown) {
        fprintf(stderr, "relay_load: out of memory\n");
        exit(1);
    }
    b->data = grown;
    b->cap = cap;
}

void bytes_append(bytes *b, const void *data, size_t len) {
    bytes_reserve(b, len);
    memcpy(b->data + b->len, data, len);
    b->len += len;
}

int bytes_flush(bytes *b, int fd) {
    size_t done = 0;
    while (done < b->len) {
        ssize_t n = send(fd, b->data + done, b->len - done, MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK) break;
            if (errno == EINTR) continue;
            return -1;
        }
        done += (size_t)n;
    }
    memmove(b->data, b->data + done, b->len - done);
    b->len -= done;
    return 0;
}
