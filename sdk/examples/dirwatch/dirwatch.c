/* dirwatch.c — example healerd plugin, written as a third party would, against the installed
 * SDK only: watches one directory's size, raises dir_oversize when it grows past a limit, and
 * heals it by asking the host to remove old files (rotated ones first). */
#include <healer/healer.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define DIRWATCH_ISSUE "dir_oversize"
#define DIRWATCH_ACTION "remove_old_files"
#define DIRWATCH_MAX_DEPTH 32   /* deeper trees are not counted: bounded work per detect() */

typedef struct dirwatch {
    const healer_host *host;
    healer_ctx *ctx;
    char dir[HEALER_TARGET_MAX];
    long long max_bytes;
    double max_age_days;
    int auto_delete;
    int over;            /* we published dir_oversize and have not resolved it yet */
    int missing;         /* the directory was missing at the last detect (logged once) */
} dirwatch;

static const char *const dirwatch_issue_types[] = {DIRWATCH_ISSUE, NULL};

static const healer_config_key dirwatch_config[] = {
    {"directory", HEALER_CFG_STRING, NULL, 0, 0,
     "absolute path of the directory to watch (required)"},
    {"max_bytes", HEALER_CFG_INT, "104857600", 1, 1e15,
     "total size of the regular files in it above which dir_oversize is raised"},
    {"max_age_days", HEALER_CFG_DOUBLE, "7", 0, 36500,
     "remove_old_files removes files older than this many days"},
    {"auto_delete", HEALER_CFG_BOOL, "false", 0, 0,
     "let remove_old_files run without confirmation (it deletes files)"},
    {NULL, 0, NULL, 0, 0, NULL}
};

/* Adds the sizes of the regular files under the open directory fd (which it closes). Never
 * follows symlinks and stays on one filesystem, as du -x does. */
static int dirwatch_sum(int fd, dev_t dev, int depth, unsigned long long *total)
{
    DIR *d = fdopendir(fd);
    if (!d) {
        int e = errno;
        close(fd);
        errno = e;
        return -1;
    }
    struct dirent *de;
    while ((de = readdir(d))) {
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        struct stat st;
        if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0)
            continue;   /* removed while we looked: not an error */
        if (S_ISREG(st.st_mode)) {
            *total += (unsigned long long)st.st_size;
        } else if (S_ISDIR(st.st_mode) && st.st_dev == dev && depth < DIRWATCH_MAX_DEPTH) {
            int sub = openat(dirfd(d), de->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
            if (sub >= 0)
                dirwatch_sum(sub, dev, depth + 1, total);
        }
    }
    closedir(d);
    return 0;
}

/* Total bytes of the regular files under dir; -1 with errno when dir cannot be read. */
static int dirwatch_measure(const char *dir, unsigned long long *total)
{
    *total = 0;
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    struct stat st;
    if (fstat(fd, &st) != 0) {
        int e = errno;
        close(fd);
        errno = e;
        return -1;
    }
    return dirwatch_sum(fd, st.st_dev, 0, total);
}

/* 100 at or below the limit, falling linearly to 0 at twice the limit. */
static double dirwatch_health(unsigned long long bytes, long long limit)
{
    double l = (double)limit, b = (double)bytes;
    if (b <= l)
        return 100.0;
    if (b >= 2 * l)
        return 0.0;
    return 100.0 * (2 * l - b) / l;
}

static healer_severity dirwatch_severity(unsigned long long bytes, long long limit)
{
    double l = (double)limit, b = (double)bytes;
    if (b > 2 * l)
        return HEALER_SEV_CRITICAL;
    if (b > 1.5 * l)
        return HEALER_SEV_HIGH;
    return HEALER_SEV_MEDIUM;
}

