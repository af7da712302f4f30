/* rules_proc.c — the process half of the shared rules (rules.h): which processes are never
 * touched (PID 1, kernel threads, protect.names, oom_score_adj -1000) and which are system
 * processes (a uid outside the login range, nobody, DynamicUser, init.scope and system.slice).
 * Pure functions on text and SDK types, compiled into the agent and the mock host alike. */
#include "rules.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int say(char *why, size_t len, int rc, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int say(char *why, size_t len, int rc, const char *fmt, ...)
{
    if (why && len) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(why, len, fmt, ap);
        va_end(ap);
    }
    return rc;
}

/* ---- login.defs and cgroups ------------------------------------------------------------------ */

static int parse_uid(const char *s, unsigned *out)
{
    /* login.defs values are decimal (shadow also takes 0x and 0 prefixes: so do we). */
    char *end;
    if (*s == '-' || *s == '+')
        return -1;
    unsigned long long v = strtoull(s, &end, 0);
    if (end == s || v > 4294967294ull)
        return -1;
    while (*end == ' ' || *end == '\t' || *end == '\r')
        end++;
    if (*end && *end != '#')
        return -1;
    *out = (unsigned)v;
    return 0;
}

int healer_rules_login_defs(const char *text, unsigned *uid_min, unsigned *uid_max)
{
    int found = 0;
    const char *l = text;
    while (l && *l) {
        const char *nl = strchr(l, '\n');
        size_t n = nl ? (size_t)(nl - l) : strlen(l);
        char line[512];
        if (n < sizeof line) {
            memcpy(line, l, n);
            line[n] = '\0';
            char *k = line;
            while (*k == ' ' || *k == '\t')
                k++;
            char *v = k;
            while (*v && *v != ' ' && *v != '\t')
                v++;
            if (*v) {
                *v++ = '\0';
                while (*v == ' ' || *v == '\t')
                    v++;
                unsigned u;
                /* The last setting wins, as in shadow's getdef. */
                if (strcmp(k, "UID_MIN") == 0 && parse_uid(v, &u) == 0) {
                    *uid_min = u;
                    found |= 1;
                } else if (strcmp(k, "UID_MAX") == 0 && parse_uid(v, &u) == 0) {
                    *uid_max = u;
                    found |= 2;
                }
            }
        }
        l = nl ? nl + 1 : NULL;
    }
    return (found & 1) + ((found & 2) >> 1);
}

int healer_rules_cgroup_of(const char *text, char *out, size_t len)
{
    int best = 0;   /* 3 unified, 2 name=systemd, 1 any */
    const char *l = text;
    while (l && *l) {
        const char *nl = strchr(l, '\n');
        size_t n = nl ? (size_t)(nl - l) : strlen(l);
        /* "ID:controllers:path"; the controllers never hold ':' but the path may. */
        const char *c1 = memchr(l, ':', n);
        const char *c2 = c1 ? memchr(c1 + 1, ':', n - (size_t)(c1 + 1 - l)) : NULL;
        if (c2) {
            int rank = 1;
            if (c1 - l == 1 && l[0] == '0' && c2 == c1 + 1)
                rank = 3;
            else if ((size_t)(c2 - c1 - 1) == 12 && strncmp(c1 + 1, "name=systemd", 12) == 0)
                rank = 2;
            if (rank > best && out && len) {
                size_t pl = n - (size_t)(c2 + 1 - l);
                if (pl >= len)
                    pl = len - 1;
                memcpy(out, c2 + 1, pl);
                out[pl] = '\0';
                best = rank;
            }
        }
        l = nl ? nl + 1 : NULL;
    }
    return best ? 0 : -1;
}

/* path is prefix or below it ("/system.slice" holds "/system.slice/x.service"). */
static int cgroup_under(const char *path, const char *prefix)
{
    size_t pl = strlen(prefix);
    while (pl > 1 && prefix[pl - 1] == '/')
        pl--;
    if (pl == 1 && prefix[0] == '/')
        return path[0] == '/';
    return strncmp(path, prefix, pl) == 0 && (path[pl] == '\0' || path[pl] == '/');
}

int healer_rules_cgroup_is_system(const char *cgroup)
{
    return cgroup && (cgroup_under(cgroup, "/init.scope") || cgroup_under(cgroup, "/system.slice"));
}

