/*
 * imr-chat-c — a line-based chat client in C on libimr.
 *
 *   imr-chat-c --server 127.0.0.1:7700 --token TOKEN --conversation general
 *              [--node N] [--store FILE] [--quit-after-sent N]
 *
 * Typed lines are sent to the conversation; every message shows its state
 * (sending / sent / failed) and received messages appear as they arrive. The
 * connection to the relay (`imrctl relay`) is one TCP socket with varint-delimited
 * frames; the client reconnects with backoff and jitter and catches up by sync.
 * `--server a:7700,b:7700` fails over from one relay to the next.
 *
 * The whole program is one poll() loop: the engine is sans-IO, so after every input
 * (a frame read, a typed line, a timer, a (dis)connect) the loop drains the frames to
 * write, the events to show, and re-arms one timer at imr_client_next_timeout.
 */
#include <imr.h>

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define READ_CHUNK 65536
#define MAX_LINE 4096

#define MAX_SERVERS 8
#define HOST_CAP 256

typedef struct {
    char host[MAX_SERVERS][HOST_CAP]; /* relays, tried in turn (failover) */
    char port[MAX_SERVERS][8];
    int servers;
    const char *token;
    const char *conversation;
    const char *store;
    uint64_t node;
    long quit_after_sent; /* for scripts and tests: exit after this many sent messages */
} options;

typedef struct {
    imr_client *client;
    imr_splitter *splitter;
    int fd;                    /* -1 while disconnected */
    uint64_t reconnect_at;     /* when to try again while disconnected */
    uint64_t backoff_ms;
    int server;                /* the relay connected to, or to try next */
    uint8_t *out;              /* delimited frames not yet written */
    size_t out_len, out_cap;
    char line[MAX_LINE];
    size_t line_len;
    int stdin_open;
    long sent;
    const options *opt;
} chat;

static uint64_t now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static void die(const char *what, int code) {
    fprintf(stderr, "imr-chat-c: %s: %s\n", what, imr_strerror(code));
    exit(1);
}

static uint64_t random_u64(void) {
    uint64_t v = 0;
    FILE *f = fopen("/dev/urandom", "rb");
    if (!f || fread(&v, sizeof v, 1, f) != 1) v = (uint64_t)time(NULL) * 6364136223846793005u + (uint64_t)getpid();
    if (f) fclose(f);
    return v ? v : 1;
}

static void hex_id(const uint8_t id[16], char out[9]) {
    snprintf(out, 9, "%02x%02x%02x%02x", id[12], id[13], id[14], id[15]);
}

/* ------------------------------------------------------------------ connection */

static int dial(const char *host, const char *port) {
    struct addrinfo hints, *res = NULL, *ai;
    int fd = -1;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    if (getaddrinfo(host, port, &hints, &res) != 0) return -1;
    for (ai = res; ai; ai = ai->ai_next) {
        fd = socket(ai->ai_family, ai->ai_socktype, ai->ai_protocol);
        if (fd < 0) continue;
        if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0) break;
        close(fd);
        fd = -1;
    }
    freeaddrinfo(res);
    if (fd >= 0) fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
    return fd;
}

/* The next attempt goes to the next relay, after the backoff with jitter (half to all of it);
 * the backoff doubles up to 10 s while attempts fail. */
static void schedule_reconnect(chat *c) {
    c->server = (c->server + 1) % c->opt->servers;
    c->reconnect_at = now_ms() + c->backoff_ms / 2 + random_u64() % (c->backoff_ms / 2 + 1);
    c->backoff_ms = c->backoff_ms * 2 > 10000 ? 10000 : c->backoff_ms * 2;
}

static void drop_connection(chat *c, const char *why) {
    if (c->fd < 0) return;
    close(c->fd);
    c->fd = -1;
    c->out_len = 0;
    imr_splitter_free(c->splitter);
    c->splitter = NULL;
    int rc = imr_client_disconnected(c->client, now_ms());
    if (rc != IMR_OK) die("disconnected", rc);
    schedule_reconnect(c);
    fprintf(stderr, "-- disconnected (%s); reconnecting to %s:%s in %llu ms\n", why, c->opt->host[c->server],
            c->opt->port[c->server], (unsigned long long)(c->reconnect_at - now_ms()));
}

