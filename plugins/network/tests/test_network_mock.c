/* test_network_mock.c — the network plugin (compiled in) through the mock host: DNS packets,
 * endpoints and resolv.conf parsing; real probes against a real UDP DNS responder and real TCP
 * listeners on loopback; plans and their actuator calls (recorded by the mock, never
 * performed: no interface or route of this machine is touched); requests to the service
 * plugin; init's refusals. The namespace tests (tests/plugins/network_*.sh) do the real healing. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sched.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <healer/mock.h>
#include "network.h"

const healer_plugin *healer_plugin_entry_v1(void);

static healer_mock *new_mock(void)
{
    healer_mock *m = healer_mock_new(NULL, NULL);
    assert_non_null(m);
    assert_int_equal(healer_mock_load(m, healer_plugin_entry_v1()), HEALER_OK);
    /* Nothing of this machine's resolvers or caches: only what a test sets. */
    const char *none[] = {"none"};
    healer_mock_set_list(m, "dns_caches", none, 1);
    healer_mock_set_string(m, "network_service", "");
    healer_mock_set_double(m, "settle_seconds", 0.3);
    healer_mock_set_double(m, "verify_window_s", 0.5);
    healer_mock_set_double(m, "verify_recheck_s", 0.2);
    /* This machine's networkd/NetworkManager state must not decide a test. */
    healer_mock_set_string(m, "networkd_links_dir", "");
    healer_mock_set_string(m, "nm_devices_dir", "");
    return m;
}

/* ---- pure parsing ---- */

static void test_dns_query(void **state)
{
    (void)state;
    unsigned char b[300];
    int n = network_dns_build_query("www.test.example", 0x1234, b, sizeof b);
    assert_int_equal(n, 12 + 1 + 3 + 1 + 4 + 1 + 7 + 1 + 4);
    assert_int_equal(b[0], 0x12);
    assert_int_equal(b[1], 0x34);
    assert_int_equal(b[2], 0x01);          /* RD */
    assert_int_equal(b[5], 1);             /* one question */
    assert_int_equal(b[12], 3);
    assert_memory_equal(b + 13, "www", 3);
    assert_int_equal(b[n - 5], 0);         /* root label */
    assert_int_equal(b[n - 3], 1);         /* type A */
    assert_int_equal(network_dns_build_query("example.com.", 1, b, sizeof b), 12 + 13 + 4);
    assert_int_equal(network_dns_build_query("a..b", 1, b, sizeof b), -1);
    assert_int_equal(network_dns_build_query("", 1, b, sizeof b), -1);
    char longlabel[80];
    memset(longlabel, 'x', 70);
    longlabel[70] = '\0';
    assert_int_equal(network_dns_build_query(longlabel, 1, b, sizeof b), -1);

    unsigned char ans[16] = {0x12, 0x34, 0x81, 0x80, 0, 1, 0, 1};
    int rcode = -1;
    assert_int_equal(network_dns_check_answer(ans, sizeof ans, 0x1234, &rcode), 1);
    assert_int_equal(network_dns_check_answer(ans, sizeof ans, 0x1235, &rcode), -1);
    ans[3] = 0x83;                         /* NXDOMAIN */
    assert_int_equal(network_dns_check_answer(ans, sizeof ans, 0x1234, &rcode), 0);
    assert_int_equal(rcode, 3);
    ans[2] = 0x01;                         /* a query, not an answer */
    assert_int_equal(network_dns_check_answer(ans, sizeof ans, 0x1234, &rcode), -1);
    assert_int_equal(network_dns_check_answer(ans, 5, 0x1234, &rcode), -1);
}

static void test_endpoints(void **state)
{
    (void)state;
    network_endpoint e;
    assert_int_equal(network_parse_endpoint("10.0.0.1:53", 0, &e), 0);
    assert_int_equal(e.sa.ss_family, AF_INET);
    assert_string_equal(e.text, "10.0.0.1:53");
    assert_int_equal(network_parse_endpoint("10.0.0.1", 53, &e), 0);
    assert_string_equal(e.text, "10.0.0.1:53");
    assert_int_equal(network_parse_endpoint("[fd00::1]:443", 0, &e), 0);
    assert_int_equal(e.sa.ss_family, AF_INET6);
    assert_string_equal(e.text, "[fd00::1]:443");
    assert_int_equal(network_parse_endpoint("::1", 53, &e), 0);
    assert_string_equal(e.text, "[::1]:53");
    assert_int_equal(network_parse_endpoint("example.com:80", 0, &e), -1);
    assert_int_equal(network_parse_endpoint("10.0.0.1:0", 0, &e), -1);
    assert_int_equal(network_parse_endpoint("10.0.0.1:70000", 0, &e), -1);
    assert_int_equal(network_parse_endpoint("10.0.0.1:x", 0, &e), -1);
    assert_int_equal(network_parse_endpoint("[fd00::1", 0, &e), -1);
    assert_int_equal(network_parse_endpoint("10.0.0.1", 0, &e), -1);  /* no port, none default */
}