static int dirwatch_init(const healer_host *host, healer_ctx *ctx, void **state)
{
    const char *dir = host->config_string(ctx, "directory");
    if (!dir || !*dir) {
        host->log(ctx, HEALER_LOG_ERROR, "plugins.dirwatch.directory is not set; set it to the "
                  "absolute path of the directory to watch");
        return HEALER_E_INVAL;
    }
    if (dir[0] != '/' || strlen(dir) >= HEALER_TARGET_MAX) {
        host->log(ctx, HEALER_LOG_ERROR, "plugins.dirwatch.directory = \"%s\": must be an "
                  "absolute path shorter than %d characters", dir, HEALER_TARGET_MAX);
        return HEALER_E_INVAL;
    }
    dirwatch *w = calloc(1, sizeof *w);
    if (!w)
        return HEALER_E_NOMEM;
    w->host = host;
    w->ctx = ctx;
    snprintf(w->dir, sizeof w->dir, "%s", dir);
    /* "/var/log/" and "/var/log" are the same target for merging and cooldowns. */
    for (size_t n = strlen(w->dir); n > 1 && w->dir[n - 1] == '/'; n--)
        w->dir[n - 1] = '\0';
    w->max_bytes = host->config_int(ctx, "max_bytes");
    w->max_age_days = host->config_double(ctx, "max_age_days");
    w->auto_delete = host->config_bool(ctx, "auto_delete");

    int rc = host->declare_path(ctx, w->dir);
    if (rc < 0) {
        host->log(ctx, HEALER_LOG_ERROR, "cannot declare %s: %s", w->dir,
                  host->last_message(ctx));
        free(w);
        return rc;
    }
    host->log(ctx, HEALER_LOG_INFO, "watching %s: limit %lld bytes, files older than %g days "
              "may be removed%s", w->dir, w->max_bytes, w->max_age_days,
              w->auto_delete ? " automatically" : " after confirmation");
    *state = w;
    return HEALER_OK;
}

static void dirwatch_destroy(void *state)
{
    free(state);
}

static int dirwatch_detect(void *state)
{
    dirwatch *w = state;
    const healer_host *h = w->host;
    unsigned long long bytes;

    if (dirwatch_measure(w->dir, &bytes) != 0) {
        /* Logged once per disappearance, not every interval. */
        if (!w->missing)
            h->log(w->ctx, HEALER_LOG_WARN, "cannot read %s: %s; nothing to watch until it "
                   "exists", w->dir, strerror(errno));
        w->missing = 1;
        return HEALER_OK;
    }
    if (w->missing)
        h->log(w->ctx, HEALER_LOG_INFO, "%s is readable again", w->dir);
    w->missing = 0;

    healer_kv label = {"directory", w->dir};
    h->metric(w->ctx, HEALER_METRIC_GAUGE, "dirwatch_bytes",
              "Total size of the regular files in the watched directory", &label, 1,
              (double)bytes);
    h->report_health(w->ctx, w->dir, dirwatch_health(bytes, w->max_bytes));

    if (bytes > (unsigned long long)w->max_bytes) {
        char summary[HEALER_MSG_MAX];
        snprintf(summary, sizeof summary, "%s holds %llu bytes, over its limit of %lld (%.0f%%)",
                 w->dir, bytes, w->max_bytes, 100.0 * (double)bytes / (double)w->max_bytes);
        healer_measurement ms[] = {
            {"dir_bytes", (double)bytes},
            {"limit_bytes", (double)w->max_bytes},
        };
        healer_issue issue = {
            .type = DIRWATCH_ISSUE,
            .severity = dirwatch_severity(bytes, w->max_bytes),
            .target = w->dir,
            .summary = summary,
            .measurements = ms,
            .n_measurements = sizeof ms / sizeof ms[0],
        };
        int rc = h->publish_issue(w->ctx, &issue);
        if (rc < 0) {
            h->log(w->ctx, HEALER_LOG_WARN, "publish %s for %s: %s", DIRWATCH_ISSUE, w->dir,
                   healer_rc_str(rc));
            return rc;
        }
        w->over = 1;
    } else if (w->over) {
        int rc = h->resolve_issue(w->ctx, DIRWATCH_ISSUE, w->dir);
        if (rc < 0)
            return rc;   /* try again next interval */
        w->over = 0;
    }
    return HEALER_OK;
}

static int dirwatch_plan(void *state, const healer_issue *issue, healer_plan *plan)
{
    dirwatch *w = state;
    /* Another plugin could raise dir_oversize for a directory we do not own: leave it. */
    if (strcmp(issue->type, DIRWATCH_ISSUE) != 0 || !issue->target ||
        strcmp(issue->target, w->dir) != 0)
        return HEALER_OK;

    char days[32], desc[HEALER_MSG_MAX];
    snprintf(days, sizeof days, "%g", w->max_age_days);
    snprintf(desc, sizeof desc, "remove files older than %g days from %s, rotated logs first",
             w->max_age_days, w->dir);
    healer_kv params[] = {{"older_than_days", days}};
    healer_action a = {
        .name = DIRWATCH_ACTION,
        .target = w->dir,
        .description = desc,
        .step = 0,
        .impact = 0.2,
        .confidence = 0.6,
        .flags = HEALER_ACTION_DELETES | (w->auto_delete ? HEALER_ACTION_AUTO_OK : 0u),
        .params = params,
        .n_params = 1,
    };
    return w->host->plan_add_action(plan, &a);
}

