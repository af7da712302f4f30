/* test_config_fleet.c — healerd.conf's fleet section against careless and hostile settings:
 * names that travel to peers and into etcd keys are plain, every problem names FILE:LINE and
 * the key, and an absent section leaves the fleet off. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zmq.h>

#include "config.h"
#include "confload.h"

static char dir[64];

static int setup(void **state)
{
    (void)state;
    return confload_setup(dir, sizeof dir, "test_config_fleet");
}

static int teardown(void **state)
{
    (void)state;
    confload_teardown(dir);
    return 0;
}

static void test_defaults(void **state)
{
    (void)state;
    msgs m;
    config *c = NULL;
    assert_int_equal(confload(dir, "agent = { mode = \"dry-run\"; };\n", &m, &c), 0);
    assert_string_equal(c->fleet.node, "");
    assert_string_equal(c->fleet.group, "default");
    config_free(c);
    assert_int_equal(confload(dir, "fleet = { node = \"web-1.dc2\"; group = \"web_eu\"; };\n", &m,
                              &c), 0);
    assert_string_equal(c->fleet.node, "web-1.dc2");
    assert_string_equal(c->fleet.group, "web_eu");
    config_free(c);
}

static void test_names(void **state)
{
    (void)state;
    msgs m;
    static const char *const bad[] = {"\"\"", "\"a/b\"", "\"../x\"", "\"a b\"", "\"x\\n\"",
        "\"0123456789012345678901234567890123456789012345678901234567890123456789\"", "42"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char text[256];
        snprintf(text, sizeof text, "fleet = {\n  group = %s;\n};\n", bad[i]);
        assert_int_equal(confload(dir, text, &m, NULL), 1);
        assert_int_equal(m.line[0], 2);
        assert_non_null(strstr(m.text[0], "fleet.group"));
    }
    assert_int_equal(confload(dir, "fleet = {\n\n  nodes = \"a\";\n};\n", &m, NULL), 1);
    assert_int_equal(m.line[0], 3);
    assert_non_null(strstr(m.text[0], "fleet.nodes: unknown key (known: node, group, alerts, peers, etcd"));
    assert_int_equal(confload(dir, "fleet = 3;\n", &m, NULL), 1);
    assert_non_null(strstr(m.text[0], "fleet: expected a group"));
}

/* Writes text to DIR/name with mode. */
static void put(const char *name, const char *text, mode_t mode)
{
    char p[256];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    unlink(p);
    int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, mode);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    assert_int_equal(fchmod(fd, mode), 0);
    close(fd);
}

/* A key pair as healerd --fleet-keygen writes it: NAME.key (0600) and NAME.pub. */
static void pair(const char *name, char pub[41])
{
    char sec[41], f[64], t[64];
    assert_int_equal(zmq_curve_keypair(pub, sec), 0);
    snprintf(t, sizeof t, "%s\n", sec);
    snprintf(f, sizeof f, "%s.key", name);
    put(f, t, 0600);
    snprintf(t, sizeof t, "%s\n", pub);
    snprintf(f, sizeof f, "%s.pub", name);
    put(f, t, 0644);
}

static void test_peers(void **state)
{
    (void)state;
    msgs m;
    config *c = NULL;
    char apub[41], bpub[41], text[2048];
    pair("a", apub);
    pair("b", bpub);
    snprintf(text, sizeof text,
             "fleet = { node = \"a\"; peers = {\n"
             "  listen = \"tcp://127.0.0.1:9477\";\n"
             "  secret_key_file = \"%s/a.key\"; public_key_file = \"%s/a.pub\";\n"
             "  peer = ( { name = \"b\"; endpoint = \"tcp://10.0.0.2:9477\";\n"
             "             public_key_file = \"b.pub\"; } );\n"
             "}; };\n", dir, dir);
    int np = confload(dir, text, &m, &c);
    for (int i = 0; i < np && i < 16; i++)
        print_message("%d: %s\n", m.line[i], m.text[i]);
    assert_int_equal(np, 0);
    const fleet_peers_conf *p = &c->fleet.peers;
    assert_true(p->enabled);
    assert_string_equal(p->listen, "tcp://127.0.0.1:9477");
    assert_string_equal(p->public_key, apub);
    assert_true(p->knowledge_weight == 0.5);
    assert_true(p->interval_s == 10);
    assert_int_equal(p->n_peer, 1);
    assert_string_equal(p->peer[0].name, "b");
    assert_string_equal(p->peer[0].public_key, bpub); /* relative to the config's folder */
    config_free(c);

    /* no peers section: off */
    assert_int_equal(confload(dir, "fleet = { node = \"a\"; };\n", &m, &c), 0);
    assert_false(c->fleet.peers.enabled);
    config_free(c);
}