static void try_connect(chat *c) {
    c->fd = dial(c->opt->host[c->server], c->opt->port[c->server]);
    if (c->fd < 0) {
        fprintf(stderr, "-- cannot connect to %s:%s\n", c->opt->host[c->server], c->opt->port[c->server]);
        schedule_reconnect(c);
        return;
    }
    int rc = imr_splitter_new(0, &c->splitter);
    if (rc != IMR_OK) die("splitter", rc);
    rc = imr_client_connected(c->client, now_ms());
    if (rc != IMR_OK) die("connected", rc);
    fprintf(stderr, "-- connected to %s:%s\n", c->opt->host[c->server], c->opt->port[c->server]);
}

/* ------------------------------------------------------------------ the driving loop */

/* Step 1: every frame the engine wants sent, delimited, into the output buffer. */
static void drain_transmit(chat *c) {
    const uint8_t *frame;
    size_t len;
    while (imr_client_poll_transmit(c->client, &frame, &len) == 1) {
        if (c->fd < 0) continue;
        size_t need = 0;
        imr_frame_delimit(frame, len, NULL, 0, &need);
        if (c->out_len + need > c->out_cap) {
            size_t cap = c->out_cap ? c->out_cap : 4096;
            while (cap < c->out_len + need) cap *= 2;
            uint8_t *grown = realloc(c->out, cap);
            if (!grown) {
                fprintf(stderr, "imr-chat-c: out of memory\n");
                exit(1);
            }
            c->out = grown;
            c->out_cap = cap;
        }
        size_t written = 0;
        int rc = imr_frame_delimit(frame, len, c->out + c->out_len, c->out_cap - c->out_len, &written);
        if (rc != IMR_OK) die("delimit", rc);
        c->out_len += written;
    }
}

static void flush_output(chat *c) {
    while (c->fd >= 0 && c->out_len > 0) {
        ssize_t n = send(c->fd, c->out, c->out_len, MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK) return;
            drop_connection(c, strerror(errno));
            return;
        }
        memmove(c->out, c->out + n, c->out_len - (size_t)n);
        c->out_len -= (size_t)n;
    }
}

static const char *failure_text(int32_t code) {
    switch (code) {
    case IMR_FAILURE_ATTEMPTS_EXHAUSTED: return "no ack after every attempt";
    case IMR_FAILURE_MAX_OFFLINE_AGE: return "offline for too long";
    case IMR_FAILURE_REJECTED: return "rejected by the server";
    default: return "failed";
    }
}

/* Step 2: every event, shown. */
static void drain_events(chat *c) {
    imr_event e;
    char id[9];
    while (imr_client_poll_event(c->client, &e) == 1) {
        switch (e.kind) {
        case IMR_EVENT_CONNECTION_READY:
            c->backoff_ms = 500;
            fprintf(stderr, "-- ready\n");
            break;
        case IMR_EVENT_MESSAGE_SENDING: /* a retried message */
            hex_id(e.message_id, id);
            printf("   %s sending again\n", id);
            break;
        case IMR_EVENT_MESSAGE_SENT:
            hex_id(e.message_id, id);
            printf("   %s sent (#%llu)\n", id, (unsigned long long)e.seq);
            c->sent++;
            break;
        case IMR_EVENT_MESSAGE_FAILED:
            hex_id(e.message_id, id);
            printf("   %s FAILED: %s (type /retry %s)\n", id, failure_text(e.code), id);
            break;
        case IMR_EVENT_MESSAGE_RECEIVED:
            if (strcmp(e.conversation, c->opt->conversation) == 0) {
                printf("[%llu] %s: %.*s\n", (unsigned long long)e.seq, e.user, (int)e.payload_len,
                       (const char *)e.payload);
            }
            break;
        case IMR_EVENT_GAP_OPENED:
            fprintf(stderr, "-- gap %llu..%llu in %s, syncing\n", (unsigned long long)e.seq,
                    (unsigned long long)e.seq_end, e.conversation);
            break;
        case IMR_EVENT_SERVER_ERROR:
            fprintf(stderr, "-- server error %d%s: %s\n", e.code, (e.flags & IMR_EVENT_FLAG_FATAL) ? " (fatal)" : "",
                    e.detail ? e.detail : "");
            break;
        case IMR_EVENT_ERROR:
            fprintf(stderr, "-- %s: %s\n", imr_strerror(e.code), e.detail ? e.detail : "");
            break;
        default:
            break;
        }
    }
    fflush(stdout);
}

/* After every input: transmit, events, write. The timer is re-armed by the loop. */
static void after_input(chat *c) {
    drain_transmit(c);
    drain_events(c);
    flush_output(c);
}

