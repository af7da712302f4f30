/* plans_check.c — running one check of plans.d: a process by name or pidfile, an HTTP(S) URL
 * (libcurl) with its status and latency, a TCP connect, a file's age or size, a read-only command
 * through the host's probe_run. Reads only; every check is bounded by its timeout_s. */
#include "plans.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <curl/curl.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static double mono(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void meas(plans_meas *m, const char *name, double v)
{
    if (m->n < PLANS_MEAS) {
        m->name[m->n] = name;
        m->value[m->n++] = v;
    }
}

int plans_check_init(plans_state *st)
{
    for (size_t i = 0; i < st->set.n_checks; i++)
        if (st->set.checks[i].kind == CHK_HTTP) {
            if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
                return -1;
            st->curl_ready = 1;
            break;
        }
    return 0;
}

void plans_check_cleanup(plans_state *st)
{
    if (st->curl_ready)
        curl_global_cleanup();
    st->curl_ready = 0;
}

/* A pidfile's pid: the first decimal number in its first 64 bytes of a regular file (never
 * through a symlink, never blocking on a fifo). 0 when none. *owner gets the file's uid. */
static pid_t read_pidfile(const char *path, uid_t *owner)
{
    char buf[64];
    struct stat sb;
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY | O_NOFOLLOW);
    if (fd < 0)
        return 0;
    if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
        close(fd);
        return 0;
    }
    *owner = sb.st_uid;
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0)
        return 0;
    buf[n] = '\0';
    char *q = buf;
    while (*q == ' ' || *q == '\t')
        q++;
    char *end;
    long v = strtol(q, &end, 10);
    if (end == q || v <= 1 || v > 4194304)
        return 0;
    return (pid_t)v;
}

size_t plans_find_procs(plans_state *st, const char *name, const char *pidfile, healer_proc *out,
                        size_t max)
{
    if (pidfile) {
        uid_t owner = 0;
        pid_t pid = read_pidfile(pidfile, &owner);
        if (pid <= 0 || max == 0 || st->h->proc_read(st->ctx, pid, &out[0]) != HEALER_OK)
            return 0;
        /* A pidfile names a process of whoever wrote it: one written by another user than the
         * process's (and not root) could point a signal step at someone else's process. */
        if (owner != 0 && owner != out[0].uid) {
            st->h->log(st->ctx, HEALER_LOG_WARN, "%s (owner uid %u) names pid %d of uid %u: "
                       "ignored", pidfile, (unsigned)owner, (int)pid, (unsigned)out[0].uid);
            return 0;
        }
        return 1;
    }
    char root[4096];
    if (!st->h->proc_path(st->ctx, "", root, sizeof root))
        return 0;
    DIR *d = opendir(root);
    if (!d)
        return 0;
    size_t n = 0;
    struct dirent *de;
    while ((de = readdir(d)) && n < max) {
        if (!isdigit((unsigned char)de->d_name[0]))
            continue;
        healer_proc p;
        if (st->h->proc_read(st->ctx, (pid_t)atol(de->d_name), &p) != HEALER_OK)
            continue;
        if (!p.kernel_thread && strcmp(p.name, name) == 0)
            out[n++] = p;
    }
    closedir(d);
    return n;
}

static size_t discard(char *ptr, size_t size, size_t nmemb, void *ud)
{
    (void)ptr;
    (void)ud;
    return size * nmemb;
}

