/* test_loader_check.c — loader_check, the verdict --check-config and a reload share: real config
 * files, a real plugin folder with the real dirwatch.so (and an ABI fixture that is refused),
 * each problem counted and reported with its file; a clean set is ready to run. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "testtmp.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "loader.h"

static char dir[1024];
static char pdir[1040];
static char problems[4096];   /* every problem callback, one per line */
static char diags[4096];      /* every diag, FILE:LINE: message, one per line */

static void on_problem(void *ud, const char *file, const char *why)
{
    (void)ud;
    size_t n = strlen(problems);
    snprintf(problems + n, sizeof problems - n, "%s: %s\n", file, why);
}

static void on_diag(void *ud, const char *file, int line, const char *m)
{
    (void)ud;
    size_t n = strlen(diags);
    snprintf(diags + n, sizeof diags - n, "%s:%d: %s\n", file, line, m);
}

static int copy_file(const char *from, const char *to)
{
    FILE *in = fopen(from, "rb"), *out = in ? fopen(to, "wb") : NULL;
    if (!out) {
        if (in)
            fclose(in);
        return -1;
    }
    char buf[65536];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, in)) > 0)
        fwrite(buf, 1, n, out);
    fclose(in);
    fclose(out);
    return chmod(to, 0755);
}

static int setup(void **state)
{
    (void)state;
    const char *build = getenv("BUILD");
    if (!build || !*build)
        return 0;
    /* Under the build tree, not /tmp: the loader refuses a plugin_dir below a directory anyone
     * may write. */
    char root[512];
    if (!test_tmp_root(build, root, sizeof root))
        return -1;
    snprintf(dir, sizeof dir, "%s", root);
    if (mkdir(dir, 0755) != 0 && errno != EEXIST)
        return -1;
    snprintf(dir, sizeof dir, "%s/healerd-lcheck.XXXXXX", root);
    if (!mkdtemp(dir) || chmod(dir, 0755) != 0)
        return -1;
    snprintf(pdir, sizeof pdir, "%s/plugins", dir);
    if (mkdir(pdir, 0755) != 0)
        return -1;
    char from[PATH_MAX], to[PATH_MAX];
    snprintf(from, sizeof from, "%s/plugins/dirwatch.so", build);
    snprintf(to, sizeof to, "%s/dirwatch.so", pdir);
    return copy_file(from, to);
}

static int teardown(void **state)
{
    (void)state;
    if (dir[0]) {
        char cmd[PATH_MAX + 16];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
        if (system(cmd) != 0)
            fprintf(stderr, "could not remove %s\n", dir);
    }
    return 0;
}

/* Writes a config for plugin folder pd with the given plugins section; loads it. */
static config *load(const char *pd, const char *plugins)
{
    char path[PATH_MAX + 16];
    snprintf(path, sizeof path, "%s/h.conf", dir);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fprintf(f, "agent = { plugin_dir = \"%s\"; state_dir = \"%s/state\"; "
               "plugin_check_owner = false; };\nplugins = {\n%s\n};\n", pd, dir, plugins);
    fclose(f);
    config *c = NULL;
    diag d = { .emit = on_diag };
    assert_int_equal(config_load(path, &c, &d), 0);
    assert_non_null(c);
    return c;
}

static int check(const config *c, plugin_set *set)
{
    problems[0] = diags[0] = '\0';
    diag d = { .emit = on_diag };
    return loader_check(c, set, &d, on_problem, NULL);
}

static void test_clean_set_is_ready(void **state)
{
    (void)state;
    if (!dir[0])
        skip();
    config *c = load(pdir, "dirwatch = { directory = \"/tmp\"; max_bytes = 5; };");
    plugin_set set;
    assert_int_equal(check(c, &set), 0);
    assert_string_equal(problems, "");
    assert_int_equal(set.n, 1);
    assert_int_equal(set.v[0].state, PLUGIN_LOADED);
    /* The default isolation is "process": the descriptor was read by a healerd-plugin child and
     * the agent never mapped the plugin (its constructors never ran here). */
    assert_int_equal(set.v[0].isolation, PLUGIN_ISOLATION_PROCESS);
    assert_null(set.v[0].dl);
    assert_string_equal(set.v[0].desc.name, "dirwatch");
    assert_non_null(set.v[0].conf);
    loader_free(&set);
    config_free(c);
    /* isolation = "thread", the opt-in: the agent maps the checked file itself. */
    c = load(pdir, "dirwatch = { directory = \"/tmp\"; isolation = \"thread\"; };");
    assert_int_equal(check(c, &set), 0);
    assert_string_equal(problems, "");
    assert_int_equal(set.n, 1);
    assert_int_equal(set.v[0].state, PLUGIN_LOADED);
    assert_int_equal(set.v[0].isolation, PLUGIN_ISOLATION_THREAD);
    assert_non_null(set.v[0].dl);
    loader_free(&set);
    config_free(c);
}