static void retry_command(chat *c, const char *suffix) {
    /* "/retry ID8": the last 4 bytes of a failed message's id, as shown. */
    imr_outbox_entry entries[256];
    imr_ssize n = imr_client_outbox(c->client, entries, 256);
    char id[9];
    for (imr_ssize i = 0; i < n && i < 256; i++) {
        hex_id(entries[i].message_id, id);
        if (entries[i].state == IMR_STATE_FAILED && strcmp(id, suffix) == 0) {
            int rc = imr_client_retry(c->client, entries[i].message_id, now_ms());
            if (rc != IMR_OK) fprintf(stderr, "-- retry: %s\n", imr_strerror(rc));
            return;
        }
    }
    fprintf(stderr, "-- no failed message %s\n", suffix);
}

static void handle_line(chat *c, const char *line) {
    if (line[0] == '\0') return;
    if (strncmp(line, "/retry ", 7) == 0) {
        retry_command(c, line + 7);
        return;
    }
    uint8_t id[16];
    char shown[9];
    int rc = imr_client_send(c->client, c->opt->conversation, (const uint8_t *)line, strlen(line), id, now_ms());
    if (rc != IMR_OK) {
        fprintf(stderr, "-- not sent: %s\n", imr_strerror(rc));
        return;
    }
    hex_id(id, shown);
    printf("   %s sending\n", shown);
}

static void read_stdin(chat *c) {
    char buf[1024];
    ssize_t n = read(STDIN_FILENO, buf, sizeof buf);
    if (n <= 0) {
        c->stdin_open = 0;
        return;
    }
    for (ssize_t i = 0; i < n; i++) {
        if (buf[i] == '\n') {
            c->line[c->line_len] = '\0';
            handle_line(c, c->line);
            c->line_len = 0;
        } else if (c->line_len + 1 < sizeof c->line) {
            c->line[c->line_len++] = buf[i];
        }
    }
}

static void read_socket(chat *c) {
    static uint8_t buf[READ_CHUNK];
    ssize_t n = recv(c->fd, buf, sizeof buf, 0);
    if (n == 0) {
        drop_connection(c, "closed by the server");
        return;
    }
    if (n < 0) {
        if (errno != EAGAIN && errno != EWOULDBLOCK) drop_connection(c, strerror(errno));
        return;
    }
    int rc = imr_splitter_push(c->splitter, buf, (size_t)n);
    const uint8_t *frame;
    size_t len;
    while (rc == IMR_OK && (rc = imr_splitter_next(c->splitter, &frame, &len)) == 1) {
        int r = imr_client_handle_frame(c->client, frame, len, now_ms());
        if (r != IMR_OK) fprintf(stderr, "-- frame refused: %s\n", imr_strerror(r));
        if (imr_error_is_fatal(r)) break;
        rc = IMR_OK;
    }
    if (rc < 0) drop_connection(c, imr_strerror(rc)); /* framing errors are fatal for the stream */
}

static void usage(void) {
    fprintf(stderr,
            "usage: imr-chat-c --server HOST:PORT[,HOST:PORT...] --token TOKEN --conversation ID\n"
            "                  [--node N] [--store FILE] [--quit-after-sent N]\n");
    exit(2);
}

/* "host:port,host:port,..." into opt (at most MAX_SERVERS). */
static void parse_servers(const char *list, options *opt) {
    const char *p = list;
    while (*p) {
        const char *end = strchr(p, ',');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        const char *colon = NULL;
        for (size_t i = 0; i < len; i++) if (p[i] == ':') colon = p + i;
        if (opt->servers == MAX_SERVERS || !colon || colon == p || (size_t)(colon - p) >= HOST_CAP ||
            len - (size_t)(colon - p) - 1 == 0 || len - (size_t)(colon - p) - 1 >= sizeof opt->port[0])
            usage();
        memcpy(opt->host[opt->servers], p, (size_t)(colon - p));
        opt->host[opt->servers][colon - p] = '\0';
        memcpy(opt->port[opt->servers], colon + 1, len - (size_t)(colon - p) - 1);
        opt->port[opt->servers][len - (size_t)(colon - p) - 1] = '\0';
        opt->servers++;
        p += len;
        if (*p == ',') p++;
    }
    if (opt->servers == 0) usage();
}

