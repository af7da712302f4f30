/* test_dgram.c — the child socket's channel (agent/dgram.c) over a real SOCK_SEQPACKET socketpair:
 * batches carry every message once and in order, a v1 peer gets one per datagram, a full socket
 * keeps the rest queued, a dead peer drops it, a message too large for the socket is skipped
 * alone, and a datagram with garbage after good messages yields the good ones; the codec's append
 * encoder and prefix decoder it rests on. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "dgram.h"
#include "healer/plugin.h"

static char rbuf[DGRAM_MAX];

static void pair(int sv[2], int sndbuf)
{
    assert_int_equal(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv), 0);
    if (sndbuf > 0)
        assert_int_equal(setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof sndbuf), 0);
}

static msg issue_msg(uint64_t seq, const char *summary)
{
    msg m = { .kind = MSG_ISSUE, .seq = seq, .plugin = "noop", .has_issue = 1 };
    m.issue.type = "noop_issue";
    m.issue.target = "t";
    m.issue.summary = summary;
    return m;
}

/* Reads every datagram there now; checks the messages are seq first..first+n-1 in order. Returns
 * the number of datagrams; *got the number of messages. */
static size_t drain(int fd, uint64_t first, size_t *got)
{
    dgram_in in = { .buf = rbuf };
    size_t dgrams = 0;
    for (;;) {
        long n = dgram_recv(&in, fd, MSG_DONTWAIT);
        if (n < 0) {
            assert_int_equal(errno, EAGAIN);
            return dgrams;
        }
        assert_true(n > 0);
        dgrams++;
        msg m;
        char err[160];
        int rc;
        while ((rc = dgram_next(&in, &m, err, sizeof err)) == HEALER_OK) {
            assert_int_equal(m.kind, MSG_ISSUE);
            assert_int_equal(m.seq, first + *got);
            (*got)++;
            msg_free(&m);
        }
        assert_int_equal(rc, HEALER_E_TIMEOUT);
    }
}

static void test_append_matches_encode(void **st)
{
    (void)st;
    char *buf = NULL;
    size_t len = 0, cap = 0, total = 0;
    char *one[50];
    size_t one_len[50];
    for (int i = 0; i < 50; i++) {
        msg m = issue_msg((uint64_t)i + 1, i % 7 ? "short" : "a somewhat longer summary text");
        assert_int_equal(msg_encode(&m, &one[i], &one_len[i]), 0);
        assert_int_equal(msg_encode_append(&m, &buf, &len, &cap), 0);
        total += one_len[i];
        assert_int_equal(len, total);
    }
    /* Byte for byte what fifty separate encodings would have been. */
    size_t at = 0;
    for (int i = 0; i < 50; i++) {
        assert_memory_equal(buf + at, one[i], one_len[i]);
        size_t used = 0;
        msg d;
        assert_int_equal(msg_decode_next(buf + at, len - at, &used, &d, NULL, 0), 0);
        assert_int_equal(used, one_len[i]);
        assert_int_equal(d.seq, (uint64_t)i + 1);
        msg_free(&d);
        at += one_len[i];
        free(one[i]);
    }
    /* A message the schema cannot carry leaves the buffer as it was. */
    msg bad = { .kind = (msg_kind)999 };
    assert_int_equal(msg_encode_append(&bad, &buf, &len, &cap), -1);
    assert_int_equal(errno, EINVAL);
    assert_int_equal(len, total);
    /* msg_decode still wants exactly one message. */
    msg d;
    char err[160];
    assert_int_equal(msg_decode(buf, len, &d, err, sizeof err), -1);
    assert_non_null(strstr(err, "trailing"));
    free(buf);
}

static void test_batches_in_order(void **st)
{
    (void)st;
    int sv[2];
    pair(sv, 4 << 20);
    dgram_out o = { .batch = DGRAM_BATCH_BYTES };
    for (uint64_t i = 0; i < 3000; i++) {
        msg m = issue_msg(i + 1, "x");
        assert_int_equal(dgram_queue(&o, &m), HEALER_OK);
    }
    size_t queued = dgram_pending(&o);
    assert_true(queued > DGRAM_BATCH_BYTES); /* more than one datagram's worth */
    assert_int_equal(dgram_flush(&o, sv[0], 1), HEALER_OK);
    assert_int_equal(dgram_pending(&o), 0);
    size_t got = 0, dgrams = drain(sv[1], 1, &got);
    assert_int_equal(got, 3000);
    /* Batched: far fewer datagrams than messages, none over the batch size. */
    assert_true(dgrams >= queued / DGRAM_BATCH_BYTES);
    assert_true(dgrams <= queued / DGRAM_BATCH_BYTES + 1);
    dgram_out_free(&o);
    close(sv[0]);
    close(sv[1]);
}