static void test_resolv_conf(void **state)
{
    (void)state;
    char path[] = "/tmp/hd-net-resolv.XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    const char *text = "# comment\nsearch example\nnameserver 10.1.2.3\n  nameserver\t::1 # x\n"
                       "nameserver fe80::1%eth0\nnameservers 1.1.1.1\nnameserver bogus\n"
                       "nameserver 10.9.9.9\n";
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
    network_endpoint e[8];
    assert_int_equal(network_read_resolv_conf(path, e, 8), 3);
    assert_string_equal(e[0].text, "10.1.2.3:53");
    assert_string_equal(e[1].text, "[::1]:53");
    assert_string_equal(e[2].text, "10.9.9.9:53");
    assert_int_equal(network_read_resolv_conf(path, e, 1), 1);
    unlink(path);
    assert_int_equal(network_read_resolv_conf("/nonexistent/resolv.conf", e, 8), -1);
}

/* ---- real probes on loopback ---- */

/* A child answering DNS on 127.0.0.1:port: names starting "good" get one A record, the rest
 * NXDOMAIN. Returns its pid; *port gets the port. */
static pid_t dns_server(int *port)
{
    int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    assert_true(s >= 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    assert_int_equal(bind(s, (struct sockaddr *)&a, sizeof a), 0);
    socklen_t al = sizeof a;
    getsockname(s, (struct sockaddr *)&a, &al);
    *port = ntohs(a.sin_port);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        signal(SIGCHLD, SIG_IGN);   /* the slow answers' children reap themselves */
        for (;;) {
            unsigned char q[512];
            struct sockaddr_in from;
            socklen_t fl = sizeof from;
            ssize_t n = recvfrom(s, q, sizeof q, 0, (struct sockaddr *)&from, &fl);
            if (n < 17)
                continue;
            int slow = memcmp(q + 13, "slow", 4) == 0;
            int good = slow || memcmp(q + 13, "good", 4) == 0;
            /* answers, but slowly, without holding up the other names */
            if (slow && fork() != 0)
                continue;
            if (slow)
                usleep(300 * 1000);
            q[2] = 0x81;
            q[3] = good ? 0x80 : 0x83;
            q[7] = good ? 1 : 0;
            size_t len = (size_t)n;
            if (good) {   /* answer: pointer to the question name, A IN, ttl, 4 bytes */
                unsigned char rr[] = {0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 10, 0, 0, 7};
                memcpy(q + len, rr, sizeof rr);
                len += sizeof rr;
            }
            sendto(s, q, len, 0, (struct sockaddr *)&from, fl);
            if (slow)
                _exit(0);
        }
    }
    close(s);
    return pid;
}

static void stop_child(pid_t pid)
{
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
}

static void test_dns_probe(void **state)
{
    (void)state;
    int port;
    pid_t srv = dns_server(&port);
    char res[32];
    snprintf(res, sizeof res, "127.0.0.1:%d", port);
    healer_mock *m = new_mock();
    const char *resolvers[] = {res};
    const char *names[] = {"good.example", "bad.example"};
    healer_mock_set_list(m, "resolvers", resolvers, 1);
    healer_mock_set_list(m, "dns_names", names, 2);
    healer_mock_set_double(m, "dns_timeout", 1.0);
    assert_int_equal(healer_mock_init(m), HEALER_OK);
    assert_int_equal(healer_mock_detect(m), HEALER_OK);
    const healer_issue *is = healer_mock_last_issue(m, "dns_failure");
    assert_non_null(is);
    assert_string_equal(is->target, "dns");
    double v;
    assert_true(healer_mock_measurement(is->measurements, is->n_measurements, "dns_names_failed", &v));
    assert_true(v == 1);
    assert_int_equal(is->n_components, 1);
    assert_string_equal(is->components[0], "bad.example");
    assert_true(healer_mock_last_health(m, "dns") == 50);

    /* The bad name goes from the config: the next round resolves everything and resolves the issue. */
    network *n = healer_mock_state(m);
    free(n->dns_names[1]);
    n->n_dns_names = 1;
    healer_mock_clear(m);
    assert_int_equal(healer_mock_detect(m), HEALER_OK);
    assert_null(healer_mock_last_issue(m, "dns_failure"));
    assert_int_equal(healer_mock_resolved_count(m), 1);
    assert_string_equal(healer_mock_resolved_at(m, 0)->type, "dns_failure");

    /* Nobody listening: ICMP port unreachable fails the probe fast, not at the timeout. */
    stop_child(srv);
    healer_mock_clear(m);
    assert_int_equal(healer_mock_detect(m), HEALER_OK);
    assert_non_null(healer_mock_last_issue(m, "dns_failure"));
    assert_true(n->dns_seconds < 0.9);
    assert_int_equal(healer_mock_violations(m), 0);
    healer_mock_free(m);
}

