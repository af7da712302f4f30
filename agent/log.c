/* log.c — the agent's log on stderr: one line per event in the chosen shape (text with a UTC
 * time, sd-daemon priority prefixes when stderr is the journal, or JSON), level filtering
 * settable at run time from any thread. Owns the level, the format, the journal choice and the
 * lock that keeps lines whole. */
#include "log.h"
#include "clock.h"
#include "sanitize.h"

#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* Longer messages are cut: a log line must fit one write(2) and stay readable. */
#define LOG_LINE_MAX 4096

static int g_level = HEALER_LOG_INFO;
static int g_notice = 1; /* notice lines shown (log_level notice, info or debug) */
static int g_format = LOG_FORMAT_TEXT;
static int g_journal;
/* write(2) of one buffer is atomic for pipes up to PIPE_BUF, but not for ttys or files
 * without O_APPEND, and a partial write needs a second call; the lock keeps even those
 * lines whole. */
static pthread_mutex_t g_write_lock = PTHREAD_MUTEX_INITIALIZER;

static const char *const level_names[] = {"error", "warn", "info", "debug"};
/* sd-daemon(3) priorities of the levels above (LOG_ERR, LOG_WARNING, LOG_INFO, LOG_DEBUG). */
static const int level_prio[] = {3, 4, 6, 7};
#define NOTICE_PRIO 5

void log_set_level(healer_log_level level)
{
    if (level == LOG_LEVEL_NOTICE) {
        __atomic_store_n(&g_notice, 1, __ATOMIC_RELAXED);
        __atomic_store_n(&g_level, HEALER_LOG_WARN, __ATOMIC_RELAXED);
        return;
    }
    if ((int)level < HEALER_LOG_ERROR)
        level = HEALER_LOG_ERROR;
    if ((int)level > HEALER_LOG_DEBUG)
        level = HEALER_LOG_DEBUG;
    __atomic_store_n(&g_notice, (int)level >= HEALER_LOG_INFO, __ATOMIC_RELAXED);
    __atomic_store_n(&g_level, (int)level, __ATOMIC_RELAXED);
}

healer_log_level log_get_level(void)
{
    int lvl = __atomic_load_n(&g_level, __ATOMIC_RELAXED);
    if (lvl == HEALER_LOG_WARN && __atomic_load_n(&g_notice, __ATOMIC_RELAXED))
        return LOG_LEVEL_NOTICE;
    return (healer_log_level)lvl;
}

int log_level_parse(const char *text)
{
    if (!text)
        return -1;
    for (int i = 0; i < (int)(sizeof level_names / sizeof level_names[0]); i++)
        if (strcasecmp(text, level_names[i]) == 0)
            return i;
    if (strcasecmp(text, "notice") == 0)
        return (int)LOG_LEVEL_NOTICE;
    return -1;
}

const char *log_level_name(healer_log_level level)
{
    if (level == LOG_LEVEL_NOTICE)
        return "notice";
    if ((int)level < HEALER_LOG_ERROR || (int)level > HEALER_LOG_DEBUG)
        return "unknown";
    return level_names[level];
}

int log_enabled(healer_log_level level)
{
    return (int)level <= __atomic_load_n(&g_level, __ATOMIC_RELAXED);
}

int log_format_parse(const char *text)
{
    if (!text)
        return -1;
    if (strcmp(text, "text") == 0)
        return LOG_FORMAT_TEXT;
    if (strcmp(text, "json") == 0)
        return LOG_FORMAT_JSON;
    return -1;
}

const char *log_format_name(log_format f)
{
    return f == LOG_FORMAT_JSON ? "json" : "text";
}

void log_set_format(log_format f)
{
    __atomic_store_n(&g_format, f == LOG_FORMAT_JSON ? LOG_FORMAT_JSON : LOG_FORMAT_TEXT,
                     __ATOMIC_RELAXED);
}

log_format log_get_format(void)
{
    return (log_format)__atomic_load_n(&g_format, __ATOMIC_RELAXED);
}

int log_journal_matches(const char *js, dev_t dev, ino_t ino)
{
    if (!js || !*js)
        return 0;
    char *end;
    errno = 0;
    unsigned long long d = strtoull(js, &end, 10);
    if (errno || end == js || *end != ':')
        return 0;
    const char *p = end + 1;
    unsigned long long i = strtoull(p, &end, 10);
    if (errno || end == p || *end)
        return 0;
    return d == (unsigned long long)dev && i == (unsigned long long)ino;
}

int log_detect_journal(void)
{
    /* systemd sets JOURNAL_STREAM for a service whose stdout or stderr is the journal; it is
     * inherited by whatever the service runs, so only a match with fd 2 itself counts (a
     * redirected stderr, `healerd 2>file`, gets timestamps). */
    struct stat st;
    int on = fstat(STDERR_FILENO, &st) == 0 &&
             log_journal_matches(getenv("JOURNAL_STREAM"), st.st_dev, st.st_ino);
    __atomic_store_n(&g_journal, on, __ATOMIC_RELAXED);
    return on;
}

void log_set_journal(int on)
{
    __atomic_store_n(&g_journal, on ? 1 : 0, __ATOMIC_RELAXED);
}

int log_get_journal(void)
{
    return __atomic_load_n(&g_journal, __ATOMIC_RELAXED);
}

static void write_all(int fd, const char *buf, size_t len)
{
    while (len > 0) {
        ssize_t n = write(fd, buf, len);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return; /* nowhere left to report a failing stderr */
        }
        buf += n;
        len -= (size_t)n;
    }
}

