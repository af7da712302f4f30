/* sdnotify.h — systemd's readiness/watchdog protocol (sd_notify(3)) without libsystemd:
 * datagrams on $NOTIFY_SOCKET (a path, or "@name" for the abstract namespace), and the
 * watchdog interval from $WATCHDOG_USEC/$WATCHDOG_PID. Harmless when not run by systemd. */
#ifndef AGENT_SDNOTIFY_H
#define AGENT_SDNOTIFY_H

/* Sends state (e.g. "READY=1", "STATUS=healthy", "WATCHDOG=1", "STOPPING=1") as one datagram.
 * Lines may be joined with '\n' to send several assignments at once.
 * Returns HEALER_OK when sent or when NOTIFY_SOCKET is unset (not under systemd), or a
 * negative healer_rc: HEALER_E_INVAL (NULL/empty state, unusable NOTIFY_SOCKET value),
 * HEALER_E_IO (socket/sendmsg failed; errno is left set). Thread-safe, async-signal-unsafe. */
int sdnotify_send(const char *state);

/* printf-style convenience: sdnotify_sendf("STATUS=%d issues open", n). */
int sdnotify_sendf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* "RELOADING=1" with "MONOTONIC_USEC=<now>" (CLOCK_MONOTONIC, microseconds), as
 * Type=notify-reload requires since systemd 253; older systemd ignores the extra field.
 * Follow with sdnotify_send("READY=1") once the new config is in force. */
int sdnotify_reloading(void);

/* The watchdog interval in seconds from $WATCHDOG_USEC, or 0 when there is none: unset,
 * unparsable, zero, or $WATCHDOG_PID set to another process (the variable was inherited by
 * a child and is not meant for us). Ping with "WATCHDOG=1" at half of it. */
double sdnotify_watchdog_interval(void);

#endif