/* A resolver that answers after 300 ms, with dns_slow_ms 150: dns_slow with the latency, never
 * dns_failure, and no action planned (the cache flush is for a dead resolver). */
static void test_dns_slow(void **state)
{
    (void)state;
    int port;
    pid_t srv = dns_server(&port);
    char res[32];
    snprintf(res, sizeof res, "127.0.0.1:%d", port);
    healer_mock *m = new_mock();
    const char *resolvers[] = {res};
    const char *names[] = {"slow.example", "good.example"};
    healer_mock_set_list(m, "resolvers", resolvers, 1);
    healer_mock_set_list(m, "dns_names", names, 2);
    healer_mock_set_double(m, "dns_timeout", 2.0);
    healer_mock_set_int(m, "dns_slow_ms", 150);
    assert_int_equal(healer_mock_init(m), HEALER_OK);
    assert_int_equal(healer_mock_detect(m), HEALER_OK);
    assert_null(healer_mock_last_issue(m, "dns_failure"));
    const healer_issue *is = healer_mock_last_issue(m, "dns_slow");
    assert_non_null(is);
    assert_int_equal(is->severity, HEALER_SEV_LOW);
    assert_int_equal(is->n_components, 1);
    assert_string_equal(is->components[0], "slow.example");
    double v;
    assert_true(healer_mock_measurement(is->measurements, is->n_measurements, "dns_latency_ms", &v));
    assert_true(v > 150);
    assert_true(healer_mock_measurement(is->measurements, is->n_measurements, "dns_names_slow", &v));
    assert_true(v == 1);
    healer_issue copy = {.type = "dns_slow", .severity = HEALER_SEV_LOW, .target = "dns",
                         .summary = "x"};
    assert_int_equal(healer_mock_plan(m, &copy), HEALER_OK);
    assert_int_equal(healer_mock_action_count(m), 0);
    /* Only the fast name left: dns_slow resolves. */
    network *n = healer_mock_state(m);
    free(n->dns_names[0]);
    n->dns_names[0] = n->dns_names[1];
    n->n_dns_names = 1;
    healer_mock_clear(m);
    assert_int_equal(healer_mock_detect(m), HEALER_OK);
    assert_null(healer_mock_last_issue(m, "dns_slow"));
    assert_int_equal(healer_mock_resolved_count(m), 1);
    assert_string_equal(healer_mock_resolved_at(m, 0)->type, "dns_slow");
    stop_child(srv);
    assert_int_equal(healer_mock_violations(m), 0);
    healer_mock_free(m);
}

static int tcp_listener(int *port)
{
    int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    assert_int_equal(bind(s, (struct sockaddr *)&a, sizeof a), 0);
    assert_int_equal(listen(s, 8), 0);
    socklen_t al = sizeof a;
    getsockname(s, (struct sockaddr *)&a, &al);
    *port = ntohs(a.sin_port);
    return s;
}

static void test_tcp_probe(void **state)
{
    (void)state;
    int p1, p2;
    int s1 = tcp_listener(&p1), s2 = tcp_listener(&p2);
    close(s2);   /* p2: nothing listens: refused */
    char t1[32], t2[32];
    snprintf(t1, sizeof t1, "127.0.0.1:%d", p1);
    snprintf(t2, sizeof t2, "127.0.0.1:%d", p2);
    const char *targets[] = {t1, t2};

    healer_mock *m = new_mock();
    healer_mock_set_list(m, "tcp_targets", targets, 2);
    healer_mock_set_bool(m, "tcp_refused_is_reachable", 0);
    healer_mock_set_int(m, "tcp_min_failed", 1);
    assert_int_equal(healer_mock_init(m), HEALER_OK);
    /* Lost after loss_lost_rounds (default 3) lost rounds in a row, not at the first. */
    for (int i = 0; i < 2; i++) {
        assert_int_equal(healer_mock_detect(m), HEALER_OK);
        assert_null(healer_mock_last_issue(m, "connectivity_lost"));
    }
    assert_int_equal(healer_mock_detect(m), HEALER_OK);
    const healer_issue *is = healer_mock_last_issue(m, "connectivity_lost");
    assert_non_null(is);
    /* Never both: lost stands alone (the window was not full for degraded anyway). */
    assert_null(healer_mock_last_issue(m, "connectivity_degraded"));
    assert_string_equal(is->components[0], t2);
    healer_mock_free(m);

    /* Default: every target must fail, and a refusal proves the path works. */
    m = new_mock();
    healer_mock_set_list(m, "tcp_targets", targets, 2);
    assert_int_equal(healer_mock_init(m), HEALER_OK);
    assert_int_equal(healer_mock_detect(m), HEALER_OK);
    assert_null(healer_mock_last_issue(m, "connectivity_lost"));
    network *n = healer_mock_state(m);
    assert_int_equal(n->tcp_ok, 2);
    assert_int_equal(healer_mock_violations(m), 0);
    healer_mock_free(m);
    close(s1);
}