/* RFC 3339 / ISO 8601 in UTC with milliseconds, as audit.jsonl writes its times, so a log line
 * and its audit line compare at a glance whatever the host's zone. */
static void format_time(char *out, size_t len)
{
    double now = clock_now();
    if (!isfinite(now) || now < 0)
        now = 0;
    time_t secs = (time_t)now;
    unsigned ms = (unsigned)((now - (double)secs) * 1000.0) % 1000u;
    struct tm tm;
    gmtime_r(&secs, &tm);
    char base[24];
    if (strftime(base, sizeof base, "%Y-%m-%dT%H:%M:%S", &tm) == 0)
        base[0] = '\0';
    snprintf(out, len, "%.23s.%03uZ", base, ms);
}

/* The message, sanitized and cut to fit, into out (NUL-terminated); returns its length. */
static size_t format_message(char *out, size_t room, const char *fmt, va_list ap)
{
    size_t len = 0;
    out[0] = '\0';
    if (fmt) {
        /* The message quotes outside strings (process names, paths, a command's output): an
         * ESC or BEL in one must not drive the reader's terminal, and a newline would forge a
         * second log line. The sanitizer escapes them (newlines and tabs become spaces). */
        char raw[LOG_LINE_MAX];
        int n = vsnprintf(raw, sizeof raw, fmt, ap);
        if (n > 0) {
            size_t rl = (size_t)n < sizeof raw ? (size_t)n : sizeof raw - 1;
            /* Room kept for "..."; the sanitizer never cuts a character. */
            size_t r = room - 4;
            size_t need = sanitize_to(raw, rl, out, r, SANITIZE_SPACE_WS);
            len = strlen(out);
            if (need >= r || (size_t)n >= sizeof raw) {
                memcpy(out + len, "...", 4);
                len += 3;
            }
        }
    }
    while (len > 0 && out[len - 1] == ' ')
        out[--len] = '\0';
    return len;
}

static void emit(int prio, const char *lname, const char *who, const char *fmt, va_list ap)
{
    int saved_errno = errno; /* callers often log strerror(errno) and then test errno */
    if (!who)
        who = "healerd";
    int journal = __atomic_load_n(&g_journal, __ATOMIC_RELAXED);
    int json = __atomic_load_n(&g_format, __ATOMIC_RELAXED) == LOG_FORMAT_JSON;
    char line[LOG_LINE_MAX];
    char prefix[48], stamp[40];
    stamp[0] = '\0';
    if (json || !journal)
        format_time(stamp, sizeof stamp);
    /* journald reads "<N>" as the line's priority and stamps the line itself */
    if (journal)
        snprintf(prefix, sizeof prefix, "<%d>", prio);
    else
        prefix[0] = '\0';
    if (json) {
        char msg[LOG_LINE_MAX];
        format_message(msg, sizeof msg, fmt, ap);
        char cwho[256];
        sanitize_to(who, strlen(who), cwho, sizeof cwho, SANITIZE_SPACE_WS);
        /* jansson does the escaping; the sanitizer's output is valid UTF-8, which it needs */
        json_t *o = json_pack("{s:s, s:s, s:s, s:s}", "time", stamp, "level", lname,
                              "component", cwho, "message", msg);
        char *text = o ? json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
        json_decref(o);
        if (text) {
            size_t pl = strlen(prefix), tl = strlen(text);
            char *out = malloc(pl + tl + 2);
            if (out) {
                memcpy(out, prefix, pl);
                memcpy(out + pl, text, tl);
                out[pl + tl] = '\n';
                pthread_mutex_lock(&g_write_lock);
                write_all(STDERR_FILENO, out, pl + tl + 1);
                pthread_mutex_unlock(&g_write_lock);
                free(out);
            }
            free(text);
        }
        errno = saved_errno;
        return;
    }
    int head = snprintf(line, sizeof line, "%s%s%s%s %s: ", prefix, stamp, *stamp ? " " : "",
                        lname, who);
    if (head < 0 || (size_t)head >= sizeof line - 8)
        head = (int)sizeof line - 8; /* keeps room for "...\n" below */
    size_t len = (size_t)head;
    len += format_message(line + len, sizeof line - len - 1, fmt, ap);
    while (len > (size_t)head && line[len - 1] == ' ')
        len--;
    line[len++] = '\n';
    pthread_mutex_lock(&g_write_lock);
    write_all(STDERR_FILENO, line, len);
    pthread_mutex_unlock(&g_write_lock);
    errno = saved_errno;
}

void log_vwrite(healer_log_level level, const char *who, const char *fmt, va_list ap)
{
    if (!log_enabled(level))
        return;
    int l = (int)level < HEALER_LOG_ERROR ? HEALER_LOG_ERROR : (int)level;
    emit(level_prio[l], level_names[l], who, fmt, ap);
}

void log_write(healer_log_level level, const char *who, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    log_vwrite(level, who, fmt, ap);
    va_end(ap);
}

int log_notice_enabled(void)
{
    return __atomic_load_n(&g_notice, __ATOMIC_RELAXED);
}

void log_notice(const char *who, const char *fmt, ...)
{
    if (!__atomic_load_n(&g_notice, __ATOMIC_RELAXED))
        return;
    va_list ap;
    va_start(ap, fmt);
    emit(NOTICE_PRIO, "notice", who, fmt, ap);
    va_end(ap);
}
