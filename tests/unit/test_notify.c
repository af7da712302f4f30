/* test_notify.c — the notifier's pieces: the queue's bound (drop-oldest, counted), the retry
 * schedule, the Alertmanager payload and which events start and end which alert, the exec hook's
 * environment, argv without a shell, its timeout and bounded output, and the notify section's
 * validation with FILE:LINE, and that a sink that is down delays only itself. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <cmocka.h>

#include "config.h"
#include "notify.h"

static nevent *ev(notify_kind k, uint64_t heal)
{
    notify_event e = {.kind = k, .time = 1700000000.25, .heal_id = heal, .issue_id = 7,
                      .issue_type = "disk_space_low", .target = "/var", .severity = "high",
                      .plugin = "disk", .action = "vacuum", .reason = "deletes files",
                      .summary = "/var is 97% full"};
    return notify_event_copy(&e);
}

static void test_queue_drops_oldest(void **s)
{
    (void)s;
    nqueue q;
    assert_int_equal(nqueue_init(&q, 3), 0);
    for (uint64_t i = 1; i <= 5; i++)
        nqueue_push(&q, ev(NOTIFY_HEAL_FAILED, i));
    assert_int_equal(q.len, 3);
    assert_int_equal(q.dropped, 2);
    for (uint64_t want = 3; want <= 5; want++) { /* the newest three, in order */
        nevent *e = nqueue_pop(&q);
        assert_non_null(e);
        assert_int_equal(e->heal_id, want);
        notify_event_free(e);
    }
    assert_null(nqueue_pop(&q));
    nqueue_free(&q);
}

static void test_backoff_schedule(void **s)
{
    (void)s;
    const double want[] = {0, 1, 2, 4, 8, 16, 32, 60, 60};
    for (int i = 0; i < 9; i++)
        assert_float_equal(notify_backoff_delay(i, 1.0, 60.0), want[i], 1e-9);
    assert_float_equal(notify_backoff_delay(1000, 0.5, 10.0), 10.0, 1e-9); /* no overflow */
}

static void test_alert_payload_shape(void **s)
{
    (void)s;
    nalerts a = {0};
    nalert *ended = NULL;
    nevent *w = ev(NOTIFY_CONFIRMATION_WAITING, 12);
    nalert *st = nalerts_apply(&a, w, "host1", &ended);
    assert_non_null(st);
    assert_null(ended);
    json_t *p = nalerts_payload(st, 0, 1);
    assert_int_equal(json_array_size(p), 1);
    json_t *o = json_array_get(p, 0);
    json_t *l = json_object_get(o, "labels");
    assert_string_equal(json_string_value(json_object_get(l, "alertname")),
                        "HealerdConfirmationWaiting");
    assert_string_equal(json_string_value(json_object_get(l, "instance")), "host1");
    assert_string_equal(json_string_value(json_object_get(l, "issue_type")), "disk_space_low");
    assert_string_equal(json_string_value(json_object_get(l, "target")), "/var");
    assert_string_equal(json_string_value(json_object_get(l, "severity")), "high");
    assert_string_equal(json_string_value(json_object_get(l, "plugin")), "disk");
    assert_string_equal(json_string_value(json_object_get(l, "heal_id")), "12");
    assert_non_null(strstr(json_string_value(json_object_get(
                               json_object_get(o, "annotations"), "summary")),
                           "healctl confirm 12"));
    assert_string_equal(json_string_value(json_object_get(o, "startsAt")),
                        "2023-11-14T22:13:20.250Z");
    assert_null(json_object_get(o, "endsAt"));
    json_decref(p);
    /* the same condition again is the same alert, not a second one */
    assert_ptr_equal(nalerts_apply(&a, w, "host1", &ended), st);
    assert_int_equal(nalerts_count(&a), 1);
    /* heal 1's decision never ends heal 12's alert (prefix 1 vs 12) */
    nevent *other = ev(NOTIFY_PLAN_REJECTED, 1);
    assert_null(nalerts_apply(&a, other, "host1", &ended));
    assert_null(ended);
    /* a rejection ends it, sent with endsAt */
    nevent *rej = ev(NOTIFY_PLAN_REJECTED, 12);
    rej->time = 1700000060.0;
    assert_null(nalerts_apply(&a, rej, "host1", &ended));
    assert_non_null(ended);
    assert_int_equal(nalerts_count(&a), 0);
    p = nalerts_payload(ended, rej->time, 0);
    assert_string_equal(json_string_value(json_object_get(json_array_get(p, 0), "endsAt")),
                        "2023-11-14T22:14:20.000Z");
    json_decref(p);
    nalert_free_list(ended);
    notify_event_free(w);
    notify_event_free(other);
    notify_event_free(rej);
}

