/* The mosquitto side, through libmosquitto with its socket in this program's poll loop
 * (mosquitto_loop_read / _write / _misc). Publishes and subscriptions are QoS 1: the
 * broker's PUBACK is the ack; every subscriber PUBACKs what it gets. */
#include "load.h"

#include <mosquitto.h>

#include <fcntl.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Keep-alive pings are due every 60 s; the misc step that sends them runs every second. */
#define KEEPALIVE_S 60
#define MISC_EVERY_MS 1000

typedef struct {
    struct mosquitto *m;
    uint64_t misc_at;
} mqtt_conn;

static pthread_once_t lib_once = PTHREAD_ONCE_INIT;
static void lib_init(void) { mosquitto_lib_init(); }

static void on_connect(struct mosquitto *m, void *obj, int rc) {
    conn *c = obj;
    if (rc != 0) {
        conn_error(c, "connect refused", mosquitto_connack_string(rc));
        return;
    }
    if (c->role == ROLE_SUBSCRIBER) {
        int err = mosquitto_subscribe(m, NULL, c->run->subject, 1);
        if (err != MOSQ_ERR_SUCCESS) conn_error(c, "subscribe", mosquitto_strerror(err));
    } else {
        conn_ready(c);
    }
}

static void on_subscribe(struct mosquitto *m, void *obj, int mid, int count, const int *granted) {
    (void)m;
    (void)mid;
    if (count < 1 || granted[0] != 1) conn_error(obj, "subscribe", "QoS 1 not granted");
    conn_ready(obj);
}

static void on_publish(struct mosquitto *m, void *obj, int mid) {
    (void)m;
    conn_acked(obj, (uint64_t)mid);
}

static void on_message(struct mosquitto *m, void *obj, const struct mosquitto_message *msg) {
    (void)m;
    conn_delivered(obj, msg->payload, (size_t)msg->payloadlen);
}

static void mqtt_open(conn *c) {
    mqtt_conn *mc = c->impl;
    char id[64];
    pthread_once(&lib_once, lib_init);
    if (!mc) {
        mc = c->impl = calloc(1, sizeof *mc);
        snprintf(id, sizeof id, "%s-%d", c->name, (int)getpid());
        mc->m = mosquitto_new(id, true, c);
        if (!mc->m) {
            conn_error(c, "mosquitto_new", "failed");
            return;
        }
        mosquitto_int_option(mc->m, MOSQ_OPT_PROTOCOL_VERSION, MQTT_PROTOCOL_V311);
        mosquitto_int_option(mc->m, MOSQ_OPT_TCP_NODELAY, 1);
        mosquitto_connect_callback_set(mc->m, on_connect);
        mosquitto_subscribe_callback_set(mc->m, on_subscribe);
        mosquitto_publish_callback_set(mc->m, on_publish);
        mosquitto_message_callback_set(mc->m, on_message);
    }
    int rc = mosquitto_connect(mc->m, c->run->host, atoi(c->run->port), KEEPALIVE_S);
    if (rc != MOSQ_ERR_SUCCESS) {
        conn_error(c, "connect", mosquitto_strerror(rc));
        return;
    }
    c->fd = mosquitto_socket(mc->m);
    fcntl(c->fd, F_SETFL, fcntl(c->fd, F_GETFL) | O_NONBLOCK);
    mc->misc_at = now_ms() + MISC_EVERY_MS;
}

static void lost_connection(conn *c, int rc) {
    conn_error(c, "connection lost", mosquitto_strerror(rc));
    mosquitto_disconnect(((mqtt_conn *)c->impl)->m);
    c->fd = -1;
    conn_not_ready(c);
}

static short mqtt_poll_events(const conn *c) {
    const mqtt_conn *mc = c->impl;
    return (short)(POLLIN | (mosquitto_want_write(mc->m) ? POLLOUT : 0));
}

static void mqtt_handle_io(conn *c, short revents) {
    mqtt_conn *mc = c->impl;
    int rc;
    if (revents & (POLLIN | POLLHUP | POLLERR)) {
        /* It reads a packet or so per call, and no further than the packet: bytes left in
         * the socket mean more packets. */
        int left = 0, reads = 0;
        do {
            rc = mosquitto_loop_read(mc->m, 1);
            if (rc != MOSQ_ERR_SUCCESS) {
                lost_connection(c, rc);
                return;
            }
        } while (++reads < 256 && ioctl(c->fd, FIONREAD, &left) == 0 && left > 0);
    }
    if (mosquitto_want_write(mc->m)) {
        rc = mosquitto_loop_write(mc->m, 1);
        if (rc != MOSQ_ERR_SUCCESS) lost_connection(c, rc);
    }
}

static uint64_t mqtt_deadline_ms(const conn *c) { return ((const mqtt_conn *)c->impl)->misc_at; }

static void mqtt_handle_timer(conn *c) {
    mqtt_conn *mc = c->impl;
    mosquitto_loop_misc(mc->m);
    mc->misc_at = now_ms() + MISC_EVERY_MS;
}

static uint64_t mqtt_publish(conn *c, uint64_t id, const uint8_t *payload, size_t len) {
    mqtt_conn *mc = c->impl;
    int mid = 0;
    (void)id;
    int rc = mosquitto_publish(mc->m, &mid, c->run->subject, (int)len, payload, 1, false);
    if (rc != MOSQ_ERR_SUCCESS) conn_error(c, "publish", mosquitto_strerror(rc));
    return (uint64_t)mid;
}

static void mqtt_flush(conn *c) {
    mqtt_conn *mc = c->impl;
    /* libmosquitto writes as it publishes; what the socket did not take waits here. */
    if (c->fd >= 0 && mosquitto_want_write(mc->m)) {
        int rc = mosquitto_loop_write(mc->m, 1);
        if (rc != MOSQ_ERR_SUCCESS) lost_connection(c, rc);
    }
}

static void mqtt_disconnect(conn *c) {
    mqtt_conn *mc = c->impl;
    if (!mc || c->fd < 0) return;
    mosquitto_disconnect(mc->m);
    c->fd = -1;
    conn_not_ready(c);
}

static void mqtt_destroy(conn *c) {
    mqtt_conn *mc = c->impl;
    if (!mc) return;
    if (mc->m) mosquitto_destroy(mc->m);
    free(mc);
    c->impl = NULL;
    c->fd = -1;
}

const system_ops mqtt_ops = {
    .name = "mqtt",
    .open = mqtt_open,
    .poll_events = mqtt_poll_events,
    .handle_io = mqtt_handle_io,
    .deadline_ms = mqtt_deadline_ms,
    .handle_timer = mqtt_handle_timer,
    .publish = mqtt_publish,
    .flush = mqtt_flush,
    .disconnect = mqtt_disconnect,
    .destroy = mqtt_destroy,
};