static int check_http(plans_state *st, const plans_check *c, plans_meas *m, char *why, size_t len)
{
    if (!st->curl_ready) {
        snprintf(why, len, "libcurl is not initialised");
        return 0;
    }
    CURL *cu = curl_easy_init();
    if (!cu) {
        snprintf(why, len, "curl_easy_init failed");
        return 0;
    }
    char err[CURL_ERROR_SIZE] = "";
    curl_easy_setopt(cu, CURLOPT_URL, c->url);
    curl_easy_setopt(cu, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(cu, CURLOPT_TIMEOUT_MS, (long)(c->timeout_s * 1000));
    curl_easy_setopt(cu, CURLOPT_CONNECTTIMEOUT_MS, (long)(c->timeout_s * 1000));
    curl_easy_setopt(cu, CURLOPT_WRITEFUNCTION, discard);
    curl_easy_setopt(cu, CURLOPT_ERRORBUFFER, err);
    curl_easy_setopt(cu, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(cu, CURLOPT_SSL_VERIFYPEER, c->tls_verify ? 1L : 0L);
    curl_easy_setopt(cu, CURLOPT_SSL_VERIFYHOST, c->tls_verify ? 2L : 0L);
    curl_easy_setopt(cu, CURLOPT_USERAGENT, "healerd-plans/1.0");
    /* A health check must not be routed through a proxy the agent's environment names. */
    curl_easy_setopt(cu, CURLOPT_NOPROXY, "*");
    CURLcode rc = curl_easy_perform(cu);
    long code = 0;
    double total = 0;
    curl_easy_getinfo(cu, CURLINFO_RESPONSE_CODE, &code);
    curl_easy_getinfo(cu, CURLINFO_TOTAL_TIME, &total);
    curl_easy_cleanup(cu);
    meas(m, "status_code", (double)code);
    meas(m, "latency_seconds", total);
    if (rc != CURLE_OK) {
        snprintf(why, len, "%s: %s", c->url, err[0] ? err : curl_easy_strerror(rc));
        return 0;
    }
    int ok = c->status ? code == c->status : (code >= 200 && code < 400);
    if (!ok) {
        if (c->status)
            snprintf(why, len, "%s answered %ld, expected %ld", c->url, code, c->status);
        else
            snprintf(why, len, "%s answered %ld, expected 2xx or 3xx", c->url, code);
    }
    return ok;
}

static int check_tcp(const plans_check *c, plans_meas *m, char *why, size_t len)
{
    char port[16];
    snprintf(port, sizeof port, "%ld", c->port);
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICSERV}, *ai = NULL;
    double t0 = mono();
    int g = getaddrinfo(c->host, port, &hints, &ai);
    if (g != 0 || !ai) {
        snprintf(why, len, "%s: %s", c->host, gai_strerror(g));
        meas(m, "connected", 0);
        return 0;
    }
    int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int ok = 0;
    if (fd >= 0) {
        int r = connect(fd, ai->ai_addr, ai->ai_addrlen);
        if (r == 0) {
            ok = 1;
        } else if (errno == EINPROGRESS) {
            struct pollfd p = {.fd = fd, .events = POLLOUT};
            int left = (int)(c->timeout_s * 1000);
            if (poll(&p, 1, left) == 1) {
                int e = 0;
                socklen_t el = sizeof e;
                getsockopt(fd, SOL_SOCKET, SO_ERROR, &e, &el);
                ok = e == 0;
                if (!ok)
                    snprintf(why, len, "%s:%ld: %s", c->host, c->port, strerror(e));
            } else {
                snprintf(why, len, "%s:%ld: no answer within %g s", c->host, c->port,
                         c->timeout_s);
            }
        } else {
            snprintf(why, len, "%s:%ld: %s", c->host, c->port, strerror(errno));
        }
        close(fd);
    } else {
        snprintf(why, len, "socket: %s", strerror(errno));
    }
    freeaddrinfo(ai);
    meas(m, "connected", ok);
    meas(m, "latency_seconds", mono() - t0);
    return ok;
}

/* A directory's size: its regular files (not descending), at most 100 000 entries read. */
static double dir_bytes(const char *path)
{
    int dfd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
    if (dfd < 0)
        return -1;
    DIR *d = fdopendir(dfd);
    if (!d) {
        close(dfd);
        return -1;
    }
    double sum = 0;
    struct dirent *de;
    for (int n = 0; (de = readdir(d)) && n < 100000; n++) {
        struct stat st;
        if (fstatat(dfd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISREG(st.st_mode))
            sum += (double)st.st_size;
    }
    closedir(d);
    return sum;
}

static int check_file(plans_state *st, const plans_check *c, plans_meas *m, char *why, size_t len)
{
    struct stat sb;
    if (stat(c->path, &sb) != 0) {
        snprintf(why, len, "%s: %s", c->path, strerror(errno));
        meas(m, "exists", 0);
        return 0;
    }
    int ok = 1;
    if (c->max_age_s > 0) {
        double age = st->h->now(st->ctx) - ((double)sb.st_mtim.tv_sec + sb.st_mtim.tv_nsec / 1e9);
        meas(m, "age_seconds", age);
        if (age > c->max_age_s) {
            snprintf(why, len, "%s: modified %.0f s ago, more than %g s", c->path, age,
                     c->max_age_s);
            ok = 0;
        }
    }
    if (c->max_size_bytes > 0) {
        double size = S_ISDIR(sb.st_mode) ? dir_bytes(c->path) : (double)sb.st_size;
        meas(m, "size_bytes", size);
        if (size > c->max_size_bytes && ok) {
            snprintf(why, len, "%s: %.0f bytes, more than %.0f", c->path, size, c->max_size_bytes);
            ok = 0;
        }
    }
    return ok;
}

int plans_run_check(plans_state *st, const plans_check *c, plans_meas *m, char *why, size_t len)
{
    memset(m, 0, sizeof *m);
    why[0] = '\0';
    switch (c->kind) {
    case CHK_PROCESS: {
        healer_proc p[64];
        size_t n = plans_find_procs(st, c->process, c->pidfile, p, 64);
        meas(m, "processes", (double)n);
        if (n == 0)
            snprintf(why, len, "%s%s is not running", c->process ? "no process named " : "the "
                     "process of ", c->process ? c->process : c->pidfile);
        return n > 0;
    }
    case CHK_HTTP:
        return check_http(st, c, m, why, len);
    case CHK_TCP:
        return check_tcp(c, m, why, len);
    case CHK_FILE:
        return check_file(st, c, m, why, len);
    case CHK_COMMAND: {
        char out[256] = "";
        int es = -1;
        double t0 = mono();
        int rc = st->h->probe_run(st->ctx, (const char *const *)c->argv, c->timeout_s, out,
                                  sizeof out, &es);
        meas(m, "exit_status", es);
        meas(m, "duration_seconds", mono() - t0);
        if (rc != HEALER_OK) {
            char *nl = strchr(out, '\n');
            if (nl)
                *nl = '\0';
            if (rc == HEALER_E_IO && es > 0) /* it ran and said no: that is the answer */
                snprintf(why, len, "%s exited %d%s%s", c->argv[0], es, out[0] ? ": " : "", out);
            else
                snprintf(why, len, "%s: %s (exit %d)%s%s", c->argv[0], healer_rc_str(rc), es,
                         out[0] ? ": " : "", out);
            return 0;
        }
        return 1;
    }
    }
    snprintf(why, len, "unknown check kind");
    return 0;
}
