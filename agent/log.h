/* log.h — the agent's log: one line per event on stderr. Text lines start with an ISO 8601 UTC
 * time and the level ("2025-05-01T10:00:00.123Z warn loader: /x/a.so: refused: ..."); when
 * stderr is the journal (JOURNAL_STREAM) the time gives way to the sd-daemon priority prefix
 * ("<4>warn loader: ..."), journald stamps the line itself. agent.log_format = "json" makes each
 * line one JSON object (time, level, component, message). Thread-safe; one write(2) per line. */
#ifndef AGENT_LOG_H
#define AGENT_LOG_H

#include <stdarg.h>
#include <sys/types.h>
#include "healer/types.h"

typedef enum { LOG_FORMAT_TEXT = 0, LOG_FORMAT_JSON = 1 } log_format;

/* log_level = "notice": errors, warnings and the notice line of every change the agent made,
 * without the info lines (syslog's order: warn < notice < info). Not one of the plugin ABI's
 * levels, so it has a value of its own that log_set_level and log_get_level carry. */
#define LOG_LEVEL_NOTICE ((healer_log_level)4)

void log_set_level(healer_log_level level);
healer_log_level log_get_level(void);
/* "error", "warn", "notice", "info", "debug" -> level; -1 when unknown. */
int log_level_parse(const char *text);
const char *log_level_name(healer_log_level level);
int log_enabled(healer_log_level level);

/* "text" or "json" -> format; -1 when unknown. */
int log_format_parse(const char *text);
const char *log_format_name(log_format f);
void log_set_format(log_format f);
log_format log_get_format(void);

/* 1 when journal_stream ("DEV:INODE", as systemd sets JOURNAL_STREAM) names the stream with
 * this device and inode; 0 otherwise (unset, malformed, another stream). */
int log_journal_matches(const char *journal_stream, dev_t dev, ino_t ino);
/* Looks at JOURNAL_STREAM and fstat(2) once: priority prefixes when stderr is the journal,
 * timestamps otherwise. Called at start (and by tests after they move fd 2). Returns the
 * choice (1 journal). */
int log_detect_journal(void);
/* Sets the choice directly: a plugin child (healerd-plugin) takes the agent's, its stderr being
 * the agent's. */
void log_set_journal(int on);
int log_get_journal(void);

/* who: the component ("engine", "loader", "plugin cpu"). */
void log_write(healer_log_level level, const char *who, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void log_vwrite(healer_log_level level, const char *who, const char *fmt, va_list ap);
/* The agent's notice level (syslog's LOG_NOTICE, between warn and info; not one of the plugin
 * ABI's levels): a change the agent made. Shown when log_level is notice, info or debug. */
void log_notice(const char *who, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int log_notice_enabled(void);

#define log_error(who, ...) log_write(HEALER_LOG_ERROR, who, __VA_ARGS__)
#define log_warn(who, ...) log_write(HEALER_LOG_WARN, who, __VA_ARGS__)
#define log_info(who, ...) log_write(HEALER_LOG_INFO, who, __VA_ARGS__)
#define log_debug(who, ...) log_write(HEALER_LOG_DEBUG, who, __VA_ARGS__)

#endif
