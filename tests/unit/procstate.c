/* procstate.c — a test's view of a process it started (procstate.h). */
#include "procstate.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

char proc_state(pid_t pid)
{
    char path[64], buf[512];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return '?';
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    /* the state follows the command name's closing parenthesis (a name may hold one) */
    char *rp = strrchr(buf, ')');
    return rp && rp[1] == ' ' ? rp[2] : '?';
}

int wait_state(pid_t pid, int stopped)
{
    for (int i = 0; i < 300; i++) {
        if ((proc_state(pid) == 'T') == stopped)
            return 1;
        struct timespec ts = { 0, 10000000 };
        nanosleep(&ts, NULL);
    }
    return 0;
}