/* The one measured exception: the built-in memory plugin stays in the agent unless told otherwise
 * (its emergency kill is slower through a child); any other plugin goes to a child. */
static void test_memory_defaults_to_thread(void **state)
{
    (void)state;
    if (!dir[0])
        skip();
    char md[1100], from[PATH_MAX], to[PATH_MAX + 16];
    snprintf(md, sizeof md, "%s/mem", dir);
    assert_int_equal(mkdir(md, 0755), 0);
    snprintf(from, sizeof from, "%s/plugins/memory.so", getenv("BUILD"));
    snprintf(to, sizeof to, "%s/memory.so", md);
    assert_int_equal(copy_file(from, to), 0);
    const char *sections[] = { "memory = { };", "memory = { isolation = \"process\"; };" };
    const int want[] = { PLUGIN_ISOLATION_THREAD, PLUGIN_ISOLATION_PROCESS };
    for (int i = 0; i < 2; i++) {
        config *c = load(md, sections[i]);
        plugin_set set;
        assert_int_equal(check(c, &set), 0);
        assert_string_equal(problems, "");
        assert_int_equal(set.n, 1);
        assert_int_equal(set.v[0].state, PLUGIN_LOADED);
        assert_int_equal(set.v[0].isolation, want[i]);
        if (want[i] == PLUGIN_ISOLATION_THREAD)
            assert_non_null(set.v[0].dl);
        else
            assert_null(set.v[0].dl);
        loader_free(&set);
        config_free(c);
    }
}

static void test_unknown_key_and_wrong_type(void **state)
{
    (void)state;
    if (!dir[0])
        skip();
    config *c = load(pdir, "dirwatch = { directory = \"/tmp\";\n  no_such_key = 1; };");
    plugin_set set;
    /* the key (through diag, with its line: 4) and the refused plugin */
    assert_int_equal(check(c, &set), 2);
    assert_non_null(strstr(diags, "/h.conf:4: plugins.dirwatch.no_such_key"));
    assert_non_null(strstr(problems, "/dirwatch.so: refused: invalid settings in plugins.dirwatch"));
    assert_int_equal(set.v[0].state, PLUGIN_REFUSED);
    loader_free(&set);
    config_free(c);

    c = load(pdir, "dirwatch = { directory = \"/tmp\"; max_bytes = \"big\"; };");
    assert_int_equal(check(c, &set), 2);
    assert_non_null(strstr(diags, "plugins.dirwatch.max_bytes"));
    loader_free(&set);
    config_free(c);
}

static void test_missing_dir(void **state)
{
    (void)state;
    if (!dir[0])
        skip();
    char missing[1100];
    snprintf(missing, sizeof missing, "%s/no-such-dir", dir);
    config *c = load(missing, "");
    plugin_set set;
    assert_int_equal(check(c, &set), 1);
    char want[1400];
    snprintf(want, sizeof want, "/h.conf: cannot read plugin_dir %s\n", missing);
    assert_non_null(strstr(problems, want));
    assert_int_equal(set.n, 0);
    loader_free(&set);
    config_free(c);
}

/* As --check-config: a section of a disabled plugin is not checked (its schema is not read). */
static void test_disabled_plugin_not_checked(void **state)
{
    (void)state;
    if (!dir[0])
        skip();
    config *c = load(pdir, "dirwatch = { enabled = false; no_such_key = 1; };");
    plugin_set set;
    assert_int_equal(check(c, &set), 0);
    assert_int_equal(set.v[0].state, PLUGIN_DISABLED);
    loader_free(&set);
    config_free(c);
}

static void test_refused_file_counts(void **state)
{
    (void)state;
    const char *build = getenv("BUILD");
    if (!dir[0] || !build)
        skip();
    char from[PATH_MAX], to[PATH_MAX];
    snprintf(from, sizeof from, "%s/tests/abi/major2.so", build);
    if (access(from, R_OK) != 0)
        skip();
    snprintf(to, sizeof to, "%s/major2.so", pdir);
    assert_int_equal(copy_file(from, to), 0);
    config *c = load(pdir, "dirwatch = { directory = \"/tmp\"; };");
    plugin_set set;
    assert_int_equal(check(c, &set), 1);
    assert_non_null(strstr(problems, "/major2.so: refused: built for plugin ABI major 2"));
    loader_free(&set);
    config_free(c);
    unlink(to);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_clean_set_is_ready),
        cmocka_unit_test(test_memory_defaults_to_thread),
        cmocka_unit_test(test_unknown_key_and_wrong_type),
        cmocka_unit_test(test_missing_dir),
        cmocka_unit_test(test_disabled_plugin_not_checked),
        cmocka_unit_test(test_refused_file_counts),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