static void parse(int argc, char **argv, options *opt) {
    const char *server = NULL;
    memset(opt, 0, sizeof *opt);
    opt->quit_after_sent = -1;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!v) usage();
        if (strcmp(a, "--server") == 0) server = v;
        else if (strcmp(a, "--token") == 0) opt->token = v;
        else if (strcmp(a, "--conversation") == 0) opt->conversation = v;
        else if (strcmp(a, "--store") == 0) opt->store = v;
        else if (strcmp(a, "--node") == 0) opt->node = strtoull(v, NULL, 0);
        else if (strcmp(a, "--quit-after-sent") == 0) opt->quit_after_sent = strtol(v, NULL, 10);
        else usage();
        i++;
    }
    if (!server || !opt->token || !opt->conversation) usage();
    parse_servers(server, opt);
}

int main(int argc, char **argv) {
    static options opt; /* large (the server list): not on the stack */
    parse(argc, argv, &opt);

    imr_config *config = NULL;
    int rc = imr_config_new(&config);
    if (rc != IMR_OK) die("config", rc);
    if ((rc = imr_config_set_u64(config, IMR_CONFIG_NODE_ID, opt.node ? opt.node : random_u64())) != IMR_OK ||
        (rc = imr_config_set_u64(config, IMR_CONFIG_SEED, random_u64())) != IMR_OK ||
        (rc = imr_config_set_string(config, IMR_CONFIG_TOKEN, opt.token)) != IMR_OK ||
        (opt.store && (rc = imr_config_set_string(config, IMR_CONFIG_STORE_PATH, opt.store)) != IMR_OK))
        die("config", rc);
    chat c;
    memset(&c, 0, sizeof c);
    c.fd = -1;
    c.backoff_ms = 500;
    c.stdin_open = 1;
    c.opt = &opt;
    rc = imr_client_new(config, &c.client);
    imr_config_free(config);
    if (rc != IMR_OK) die("client", rc);
    signal(SIGPIPE, SIG_IGN);

    try_connect(&c);
    after_input(&c);
    for (;;) {
        if (opt.quit_after_sent >= 0 && c.sent >= opt.quit_after_sent && c.out_len == 0) break;
        if (!c.stdin_open && opt.quit_after_sent < 0) {
            /* End of input: leave once nothing is waiting for an ack. */
            imr_outbox_entry e[64];
            imr_ssize n = imr_client_outbox(c.client, e, 64), waiting = 0;
            for (imr_ssize i = 0; i < n && i < 64; i++) waiting += e[i].state == IMR_STATE_SENDING;
            if (waiting == 0 && c.out_len == 0) break;
        }
        /* Step 3: one timer — the engine's deadline, or the reconnect time. */
        uint64_t now = now_ms(), deadline = 0;
        int timeout = -1;
        if (imr_client_next_timeout(c.client, &deadline) == 1) {
            timeout = deadline <= now ? 0 : (int)(deadline - now > 60000 ? 60000 : deadline - now);
        }
        if (c.fd < 0) {
            int until = c.reconnect_at <= now ? 0 : (int)(c.reconnect_at - now);
            if (timeout < 0 || until < timeout) timeout = until;
        }
        struct pollfd fds[2];
        int nfds = 0, sock = -1, in = -1;
        if (c.fd >= 0) {
            fds[nfds].fd = c.fd;
            fds[nfds].events = (short)(POLLIN | (c.out_len ? POLLOUT : 0));
            sock = nfds++;
        }
        if (c.stdin_open) {
            fds[nfds].fd = STDIN_FILENO;
            fds[nfds].events = POLLIN;
            in = nfds++;
        }
        if (poll(fds, (nfds_t)nfds, timeout) < 0 && errno != EINTR) break;

        if (sock >= 0 && (fds[sock].revents & (POLLIN | POLLHUP | POLLERR))) read_socket(&c);
        if (sock >= 0 && c.fd >= 0 && (fds[sock].revents & POLLOUT)) flush_output(&c);
        if (in >= 0 && (fds[in].revents & (POLLIN | POLLHUP))) read_stdin(&c);
        if (c.fd < 0 && now_ms() >= c.reconnect_at) try_connect(&c);
        if (imr_client_next_timeout(c.client, &deadline) == 1 && deadline <= now_ms()) {
            imr_client_handle_timeout(c.client, now_ms());
        }
        after_input(&c);
    }
    if (c.fd >= 0) close(c.fd);
    imr_splitter_free(c.splitter);
    imr_client_free(c.client);
    free(c.out);
    return 0;
}