static void test_alert_lifecycles(void **s)
{
    (void)s;
    nalerts a = {0};
    nalert *ended = NULL;
    nevent *f = ev(NOTIFY_HEAL_FAILED, 3);
    assert_non_null(nalerts_apply(&a, f, "h", &ended));
    nevent *pf = ev(NOTIFY_PLUGIN_FAILED, 0);
    assert_non_null(nalerts_apply(&a, pf, "h", &ended));
    nevent *pa = ev(NOTIFY_PAUSED, 0);
    assert_non_null(nalerts_apply(&a, pa, "h", &ended));
    assert_int_equal(nalerts_count(&a), 3);
    /* the failed heal's issue closes: HealerdHealFailed ends */
    nevent *c = ev(NOTIFY_ISSUE_CLOSED, 0);
    nalerts_apply(&a, c, "h", &ended);
    assert_non_null(ended);
    assert_string_equal(ended->alertname, "HealerdHealFailed");
    assert_null(ended->next);
    nalert_free_list(ended);
    /* a reload (no plugin named) ends every plugin alert; resume ends the pause */
    nevent *rec = ev(NOTIFY_PLUGIN_RECOVERED, 0);
    free(rec->plugin);
    rec->plugin = NULL;
    nalerts_apply(&a, rec, "h", &ended);
    assert_non_null(ended);
    assert_string_equal(ended->alertname, "HealerdPluginFailed");
    nalert_free_list(ended);
    nevent *re = ev(NOTIFY_RESUMED, 0);
    nalerts_apply(&a, re, "h", &ended);
    assert_non_null(ended);
    assert_string_equal(ended->alertname, "HealerdPaused");
    nalert_free_list(ended);
    assert_int_equal(nalerts_count(&a), 0);
    nevent *all[] = {f, pf, pa, c, rec, re};
    for (size_t i = 0; i < 6; i++)
        notify_event_free(all[i]);
}

static const char *env_get(char **env, const char *name)
{
    size_t n = strlen(name);
    for (char **p = env; *p; p++)
        if (strncmp(*p, name, n) == 0 && (*p)[n] == '=')
            return *p + n + 1;
    return NULL;
}

static void test_exec_env(void **s)
{
    (void)s;
    nevent *e = ev(NOTIFY_CONFIRMATION_WAITING, 42);
    free(e->target);
    e->target = strdup("/var/evil\nname; rm -rf /");
    char **env = notify_event_env(e, "web1");
    assert_non_null(env);
    assert_string_equal(env_get(env, "HEALERD_EVENT"), "confirmation_waiting");
    assert_string_equal(env_get(env, "HEALERD_HEAL_ID"), "42");
    assert_string_equal(env_get(env, "HEALERD_ISSUE_TYPE"), "disk_space_low");
    assert_string_equal(env_get(env, "HEALERD_SEVERITY"), "high");
    assert_string_equal(env_get(env, "HEALERD_INSTANCE"), "web1");
    /* no raw newline reaches a hook script */
    assert_null(strchr(env_get(env, "HEALERD_TARGET"), '\n'));
    /* run it: argv directly, no shell (the target's ';' stays text) */
    char *argv[] = {"/usr/bin/env", NULL};
    char out[NOTIFY_EXEC_OUTPUT_MAX + 1];
    assert_int_equal(notify_exec_run(argv, env, 10.0, out, sizeof out), 0);
    assert_non_null(strstr(out, "HEALERD_EVENT=confirmation_waiting"));
    assert_non_null(strstr(out, "HEALERD_TARGET=/var/evil\\x0aname; rm -rf /"));
    notify_env_free(env);
    notify_event_free(e);
}