static int dirwatch_execute(void *state, const healer_issue *issue, const healer_action *action,
                            healer_result *result)
{
    dirwatch *w = state;
    const healer_host *h = w->host;
    (void)issue;
    if (strcmp(action->name, DIRWATCH_ACTION) != 0) {
        result->outcome = HEALER_OUTCOME_FAILED;
        snprintf(result->message, sizeof result->message, "unknown action %s", action->name);
        return HEALER_E_INVAL;
    }
    /* The age travels with the action, so a plan confirmed after a reload still does what the
     * operator was shown. */
    double days = w->max_age_days;
    for (size_t i = 0; i < action->n_params; i++)
        if (strcmp(action->params[i].key, "older_than_days") == 0) {
            char *end;
            double d = strtod(action->params[i].value, &end);
            if (end != action->params[i].value && *end == '\0' && d >= 0)
                days = d;
        }

    healer_remove_opts opts;
    memset(&opts, 0, sizeof opts);
    opts.recursive = 1;
    opts.rotated_first = 1;
    /* Freeing down to the limit is enough: keep the rest of the history. */
    unsigned long long before = 0;
    if (dirwatch_measure(w->dir, &before) == 0 && before > (unsigned long long)w->max_bytes)
        opts.stop_after_bytes = before - (unsigned long long)w->max_bytes;

    uint64_t freed = 0, count = 0;
    int rc = h->act_remove_old_files(w->ctx, w->dir, days, &opts, &freed, &count);
    result->measurements[0] = (healer_measurement){"freed_bytes", (double)freed};
    result->measurements[1] = (healer_measurement){"files_removed", (double)count};
    result->n_measurements = 2;
    if (rc == HEALER_DRY_RUN) {
        result->outcome = HEALER_OUTCOME_DRY_RUN;
        snprintf(result->message, sizeof result->message,
                 "would free %llu bytes in %llu file(s) older than %g days from %s",
                 (unsigned long long)freed,
                 (unsigned long long)count, days, w->dir);
        return HEALER_OK;
    }
    if (rc < 0) {
        result->outcome = HEALER_OUTCOME_FAILED;
        snprintf(result->message, sizeof result->message, "remove_old_files %s: %s", w->dir,
                 h->last_message(w->ctx));
        return HEALER_OK;
    }
    if (count == 0) {
        result->outcome = HEALER_OUTCOME_SKIPPED;
        snprintf(result->message, sizeof result->message, "no file older than %g days in %s",
                 days, w->dir);
        return HEALER_OK;
    }
    unsigned long long after;
    if (dirwatch_measure(w->dir, &after) == 0) {
        result->measurements[2] = (healer_measurement){"dir_bytes", (double)after};
        result->n_measurements = 3;
    }
    result->outcome = HEALER_OUTCOME_DONE;
    snprintf(result->message, sizeof result->message, "freed %llu bytes in %llu file(s) from %s",
             (unsigned long long)freed, (unsigned long long)count, w->dir);
    return HEALER_OK;
}

static int dirwatch_verify(void *state, const healer_issue *issue, const healer_action *action,
                           healer_verdict *verdict)
{
    dirwatch *w = state;
    (void)issue;
    (void)action;
    unsigned long long bytes;
    if (dirwatch_measure(w->dir, &bytes) != 0) {
        snprintf(verdict->message, sizeof verdict->message, "cannot read %s: %s", w->dir,
                 strerror(errno));
        return HEALER_E_IO;
    }
    verdict->healed = bytes <= (unsigned long long)w->max_bytes;
    verdict->measurements[0] = (healer_measurement){"dir_bytes", (double)bytes};
    verdict->measurements[1] = (healer_measurement){"limit_bytes", (double)w->max_bytes};
    verdict->n_measurements = 2;
    snprintf(verdict->message, sizeof verdict->message, "%s holds %llu bytes, limit %lld: %s",
             w->dir, bytes, w->max_bytes, verdict->healed ? "healed" : "still over");
    return HEALER_OK;
}

static const healer_plugin dirwatch_descriptor = {
    .struct_size = sizeof(healer_plugin),
    .abi_major = HEALER_ABI_MAJOR,
    .abi_minor = HEALER_ABI_MINOR,
    .name = "dirwatch",
    .version = "1.0.0",
    .description = "keeps one directory under a size limit by removing old files",
    .issue_types = dirwatch_issue_types,
    .config = dirwatch_config,
    .interval = 0,
    .init = dirwatch_init,
    .destroy = dirwatch_destroy,
    .detect = dirwatch_detect,
    .plan = dirwatch_plan,
    .execute = dirwatch_execute,
    .verify = dirwatch_verify,
};

HEALER_PLUGIN(dirwatch_descriptor)
