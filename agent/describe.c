/* describe.c — reading a plugin's descriptor in a child (`healerd-plugin --describe`), so that a
 * plugin whose constructor or entry point crashes takes down only that child: the loader of the
 * agent (and --check-config) refuses it with the signal. The JSON it prints becomes p->desc. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <jansson.h>


#include "isolation.h"
#include "loader.h"
#include "log.h"
#include "proxy.h"

/* A descriptor read this way: the JSON keeps the strings alive, the arrays point into it. */
typedef struct described {
    json_t *doc;
    const char **types;
    healer_config_key *keys;
} described;

/* Markers for the callbacks the child says exist: the loader's rules need to see them; the
 * agent never calls them (a child runs the plugin). */
static int mark_init(const healer_host *h, healer_ctx *c, void **s) { (void)h; (void)c; (void)s; return HEALER_E_INVAL; }
static void mark_destroy(void *s) { (void)s; }
static int mark_detect(void *s) { (void)s; return HEALER_E_INVAL; }
static int mark_plan(void *s, const healer_issue *i, healer_plan *p) { (void)s; (void)i; (void)p; return HEALER_E_INVAL; }
static int mark_execute(void *s, const healer_issue *i, const healer_action *a, healer_result *r) { (void)s; (void)i; (void)a; (void)r; return HEALER_E_INVAL; }
static int mark_verify(void *s, const healer_issue *i, const healer_action *a, healer_verdict *v) { (void)s; (void)i; (void)a; (void)v; return HEALER_E_INVAL; }
static int mark_restore(void *s, const healer_issue *i) { (void)s; (void)i; return HEALER_E_INVAL; }
static int mark_request(void *s, const char *m, const healer_kv *a, size_t n, healer_reply *r) { (void)s; (void)m; (void)a; (void)n; (void)r; return HEALER_E_INVAL; }

#define DESCRIBE_TIMEOUT_S 10.0
#define DESC_MIN_SIZE (offsetof(healer_plugin, handle_request) + sizeof(void *))

static const char *jstr(json_t *o, const char *k)
{
    return json_string_value(json_object_get(o, k));
}

static int cb(json_t *o, const char *k)
{
    return json_is_true(json_object_get(json_object_get(o, "callbacks"), k));
}

static int from_json(plugin_rec *p, json_t *o, char *why, size_t len)
{
    described *d = calloc(1, sizeof *d);
    if (!d) {
        snprintf(why, len, "out of memory");
        return -1;
    }
    d->doc = o;
    p->described = d;
    long long size = json_integer_value(json_object_get(o, "struct_size"));
    p->abi_major = (unsigned)json_integer_value(json_object_get(o, "abi_major"));
    p->abi_minor = (unsigned)json_integer_value(json_object_get(o, "abi_minor"));
    /* A program has no C struct: struct_size is the runner's word for a .so only. */
    if (p->is_exec && !json_object_get(o, "struct_size"))
        size = (long long)DESC_MIN_SIZE;
    if (size < (long long)DESC_MIN_SIZE) {
        snprintf(why, len, "descriptor too small (%lld bytes, ABI %d.0 needs at least %zu); fix: "
                 "set .struct_size = sizeof(healer_plugin) and rebuild", size, HEALER_ABI_MAJOR,
                 (size_t)DESC_MIN_SIZE);
        return -1;
    }
    if (p->abi_major != HEALER_ABI_MAJOR) {
        snprintf(why, len, "descriptor says ABI major %u, this agent speaks %d; fix: rebuild it "
                 "against healer-sdk %d.x", p->abi_major, HEALER_ABI_MAJOR, HEALER_ABI_MAJOR);
        return -1;
    }
    if (p->abi_minor > HEALER_ABI_MINOR) {
        snprintf(why, len, "needs ABI %u.%u, this agent has %d.%d; fix: upgrade healerd",
                 p->abi_major, p->abi_minor, HEALER_ABI_MAJOR, HEALER_ABI_MINOR);
        return -1;
    }
    json_t *types = json_object_get(o, "issue_types"), *keys = json_object_get(o, "config");
    size_t nt = json_array_size(types), nk = json_array_size(keys);
    d->types = calloc(nt + 1, sizeof *d->types);
    d->keys = calloc(nk + 1, sizeof *d->keys);
    if (!d->types || !d->keys) {
        snprintf(why, len, "out of memory");
        return -1;
    }
    for (size_t i = 0; i < nt; i++)
        d->types[i] = json_string_value(json_array_get(types, i));
    for (size_t i = 0; i < nk; i++) {
        json_t *k = json_array_get(keys, i);
        d->keys[i] = (healer_config_key){
            .name = jstr(k, "name"), .type = (healer_config_type)json_integer_value(json_object_get(k, "type")),
            .default_value = jstr(k, "default"), .min = json_number_value(json_object_get(k, "min")),
            .max = json_number_value(json_object_get(k, "max")), .description = jstr(k, "description") };
        if (!d->keys[i].name) {
            snprintf(why, len, "its config schema has a key without a name");
            return -1;
        }
    }
    memset(&p->desc, 0, sizeof p->desc);
    p->desc = (healer_plugin){
        .struct_size = sizeof p->desc, .abi_major = (uint16_t)p->abi_major,
        .abi_minor = (uint16_t)p->abi_minor, .name = jstr(o, "name"), .version = jstr(o, "version"),
        .description = jstr(o, "description"), .issue_types = nt ? d->types : NULL,
        .config = d->keys, .interval = json_number_value(json_object_get(o, "interval")),
        .init = cb(o, "init") ? mark_init : NULL, .destroy = cb(o, "destroy") ? mark_destroy : NULL,
        .detect = cb(o, "detect") ? mark_detect : NULL, .plan = cb(o, "plan") ? mark_plan : NULL,
        .execute = cb(o, "execute") ? mark_execute : NULL,
        .verify = cb(o, "verify") ? mark_verify : NULL,
        .restore = cb(o, "restore") ? mark_restore : NULL,
        .handle_request = cb(o, "handle_request") ? mark_request : NULL,
    };
    return 0;
}