static void test_peers_bad(void **state)
{
    (void)state;
    msgs m;
    char apub[41], bpub[41];
    pair("a", apub);
    pair("b", bpub);
    static const struct {
        const char *body; /* line 2 of the peers group */
        const char *want;
    } bad[] = {
        {"listen = \"0.0.0.0:9477\";", "fleet.peers.listen: \"0.0.0.0:9477\" is not tcp://"},
        {"secret_key_file = \"missing.key\";", "fleet.peers.secret_key_file: cannot open"},
        {"secret_key_file = \"short.key\";", "does not hold a CURVE key (40 Z85"},
        {"secret_key_file = \"loose.key\";", "may be read by others (mode 0644)"},
        {"public_key_file = \"b.pub\";", "not the public half of secret_key_file"},
        {"knowledge_weight = -1.0;", "fleet.peers.knowledge_weight"},
        {"peer = ( { name = \"b\"; endpoint = \"tcp://h:1\"; public_key_file = \"b.pub\"; },"
         " { name = \"b\"; endpoint = \"tcp://h:2\"; public_key_file = \"b.pub\"; } );",
         "\"b\" names another peer already"},
        {"peer = ( { name = \"b c\"; endpoint = \"tcp://h:1\"; public_key_file = \"b.pub\"; } );",
         "fleet.peers.peer.[0].name: \"b c\""},
        {"peer = ( { name = \"b\"; endpoint = \"tcp://h\"; public_key_file = \"b.pub\"; } );",
         "fleet.peers.peer.[0].endpoint: \"tcp://h\" is not tcp://HOST:PORT"},
        {"peer = ( { name = \"b\"; endpoint = \"tcp://h:1\"; } );",
         "fleet.peers.peer.[0]: public_key_file is required"},
        {"peer = ( { name = \"b\"; endpoint = \"tcp://h:1\"; public_key_file = \"short.key\"; } );",
         "fleet.peers.peer.[0].public_key_file"},
        {"colour = 1;", "fleet.peers.colour: unknown key"},
    };
    put("short.key", "abc\n", 0600);
    char t[64];
    snprintf(t, sizeof t, "%s\n", apub);
    put("loose.key", t, 0644);
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char text[2048];
        int has_secret = strstr(bad[i].body, "secret_key_file") != NULL;
        int has_listen = strstr(bad[i].body, "listen") != NULL;
        snprintf(text, sizeof text, "fleet = { peers = { %s %s\n%s\n}; };\n",
                 has_listen ? "" : "listen = \"tcp://*:9477\";",
                 has_secret ? "" : "secret_key_file = \"a.key\";", bad[i].body);
        if (confload(dir, text, &m, NULL) < 1)
            fail_msg("%zu: accepted", i);
        if (m.line[0] != 2)
            fail_msg("%zu: line %d: %s", i, m.line[0], m.text[0]);
        assert_int_equal(m.line[0], 2);
        if (!strstr(m.text[0], bad[i].want))
            fail_msg("%zu: \"%s\" lacks \"%s\"", i, m.text[0], bad[i].want);
    }
    assert_int_equal(confload(dir, "fleet = { peers = {\n listen = \"tcp://*:1\"; }; };\n", &m,
                              NULL), 1);
    assert_non_null(strstr(m.text[0], "secret_key_file is required"));
}

