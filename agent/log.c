/* log.c — the agent's log on stderr: "LEVEL WHO: message\n", level filtering settable at run
 * time from any thread. Owns nothing but the current level and the lock that keeps lines
 * whole. */
#include "log.h"
#include "sanitize.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

/* Longer messages are cut: a log line must fit one write(2) and stay readable. */
#define LOG_LINE_MAX 4096

static int g_level = HEALER_LOG_INFO;
/* write(2) of one buffer is atomic for pipes up to PIPE_BUF, but not for ttys or files
 * without O_APPEND, and a partial write needs a second call; the lock keeps even those
 * lines whole. */
static pthread_mutex_t g_write_lock = PTHREAD_MUTEX_INITIALIZER;

static const char *const level_names[] = {"error", "warn", "info", "debug"};

void log_set_level(healer_log_level level)
{
    if ((int)level < HEALER_LOG_ERROR)
        level = HEALER_LOG_ERROR;
    if ((int)level > HEALER_LOG_DEBUG)
        level = HEALER_LOG_DEBUG;
    __atomic_store_n(&g_level, (int)level, __ATOMIC_RELAXED);
}

healer_log_level log_get_level(void)
{
    return (healer_log_level)__atomic_load_n(&g_level, __ATOMIC_RELAXED);
}

int log_level_parse(const char *text)
{
    if (!text)
        return -1;
    for (int i = 0; i < (int)(sizeof level_names / sizeof level_names[0]); i++)
        if (strcasecmp(text, level_names[i]) == 0)
            return i;
    return -1;
}

const char *log_level_name(healer_log_level level)
{
    if ((int)level < HEALER_LOG_ERROR || (int)level > HEALER_LOG_DEBUG)
        return "unknown";
    return level_names[level];
}

int log_enabled(healer_log_level level)
{
    return (int)level <= __atomic_load_n(&g_level, __ATOMIC_RELAXED);
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

void log_vwrite(healer_log_level level, const char *who, const char *fmt, va_list ap)
{
    if (!log_enabled(level))
        return;
    int saved_errno = errno; /* callers often log strerror(errno) and then test errno */
    char line[LOG_LINE_MAX];
    int head = snprintf(line, sizeof line, "%s %s: ", log_level_name(level), who ? who : "healerd");
    if (head < 0 || (size_t)head >= sizeof line - 8)
        head = (int)sizeof line - 8; /* keeps room for "...\n" below */
    size_t len = (size_t)head;
    if (fmt) {
        /* The message quotes outside strings (process names, paths, a command's output): an
         * ESC or BEL in one must not drive the reader's terminal, and a newline would forge a
         * second log line. The sanitizer escapes them (newlines and tabs become spaces). */
        char raw[LOG_LINE_MAX];
        int n = vsnprintf(raw, sizeof raw, fmt, ap);
        if (n > 0) {
            size_t rl = (size_t)n < sizeof raw ? (size_t)n : sizeof raw - 1;
            /* Room kept for "..." and the newline; the sanitizer never cuts a character. */
            size_t room = sizeof line - len - 4;
            size_t need = sanitize_to(raw, rl, line + len, room, SANITIZE_SPACE_WS);
            len += strlen(line + len);
            if (need >= room || (size_t)n >= sizeof raw) {
                memcpy(line + len, "...", 3);
                len += 3;
            }
        }
    }
    while (len > (size_t)head && line[len - 1] == ' ')
        len--;
    line[len++] = '\n';
    pthread_mutex_lock(&g_write_lock);
    write_all(STDERR_FILENO, line, len);
    pthread_mutex_unlock(&g_write_lock);
    errno = saved_errno;
}

void log_write(healer_log_level level, const char *who, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    log_vwrite(level, who, fmt, ap);
    va_end(ap);
}
