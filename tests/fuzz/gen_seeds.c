/* gen_seeds.c — writes the fuzzer's seed corpus: one valid encoded message per kind, each with
 * the fields that kind uses, plus a few edge shapes (minimal, empty arrays, big numbers), so
 * libFuzzer starts from deep inside the schema instead of from random bytes. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "message.h"

static int write_seed(const char *dir, const char *name, const msg *m)
{
    char *buf;
    size_t len;
    if (msg_encode(m, &buf, &len) != 0) {
        fprintf(stderr, "gen_seeds: cannot encode %s\n", name);
        return -1;
    }
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(buf, 1, len, f) != len || fclose(f) != 0) {
        perror(path);
        free(buf);
        return -1;
    }
    free(buf);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: gen_seeds DIR\n");
        return 2;
    }
    static const msg_measure ms[] = {{"cpu_percent", 97.5}, {"load_1m", 4.0}};
    static const char *const comps[] = {"pid:123 stress-ng", "nginx.service"};
    static const msg_kv params[] = {{"pid", "123"}, {"nice", "10"}};
    static const msg_action acts[] = {
        {"cpu", "renice", "pid:123", "renice to 10", 0, 0.1, 0.8, 1, params, 2},
        {"service", "restart", "nginx.service", "restart nginx", 2, 0.6, 0.5, 0x11, NULL, 0},
    };
    static const msg_kv args[] = {{"unit", "nginx.service"}};
    int rc = 0;
    for (int k = MSG_ISSUE; k <= MSG_KIND_MAX; k++) {
        msg m;
        memset(&m, 0, sizeof m);
        m.kind = (msg_kind)k;
        m.seq = (uint64_t)k * 1000;
        m.plugin = "cpu";
        switch (k) {
        case MSG_REQUEST:
        case MSG_REPLY:
            m.from = "memory";
            m.method = "restart_unit";
            m.args = args;
            m.n_args = 1;
            m.code = -8;
            m.text = "no such unit";
            break;
        case MSG_PLAN:
        case MSG_EXECUTE:
        case MSG_VERIFY:
            m.actions = acts;
            m.n_actions = 2;
            /* fall through */
        default:
            m.has_issue = 1;
            m.issue.id = 77;
            m.issue.type = "cpu_high";
            m.issue.severity = 2;
            m.issue.target = "/";
            m.issue.summary = "CPU at 97% for 60 s";
            m.issue.plugin = "cpu";
            m.issue.time = 1712345678.5;
            m.issue.measures = ms;
            m.issue.n_measures = 2;
            m.issue.components = comps;
            m.issue.n_components = 2;
            m.code = 1;
            m.text = "healed — ok";
            m.measures = ms;
            m.n_measures = 1;
            m.duration = 0.25;
        }
        char name[32];
        snprintf(name, sizeof name, "kind-%02d-%s", k, msg_kind_name((msg_kind)k));
        rc |= write_seed(argv[1], name, &m);
    }
    msg m;
    memset(&m, 0, sizeof m);
    m.kind = MSG_STOP;
    rc |= write_seed(argv[1], "minimal", &m);
    m.kind = MSG_HEALTH;
    m.seq = UINT64_MAX;
    m.code = -2147483647 - 1;
    m.duration = -1e308;
    m.has_issue = 1;
    m.text = "";
    rc |= write_seed(argv[1], "extremes", &m);
    return rc ? 1 : 0;
}