/* ---- plans and actions (recorded by the mock, never performed) ---- */

static pid_t fake_dnsmasq(const char *pidfile)
{
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        prctl(PR_SET_NAME, "dnsmasq");
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        for (;;)
            pause();
    }
    FILE *f = fopen(pidfile, "w");
    assert_non_null(f);
    fprintf(f, "%d\n", (int)pid);
    fclose(f);
    for (int i = 0; i < 100; i++) {   /* until the child's comm is set */
        char p[64], comm[32] = "";
        snprintf(p, sizeof p, "/proc/%d/comm", (int)pid);
        FILE *c = fopen(p, "r");
        if (c) {
            if (!fgets(comm, sizeof comm, c))
                comm[0] = '\0';
            fclose(c);
        }
        if (strncmp(comm, "dnsmasq", 7) == 0)
            break;
        usleep(10000);
    }
    return pid;
}

static void test_flush_dnsmasq(void **state)
{
    (void)state;
    char pidfile[] = "/tmp/hd-net-dnsmasq.XXXXXX";
    int fd = mkstemp(pidfile);
    close(fd);
    pid_t pid = fake_dnsmasq(pidfile);
    healer_mock *m = new_mock();
    const char *caches[] = {"dnsmasq"};
    const char *files[] = {pidfile};
    healer_mock_set_list(m, "dns_caches", caches, 1);
    healer_mock_set_list(m, "dnsmasq_pid_files", files, 1);
    healer_mock_set_string(m, "network_service", "systemd-networkd.service");
    assert_int_equal(healer_mock_init(m), HEALER_OK);

    healer_issue is = {.type = "dns_failure", .severity = HEALER_SEV_MEDIUM, .target = "dns",
                       .summary = "x"};
    assert_int_equal(healer_mock_plan(m, &is), HEALER_OK);
    const healer_action *a = healer_mock_action(m, 0);
    assert_non_null(a);
    assert_string_equal(a->name, "flush_dns_cache");
    assert_int_equal(a->step, 0);
    assert_true(a->flags & HEALER_ACTION_SYSTEM);
    assert_false(a->flags & HEALER_ACTION_RISKY);
    const healer_action *last = healer_mock_action(m, healer_mock_action_count(m) - 1);
    assert_string_equal(last->name, "restart_network_service");

    healer_result r;
    assert_int_equal(healer_mock_execute(m, &is, a, &r), HEALER_OK);
    assert_int_equal(r.outcome, HEALER_OUTCOME_DONE);
    const healer_mock_call *c = healer_mock_last_call(m, HEALER_MOCK_ACT_SIGNAL);
    assert_non_null(c);
    assert_int_equal(c->pid, pid);
    assert_int_equal(c->sig, SIGHUP);

    healer_mock_set_dry_run(m, 1);
    assert_int_equal(healer_mock_execute(m, &is, a, &r), HEALER_OK);
    assert_int_equal(r.outcome, HEALER_OUTCOME_DRY_RUN);

    /* The dnsmasq is gone: nothing to flush, so the action is not offered. */
    stop_child(pid);
    healer_mock_clear(m);
    assert_int_equal(healer_mock_plan(m, &is), HEALER_OK);
    for (size_t i = 0; i < healer_mock_action_count(m); i++)
        assert_string_not_equal(healer_mock_action(m, i)->name, "flush_dns_cache");
    assert_int_equal(healer_mock_violations(m), 0);
    healer_mock_free(m);
    unlink(pidfile);
}

static void test_interface_restart_recorded(void **state)
{
    (void)state;
    healer_mock *m = new_mock();
    const char *ifs[] = {"lo"};
    healer_mock_set_list(m, "interfaces", ifs, 1);
    assert_int_equal(healer_mock_init(m), HEALER_OK);
    healer_issue is = {.type = "network_down", .severity = HEALER_SEV_HIGH, .target = "lo",
                       .summary = "x"};
    assert_int_equal(healer_mock_plan(m, &is), HEALER_OK);
    assert_int_equal(healer_mock_action_count(m), 1);   /* no network_service configured */
    const healer_action *a = healer_mock_action(m, 0);
    assert_string_equal(a->name, "restart_interface");
    assert_string_equal(healer_mock_action_param(a, "dev"), "lo");
    /* Dry-run: the mock records the commands; nothing runs (and the mock never runs any). */
    healer_mock_set_dry_run(m, 1);
    healer_result r;
    assert_int_equal(healer_mock_execute(m, &is, a, &r), HEALER_OK);
    assert_int_equal(r.outcome, HEALER_OUTCOME_DRY_RUN);
    size_t runs = 0;
    const char *want[] = {"ip link set dev lo down", "ip link set dev lo up"};
    for (size_t i = 0; i < healer_mock_call_count(m); i++) {
        const healer_mock_call *c = healer_mock_call_at(m, i);
        if (c->act != HEALER_MOCK_ACT_RUN)
            continue;
        char line[128] = "";
        for (size_t k = 0; k < c->argc; k++)
            snprintf(line + strlen(line), sizeof line - strlen(line), "%s%s", k ? " " : "",
                     c->argv[k]);
        if (runs < 2)
            assert_string_equal(line, want[runs]);
        assert_string_equal(c->callback, "execute");
        runs++;
    }
    assert_int_equal(runs, 2);
    healer_verdict v;
    assert_int_equal(healer_mock_verify(m, &is, a, &v), HEALER_OK);
    assert_int_equal(v.healed, 1);                      /* lo really is up */
    assert_int_equal(healer_mock_violations(m), 0);
    healer_mock_free(m);
}

