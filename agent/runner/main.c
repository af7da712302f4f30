/* main.c — healerd-plugin: runs one plugin for the agent in a process of its own, so that a
 * plugin that crashes, exits or hangs takes only this process down. The agent starts it with the
 * socketpair and the checked plugin file as inherited descriptors (sdk/docs/child-protocol.md):
 *   healerd-plugin --sock N --plugin-fd M        run the plugin
 *   healerd-plugin --describe --plugin-fd M      print its descriptor as JSON (--check-config)
 * With --exec PATH the file is a program (plugins.<name>.exec): this process confines itself
 * the same way and then executes it (fexecve of M; no_new_privs, seccomp, Landlock, the uid and
 * the cgroup survive execve), as PATH --sock N or PATH --describe. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "clock.h"
#include "confine.h"
#include "log.h"
#include "runner.h"

extern char **environ;

static int usage(void)
{
    fprintf(stderr, "usage: healerd-plugin --sock FD --plugin-fd FD [--state-dir DIR | --no-confine]\n"
                    "                      [--inspect-processes] [--local-sockets] [--exec PATH]\n"
                    "       healerd-plugin --describe --plugin-fd FD [--exec PATH]\n"
                    "Started by healerd for plugins with isolation = \"process\"; not for "
                    "direct use.\n");
    return 2;
}

static int describe(runner *r, int pfd)
{
    char why[512];
    if (runner_load(r, pfd, 1, why, sizeof why) < 0) {
        printf("%s\n", why); /* the agent's loader reads the reason here */
        return 3;
    }
    json_t *o = runner_describe(&r->desc);
    char *s = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    if (!s)
        return 1;
    printf("%s\n", s);
    free(s);
    return 0;
}

/* A string that is not UTF-8 comes as {"bytes": "<hex>"} (proxy_spawn.c): back to its bytes.
 * Anything else that is not a string stays what it was (the plugin's type check names it). */
static json_t *bytes_of(json_t *o)
{
    const char *hex = json_string_value(json_object_get(o, "bytes"));
    size_t n = hex ? strlen(hex) : 0;
    char *b = hex && n % 2 == 0 ? malloc(n / 2 + 1) : NULL;
    if (!b)
        return json_incref(o);
    for (size_t i = 0; i < n / 2; i++) {
        unsigned v;
        if (sscanf(hex + 2 * i, "%2x", &v) != 1 || v == 0) {
            free(b);
            return json_incref(o);
        }
        b[i] = (char)v;
    }
    json_t *j = json_stringn_nocheck(b, n / 2);
    free(b);
    return j ? j : json_incref(o);
}

static void bytes_unwrap(json_t *parent, const char *key)
{
    json_t *v = json_object_get(parent, key);
    if (json_is_object(v))
        json_object_set_new(parent, key, bytes_of(v));
}

/* The first message is MSG_INIT: the settings and what the host functions read. */
static int read_init(runner *r, ph_transport *tr, char *why, size_t len)
{
    for (;;) {
        msg m;
        int rc = tr->recv(tr->ud, &m, -1);
        if (rc == HEALER_E_IO) {
            snprintf(why, len, "the agent closed the socket before MSG_INIT");
            return -1;
        }
        if (rc < 0)
            continue;
        if (m.kind != MSG_INIT) {
            msg_free(&m);
            continue;
        }
        json_error_t je;
        r->init = json_loads(m.text ? m.text : "", 0, &je);
        msg_free(&m);
        if (!json_is_object(r->init)) {
            snprintf(why, len, "MSG_INIT: bad JSON: %s", je.text);
            return -1;
        }
        return 0;
    }
}

static const char *jstr(json_t *o, const char *k, const char *dflt)
{
    const char *s = json_string_value(json_object_get(o, k));
    return s ? s : dflt;
}

/* A program: the checked file by its descriptor (left open: a script's interpreter reads it as
 * /dev/fd/M). Its MSG_READY is its own, so how it is confined goes to the agent's log. */
static int exec_program(const char *program, int pfd, int sock, int desc_only, const char *what)
{
    char s[16];
    snprintf(s, sizeof s, "%d", sock);
    char *pargv[] = { (char *)program, desc_only ? "--describe" : "--sock", desc_only ? NULL : s,
                      NULL };
    if (!desc_only)
        fprintf(stderr, "info healerd-plugin: %s: %s\n", program, what);
    fexecve(pfd, pargv, environ);
    fprintf(stderr, "healerd-plugin: cannot execute %s: %s\n", program, strerror(errno));
    return 127;
}

