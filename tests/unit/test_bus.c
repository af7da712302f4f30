/* test_bus.c — the ZeroMQ bus on real inproc sockets: delivery across threads in order, a full
 * queue that drops and counts without blocking, malformed and multi-part frames counted and
 * skipped, timeouts, connect-before-bind, and context termination waking a blocked reader. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <zmq.h>

#include "bus.h"
#include "healer/types.h"

static msg issue_msg(uint64_t seq)
{
    static const msg_measure ms[] = {{"cpu_percent", 97.5}};
    msg m;
    memset(&m, 0, sizeof m);
    m.kind = MSG_ISSUE;
    m.seq = seq;
    m.plugin = "cpu";
    m.has_issue = 1;
    m.issue.type = "cpu_high";
    m.issue.target = "/";
    m.issue.summary = "CPU at 97% for 60 s";
    m.issue.severity = 2;
    m.issue.measures = ms;
    m.issue.n_measures = 1;
    return m;
}

/* ---- two threads ---------------------------------------------------------------------- */

#define N_THREADED 20000

typedef struct consumer {
    bus *b;
    void *pull;
    uint64_t got;
    uint64_t out_of_order;
    uint64_t wrong_content;
} consumer;

static void *consume(void *arg)
{
    consumer *c = arg;
    while (c->got < N_THREADED) {
        msg m;
        int rc = bus_recv(c->b, c->pull, &m, 5000);
        if (rc == HEALER_E_TIMEOUT)
            break; /* the producer stalled: the main thread's asserts report it */
        if (rc != 0)
            continue;
        if (m.seq != c->got + 1)
            c->out_of_order++;
        if (m.kind != MSG_ISSUE || !m.has_issue || !m.issue.type ||
            strcmp(m.issue.type, "cpu_high") != 0 || m.issue.n_measures != 1 ||
            m.issue.measures[0].value != 97.5)
            c->wrong_content++;
        c->got++;
        msg_free(&m);
    }
    return NULL;
}

static void test_two_threads(void **state)
{
    (void)state;
    bus *b = bus_new(100);
    assert_non_null(b);
    consumer c = {.b = b};
    /* the socket is created here but used only by the consumer from now on */
    c.pull = bus_pull(b, "inproc://engine");
    assert_non_null(c.pull);
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, consume, &c), 0);

    void *push = bus_push(b, "inproc://engine");
    assert_non_null(push);
    uint64_t full = 0;
    for (uint64_t i = 1; i <= N_THREADED; i++) {
        msg m = issue_msg(i);
        int rc;
        /* a benchmark-style producer: retry what the full queue refused */
        while ((rc = bus_send(b, push, &m)) == HEALER_E_FULL) {
            full++;
            sched_yield();
        }
        assert_int_equal(rc, 0);
    }
    pthread_join(t, NULL);
    assert_int_equal(c.got, N_THREADED);
    assert_int_equal(c.out_of_order, 0);
    assert_int_equal(c.wrong_content, 0);

    bus_stats st;
    bus_get_stats(b, &st);
    assert_int_equal(st.sent, N_THREADED);
    assert_int_equal(st.received, N_THREADED);
    assert_int_equal(st.dropped, full);
    assert_int_equal(st.malformed, 0);
    bus_close(push);
    bus_close(c.pull);
    bus_free(b);
}

/* ---- a full queue ------------------------------------------------------------------- */

