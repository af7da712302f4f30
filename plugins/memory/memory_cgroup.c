/* memory_cgroup.c — the memory plugin's watched cgroups: the `cgroups` entries (directories and
 * globs, re-expanded every cgroup_rescan_s), their usage and limit files (kept open within an fd
 * budget), v1 usage threshold events in shared eventfd buckets, and which cgroups are due for a
 * read, so the idle cost is O(watched cgroups / quiet period), not O(cgroups) per interval. */
#include "memory_int.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <glob.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#define MEMORY_LOG_EACH 32   /* cgroups logged one by one at info level up to this count */

/* ---- the set of cgroups ---------------------------------------------------------------------- */

static int memory_cg_cmp(const void *a, const void *b)
{
    const memory_cg *x = *(memory_cg *const *)a, *y = *(memory_cg *const *)b;
    return strcmp(x->dir, y->dir);
}

memory_cg *memory_find_cg(memory *s, const char *target)
{
    if (!target || !*target)
        return NULL;
    size_t lo = 0, hi = s->n_sorted;   /* cgroups added since the last index build are not */
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        int c = strcmp(s->cg_sorted[mid]->dir, target);
        if (c == 0)
            return s->cg_sorted[mid];
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

static void memory_cg_close(memory *s, memory_cg *c)
{
    if (c->ufd >= 0) {
        close(c->ufd);
        close(c->lfd);
        s->fds_kept -= 2;
    }
    c->ufd = c->lfd = -1;
}

static void memory_cg_free(memory *s, memory_cg *c)
{
    if (!c)
        return;
    memory_cg_close(s, c);
    free(c->t);
    free(c);
}

/* Rebuilds the sorted index after the set changed; a directory listed twice (an entry and a
 * glob, or two globs) is watched once, as the explicit entry when there is one. */
static void memory_cg_reindex(memory *s)
{
    s->n_sorted = 0;
    if (!s->n_cg)
        return;
    memcpy(s->cg_sorted, s->cg, s->n_cg * sizeof *s->cg);
    qsort(s->cg_sorted, s->n_cg, sizeof *s->cg_sorted, memory_cg_cmp);
    size_t m = 0, dups = 0;
    for (size_t i = 0; i < s->n_cg; i++) {
        memory_cg *c = s->cg_sorted[i];
        if (m && strcmp(s->cg_sorted[m - 1]->dir, c->dir) == 0) {
            memory_cg *keep = s->cg_sorted[m - 1], *drop = c;
            if (keep->from_glob && !c->from_glob) {
                drop = keep;
                keep = c;
            }
            s->cg_sorted[m - 1] = keep;
            for (size_t k = 0; k < s->n_cg; k++)
                if (s->cg[k] == drop)
                    s->cg[k] = NULL;
            memory_predict_drop_cg(s, drop);
            memory_cg_free(s, drop);
            dups++;
            continue;
        }
        s->cg_sorted[m++] = c;
    }
    s->n_sorted = m;
    if (!dups)
        return;
    size_t n = 0;
    for (size_t i = 0; i < s->n_cg; i++)
        if (s->cg[i])
            s->cg[n++] = s->cg[i];
    s->n_cg = n;
}

/* Adds a watched directory (already below sys_root/fs/cgroup). -1 on memory or the limit. */
static int memory_cg_add(memory *s, const char *dir, int from_glob)
{
    if (s->n_cg >= MEMORY_MAX_CGROUPS)
        return -1;
    if (s->n_cg == s->cap_cg) {
        size_t cap = s->cap_cg ? s->cap_cg * 2 : 16;
        if (cap > MEMORY_MAX_CGROUPS)
            cap = MEMORY_MAX_CGROUPS;
        memory_cg **a = realloc(s->cg, cap * sizeof *a);
        if (!a)
            return -1;
        s->cg = a;
        memory_cg **b = realloc(s->cg_sorted, cap * sizeof *b);
        if (!b)
            return -1;
        s->cg_sorted = b;
        s->cap_cg = cap;
    }
    memory_cg *c = calloc(1, sizeof *c);
    if (!c)
        return -1;
    c->t = calloc(2 * s->leak_ring, sizeof *c->t);
    if (!c->t) {
        free(c);
        return -1;
    }
    c->y = c->t + s->leak_ring;
    c->ufd = c->lfd = -1;
    c->bucket = -1;
    c->from_glob = from_glob;
    c->seen = 1;
    /* Golden-ratio phases (Fibonacci hashing: 40503 / 65536 ~ 0.618) spread the quiet reads
     * evenly over the period, whatever the count. */
    c->phase = (double)((s->n_cg * 40503u) % 65536u) / 65536.0;
    snprintf(c->dir, sizeof c->dir, "%s", dir);
    for (size_t n = strlen(c->dir); n > 1 && c->dir[n - 1] == '/'; n--)
        c->dir[n - 1] = '\0';
    s->cg[s->n_cg++] = c;
    return 0;
}

static int memory_is_glob(const char *e)
{
    return strpbrk(e, "*?[") != NULL;
}

/* Adds (or marks seen) one directory a glob matched. */
static void memory_glob_match(memory *s, const char *p, size_t *added, size_t *over)
{
    if (strlen(p) >= HEALER_TARGET_MAX)
        return;
    memory_cg *c = memory_find_cg(s, p);
    if (c) {
        c->seen = 1;
        return;
    }
    if (memory_cg_add(s, p, 1) < 0)
        (*over)++;
    else
        (*added)++;
}

/* Expands one glob (a full path): adds the directories not watched yet, marks the others seen.
 * The usual form has its wildcards in the last component only ("memory/app/w*"): that is one
 * readdir with d_type and fnmatch, no stat per entry (glob(3) stats each match for
 * GLOB_ONLYDIR); other forms go through glob(3). Returns how many it could not add (limit). */
static size_t memory_glob_expand(memory *s, const char *pattern, size_t *added)
{
    size_t over = 0;
    const char *slash = strrchr(pattern, '/');
    if (slash && slash != pattern && !memchr(pattern, '*', (size_t)(slash - pattern)) &&
        !memchr(pattern, '?', (size_t)(slash - pattern)) &&
        !memchr(pattern, '[', (size_t)(slash - pattern))) {
        char dir[PATH_MAX];
        snprintf(dir, sizeof dir, "%.*s", (int)(slash - pattern), pattern);
        DIR *d = opendir(dir);
        if (!d)
            return 0;
        struct dirent *e;
        while ((e = readdir(d))) {
            if (e->d_name[0] == '.' && (!e->d_name[1] || (e->d_name[1] == '.' && !e->d_name[2])))
                continue;
            if (fnmatch(slash + 1, e->d_name, FNM_PERIOD) != 0)
                continue;
            char p[PATH_MAX + 256];
            snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
            if (e->d_type == DT_UNKNOWN) {   /* a file system without d_type */
                struct stat st;
                if (stat(p, &st) != 0 || !S_ISDIR(st.st_mode))
                    continue;
            } else if (e->d_type != DT_DIR) {
                continue;
            }
            memory_glob_match(s, p, added, &over);
        }
        closedir(d);
        return over;
    }
    glob_t g;
    memset(&g, 0, sizeof g);
    int rc = glob(pattern, GLOB_ONLYDIR | GLOB_MARK, NULL, &g);
    if (rc != 0) {
        if (rc != GLOB_NOMATCH)
            s->h->log(s->ctx, HEALER_LOG_WARN, "plugins.memory.cgroups: glob \"%s\" failed (%d)",
                      pattern, rc);
        globfree(&g);
        return 0;
    }
    for (size_t i = 0; i < g.gl_pathc; i++) {
        char *p = g.gl_pathv[i];
        size_t n = strlen(p);
        if (!n || p[n - 1] != '/')   /* GLOB_MARK: directories end in '/' */
            continue;
        p[n - 1] = '\0';
        memory_glob_match(s, p, added, &over);
    }
    globfree(&g);
    return over;
}

/* Re-expands the globs: new directories are watched from the next read on; a directory a glob
 * found that is gone and matched no more is dropped (once its issue, if any, was resolved). */
static void memory_cgroups_rescan(memory *s)
{
    for (size_t i = 0; i < s->n_cg; i++)
        s->cg[i]->seen = !s->cg[i]->from_glob;
    size_t added = 0, over = 0;
    for (size_t g = 0; g < s->n_globs; g++) {
        over += memory_glob_expand(s, s->globs[g], &added);
        memory_cg_reindex(s);   /* the next glob's look-ups see this one's additions */
    }
    size_t n = 0, dropped = 0;
    for (size_t i = 0; i < s->n_cg; i++) {
        memory_cg *c = s->cg[i];
        if (c->from_glob && !c->seen && !c->open_high) {
            memory_predict_drop_cg(s, c);
            memory_cg_free(s, c);
            dropped++;
            continue;
        }
        s->cg[n++] = c;
    }
    s->n_cg = n;
    if (dropped)
        memory_cg_reindex(s);
    if (added || dropped)
        s->h->log(s->ctx, HEALER_LOG_INFO, "cgroups rescanned: %zu new, %zu gone, %zu watched",
                  added, dropped, s->n_cg);
    if (over && !s->cg_limit_warned) {
        s->h->log(s->ctx, HEALER_LOG_WARN, "plugins.memory.cgroups: %zu more cgroups match but "
                  "are not watched: at most %d (MEMORY_MAX_CGROUPS)", over, MEMORY_MAX_CGROUPS);
        s->cg_limit_warned = 1;
    }
    if (!over)
        s->cg_limit_warned = 0;
}

/* ---- reading --------------------------------------------------------------------------------- */

static long memory_pread_text(int fd, char *buf, size_t len)
{
    ssize_t n = pread(fd, buf, len - 1, 0);
    if (n < 0)
        return -1;
    if (n == 0) {
        errno = ENODATA;
        return -1;
    }
    buf[n] = '\0';
    return (long)n;
}

static int memory_parse_u64(const char *buf, uint64_t *v)
{
    char *end;
    errno = 0;
    unsigned long long x = strtoull(buf, &end, 10);
    if (end == buf || errno) {
        errno = EINVAL;
        return -1;
    }
    *v = x;
    return 0;
}

/* The usage and limit files' text, through the kept fds, or opened (and kept if the budget
 * allows). A removed cgroup's kept fds fail with ENODEV: they are closed, and the directory is
 * opened afresh once it is back. */
static int memory_cg_read(memory *s, memory_cg *c, uint64_t *usage, uint64_t *limit)
{
    char ub[64], lb[64];
    if (c->ufd >= 0) {
        if (memory_pread_text(c->ufd, ub, sizeof ub) < 0 ||
            memory_pread_text(c->lfd, lb, sizeof lb) < 0) {
            int e = errno;
            memory_cg_close(s, c);
            errno = e;
            return -1;
        }
    } else {
        char p[PATH_MAX + 32];
        /* v2 has memory.current; v1 memory.usage_in_bytes. Known once read, probed until. */
        int v2 = c->present ? c->v2 : 1, uf = -1;
        if (v2) {
            snprintf(p, sizeof p, "%s/memory.current", c->dir);
            uf = open(p, O_RDONLY | O_CLOEXEC);
            if (uf < 0 && !c->present)
                v2 = 0;
        }
        if (!v2) {
            snprintf(p, sizeof p, "%s/memory.usage_in_bytes", c->dir);
            uf = open(p, O_RDONLY | O_CLOEXEC);
        }
        if (uf < 0)
            return -1;
        snprintf(p, sizeof p, "%s/%s", c->dir, v2 ? "memory.max" : "memory.limit_in_bytes");
        int lf = open(p, O_RDONLY | O_CLOEXEC);
        if (lf < 0 || memory_pread_text(uf, ub, sizeof ub) < 0 ||
            memory_pread_text(lf, lb, sizeof lb) < 0) {
            int e = errno;
            close(uf);
            if (lf >= 0)
                close(lf);
            errno = e;
            return -1;
        }
        c->v2 = v2;
        if (s->fds_kept + 2 <= s->fd_budget) {
            c->ufd = uf;
            c->lfd = lf;
            s->fds_kept += 2;
        } else {
            close(uf);
            close(lf);
        }
    }
    if (memory_parse_u64(ub, usage) < 0 || memory_parse_limit(lb, limit) < 0) {
        errno = EINVAL;
        return -1;
    }
    return 0;
}

int memory_measure_cg(memory *s, memory_cg *c, memory_level *lv)
{
    memset(lv, 0, sizeof *lv);
    uint64_t usage, limit;
    s->cg_reads++;
    if (memory_cg_read(s, c, &usage, &limit) < 0) {
        int e = errno;
        if (c->present || !c->tried)
            s->h->log(s->ctx, HEALER_LOG_INFO, "cgroup %s: memory files unreadable (%s); not "
                      "watched until they are", c->dir, strerror(e));
        c->present = 0;
        c->tried = 1;
        /* The kernel dropped its thresholds with the cgroup: register again when it is back. */
        c->bucket = -1;
        c->ev_limit = 0;
        errno = e;
        return -1;
    }
    /* One line per cgroup as it appears; past a few dozen the summary lines say it. */
    if (!c->present)
        s->h->log(s->ctx, s->n_cg <= MEMORY_LOG_EACH ? HEALER_LOG_INFO : HEALER_LOG_DEBUG,
                  "cgroup %s (%s): usage %llu, limit %s", c->dir,
                  c->v2 ? "v2" : "v1", (unsigned long long)usage, limit ? "set" : "none");
    c->present = 1;
    c->tried = 1;
    c->usage = usage;
    c->limit = limit;
    c->used_pct = 0;
    lv->total = limit;
    if (limit) {
        lv->has_limit = 1;
        lv->avail = usage >= limit ? 0 : limit - usage;
        lv->avail_pct = 100.0 * (double)lv->avail / (double)limit;
        lv->used_pct = 100.0 - lv->avail_pct;
        c->used_pct = lv->used_pct;
    }
    return 0;
}

/* ---- v1 usage threshold events ------------------------------------------------------------------ */

static void memory_bucket_reset(memory *s, int b)
{
    if (s->bucket_fd[b] >= 0) {
        epoll_ctl(s->epfd, EPOLL_CTL_DEL, s->bucket_fd[b], NULL);
        close(s->bucket_fd[b]);   /* the kernel drops every threshold registered on it */
        s->bucket_fd[b] = -1;
    }
    s->bucket_stale[b] = 0;
    for (size_t i = 0; i < s->n_cg; i++)
        if (s->cg[i]->bucket == b) {
            s->cg[i]->bucket = -1;
            s->cg[i]->ev_limit = 0;
        }
}

static int memory_bucket_fd(memory *s, int b)
{
    if (s->bucket_fd[b] >= 0)
        return s->bucket_fd[b];
    int fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (fd < 0)
        return -1;
    struct epoll_event ev = {.events = EPOLLIN, .data.u32 = (uint32_t)b};
    if (epoll_ctl(s->epfd, EPOLL_CTL_ADD, fd, &ev) != 0) {
        close(fd);
        return -1;
    }
    s->bucket_fd[b] = fd;
    return fd;
}

/* Registers the thresholds high, kill and the two emergency levels of the limit on the
 * cgroup's bucket eventfd: the kernel signals it when usage crosses one, either way. A new limit
 * registers again; the old thresholds stay until the bucket is renewed (spurious re-reads). */
static void memory_cg_register(memory *s, memory_cg *c, double now)
{
    if (!s->cg_events || s->epfd < 0 || c->v2 || !c->limit || c->ev_limit == c->limit)
        return;
    const healer_host *h = s->h;
    if (c->bucket >= 0 && ++s->bucket_stale[c->bucket] > MEMORY_BUCKET_STALE_MAX)
        memory_bucket_reset(s, c->bucket);
    int b = c->bucket >= 0 ? c->bucket : (int)(s->next_bucket++ % MEMORY_EVENT_BUCKETS);
    c->ev_limit = c->limit;   /* tried for this limit, whatever happens below */
    c->bucket = -1;
    int efd = memory_bucket_fd(s, b);
    char p[PATH_MAX + 32];
    snprintf(p, sizeof p, "%s/cgroup.event_control", c->dir);
    int ctl = efd < 0 ? -1 : open(p, O_WRONLY | O_CLOEXEC);
    int ufd = c->ufd;
    if (ctl >= 0 && ufd < 0) {
        snprintf(p, sizeof p, "%s/memory.usage_in_bytes", c->dir);
        ufd = open(p, O_RDONLY | O_CLOEXEC);
    }
    if (efd < 0 || ctl < 0 || ufd < 0) {
        h->log(s->ctx, HEALER_LOG_DEBUG, "cgroup %s: no usage events (%s): polled every interval",
               c->dir, strerror(errno));
        goto out;
    }
    double thr[4] = {s->high, s->kill_pct, 100.0 - s->emerg_term, 100.0 - s->emerg_kill};
    for (int i = 0; i < 4; i++) {
        if (thr[i] <= 0 || thr[i] >= 100)
            continue;
        char line[96];
        int n = snprintf(line, sizeof line, "%d %d %llu", efd, ufd,
                         (unsigned long long)((double)c->limit * thr[i] / 100.0));
        if (write(ctl, line, (size_t)n) != n) {
            h->log(s->ctx, HEALER_LOG_DEBUG, "cgroup %s: event_control: %s: polled every "
                   "interval", c->dir, strerror(errno));
            if (i)
                s->bucket_stale[b]++;   /* the thresholds written before stay on the bucket */
            goto out;
        }
    }
    c->bucket = b;
    /* A crossing between the read and the registration would go unseen: read once more. */
    c->next_t = now;
out:
    if (ctl >= 0)
        close(ctl);
    if (ufd >= 0 && ufd != c->ufd)
        close(ufd);
}

int memory_cg_quiet(const memory *s, const memory_cg *c)
{
    if (!c->tried || c->open_high || c->leaking || c->health_low)
        return 0;
    if (!c->present || !c->limit)
        return 1;   /* gone (retried every period), or no limit: only leaks to look for */
    return c->bucket >= 0 && c->used_pct < s->high;
}

/* After a quiet read: the cgroup's next quiet period, in quiet_s. Flat usage backs off (doubling
 * up to leak_quiet_backoff); growth at half the least leak rate or more goes back to every
 * period. Why that keeps leaks: a leak at leak_min_bytes_per_s that starts anywhere grows by at
 * least that rate x the whole period between the next two reads, twice the threshold, so dense
 * sampling is back within two of the longest periods of its start (plugins/memory/README.md,
 * "Idle cost"). */
static void memory_cg_backoff(memory *s, memory_cg *c, double now)
{
    if (c->sampled_t > 0 && now > c->sampled_t) {
        double grew = (double)c->usage - (double)c->sampled_usage;
        if (grew >= 0.5 * s->leak_min_rate * (now - c->sampled_t))
            c->backoff = 1;
        else if (c->backoff < s->quiet_backoff)
            c->backoff = c->backoff * 2 > s->quiet_backoff ? s->quiet_backoff : c->backoff * 2;
    }
    c->sampled_t = now;
    c->sampled_usage = c->usage;
}

/* Reads one cgroup and publishes what it shows; sample: take a leak sample (detect only). */
static void memory_cg_check(memory *s, memory_cg *c, double now, int sample)
{
    memory_level lv;
    int was_quiet = c->present && memory_cg_quiet(s, c);
    if (c->backoff < 1)
        c->backoff = 1;
    /* The second read comes after a fraction (the phase) of the period: from then on the quiet
     * reads of all cgroups are spread evenly instead of all falling in one interval. */
    double period = s->quiet_s;
    if (c->tried && !c->staggered) {
        period *= c->phase;
        c->staggered = 1;
    }
    c->next_t = now + period;
    if (memory_measure_cg(s, c, &lv) < 0) {
        if (c->open_high && s->h->resolve_issue(s->ctx, MEMORY_HIGH, c->dir) == HEALER_OK)
            c->open_high = 0;
        memory_leak_reset(c);
        memory_predict_drop_cg(s, c);   /* gone: a cgroup made again starts a new trend */
        c->health_low = 0;
        c->backoff = 1;
        c->sampled_t = 0;
        return;
    }
    if (!was_quiet) {
        c->backoff = 1;
        c->sampled_t = 0;
    } else if (sample) {
        memory_cg_backoff(s, c, now);
        c->next_t = now + period * c->backoff;
    }
    memory_cg_register(s, c, now);
    if (sample)
        memory_leak_sample(s, c, now);
    memory_judge(s, c, &lv, -1);
    memory_predict_cg(s, c, &lv, now);
}

static void memory_on_cg_event(void *state, int fd, short revents)
{
    memory *s = state;
    (void)revents;
    struct epoll_event ev[MEMORY_EVENT_BUCKETS];
    int n = epoll_wait(fd, ev, MEMORY_EVENT_BUCKETS, 0);
    if (n <= 0)
        return;
    unsigned char hit[MEMORY_EVENT_BUCKETS] = {0};
    for (int i = 0; i < n; i++) {
        uint32_t b = ev[i].data.u32;
        uint64_t v;
        if (b >= MEMORY_EVENT_BUCKETS || s->bucket_fd[b] < 0)
            continue;
        if (read(s->bucket_fd[b], &v, sizeof v) < 0 && errno != EAGAIN)
            s->h->log(s->ctx, HEALER_LOG_DEBUG, "cgroup event read: %s", strerror(errno));
        hit[b] = 1;
        s->cg_event_wakes++;
    }
    /* Only the bucket's cgroups are read: ~n/64 of them, whichever crossed. */
    double now = s->h->now(s->ctx);
    for (size_t i = 0; i < s->n_cg; i++) {
        memory_cg *c = s->cg[i];
        if (c->bucket >= 0 && hit[c->bucket])
            memory_cg_check(s, c, now, 0);
    }
}

void memory_cgroups_scan(memory *s, double now, int from_event)
{
    if (!from_event && s->n_globs && s->rescan_s > 0 && now >= s->next_rescan) {
        memory_cgroups_rescan(s);
        s->next_rescan = now + s->rescan_s;
    }
    size_t evented = 0;
    for (size_t i = 0; i < s->n_cg; i++) {
        memory_cg *c = s->cg[i];
        int quiet = memory_cg_quiet(s, c);
        if (from_event) {
            if (!quiet && c->present)
                memory_cg_check(s, c, now, 0);
            continue;
        }
        if (!quiet || now >= c->next_t)
            memory_cg_check(s, c, now, 1);
        evented += c->bucket >= 0;
    }
    if (!from_event && (evented != s->n_evented || s->n_cg != s->n_cg_logged)) {
        s->h->log(s->ctx, HEALER_LOG_INFO, "cgroups: %zu of %zu with usage events", evented,
                  s->n_cg);
        s->n_evented = evented;
        s->n_cg_logged = s->n_cg;
    }
}

/* ---- life cycle -------------------------------------------------------------------------------- */

int memory_cgroups_init(memory *s)
{
    const healer_host *h = s->h;
    healer_ctx *ctx = s->ctx;
    s->epfd = -1;
    for (int b = 0; b < MEMORY_EVENT_BUCKETS; b++)
        s->bucket_fd[b] = -1;
    size_t ring = 2 * (size_t)s->leak_min_samples;
    if (ring < MEMORY_LEAK_RING_MIN)
        ring = MEMORY_LEAK_RING_MIN;
    if (ring > MEMORY_LEAK_SAMPLES)
        ring = MEMORY_LEAK_SAMPLES;
    s->leak_ring = ring;
    s->quiet_s = s->leak_window / (double)ring;
    s->rescan_s = h->config_double(ctx, "cgroup_rescan_s");
    /* A quarter of the fd limit for kept cgroup files: the rest is the agent's and the other
     * plugins'. Past it, files are opened per read (~4x the CPU of a pread). */
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY)
        s->fd_budget = (size_t)rl.rlim_cur / 4;
    else
        s->fd_budget = 4096;

    char base[PATH_MAX];
    if (!h->sys_path(ctx, "fs/cgroup", base, sizeof base))
        return HEALER_E_INVAL;
    size_t bl = strlen(base);
    size_t ncg = h->config_list_len(ctx, "cgroups");
    /* Directories first (one index build), then each glob against what is watched so far. */
    for (size_t i = 0; i < ncg; i++) {
        const char *e = h->config_list_item(ctx, "cgroups", i);
        if (!e || !*e)
            continue;
        if (strlen(e) >= HEALER_TARGET_MAX - bl - 2 || strstr(e, "..")) {
            h->log(ctx, HEALER_LOG_ERROR, "plugins.memory.cgroups[%zu]: \"%s\": too long or holds "
                   "'..'", i, e);
            return HEALER_E_INVAL;
        }
        /* "memory/x", "/memory/x" and "<sys_root>/fs/cgroup/memory/x" name the same cgroup. */
        if (strncmp(e, base, bl) == 0 && (e[bl] == '/' || !e[bl]))
            e += bl;
        while (*e == '/')
            e++;
        char dir[HEALER_TARGET_MAX + PATH_MAX];
        snprintf(dir, sizeof dir, "%s/%s", base, e);
        if (memory_is_glob(e)) {
            char **g = realloc(s->globs, (s->n_globs + 1) * sizeof *g);
            if (!g)
                return HEALER_E_NOMEM;
            s->globs = g;
            if (!(s->globs[s->n_globs] = strdup(dir)))
                return HEALER_E_NOMEM;
            s->n_globs++;
            continue;
        }
        if (memory_cg_add(s, dir, 0) < 0) {
            h->log(ctx, HEALER_LOG_ERROR, "plugins.memory.cgroups: %zu entries: more than the %d "
                   "cgroups (MEMORY_MAX_CGROUPS) the plugin watches at most", ncg,
                   MEMORY_MAX_CGROUPS);
            return HEALER_E_INVAL;
        }
    }
    memory_cg_reindex(s);
    for (size_t g = 0; g < s->n_globs; g++) {
        const char *rel = s->globs[g] + bl + 1;
        size_t added = 0, over = memory_glob_expand(s, s->globs[g], &added);
        memory_cg_reindex(s);
        if (over) {
            h->log(ctx, HEALER_LOG_ERROR, "plugins.memory.cgroups: \"%s\" matches %zu cgroups "
                   "more than the %d (MEMORY_MAX_CGROUPS) the plugin watches at most: narrow "
                   "the glob", rel, over, MEMORY_MAX_CGROUPS);
            return HEALER_E_INVAL;
        }
        h->log(ctx, HEALER_LOG_INFO, "plugins.memory.cgroups: \"%s\" matches %zu cgroup(s)", rel,
               added);
    }
    s->next_rescan = h->now(ctx) + s->rescan_s;
    if ((s->n_cg || s->n_globs) && s->cg_events) {
        if (s->watched >= 16) {
            h->log(ctx, HEALER_LOG_WARN, "no cgroup usage events: 16 fds watched already");
        } else if ((s->epfd = epoll_create1(EPOLL_CLOEXEC)) < 0) {
            h->log(ctx, HEALER_LOG_WARN, "no cgroup usage events (epoll: %s): polling",
                   strerror(errno));
        } else if (h->watch_fd(ctx, s->epfd, POLLIN, memory_on_cg_event) != HEALER_OK) {
            h->log(ctx, HEALER_LOG_WARN, "no cgroup usage events (watch_fd: %s): polling",
                   h->last_message(ctx));
            close(s->epfd);
            s->epfd = -1;
        } else {
            s->watched++;
        }
    }
    if (s->n_cg || s->n_globs)
        h->log(ctx, HEALER_LOG_INFO, "cgroups: %zu watched (%zu glob(s), rescanned every %.0f s); "
               "quiet ones read every %.1f s, the others every interval; up to %zu files kept "
               "open", s->n_cg, s->n_globs, s->rescan_s, s->quiet_s, s->fd_budget);
    return HEALER_OK;
}

void memory_cgroups_free(memory *s)
{
    for (size_t i = 0; i < s->n_cg; i++)
        memory_cg_free(s, s->cg[i]);
    free(s->cg);
    free(s->cg_sorted);
    s->cg = s->cg_sorted = NULL;
    s->n_cg = s->cap_cg = s->n_sorted = 0;
    for (size_t g = 0; g < s->n_globs; g++)
        free(s->globs[g]);
    free(s->globs);
    s->globs = NULL;
    s->n_globs = 0;
    if (s->epfd >= 0) {
        s->h->unwatch_fd(s->ctx, s->epfd);
        close(s->epfd);
        s->epfd = -1;
    }
    for (int b = 0; b < MEMORY_EVENT_BUCKETS; b++)
        if (s->bucket_fd[b] >= 0) {
            close(s->bucket_fd[b]);
            s->bucket_fd[b] = -1;
        }
}
