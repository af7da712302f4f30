/* test_config_http.c — healerd.conf's http keys against hostile or careless settings: a listen
 * address off the host is an error (FILE:LINE, naming the keys) unless http.allow_remote and a
 * token are both there; http.allowed_hosts takes names and addresses, never ports or junk. */
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "config.h"
#include "confload.h"

static char dir[64];

static int load(const char *text, msgs *m, config **out)
{
    return confload(dir, text, m, out);
}

static int setup(void **state)
{
    (void)state;
    return confload_setup(dir, sizeof dir, "test_config_http");
}

static int teardown(void **state)
{
    (void)state;
    confload_teardown(dir);
    return 0;
}

static void test_remote_listen(void **state)
{
    (void)state;
    char tok[128], empty[128], text[1024];
    snprintf(tok, sizeof tok, "%s/token", dir);
    snprintf(empty, sizeof empty, "%s/empty", dir);
    FILE *f = fopen(tok, "w");
    fputs("abc\n", f);
    fclose(f);
    fclose(fopen(empty, "w"));
    msgs m;

    /* The case: the whole network, no token, nothing said. */
    snprintf(text, sizeof text, "http = {\n  token_file = \"\";\n  listen = \"0.0.0.0:9191\";\n};\n");
    assert_int_equal(load(text, &m, NULL), 1);
    assert_int_equal(m.line[0], 3);
    assert_non_null(strstr(m.text[0], "http.listen"));
    assert_non_null(strstr(m.text[0], "http.allow_remote"));
    /* A token alone is not enough: serving the network is said in so many words. */
    snprintf(text, sizeof text, "http = {\n  listen = \"[::]:9191\";\n  token_file = \"%s\";\n};\n",
             tok);
    assert_int_equal(load(text, &m, NULL), 1);
    assert_int_equal(m.line[0], 2);
    assert_non_null(strstr(m.text[0], "allow_remote = true"));
    /* allow_remote without a token. */
    snprintf(text, sizeof text, "http = {\n  listen = \"10.1.2.3:9191\";\n  allow_remote = true;\n"
             "  token_file = \"\";\n};\n");
    assert_int_equal(load(text, &m, NULL), 1);
    assert_non_null(strstr(m.text[0], "http.token_file is empty"));
    snprintf(text, sizeof text, "http = {\n  listen = \"10.1.2.3:9191\";\n  allow_remote = true;\n"
             "  token_file = \"%s\";\n};\n", empty);
    assert_int_equal(load(text, &m, NULL), 1);
    assert_non_null(strstr(m.text[0], "is empty"));
    snprintf(text, sizeof text, "http = {\n  listen = \"10.1.2.3:9191\";\n  allow_remote = true;\n"
             "  token_file = \"%s/missing\";\n};\n", dir);
    assert_int_equal(load(text, &m, NULL), 1);
    assert_non_null(strstr(m.text[0], "No such file"));
    /* Both: accepted. */
    config *c = NULL;
    snprintf(text, sizeof text, "http = {\n  listen = \"0.0.0.0:9191\";\n  allow_remote = true;\n"
             "  token_file = \"%s\";\n};\n", tok);
    assert_int_equal(load(text, &m, &c), 0);
    assert_non_null(c);
    assert_int_equal(c->http_allow_remote, 1);
    config_free(c);
    /* Loopback needs neither; allow_remote is not a type error either way. */
    static const char *const local[] = {"127.0.0.1:9191", "127.8.0.1:1", "[::1]:9191", ""};
    for (size_t i = 0; i < sizeof local / sizeof local[0]; i++) {
        snprintf(text, sizeof text, "http = { listen = \"%s\"; token_file = \"\"; };\n", local[i]);
        assert_int_equal(load(text, &m, NULL), 0);
    }
    assert_int_equal(load("http = { allow_remote = 1; };\n", &m, NULL), 1);
    assert_non_null(strstr(m.text[0], "expected a bool"));
}

static void test_allowed_hosts(void **state)
{
    (void)state;
    msgs m;
    config *c = NULL;
    assert_int_equal(load("http = { allowed_hosts = [\"healer.example\", \"10.0.0.5\", "
                          "\"[fd00::1]\", \"fd00::2\"]; };\n", &m, &c), 0);
    assert_int_equal(c->n_http_allowed_hosts, 4);
    assert_string_equal(c->http_allowed_hosts[0], "healer.example");
    assert_string_equal(c->http_allowed_hosts[2], "[fd00::1]");
    config_free(c);
    assert_int_equal(load("http = {};\n", &m, &c), 0);
    assert_int_equal(c->n_http_allowed_hosts, 0);
    config_free(c);
    static const char *const bad[] = {"\"healer.example:9191\"", "\"\"", "\"a b\"", "\"*\"",
                                      "\"[fd00::1]:80\"", "\"evil/x\""};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char text[256];
        snprintf(text, sizeof text, "http = {\n  allowed_hosts = [\"ok\", %s];\n};\n", bad[i]);
        int n = load(text, &m, NULL);
        if (n != 1)
            fprintf(stderr, "%s: %d problems\n", bad[i], n);
        assert_int_equal(n, 1);
        assert_int_equal(m.line[0], 2);
        assert_non_null(strstr(m.text[0], "http.allowed_hosts[1]"));
    }
    assert_int_equal(load("http = { allowed_hosts = \"x\"; };\n", &m, NULL), 1);
    assert_int_equal(load("http = { allowed_hosts = (\"x\", 42); };\n", &m, NULL), 1);
    assert_non_null(strstr(m.text[0], "http.allowed_hosts[1]: expected a string"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_remote_listen),
        cmocka_unit_test(test_allowed_hosts),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