static void test_etcd(void **state)
{
    (void)state;
    msgs m;
    config *c = NULL;
    /* absent: off, with the documented defaults ready */
    assert_int_equal(confload(dir, "fleet = { node = \"a\"; };\n", &m, &c), 0);
    assert_int_equal(c->fleet.etcd.enabled, 0);
    assert_int_equal(c->fleet.etcd.max_concurrent_risky, 2);
    assert_int_equal(c->fleet.etcd.hourly_budget, 20);
    assert_int_equal(c->fleet.etcd.timeout_ms, 500);
    assert_int_equal(c->fleet.etcd.unreachable_risky, FLEET_UNREACHABLE_WAIT);
    assert_int_equal(c->fleet.etcd.unreachable_critical, FLEET_UNREACHABLE_PROCEED);
    assert_string_equal(c->fleet.etcd.prefix, "/healerd");
    assert_string_equal(c->fleet.etcd.endpoints[0], "http://127.0.0.1:2379");
    config_free(c);
    assert_int_equal(confload(dir,
        "fleet = { etcd = { endpoints = [\"http://10.0.0.1:2379\", \"https://e2:2379\"];\n"
        "  max_concurrent_risky = 1; hourly_budget = 0; timeout_ms = 250; lease_ttl_s = 10;\n"
        "  unreachable = { risky = \"proceed\"; critical = \"wait\"; };\n"
        "  prefix = \"/ops/healerd\"; }; };\n", &m, &c), 0);
    assert_int_equal(c->fleet.etcd.enabled, 1);
    assert_int_equal((int)c->fleet.etcd.n_endpoints, 2);
    assert_string_equal(c->fleet.etcd.endpoints[1], "https://e2:2379");
    assert_int_equal(c->fleet.etcd.max_concurrent_risky, 1);
    assert_int_equal(c->fleet.etcd.hourly_budget, 0);
    assert_int_equal(c->fleet.etcd.timeout_ms, 250);
    assert_int_equal(c->fleet.etcd.lease_ttl_s, 10);
    assert_int_equal(c->fleet.etcd.unreachable_risky, FLEET_UNREACHABLE_PROCEED);
    assert_int_equal(c->fleet.etcd.unreachable_critical, FLEET_UNREACHABLE_WAIT);
    assert_string_equal(c->fleet.etcd.prefix, "/ops/healerd");
    config_free(c);
    /* each bad value: its line and its key */
    static const struct { const char *line, *want; } bad[] = {
        {"max_concurrent_risky = 0;", "fleet.etcd.max_concurrent_risky: must be between 1"},
        {"hourly_budget = -1;", "fleet.etcd.hourly_budget: must be between 0"},
        {"timeout_ms = \"fast\";", "fleet.etcd.timeout_ms: expected an integer"},
        {"endpoints = [\"127.0.0.1:2379\"];", "is not an http:// or https:// URL"},
        {"endpoints = [];", "fleet.etcd.endpoints"},
        {"prefix = \"healerd\";", "fleet.etcd.prefix: \"healerd\" must start with '/'"},
        {"prefix = \"/a/../b\";", "fleet.etcd.prefix"},
        {"prefix = \"/a/\";", "fleet.etcd.prefix"},
        {"prefix = \"/a b\";", "fleet.etcd.prefix"},
        {"unreachable = { risky = \"maybe\"; };", "fleet.etcd.unreachable.risky: expected \"wait\" or \"proceed\", got \"maybe\""},
        {"unreachable = { severe = \"wait\"; };", "fleet.etcd.unreachable.severe: unknown key (known: risky, critical)"},
        {"unreachable = 1;", "fleet.etcd.unreachable: expected a group"},
        {"slots = 3;", "fleet.etcd.slots: unknown key (known: endpoints, max_concurrent_risky"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char text[512];
        snprintf(text, sizeof text, "fleet = {\n  etcd = {\n    %s\n  };\n};\n", bad[i].line);
        assert_int_equal(confload(dir, text, &m, NULL), 1);
        assert_int_equal(m.line[0], 3);
        if (!strstr(m.text[0], bad[i].want))
            fail_msg("%s: got \"%s\"", bad[i].line, m.text[0]);
    }
    assert_int_equal(confload(dir, "fleet = {\n  etcd = 1;\n};\n", &m, NULL), 1);
    assert_non_null(strstr(m.text[0], "fleet.etcd: expected a group"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_names),
        cmocka_unit_test(test_peers),
        cmocka_unit_test(test_peers_bad),
        cmocka_unit_test(test_etcd),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