static void test_exec_timeout_and_bound(void **s)
{
    (void)s;
    char *env[] = {"PATH=/usr/bin:/bin", NULL};
    char out[64];
    char *sleeper[] = {"/bin/sleep", "30", NULL};
    /* killed with SIGKILL at its timeout */
    assert_int_equal(notify_exec_run(sleeper, env, 0.2, out, sizeof out), 128 + 9);
    char *chatty[] = {"/usr/bin/yes", NULL};
    int st = notify_exec_run(chatty, env, 0.3, out, sizeof out);
    assert_int_equal(st, 128 + 9);
    assert_int_equal(strlen(out), sizeof out - 1); /* bounded */
    char *missing[] = {"/nonexistent/hook", NULL};
    assert_int_equal(notify_exec_run(missing, env, 1.0, out, sizeof out), -1);
    assert_non_null(strstr(out, "cannot run /nonexistent/hook"));
    char *fails[] = {"/bin/false", NULL};
    assert_int_equal(notify_exec_run(fails, env, 5.0, out, sizeof out), 1);
}

static void test_event_json(void **s)
{
    (void)s;
    nevent *e = ev(NOTIFY_HEAL_FAILED, 9);
    json_t *j = notify_event_json(e, "web1");
    assert_string_equal(json_string_value(json_object_get(j, "event")), "heal_failed");
    assert_int_equal(json_integer_value(json_object_get(j, "heal_id")), 9);
    assert_string_equal(json_string_value(json_object_get(j, "instance")), "web1");
    assert_string_equal(json_string_value(json_object_get(j, "time")), "2023-11-14T22:13:20.250Z");
    assert_true(json_is_false(json_object_get(j, "dry_run")));
    json_decref(j);
    notify_event_free(e);
    for (int k = 0; k < NOTIFY_KIND_COUNT; k++)
        assert_int_equal(notify_kind_from_name(notify_kind_name((notify_kind)k)), k);
    assert_int_equal(notify_kind_from_name("bogus"), -1);
}

typedef struct seen {
    char text[4096];
} seen;
static void collect(void *ud, const char *file, int line, const char *msg)
{
    seen *s = ud;
    size_t l = strlen(s->text);
    snprintf(s->text + l, sizeof s->text - l, "%s:%d: %s\n", file, line, msg);
}

static int load_text(const char *text, config **out, seen *s)
{
    char path[] = "/tmp/test_notify_XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
    memset(s, 0, sizeof *s);
    diag d = {.emit = collect, .ud = s};
    int rc = config_load(path, out, &d);
    unlink(path);
    return rc;
}

static void test_config(void **s)
{
    (void)s;
    seen sn;
    config *c = NULL;
    assert_int_equal(load_text("notify = {\n webhook = { urls = [\"http://a:1/x\"]; };\n"
                               " alertmanager = { urls = [\"https://am\"]; resend_s = 30; };\n"
                               " exec = { argv = [\"/bin/true\", \"x\"]; timeout_s = 2.5; };\n"
                               " events = [\"heal_failed\", \"paused\"];\n queue_limit = 10;\n};\n",
                               &c, &sn), 0);
    assert_int_equal(c->notify.n_webhooks, 1);
    assert_string_equal(c->notify.alertmanagers[0], "https://am");
    assert_float_equal(c->notify.resend_s, 30, 1e-9);
    assert_string_equal(c->notify.exec_argv[1], "x");
    assert_int_equal(c->notify.queue_limit, 10);
    assert_true(c->notify.events & (1u << NOTIFY_HEAL_FAILED));
    assert_false(c->notify.events & (1u << NOTIFY_HEAL_EXECUTED));
    config_free(c);

    assert_int_not_equal(load_text("notify = {\n webhook = { urls = [\"ftp://x\"]; };\n};\n", &c,
                                   &sn), 0);
    assert_non_null(strstr(sn.text, ":2: notify.webhook.urls: \"ftp://x\" is not an http"));
    assert_int_not_equal(load_text("notify = {\n\n exec = { argv = [\"hook.sh\"]; };\n};\n", &c,
                                   &sn), 0);
    assert_non_null(strstr(sn.text, ":3: notify.exec.argv: the first element must be an absolute"));
    assert_int_not_equal(load_text("notify = { events = [\"nope\"]; };\n", &c, &sn), 0);
    assert_non_null(strstr(sn.text, ":1: notify.events: unknown event \"nope\""));
    assert_int_not_equal(load_text("notify = { retries = 1000; bogus = 1; };\n", &c, &sn), 0);
    assert_non_null(strstr(sn.text, "notify.retries: must be between 0 and 100, got 1000"));
    assert_non_null(strstr(sn.text, "notify.bogus: unknown key"));
}