int describe_protocol(const plugin_rec *p)
{
    const described *d = p->described;
    json_int_t v = d ? json_integer_value(json_object_get(d->doc, "protocol")) : 0;
    return v > 1 ? (int)v : 1;
}

void describe_free(plugin_rec *p)
{
    described *d = p->described;
    if (!d)
        return;
    json_decref(d->doc);
    free(d->types);
    free(d->keys);
    free(d);
    p->described = NULL;
}

int describe_in_child(plugin_rec *p, char *why, size_t len)
{
    /* The very file the loader checked (its descriptor): never the path again, which anyone
     * able to rename into the folder's parents could have swapped since. */
    int pfd = p->fd >= 0 ? fcntl(p->fd, F_DUPFD_CLOEXEC, 3) : -1;
    if (p->fd < 0)
        errno = EBADF;
    if (pfd < 0) {
        snprintf(why, len, "cannot open: %s", strerror(errno));
        return -1;
    }
    int out[2];
    if (pipe2(out, O_CLOEXEC) != 0) {
        snprintf(why, len, "pipe: %s", strerror(errno));
        close(pfd);
        return -1;
    }
    const char *exe = proxy_runner_path();
    pid_t pid = fork();
    if (pid < 0) {
        snprintf(why, len, "fork: %s", strerror(errno));
        close(pfd);
        close(out[0]);
        close(out[1]);
        return -1;
    }
    if (pid == 0) {
        sigset_t none;
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);
        int ho = fcntl(out[1], F_DUPFD, 10), hp = fcntl(pfd, F_DUPFD, 10);
        if (ho < 0 || hp < 0 || dup2(ho, 1) < 0 || dup2(hp, 3) < 0)
            _exit(127);
        syscall(SYS_close_range, 4, ~0U, 0);
        /* A program is executed by healerd-plugin once confined (--exec): the file checked,
         * by its descriptor; fd 3 stays open so that a script's interpreter reads /dev/fd/3. */
        char *argv[] = { (char *)exe, "--describe", "--plugin-fd", "3",
                         p->is_exec ? "--exec" : NULL, p->file, NULL };
        execv(exe, argv);
        _exit(127);
    }
    close(out[1]);
    close(pfd);
    /* Bounded: a constructor that never returns must not hang a reload or --check-config. */
    size_t cap = 1 << 20, n = 0;
    char *buf = malloc(cap + 1);
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    int timed_out = 0;
    while (buf && n < cap) {
        struct timespec now;
        clock_gettime(CLOCK_MONOTONIC, &now);
        double left = DESCRIBE_TIMEOUT_S - (double)(now.tv_sec - t0.tv_sec) -
                      (double)(now.tv_nsec - t0.tv_nsec) / 1e9;
        if (left <= 0) {
            timed_out = 1;
            break;
        }
        struct pollfd pf = { .fd = out[0], .events = POLLIN };
        int r = poll(&pf, 1, (int)(left * 1000) + 1);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            continue;
        ssize_t k = read(out[0], buf + n, cap - n);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0)
            break;
        n += (size_t)k;
    }
    close(out[0]);
    if (timed_out)
        kill(pid, SIGKILL);
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    if (buf)
        buf[n] = '\0';
    int rc = -1;
    if (timed_out) {
        snprintf(why, len, "loading it did not finish within %.0f s (its constructor or entry "
                 "point hangs): killed", DESCRIBE_TIMEOUT_S);
    } else if (WIFSIGNALED(status)) {
        int sig = WTERMSIG(status);
        snprintf(why, len, "crashed while loading (constructor or entry point): killed by signal "
                 "%d (SIG%s); fix the plugin", sig, sigabbrev_np(sig) ? sigabbrev_np(sig) : "?");
    } else if (WEXITSTATUS(status) == 127 && p->is_exec) {
        snprintf(why, len, "cannot run %s --describe (exit 127: not executable, or its "
                 "interpreter is missing)%s%.200s", p->file, buf && *buf ? ": " : "",
                 buf ? buf : "");
    } else if (WEXITSTATUS(status) == 127) {
        snprintf(why, len, "cannot run %s to read it; fix: install healerd-plugin", exe);
    } else if (WEXITSTATUS(status) != 0) {
        char *nl = buf ? strchr(buf, '\n') : NULL;
        if (nl)
            *nl = '\0';
        snprintf(why, len, "%s", buf && *buf ? buf
                 : "the plugin ended the process that loaded it (exit() in a constructor?)");
        if (WEXITSTATUS(status) != 3 && !(buf && *buf))
            snprintf(why, len, "exited with status %d while loading (exit() in its constructor "
                     "or entry point); fix the plugin", WEXITSTATUS(status));
    } else {
        json_error_t je;
        json_t *o = json_loads(buf, 0, &je);
        if (!json_is_object(o)) {
            snprintf(why, len, "its describe output is not JSON: %s", je.text);
            json_decref(o);
        } else {
            rc = from_json(p, o, why, len);
        }
    }
    free(buf);
    return rc;
}