/* ---- system processes ------------------------------------------------------------------------ */

const char *healer_rules_system_reason(const healer_proc *p, const char *cgroup,
                                       const healer_rules_protect *pr, char *why, size_t len)
{
    if (!p || !why || !len)
        return NULL;
    unsigned uid = (unsigned)p->uid;
    unsigned lo = pr ? pr->min_uid : HEALER_RULES_LOGIN_UID_MIN;
    unsigned hi = pr ? pr->max_uid : HEALER_RULES_LOGIN_UID_MAX;
    int uid_named = 0;
    for (size_t i = 0; pr && pr->scope_uids && i < pr->n_scope_uids; i++)
        uid_named |= (unsigned)pr->scope_uids[i] == uid;
    if (!uid_named) {
        if (uid == HEALER_RULES_UID_NOBODY) {
            snprintf(why, len, "uid %u is nobody", uid);
            return why;
        }
        if (uid >= HEALER_RULES_DYNAMIC_UID_MIN && uid <= HEALER_RULES_DYNAMIC_UID_MAX) {
            snprintf(why, len, "uid %u is in systemd's DynamicUser range %u-%u", uid,
                     HEALER_RULES_DYNAMIC_UID_MIN, HEALER_RULES_DYNAMIC_UID_MAX);
            return why;
        }
        if (uid < lo || uid > hi) {
            snprintf(why, len, "uid %u is outside the login range %u-%u (protect.min_uid, "
                     "/etc/login.defs)", uid, lo, hi);
            return why;
        }
    }
    if (healer_rules_cgroup_is_system(cgroup)) {
        /* A scope.cgroup inside the system's own cgroups names what is under it. */
        const char *sc = pr ? pr->scope_cgroup : NULL;
        if (!(sc && *sc && healer_rules_cgroup_is_system(sc) && cgroup_under(cgroup, sc))) {
            snprintf(why, len, "cgroup %s", cgroup);
            return why;
        }
    }
    return NULL;
}

/* ---- protection ------------------------------------------------------------------------------ */

static int name_matches(const char *comm, const char *name)
{
    if (!name || !*name)
        return 0;
    if (strcmp(comm, name) == 0)
        return 1;
    /* comm is cut at 15 bytes: "systemd-journald" shows as "systemd-journal". */
    size_t cl = strlen(comm);
    return cl == 15 && strlen(name) > 15 && strncmp(comm, name, 15) == 0;
}

int healer_rules_proc_protected(const healer_proc *p, const char *cgroup,
                                const healer_rules_protect *pr, int allow_system,
                                int system_denied, const char *plugin, char *why, size_t len)
{
    if (!p)
        return say(why, len, HEALER_E_INVAL, "no process");
    int pid = (int)p->pid;
    const char *nm = p->name;
    if (p->pid <= 0)
        return say(why, len, HEALER_E_INVAL, "pid %d: not a process id", pid);
    if (p->pid == 1)
        return say(why, len, HEALER_E_PROTECTED, "pid 1 (%s): protected: PID 1", nm);
    if (p->kernel_thread)
        return say(why, len, HEALER_E_PROTECTED, "pid %d (%s): protected: kernel thread", pid, nm);
    for (size_t i = 0; pr && i < pr->n_names; i++)
        if (name_matches(nm, pr->names[i]))
            return say(why, len, HEALER_E_PROTECTED, "pid %d (%s): protected by name "
                       "(protect.names)", pid, nm);
    if (p->oom_score_adj == -1000)
        return say(why, len, HEALER_E_PROTECTED, "pid %d (%s): protected: oom_score_adj -1000",
                   pid, nm);
    char sys[256];
    if (!allow_system && healer_rules_system_reason(p, cgroup, pr, sys, sizeof sys)) {
        if (system_denied)
            return say(why, len, HEALER_E_PROTECTED, "pid %d (%s): protected: system process "
                       "(%s); the action is flagged SYSTEM but plugins.%s.allow_system is not "
                       "set (healerd.conf): set it to true to allow it", pid, nm, sys,
                       plugin ? plugin : "<name>");
        return say(why, len, HEALER_E_PROTECTED, "pid %d (%s): protected: system process (%s)",
                   pid, nm, sys);
    }
    return HEALER_OK;
}