static void test_route_reset_recorded(void **state)
{
    (void)state;
    healer_mock *m = new_mock();
    healer_mock_set_string(m, "default_gateway", "192.0.2.254");
    healer_mock_set_string(m, "default_interface", "lo");
    healer_mock_set_int(m, "default_metric", 50);
    assert_int_equal(healer_mock_init(m), HEALER_OK);
    healer_issue is = {.type = "route_missing", .severity = HEALER_SEV_CRITICAL,
                       .target = "default", .summary = "x"};
    assert_int_equal(healer_mock_plan(m, &is), HEALER_OK);
    const healer_action *a = healer_mock_action(m, 0);
    assert_non_null(a);
    assert_string_equal(a->name, "reset_routes");
    assert_string_equal(healer_mock_action_param(a, "family"), "4");
    assert_non_null(strstr(a->description, "via 192.0.2.254 dev lo metric 50"));
    /* lo is up and running: no interface restart for a missing route */
    assert_null(healer_mock_action(m, 1));
    healer_mock_set_dry_run(m, 1);
    healer_result r;
    assert_int_equal(healer_mock_execute(m, &is, a, &r), HEALER_OK);
    assert_int_equal(r.outcome, HEALER_OUTCOME_DRY_RUN);
    const healer_mock_call *c = healer_mock_last_call(m, HEALER_MOCK_ACT_RUN);
    assert_non_null(c);
    const char *want[] = {"ip", "route", "replace", "default", "via", "192.0.2.254", "dev", "lo",
                          "metric", "50"};
    assert_int_equal(c->argc, 10);
    for (size_t k = 0; k < 10; k++)
        assert_string_equal(c->argv[k], want[k]);
    assert_int_equal(healer_mock_violations(m), 0);
    healer_mock_free(m);
}

static int reply_ok(void *ud, const char *plugin, const char *method, const healer_kv *args,
                    size_t n_args, double timeout_s, healer_reply *reply)
{
    (void)ud;
    (void)timeout_s;
    assert_string_equal(plugin, "service");
    assert_string_equal(method, "restart");
    assert_int_equal(n_args, 1);
    assert_string_equal(args[0].key, "unit");
    snprintf(reply->message, sizeof reply->message, "restarted %s", args[0].value);
    return HEALER_OK;
}

static void test_service_request(void **state)
{
    (void)state;
    healer_mock *m = new_mock();
    healer_mock_set_string(m, "network_service", "systemd-networkd.service");
    assert_int_equal(healer_mock_init(m), HEALER_OK);
    healer_issue is = {.type = "network_down", .severity = HEALER_SEV_HIGH,
                       .target = "no-such-if0", .summary = "x"};
    assert_int_equal(healer_mock_plan(m, &is), HEALER_OK);
    assert_int_equal(healer_mock_action_count(m), 1);   /* no such interface to restart */
    const healer_action *a = healer_mock_action(m, 0);
    assert_string_equal(a->name, "restart_network_service");
    healer_result r;
    /* No service plugin: the reply says so, the action fails. */
    assert_int_equal(healer_mock_execute(m, &is, a, &r), HEALER_OK);
    assert_int_equal(r.outcome, HEALER_OUTCOME_FAILED);
    assert_non_null(strstr(r.message, "systemd-networkd.service"));
    healer_mock_set_request_handler(m, reply_ok, NULL);
    assert_int_equal(healer_mock_execute(m, &is, a, &r), HEALER_OK);
    assert_int_equal(r.outcome, HEALER_OUTCOME_DONE);
    assert_non_null(strstr(r.message, "restarted systemd-networkd.service"));
    /* Dry-run: not even asked. */
    size_t before = healer_mock_request_count(m);
    healer_mock_set_dry_run(m, 1);
    assert_int_equal(healer_mock_execute(m, &is, a, &r), HEALER_OK);
    assert_int_equal(r.outcome, HEALER_OUTCOME_DRY_RUN);
    assert_int_equal(healer_mock_request_count(m), before);
    assert_int_equal(healer_mock_violations(m), 0);
    healer_mock_free(m);
}

