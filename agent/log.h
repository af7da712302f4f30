/* log.h — the agent's log: one line per event on stderr, level first
 * ("warn loader: /x/a.so: refused: ..."). Thread-safe; each line is written with one write(2). */
#ifndef AGENT_LOG_H
#define AGENT_LOG_H

#include <stdarg.h>
#include "healer/types.h"

void log_set_level(healer_log_level level);
healer_log_level log_get_level(void);
/* "error", "warn", "info", "debug" -> level; -1 when unknown. */
int log_level_parse(const char *text);
const char *log_level_name(healer_log_level level);
int log_enabled(healer_log_level level);

/* who: the component ("engine", "loader", "plugin cpu"). */
void log_write(healer_log_level level, const char *who, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void log_vwrite(healer_log_level level, const char *who, const char *fmt, va_list ap);

#define log_error(who, ...) log_write(HEALER_LOG_ERROR, who, __VA_ARGS__)
#define log_warn(who, ...) log_write(HEALER_LOG_WARN, who, __VA_ARGS__)
#define log_info(who, ...) log_write(HEALER_LOG_INFO, who, __VA_ARGS__)
#define log_debug(who, ...) log_write(HEALER_LOG_DEBUG, who, __VA_ARGS__)

#endif