/* A listener on loopback that never accepts: the kernel completes the handshake and nobody
 * ever answers, so a POST to it lasts its whole timeout. Returns the socket; *port its port. */
static int silent_listener(int *port)
{
    int ls = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    assert_int_equal(bind(ls, (struct sockaddr *)&sa, sizeof sa), 0);
    assert_int_equal(listen(ls, 16), 0);
    socklen_t sl = sizeof sa;
    getsockname(ls, (struct sockaddr *)&sa, &sl);
    *port = ntohs(sa.sin_port);
    return ls;
}

/* notify_post never waits: with no receiver answering, posting far more events than the queue
 * holds returns at once and counts the overflow. */
static void test_post_never_blocks(void **s)
{
    (void)s;
    seen sn;
    config *c = NULL;
    /* the thread sits in its first attempt (1 s) while the test posts */
    int port, ls = silent_listener(&port);
    char text[256];
    snprintf(text, sizeof text, "notify = { queue_limit = 4; timeout_s = 1; retries = 0;\n"
             " webhook = { urls = [\"http://127.0.0.1:%d/\"]; }; };\n", port);
    assert_int_equal(load_text(text, &c, &sn), 0);
    notifier *n = notify_new(c, NULL);
    assert_non_null(n);
    for (uint64_t i = 0; i < 100; i++) {
        notify_event e = {.kind = NOTIFY_HEAL_FAILED, .heal_id = i + 1, .issue_type = "t",
                          .target = "x"};
        notify_post(n, &e);
    }
    assert_true(notify_queued(n) <= 4);
    /* 100 posted, at most 4 queued and 1 taken by the thread: the rest were dropped */
    assert_true(notify_dropped(n) >= 95);
    notify_free(n, 0.0);
    config_free(c);
    close(ls);
}

/* A webhook that is down does not hold up the other sinks: each kind has its own lane. The
 * receiver never answers (its first attempt alone lasts timeout_s = 60 s); the exec hook of the
 * same event still runs (polled for up to 20 s, far below the webhook's minute). */
static void test_dead_webhook_does_not_delay_exec(void **s)
{
    (void)s;
    seen sn;
    config *c = NULL;
    int port, ls = silent_listener(&port);
    char dir[] = "/tmp/healer-notify-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char mark[96], text[512];
    snprintf(mark, sizeof mark, "%s/ran", dir);
    snprintf(text, sizeof text, "notify = { timeout_s = 60; retries = 3;\n"
             " webhook = { urls = [\"http://127.0.0.1:%d/\"]; };\n"
             " exec = { argv = [\"/usr/bin/touch\", \"%s\"]; }; };\n", port, mark);
    assert_int_equal(load_text(text, &c, &sn), 0);
    notifier *n = notify_new(c, NULL);
    assert_non_null(n);
    notify_event e = {.kind = NOTIFY_HEAL_FAILED, .heal_id = 1, .issue_type = "t", .target = "x"};
    notify_post(n, &e);
    int ran = 0;
    for (int i = 0; i < 200 && !ran; i++) {
        ran = access(mark, F_OK) == 0;
        if (!ran)
            usleep(100000);
    }
    assert_true(ran);
    notify_free(n, 0.0); /* stopping ends the webhook's wait at once: no retry */
    config_free(c);
    close(ls);
    unlink(mark);
    rmdir(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_queue_drops_oldest),
        cmocka_unit_test(test_backoff_schedule),
        cmocka_unit_test(test_alert_payload_shape),
        cmocka_unit_test(test_alert_lifecycles),
        cmocka_unit_test(test_exec_env),
        cmocka_unit_test(test_exec_timeout_and_bound),
        cmocka_unit_test(test_event_json),
        cmocka_unit_test(test_config),
        cmocka_unit_test(test_post_never_blocks),
        cmocka_unit_test(test_dead_webhook_does_not_delay_exec),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