static void test_init_refusals(void **state)
{
    (void)state;
    struct {
        const char *key, *value;
    } bad[] = {
        {"tcp_targets", "example.com:80"},
        {"tcp_targets", "10.0.0.1"},
        {"resolvers", "dns.example"},
        {"dns_names", "a..b"},
        {"interfaces", "an-interface-name-too-long"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        healer_mock *m = new_mock();
        healer_mock_set_list(m, bad[i].key, &bad[i].value, 1);
        assert_int_equal(healer_mock_init(m), HEALER_E_INVAL);
        assert_true(healer_mock_log_find(m, HEALER_LOG_ERROR, bad[i].key) >= 0);
        healer_mock_free(m);
    }
    healer_mock *m = new_mock();
    healer_mock_set_string(m, "default_gateway", "192.0.2.1");
    assert_int_equal(healer_mock_init(m), HEALER_E_INVAL);   /* interface missing */
    healer_mock_free(m);
    /* The closing threshold must be below the opening one: the message names both values. */
    m = new_mock();
    healer_mock_set_int(m, "loss_degraded_percent", 15);
    healer_mock_set_int(m, "loss_clear_percent", 15);
    assert_int_equal(healer_mock_init(m), HEALER_E_INVAL);
    assert_true(healer_mock_log_find(m, HEALER_LOG_ERROR, "loss_clear_percent (15) must be below "
                                     "loss_degraded_percent (15)") >= 0);
    healer_mock_free(m);
}

static void test_netlink_state(void **state)
{
    (void)state;
    healer_mock *m = new_mock();
    assert_int_equal(healer_mock_init(m), HEALER_OK);
    network *n = healer_mock_state(m);
    network_link *lo = network_link_by_name(n, "lo");
    assert_non_null(lo);
    assert_true(network_link_ok(lo));
    assert_true(network_link_addr_count(n, lo->ifindex) >= 1);
    assert_int_equal(healer_mock_watched_fds(m), 2);   /* rtnetlink events, re-publish timer */
    /* Nothing wrong here: detect publishes nothing about lo (never watched automatically). */
    assert_int_equal(healer_mock_detect(m), HEALER_OK);
    assert_null(healer_mock_last_issue(m, "network_down"));
    assert_int_equal(healer_mock_fire_fd(m, n->ev_fd, POLLIN), HEALER_OK);
    assert_int_equal(healer_mock_violations(m), 0);
    healer_mock_free(m);
}

/* ---- default routes, in a network namespace of the test's own (never the machine's) ---- */

/* Runs `ip ARGS` (ARGS split at spaces, no shell) in this namespace; fails the test on a
 * non-zero exit, or after 10 s (the child is killed). */
static void ip_cmd(const char *args)
{
    char buf[512], *argv[40] = {"ip"};
    size_t n = 1;
    snprintf(buf, sizeof buf, "%s", args);
    for (char *save = NULL, *t = strtok_r(buf, " ", &save); t && n < 39;
         t = strtok_r(NULL, " ", &save))
        argv[n++] = t;
    argv[n] = NULL;
    pid_t pid = fork();
    if (pid < 0)
        fail_msg("ip %s: fork failed", args);
    if (pid == 0) {
        execvp("ip", argv);
        _exit(127);
    }
    int st = 0;
    for (int k = 0; k < 1000 && waitpid(pid, &st, WNOHANG) == 0; k++)
        usleep(10 * 1000);
    if (waitpid(pid, &st, WNOHANG) == 0) {
        kill(pid, SIGKILL);
        waitpid(pid, &st, 0);
        fail_msg("ip %s: still running after 10 s", args);
    }
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
        fail_msg("ip %s: exit status %d", args, st);
}

static const char *run_line(const healer_mock_call *c, char *line, size_t len)
{
    line[0] = '\0';
    for (size_t k = 0; k < c->argc; k++)
        snprintf(line + strlen(line), len - strlen(line), "%s%s", k ? " " : "", c->argv[k]);
    return line;
}

/* The body, in a child that unshared its network namespace. Two default routes (metric 100 with
 * proto dhcp, src and mtu; metric 200 static); losing the first restores exactly it, with every
 * attribute, and never touches the backup; an expired window and a managed link mean no action. */
static void routes_in_netns(void)
{
    ip_cmd("link add v0 type veth peer name v1");
    ip_cmd("link set lo up");
    ip_cmd("addr add 10.9.0.1/24 dev v0");
    ip_cmd("addr add 10.9.1.1/24 dev v0");
    ip_cmd("link set v0 up");
    ip_cmd("link set v1 up");
    ip_cmd("route add default via 10.9.0.2 dev v0 proto dhcp src 10.9.1.1 metric 100 mtu 1400");
    ip_cmd("route add default via 10.9.0.3 dev v0 proto static metric 200");
    healer_mock *m = new_mock();
    assert_int_equal(healer_mock_init(m), HEALER_OK);
    assert_int_equal(healer_mock_detect(m), HEALER_OK);
    assert_null(healer_mock_last_issue(m, "route_missing"));
    network *n = healer_mock_state(m);
    assert_int_equal(n->n_good, 2);

    ip_cmd("route del default via 10.9.0.2 dev v0 metric 100");
    healer_mock_clear(m);
    assert_int_equal(healer_mock_detect(m), HEALER_OK);
    const healer_issue *is = healer_mock_last_issue(m, "route_missing");
    assert_non_null(is);
    assert_int_equal(is->severity, HEALER_SEV_MEDIUM);   /* the backup still carries traffic */
    healer_issue copy = {.type = "route_missing", .severity = HEALER_SEV_MEDIUM,
                         .target = "default", .summary = "x"};
    assert_int_equal(healer_mock_plan(m, &copy), HEALER_OK);
    const healer_action *a = healer_mock_action(m, 0);
    assert_non_null(a);
    assert_string_equal(a->name, "reset_routes");
    healer_result r;
    assert_int_equal(healer_mock_execute(m, &copy, a, &r), HEALER_OK);
    char line[256];
    size_t runs = 0;
    for (size_t i = 0; i < healer_mock_call_count(m); i++) {
        const healer_mock_call *c = healer_mock_call_at(m, i);
        if (c->act != HEALER_MOCK_ACT_RUN)
            continue;
        runs++;
        assert_string_equal(run_line(c, line, sizeof line),
                            "ip route replace default via 10.9.0.2 dev v0 metric 100 proto 16 "
                            "src 10.9.1.1 mtu 1400");
    }
    assert_int_equal(runs, 1);   /* no `ip route del` of the backup */
    /* A link's heal and a route's heal verifying at once (the engine interleaves their
     * rechecks): each keeps its own window and both reach a verdict. With one window shared,
     * every look of one restarted the other's and neither ever ended. */
    {
        healer_issue vd = {.id = 41, .type = "network_down", .severity = HEALER_SEV_HIGH,
                           .target = "v0", .summary = "x"};
        healer_issue vr = {.id = 42, .type = "route_missing", .severity = HEALER_SEV_MEDIUM,
                           .target = "default", .summary = "x"};
        healer_verdict v1, v2;
        int done1 = 0, done2 = 0, healed1 = 0, healed2 = 0, looks = 0;
        for (; looks < 200 && !(done1 && done2); looks++) {
            if (!done1) {
                memset(&v1, 0, sizeof v1);
                assert_int_equal(healer_mock_verify(m, &vd, a, &v1), HEALER_OK);
                if (!(v1.recheck_after_s > 0)) {
                    done1 = 1;
                    healed1 = v1.healed;
                }
            }
            if (!done2) {
                memset(&v2, 0, sizeof v2);
                assert_int_equal(healer_mock_verify(m, &vr, a, &v2), HEALER_OK);
                if (!(v2.recheck_after_s > 0)) {
                    done2 = 1;
                    healed2 = v2.healed;
                }
            }
            usleep(100 * 1000);
        }
        assert_true(done1 && done2);
        assert_true(healed1);    /* v0 stayed up through verify_window_s */
        assert_false(healed2);   /* the route is still missing (the mock ran nothing) */
    }
    /* The mock performs nothing: do what the command says, and the issue clears. */
    ip_cmd("route replace default via 10.9.0.2 dev v0 metric 100 proto 16 src 10.9.1.1 mtu 1400");
    healer_mock_clear(m);
    assert_int_equal(healer_mock_detect(m), HEALER_OK);
    assert_null(healer_mock_last_issue(m, "route_missing"));
    assert_int_equal(healer_mock_resolved_count(m), 1);
    healer_mock_free(m);

    /* Gone for longer than route_restore_window_s: taken as intended, nothing planned. */
    m = new_mock();
    healer_mock_set_double(m, "route_restore_window_s", 0.2);
    assert_int_equal(healer_mock_init(m), HEALER_OK);
    assert_int_equal(healer_mock_detect(m), HEALER_OK);
    ip_cmd("route del default via 10.9.0.3 dev v0 metric 200");
    assert_int_equal(healer_mock_detect(m), HEALER_OK);
    assert_non_null(healer_mock_last_issue(m, "route_missing"));
    usleep(400 * 1000);
    healer_mock_clear(m);
    assert_int_equal(healer_mock_detect(m), HEALER_OK);
    assert_null(healer_mock_last_issue(m, "route_missing"));
    assert_int_equal(healer_mock_resolved_count(m), 1);
    healer_issue c6 = {.type = "route_missing", .severity = HEALER_SEV_MEDIUM,
                       .target = "default", .summary = "x"};
    assert_int_equal(healer_mock_plan(m, &c6), HEALER_OK);
    assert_int_equal(healer_mock_action_count(m), 0);
    healer_mock_free(m);

    /* systemd-networkd manages v0 (its state file says so): the issue says it defers, no action
     * touches the link or its routes. */
    char dir[] = "/tmp/hd-networkd-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char path[128];
    snprintf(path, sizeof path, "%s/%u", dir, if_nametoindex("v0"));
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs("# This is private data. Do not parse.\nADMIN_STATE=configured\nOPER_STATE=routable\n", f);
    fclose(f);
    m = new_mock();
    healer_mock_set_string(m, "networkd_links_dir", dir);
    assert_int_equal(healer_mock_init(m), HEALER_OK);
    assert_int_equal(healer_mock_detect(m), HEALER_OK);
    ip_cmd("route del default via 10.9.0.2 dev v0 metric 100");
    assert_int_equal(healer_mock_detect(m), HEALER_OK);
    is = healer_mock_last_issue(m, "route_missing");
    assert_non_null(is);
    assert_non_null(strstr(is->summary, "managed by systemd-networkd"));
    assert_int_equal(healer_mock_plan(m, &copy), HEALER_OK);
    assert_int_equal(healer_mock_action_count(m), 0);
    healer_issue down = {.type = "network_down", .severity = HEALER_SEV_HIGH, .target = "v0",
                         .summary = "x"};
    assert_int_equal(healer_mock_plan(m, &down), HEALER_OK);
    assert_int_equal(healer_mock_action_count(m), 0);
    assert_int_equal(healer_mock_violations(m), 0);
    healer_mock_free(m);
    unlink(path);
    rmdir(dir);
}

/* Which remembered routes still carry traffic decides route_missing's severity. */
static network_route rt(const char *gw, long long metric)
{
    network_route r;
    memset(&r, 0, sizeof r);
    r.family = AF_INET;
    r.oif = 2;
    snprintf(r.dev, sizeof r.dev, "eth0");
    snprintf(r.gw, sizeof r.gw, "%s", gw);
    r.metric = metric;
    return r;
}

static void test_route_carrying(void **state)
{
    (void)state;
    network *n = calloc(1, sizeof *n);
    assert_non_null(n);
    n->good[0] = rt("10.0.0.1", 100);
    n->good[1] = rt("10.0.0.2", 200);
    n->n_good = 2;
    /* The primary deleted: the backup is the preferred route and carries traffic. */
    n->routes[0] = rt("10.0.0.2", 200);
    n->n_routes = 1;
    assert_int_equal(network_routes_carrying(n, AF_INET), 1);
    /* A wrong gateway took the primary's slot: everything goes to it, the backup behind it
     * carries nothing. */
    n->routes[1] = rt("10.0.0.99", 100);
    n->n_routes = 2;
    assert_int_equal(network_routes_carrying(n, AF_INET), 0);
    /* A route without a metric (0) is preferred over every one with a metric. */
    n->routes[1] = rt("10.0.0.99", -1);
    assert_int_equal(network_routes_carrying(n, AF_INET), 0);
    /* Only the backup again, but every TCP target failed in the last round: nothing carries. */
    n->n_routes = 1;
    n->n_targets = 1;
    n->tcp_probed = 1;
    n->tcp_ok = 0;
    assert_int_equal(network_routes_carrying(n, AF_INET), 0);
    n->tcp_ok = 1;
    assert_int_equal(network_routes_carrying(n, AF_INET), 1);
    /* No route at all. */
    n->n_routes = 0;
    assert_int_equal(network_routes_carrying(n, AF_INET), 0);
    free(n);
}

static void test_routes_netns(void **state)
{
    (void)state;
    if (geteuid() != 0) {
        skip();
        return;
    }
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        if (unshare(CLONE_NEWNET) != 0)
            _exit(77);
        routes_in_netns();
        _exit(0);
    }
    int st = 0;
    assert_int_equal(waitpid(pid, &st, 0), pid);
    assert_true(WIFEXITED(st));
    assert_int_equal(WEXITSTATUS(st), 0);
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_dns_query),
        cmocka_unit_test(test_endpoints),
        cmocka_unit_test(test_resolv_conf),
        cmocka_unit_test(test_dns_probe),
        cmocka_unit_test(test_dns_slow),
        cmocka_unit_test(test_routes_netns),
        cmocka_unit_test(test_route_carrying),
        cmocka_unit_test(test_tcp_probe),
        cmocka_unit_test(test_flush_dnsmasq),
        cmocka_unit_test(test_interface_restart_recorded),
        cmocka_unit_test(test_route_reset_recorded),
        cmocka_unit_test(test_service_request),
        cmocka_unit_test(test_init_refusals),
        cmocka_unit_test(test_netlink_state),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