static void test_v1_peer_one_per_datagram(void **st)
{
    (void)st;
    int sv[2];
    pair(sv, 4 << 20);
    dgram_out o = { .batch = 0 };
    for (uint64_t i = 0; i < 100; i++) {
        msg m = issue_msg(i + 1, "x");
        assert_int_equal(dgram_queue(&o, &m), HEALER_OK);
    }
    assert_int_equal(dgram_flush(&o, sv[0], 1), HEALER_OK);
    size_t got = 0, dgrams = drain(sv[1], 1, &got);
    assert_int_equal(got, 100);
    assert_int_equal(dgrams, 100);
    dgram_out_free(&o);
    close(sv[0]);
    close(sv[1]);
}

/* A message larger than the batch size travels alone, between batches, in its place. */
static void test_large_message_alone(void **st)
{
    (void)st;
    int sv[2];
    pair(sv, 4 << 20);
    dgram_out o = { .batch = 1024 };
    char *big = malloc(3000);
    memset(big, 'b', 2999);
    big[2999] = '\0';
    for (uint64_t i = 0; i < 30; i++) {
        msg m = issue_msg(i + 1, i == 10 ? big : "x");
        assert_int_equal(dgram_queue(&o, &m), HEALER_OK);
    }
    assert_int_equal(dgram_flush(&o, sv[0], 1), HEALER_OK);
    size_t got = 0;
    drain(sv[1], 1, &got);
    assert_int_equal(got, 30);
    free(big);
    dgram_out_free(&o);
    close(sv[0]);
    close(sv[1]);
}

/* A peer that does not read: the rest stays queued, nothing is lost or sent twice, and a queue
 * that has partly gone out is compacted as more is added. */
static void test_full_socket_keeps_rest(void **st)
{
    (void)st;
    int sv[2];
    pair(sv, 8192); /* the kernel doubles it; still a few datagrams at most */
    dgram_out o = { .batch = 2048 };
    uint64_t next = 1;
    for (; next <= 2000; next++) {
        msg m = issue_msg(next, "fill the socket");
        assert_int_equal(dgram_queue(&o, &m), HEALER_OK);
    }
    assert_int_equal(dgram_flush(&o, sv[0], 1), HEALER_E_FULL);
    assert_true(dgram_pending(&o) > 0);
    size_t got = 0;
    int rounds = 0;
    for (;;) {
        drain(sv[1], 1, &got);
        /* more arrives while the first is still going out */
        if (rounds++ < 5) {
            msg m = issue_msg(next++, "later");
            assert_int_equal(dgram_queue(&o, &m), HEALER_OK);
        }
        int rc = dgram_flush(&o, sv[0], 1);
        if (rc == HEALER_OK && rounds > 5)
            break;
        assert_true(rc == HEALER_OK || rc == HEALER_E_FULL);
        assert_true(rounds < 100000);
    }
    drain(sv[1], 1, &got);
    assert_int_equal(got, next - 1);
    dgram_out_free(&o);
    close(sv[0]);
    close(sv[1]);
}

static void test_dead_peer(void **st)
{
    (void)st;
    int sv[2];
    pair(sv, 0);
    close(sv[1]);
    dgram_out o = { .batch = DGRAM_BATCH_BYTES };
    msg m = issue_msg(1, "x");
    assert_int_equal(dgram_queue(&o, &m), HEALER_OK);
    assert_int_equal(dgram_flush(&o, sv[0], 1), HEALER_E_IO);
    assert_int_equal(dgram_pending(&o), 0);
    dgram_out_free(&o);
    close(sv[0]);
}

/* A message larger than the socket's buffer can ever hold is skipped and counted; the messages
 * around it still arrive, in order. */