static void test_full_queue_drops(void **state)
{
    (void)state;
    bus *b = bus_new(10);
    assert_non_null(b);
    void *pull = bus_pull(b, "inproc://full");
    void *push = bus_push(b, "inproc://full");
    assert_non_null(pull);
    assert_non_null(push);

    /* nobody reads: if bus_send ever blocked, this loop would hang (and ctest time out) */
    int ok = 0, full = 0;
    for (int i = 0; i < 1000; i++) {
        msg m = issue_msg((uint64_t)i + 1);
        int rc = bus_send(b, push, &m);
        if (rc == HEALER_OK)
            ok++;
        else if (rc == HEALER_E_FULL)
            full++;
        else
            fail_msg("bus_send: %d", rc);
    }
    assert_true(ok > 0);
    assert_true(ok <= 40); /* SNDHWM + RCVHWM of 10, with zmq's batching slack */
    assert_int_equal(ok + full, 1000);
    bus_stats st;
    bus_get_stats(b, &st);
    assert_int_equal(st.sent, (uint64_t)ok);
    assert_int_equal(st.dropped, (uint64_t)full);

    /* what was accepted is all delivered, in order, and then the queue is empty */
    for (int i = 0; i < ok; i++) {
        msg m;
        assert_int_equal(bus_recv(b, pull, &m, 1000), 0);
        assert_int_equal(m.seq, (uint64_t)i + 1);
        msg_free(&m);
    }
    msg m;
    assert_int_equal(bus_recv(b, pull, &m, 0), HEALER_E_TIMEOUT);

    /* and space is back, once the writer has seen the reader's credit: zmq processes that
     * command on a later send (it throttles command processing to about once a ms) */
    m = issue_msg(7);
    int rc = HEALER_E_FULL;
    for (int tries = 0; tries < 5000 && rc == HEALER_E_FULL; tries++) {
        rc = bus_send(b, push, &m);
        if (rc == HEALER_E_FULL)
            usleep(1000);
    }
    assert_int_equal(rc, HEALER_OK);
    assert_int_equal(bus_recv(b, pull, &m, 1000), HEALER_OK);
    assert_int_equal(m.seq, 7);
    msg_free(&m);

    bus_close(push);
    bus_close(pull);
    bus_free(b);
}

/* ---- malformed frames --------------------------------------------------------------- */

static void test_malformed_counted_next_arrives(void **state)
{
    (void)state;
    bus *b = bus_new(100);
    void *pull = bus_pull(b, "inproc://mal");
    void *push = bus_push(b, "inproc://mal");
    assert_non_null(pull);
    assert_non_null(push);

    /* raw frames that are not schema v1 messages */
    assert_int_equal(zmq_send(push, "garbage", 7, 0), 7);
    assert_int_equal(zmq_send(push, "\x82\xa1v\x02\xa1k\x01", 7, 0), 7); /* version 2 */
    assert_int_equal(zmq_send(push, "", 0, 0), 0);
    /* a multi-part message: dropped whole, its second part must not surface later */
    assert_int_equal(zmq_send(push, "\x82\xa1v\x01\xa1k\x01", 7, ZMQ_SNDMORE), 7);
    assert_int_equal(zmq_send(push, "\x82\xa1v\x01\xa1k\x02", 7, 0), 7);
    msg good = issue_msg(99);
    assert_int_equal(bus_send(b, push, &good), 0);

    msg m;
    for (int i = 0; i < 4; i++) {
        assert_int_equal(bus_recv(b, pull, &m, 1000), HEALER_E_INVAL);
        assert_null(m.arena);
    }
    assert_int_equal(bus_recv(b, pull, &m, 1000), HEALER_OK);
    assert_int_equal(m.kind, MSG_ISSUE);
    assert_int_equal(m.seq, 99);
    assert_string_equal(m.issue.summary, "CPU at 97% for 60 s");
    msg_free(&m);
    assert_int_equal(bus_recv(b, pull, &m, 0), HEALER_E_TIMEOUT);

    bus_stats st;
    bus_get_stats(b, &st);
    assert_int_equal(st.malformed, 4);
    assert_int_equal(st.received, 1);
    assert_int_equal(st.sent, 1);

    /* a flood of garbage: each one counted (the log line is rate-limited) */
    for (int i = 0; i < 50; i++)
        assert_int_equal(zmq_send(push, "\xc1", 1, 0), 1);
    for (int i = 0; i < 50; i++)
        assert_int_equal(bus_recv(b, pull, &m, 1000), HEALER_E_INVAL);
    bus_get_stats(b, &st);
    assert_int_equal(st.malformed, 54);

    bus_close(push);
    bus_close(pull);
    bus_free(b);
}