int main(int argc, char **argv)
{
    int sock = -1, pfd = -1, desc_only = 0, confine = 1;
    const char *state_dir = NULL, *program = NULL;
    confine_opts co = { 0 };
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--sock") == 0 && i + 1 < argc)
            sock = atoi(argv[++i]);
        else if (strcmp(argv[i], "--plugin-fd") == 0 && i + 1 < argc)
            pfd = atoi(argv[++i]);
        else if (strcmp(argv[i], "--state-dir") == 0 && i + 1 < argc)
            state_dir = argv[++i];
        else if (strcmp(argv[i], "--exec") == 0 && i + 1 < argc)
            program = argv[++i];
        else if (strcmp(argv[i], "--inspect-processes") == 0)
            co.inspect_processes = 1;
        else if (strcmp(argv[i], "--local-sockets") == 0)
            co.local_sockets = 1;
        else if (strcmp(argv[i], "--no-confine") == 0)
            confine = 0;
        else if (strcmp(argv[i], "--describe") == 0)
            desc_only = 1;
        else
            return usage();
    }
    static runner r;
    if (pfd < 0 || (!desc_only && sock < 0))
        return usage();
    /* Before the plugin is mapped: its constructors run confined too. */
    char what[512] = "not confined (plugins.<name>.confine = false)", cwhy[256];
    co.state_dir = desc_only ? NULL : state_dir;
    if (confine && confine_self(&co, what, sizeof what, cwhy, sizeof cwhy) < 0) {
        if (desc_only) {
            printf("cannot confine the plugin's process: %s\n", cwhy);
            return 3;
        }
        r.sock = sock;
        char m_text[300];
        snprintf(m_text, sizeof m_text, "cannot confine the plugin's process: %s", cwhy);
        msg m = { .kind = MSG_READY, .code = HEALER_E_INVAL, .text = m_text };
        runner_send(&r, &m);
        return 3;
    }
    if (program)
        return exec_program(program, pfd, sock, desc_only, what);
    if (desc_only)
        return describe(&r, pfd);
    /* Confined, the state directory is the one place the plugin may create files: its temporary
     * files go there too (callers that build the name from TMPDIR), else a plugin that works in a
     * thread fails in a child on /tmp. */
    if (confine && state_dir && *state_dir)
        setenv("TMPDIR", state_dir, 1);

    signal(SIGPIPE, SIG_IGN);
    /* The agent stops this process with MSG_STOP (its restores run first); a signal meant for
     * the agent's whole group (systemd, a terminal) must not cut that short. If the agent dies,
     * PR_SET_PDEATHSIG (set before exec) ends this one. */
    signal(SIGTERM, SIG_IGN);
    signal(SIGINT, SIG_IGN);
    signal(SIGHUP, SIG_IGN);
    r.sock = sock;
    ph_transport tr = runner_transport(&r);
    char why[512];
    int rc = runner_load(&r, pfd, 0, why, sizeof why);
    close(pfd);
    if (rc < 0) {
        msg m = { .kind = MSG_READY, .code = HEALER_E_INVAL, .text = why };
        runner_send(&r, &m);
        return 3;
    }
    if (read_init(&r, &tr, why, sizeof why) < 0) {
        fprintf(stderr, "healerd-plugin %s: %s\n", r.name, why);
        return 3;
    }
    json_t *in = r.init;
    log_set_level((healer_log_level)json_integer_value(json_object_get(in, "log_level")));
    /* the agent's log shape: this child writes to the agent's stderr */
    log_set_format((log_format)json_integer_value(json_object_get(in, "log_format")));
    log_set_journal(json_is_true(json_object_get(in, "log_journal")));
    r.settings = json_object_get(in, "settings");
    bytes_unwrap(in, "proc_root");
    bytes_unwrap(in, "sys_root");
    const char *sk;
    json_t *sv;
    json_object_foreach(r.settings, sk, sv) {
        if (json_is_array(sv)) {
            for (size_t i = 0; i < json_array_size(sv); i++)
                if (json_is_object(json_array_get(sv, i)))
                    json_array_set_new(sv, i, bytes_of(json_array_get(sv, i)));
        } else if (json_is_object(sv)) {
            bytes_unwrap(r.settings, sk);
        }
    }
    r.proc_root = jstr(in, "proc_root", "/proc");
    r.sys_root = jstr(in, "sys_root", "/sys");
    r.dry_run = json_is_true(json_object_get(in, "dry_run"));
    plughost_setup(&r.ph, &r.desc, r.name, json_number_value(json_object_get(in, "interval")),
                   json_number_value(json_object_get(in, "action_timeout")),
                   json_is_true(json_object_get(in, "auto_detect")), tr, NULL);
    r.ph.ctx.remote = &r;
    rc = plughost_init(&r.ph, runner_host_table());
    /* On success the text says how this child is confined (the agent shows it). */
    msg ready = { .kind = MSG_READY, .code = rc, .plugin = r.name,
                  .text = rc < 0 ? healer_rc_str(rc) : what };
    runner_send(&r, &ready);
    if (rc >= 0)
        plughost_run(&r.ph);
    plughost_finish(&r.ph, rc >= 0);
    runner_flush(&r); /* the ACKs of the last restores */
    runner_transport_free();
    json_decref(r.init);
    /* The agent's ACKs were sent before destroy(): tell it this end is done. */
    close(r.sock);
    return 0;
}