static void test_too_large_skipped(void **st)
{
    (void)st;
    int sv[2];
    pair(sv, 4096); /* the kernel doubles it: 8 KiB, less than the big message */
    dgram_out o = { .batch = 1024 };
    size_t bigsz = 20000;
    char *big = malloc(bigsz);
    assert_non_null(big);
    memset(big, 'b', bigsz - 1);
    big[bigsz - 1] = '\0';
    msg m1 = issue_msg(1, "before"), m2 = issue_msg(2, big), m3 = issue_msg(3, "after");
    assert_int_equal(dgram_queue(&o, &m1), HEALER_OK);
    assert_int_equal(dgram_queue(&o, &m2), HEALER_OK);
    assert_int_equal(dgram_queue(&o, &m3), HEALER_OK);
    assert_int_equal(dgram_flush(&o, sv[0], 1), HEALER_OK);
    assert_int_equal(o.dropped, 1);
    dgram_in in = { .buf = rbuf };
    msg m;
    char err[160];
    uint64_t want[] = { 1, 3 };
    for (int i = 0; i < 2; i++) {
        if (!dgram_in_pending(&in))
            assert_true(dgram_recv(&in, sv[1], MSG_DONTWAIT) > 0);
        assert_int_equal(dgram_next(&in, &m, err, sizeof err), HEALER_OK);
        assert_int_equal(m.seq, want[i]);
        msg_free(&m);
    }
    assert_int_equal(dgram_recv(&in, sv[1], MSG_DONTWAIT), -1);
    free(big);
    dgram_out_free(&o);
    close(sv[0]);
    close(sv[1]);
}

/* Good messages, then bytes that are no message: the good ones are delivered, the rest of that
 * datagram is dropped with a reason, and the next datagram is read normally. */
static void test_garbage_after_messages(void **st)
{
    (void)st;
    int sv[2];
    pair(sv, 0);
    char *buf = NULL;
    size_t len = 0, cap = 0;
    for (uint64_t i = 1; i <= 3; i++) {
        msg m = issue_msg(i, "ok");
        assert_int_equal(msg_encode_append(&m, &buf, &len, &cap), 0);
    }
    char *junk = realloc(buf, len + 4);
    assert_non_null(junk);
    buf = junk;
    memcpy(buf + len, "\xc1\x00\x01\x02", 4); /* 0xc1 is never msgpack */
    assert_int_equal(send(sv[0], buf, len + 4, 0), (ssize_t)(len + 4));
    msg m4 = issue_msg(4, "next");
    dgram_out o = { .batch = DGRAM_BATCH_BYTES };
    assert_int_equal(dgram_queue(&o, &m4), HEALER_OK);
    assert_int_equal(dgram_flush(&o, sv[0], 0), HEALER_OK);

    dgram_in in = { .buf = rbuf };
    assert_true(dgram_recv(&in, sv[1], 0) > 0);
    msg m;
    char err[160];
    for (uint64_t i = 1; i <= 3; i++) {
        assert_int_equal(dgram_next(&in, &m, err, sizeof err), HEALER_OK);
        assert_int_equal(m.seq, i);
        msg_free(&m);
    }
    assert_true(dgram_in_pending(&in));
    assert_int_equal(dgram_next(&in, &m, err, sizeof err), HEALER_E_INVAL);
    assert_non_null(strstr(err, "0xc1"));
    assert_false(dgram_in_pending(&in));
    assert_int_equal(dgram_next(&in, &m, err, sizeof err), HEALER_E_TIMEOUT);
    assert_true(dgram_recv(&in, sv[1], 0) > 0);
    assert_int_equal(dgram_next(&in, &m, err, sizeof err), HEALER_OK);
    assert_int_equal(m.seq, 4);
    msg_free(&m);
    /* the peer closing reads as 0 */
    close(sv[0]);
    assert_int_equal(dgram_recv(&in, sv[1], 0), 0);
    free(buf);
    dgram_out_free(&o);
    close(sv[1]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_append_matches_encode),
        cmocka_unit_test(test_batches_in_order),
        cmocka_unit_test(test_v1_peer_one_per_datagram),
        cmocka_unit_test(test_large_message_alone),
        cmocka_unit_test(test_full_socket_keeps_rest),
        cmocka_unit_test(test_dead_peer),
        cmocka_unit_test(test_too_large_skipped),
        cmocka_unit_test(test_garbage_after_messages),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