/* ---- timeouts, ordering of bind/connect, errors -------------------------------------- */

static void test_timeouts(void **state)
{
    (void)state;
    bus *b = bus_new(10);
    void *pull = bus_pull(b, "inproc://quiet");
    assert_non_null(pull);
    msg m;
    assert_int_equal(bus_recv(b, pull, &m, 0), HEALER_E_TIMEOUT);
    assert_int_equal(bus_recv(b, pull, &m, 30), HEALER_E_TIMEOUT);
    bus_close(pull);
    bus_free(b);
}

static void test_connect_before_bind(void **state)
{
    (void)state;
    bus *b = bus_new(10);
    void *push = bus_push(b, "inproc://late");
    assert_non_null(push);
    msg m = issue_msg(5);
    assert_int_equal(bus_send(b, push, &m), HEALER_OK); /* queued before anyone binds */
    void *pull = bus_pull(b, "inproc://late");
    assert_non_null(pull);
    assert_int_equal(bus_recv(b, pull, &m, 1000), HEALER_OK);
    assert_int_equal(m.seq, 5);
    msg_free(&m);
    bus_close(push);
    bus_close(pull);
    bus_free(b);
}

static void test_errors(void **state)
{
    (void)state;
    assert_null(bus_new(0));
    assert_null(bus_new(-5));
    bus *b = bus_new(10);
    void *pull = bus_pull(b, "inproc://dup");
    assert_non_null(pull);
    assert_null(bus_pull(b, "inproc://dup"));  /* address in use */
    assert_null(bus_pull(b, "nonsense://x"));  /* unknown transport */
    assert_null(bus_push(b, NULL));
    void *push = bus_push(b, "inproc://dup");
    msg m;
    memset(&m, 0, sizeof m);
    m.kind = (msg_kind)42; /* the encoder refuses it; nothing is sent or counted */
    assert_int_equal(bus_send(b, push, &m), HEALER_E_INVAL);
    assert_int_equal(bus_send(b, push, NULL), HEALER_E_INVAL);
    assert_int_equal(bus_recv(b, pull, NULL, 0), HEALER_E_INVAL);
    bus_stats st;
    bus_get_stats(b, &st);
    assert_int_equal(st.sent + st.dropped + st.malformed, 0);
    assert_non_null(bus_zmq_context(b));
    bus_close(push);
    bus_close(pull);
    bus_close(NULL);
    bus_free(b);
    bus_free(NULL);
}

typedef struct blocked {
    bus *b;
    void *pull;
    int rc;
} blocked;

static void *wait_forever(void *arg)
{
    blocked *w = arg;
    msg m;
    w->rc = bus_recv(w->b, w->pull, &m, -1);
    bus_close(w->pull); /* lets zmq_ctx_term in bus_free finish */
    return NULL;
}

static void test_shutdown_wakes_reader(void **state)
{
    (void)state;
    bus *b = bus_new(10);
    blocked w = {.b = b, .rc = 1};
    w.pull = bus_pull(b, "inproc://forever");
    assert_non_null(w.pull);
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, wait_forever, &w), 0);
    /* the reader may or may not be inside zmq yet: either way it must see ETERM */
    assert_int_equal(zmq_ctx_shutdown(bus_zmq_context(b)), 0);
    pthread_join(t, NULL);
    assert_int_equal(w.rc, HEALER_E_IO);
    bus_free(b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_two_threads),
        cmocka_unit_test(test_full_queue_drops),
        cmocka_unit_test(test_malformed_counted_next_arrives),
        cmocka_unit_test(test_timeouts),
        cmocka_unit_test(test_connect_before_bind),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_shutdown_wakes_reader),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
