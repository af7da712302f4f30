/* rules_policy.c — the path and policy half of the shared rules (rules.h): path normalisation,
 * declare_path, the procfs/sysfs hard deny list and the operator's write_allow/paths_allow,
 * which flags of a plugin are honoured and the built-ins' default policies (process protection
 * is in rules_proc.c). Compiled into the agent and the mock host alike. */
#include "rules.h"

#include <fnmatch.h>
#include <limits.h>
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

/* ---- paths ------------------------------------------------------------------------------ */

int healer_rules_normalize(const char *path, char *out, size_t len)
{
    if (!path || path[0] != '/' || !out || len < 2)
        return -1;
    size_t n = 0;
    const char *p = path;
    while (*p) {
        while (*p == '/')
            p++;
        if (!*p)
            break;
        const char *e = strchr(p, '/');
        size_t cl = e ? (size_t)(e - p) : strlen(p);
        if (cl == 1 && p[0] == '.') {
            p += cl;
            continue;
        }
        if (cl == 2 && p[0] == '.' && p[1] == '.')
            return -1;
        if (n + 1 + cl + 1 > len)
            return -1;
        out[n++] = '/';
        memcpy(out + n, p, cl);
        n += cl;
        p += cl;
    }
    if (n == 0)
        out[n++] = '/';
    out[n] = '\0';
    return 0;
}

int healer_rules_path_under(const char *path, const char *base)
{
    if (!path || !base)
        return 0;
    size_t n = strlen(base);
    while (n > 1 && base[n - 1] == '/')
        n--;
    if (n == 1 && base[0] == '/')
        return path[0] == '/';
    return strncmp(path, base, n) == 0 && (path[n] == '\0' || path[n] == '/');
}

/* ---- the hard deny list ------------------------------------------------------------------
 * Files under procfs and sysfs that hand root code execution, persistence or the machine's
 * security switches to whoever writes them. No operator setting opens them: a healer never
 * needs them, and a plugin (or a config) that asks for one is the attack. Patterns are
 * fnmatch(3) without FNM_PATHNAME ('*' crosses '/'); a trailing '/' covers everything below. */
static const struct {
    const char *pattern;
    const char *reason;
} denied[] = {
    {"proc/sys/kernel/core_pattern", "a pipe there runs any program as root on the next crash"},
    {"proc/sys/kernel/modprobe", "the kernel runs it as root to load modules"},
    {"proc/sys/kernel/hotplug", "the kernel runs it as root on every device event"},
    {"proc/sys/kernel/poweroff_cmd", "the kernel runs it as root on an orderly power-off"},
    {"proc/sys/kernel/kexec*", "kexec boots another kernel"},
    {"proc/sys/kernel/sysrq", "magic SysRq can reboot, crash or kill everything"},
    {"proc/sysrq-trigger", "magic SysRq can reboot, crash or kill everything"},
    {"proc/sys/kernel/modules_disabled", "the module loading switch"},
    {"proc/sys/kernel/kptr_restrict", "a kernel hardening switch"},
    {"proc/sys/kernel/dmesg_restrict", "a kernel hardening switch"},
    {"proc/sys/kernel/perf_event_paranoid", "a kernel hardening switch"},
    {"proc/sys/kernel/unprivileged_*", "a kernel hardening switch"},
    {"proc/sys/kernel/yama/", "ptrace restrictions"},
    {"proc/sys/kernel/randomize_va_space", "address space randomisation"},
    {"proc/sys/kernel/ns_last_pid", "chooses the next pid (pid reuse attacks)"},
    {"proc/sys/vm/mmap_min_addr", "NULL-dereference hardening"},
    {"proc/sys/fs/binfmt_misc/", "registers an interpreter the kernel runs for matching files"},
    {"proc/sys/fs/suid_dumpable", "core dumps of setuid programs"},
    {"proc/sys/fs/protected_*", "symlink, hardlink, fifo and regular-file hardening"},
    {"proc/sys/net/core/bpf_jit*", "the BPF JIT hardening switches"},
    {"proc/[0-9]*/mem", "another process's memory"},
    {"proc/[0-9]*/attr/", "another process's security labels"},
    {"proc/[0-9]*/[ug]id_map", "another namespace's id mapping"},
    {"proc/[0-9]*/setgroups", "another namespace's id mapping"},
    {"proc/[0-9]*/task/", "another process's threads' files"},
    {"sys/kernel/uevent_helper", "the kernel runs it as root on every device event"},
    {"sys/kernel/kexec*", "kexec boots another kernel"},
    {"sys/kernel/security/", "LSM and IMA policy loading"},
    {"sys/kernel/debug/", "debugfs reaches into the kernel"},
    {"sys/kernel/tracing/", "tracefs probes run in the kernel"},
    {"sys/kernel/config/", "configfs (ACPI tables, USB gadgets, targets)"},
    {"sys/module/*/parameters/", "module parameters change a loaded driver's behaviour"},
    {"sys/firmware/", "firmware variables and tables (EFI, ACPI)"},
    {"sys/class/firmware/", "feeds firmware to a device"},
    {"sys/devices/*/firmware/*", "feeds firmware to a device"},
    {"sys/devices/*/driver_override", "binds a device to another driver"},
    {"sys/bus/*/drivers/*/bind", "binds a device to another driver"},
    {"sys/bus/*/drivers/*/unbind", "unbinds a device from its driver"},
    {"sys/bus/*/drivers/*/new_id", "binds devices to a driver"},
    {"sys/bus/*/drivers_probe", "binds a device to another driver"},
    {"sys/power/", "suspends, hibernates or resumes the machine"},
    {"sys/fs/bpf/", "pinned BPF programs"},
    {"sys/fs/cgroup/*release_agent", "the kernel runs it as root"},
};

const char *healer_rules_denied_pattern(size_t i, const char **reason)
{
    if (i >= sizeof denied / sizeof denied[0])
        return NULL;
    if (reason)
        *reason = denied[i].reason;
    return denied[i].pattern;
}

/* An allow/deny pattern against "proc/..." or "sys/...": fnmatch, a trailing '/' = below. */
static int pattern_matches(const char *pattern, const char *path)
{
    size_t n = strlen(pattern);
    if (n && pattern[n - 1] == '/') {
        char buf[PATH_MAX];
        if (n + 2 > sizeof buf)
            return 0;
        memcpy(buf, pattern, n);
        buf[n] = '*';
        buf[n + 1] = '\0';
        char dir[PATH_MAX];
        memcpy(dir, pattern, n - 1);
        dir[n - 1] = '\0';
        return fnmatch(buf, path, 0) == 0 || fnmatch(dir, path, 0) == 0;
    }
    if (fnmatch(pattern, path, 0) == 0)
        return 1;
    /* Without a trailing '/', a pattern naming a directory covers what is below it. */
    char buf[PATH_MAX];
    if (n + 3 > sizeof buf)
        return 0;
    memcpy(buf, pattern, n);
    memcpy(buf + n, "/*", 3);
    return fnmatch(buf, path, 0) == 0;
}

int healer_rules_check_write(char root, const char *rel, const healer_rules_policy *pol,
                             char *why, size_t len)
{
    char full[PATH_MAX];
    while (rel && *rel == '/')
        rel++;
    if (!rel || (root != 'p' && root != 's'))
        return say(why, len, HEALER_E_INVAL, "write_file: no path");
    snprintf(full, sizeof full, "%s/%s", root == 'p' ? "proc" : "sys", rel);
    for (size_t i = 0; i < sizeof denied / sizeof denied[0]; i++)
        if (pattern_matches(denied[i].pattern, full))
            return say(why, len, HEALER_E_PROTECTED, "write to %s refused: protected (%s: %s); no "
                       "setting allows it", full, denied[i].pattern, denied[i].reason);
    const char *plugin = pol && pol->plugin ? pol->plugin : "<name>";
    for (size_t i = 0; pol && i < pol->n_write_allow; i++)
        if (pol->write_allow[i] && pattern_matches(pol->write_allow[i], full))
            return HEALER_OK;
    return say(why, len, HEALER_E_SCOPE, "write to %s refused: not in plugins.%s.write_allow "
               "(healerd.conf): add \"%s\" to allow it", full, plugin, full);
}

/* ---- the operator's policy ---------------------------------------------------------------- */

static const char *const disk_keys[] = { "log_dirs", "tmp_dirs", NULL };
static const char *const nixconfig_keys[] = { "dir:config_file", "backup_dir", "dir:state_file",
                                              NULL };

static const healer_rules_builtin builtins[] = {
    {"cpu", "sys/devices/system/cpu/", "", 0, 0, NULL, 0, 0},
    {"thermal", "sys/devices/system/cpu/,sys/class/hwmon/hwmon*/pwm*,"
                "sys/devices/*/hwmon/hwmon*/pwm*", "", 0, 1, NULL, 0, 0},
    {"memory", "proc/sys/vm/drop_caches", "", 0, 1, NULL, 0, 0},
    {"disk", "", "", 1, 0, disk_keys, 1, 0},
    {"nixconfig", "", "", 1, 0, nixconfig_keys, 0, 0},
    {"service", "", "", 1, 0, NULL, 0, 1},
    {"network", "", "", 0, 1, NULL, 0, 0},
};

const healer_rules_builtin *healer_rules_builtin_policy(const char *name)
{
    for (size_t i = 0; name && i < sizeof builtins / sizeof builtins[0]; i++)
        if (strcmp(builtins[i].name, name) == 0)
            return &builtins[i];
    return NULL;
}

int healer_rules_check_policy_item(const char *key, const char *item, char *why, size_t len)
{
    if (!item || !*item)
        return say(why, len, HEALER_E_INVAL, "an empty item");
    if (key && strcmp(key, "write_allow") == 0) {
        if (strncmp(item, "proc/", 5) != 0 && strncmp(item, "sys/", 4) != 0)
            return say(why, len, HEALER_E_INVAL, "\"%s\": an item starts with \"proc/\" or "
                       "\"sys/\" (a path under agent.proc_root or agent.sys_root)", item);
        if (strstr(item, "..") || strstr(item, "//"))
            return say(why, len, HEALER_E_INVAL, "\"%s\": \"..\" and \"//\" are not allowed", item);
        const char *rest = strchr(item, '/') + 1;
        if (!*rest || strcmp(rest, "*") == 0)
            return say(why, len, HEALER_E_INVAL, "\"%s\" would allow every file of the root; name "
                       "the files (or directories) the plugin needs", item);
        return HEALER_OK;
    }
    if (key && strcmp(key, "paths_allow") == 0) {
        char norm[PATH_MAX];
        if (healer_rules_normalize(item, norm, sizeof norm) != 0)
            return say(why, len, HEALER_E_INVAL, "\"%s\": an absolute path without \"..\"", item);
        if (strcmp(norm, "/") == 0)
            return say(why, len, HEALER_E_INVAL, "\"%s\" would put the whole system in scope",
                       item);
        return HEALER_OK;
    }
    return say(why, len, HEALER_E_INVAL, "%s is not a list policy key", key ? key : "(null)");
}

uint32_t healer_rules_effective_flags(uint32_t flags, const healer_rules_policy *pol)
{
    if (!pol || !pol->allow_auto)
        flags &= ~(uint32_t)HEALER_ACTION_AUTO_OK;
    if (!pol || !pol->allow_system)
        flags &= ~(uint32_t)HEALER_ACTION_SYSTEM;
    return flags;
}

/* A path's real form when it exists (symlinks resolved), else its normalised form. */
static void real_or_norm(const char *norm, char *out, size_t len)
{
    char *r = realpath(norm, NULL);
    snprintf(out, len, "%s", r ? r : norm);
    free(r);
}

int healer_rules_check_declare(const char *path, const healer_rules_policy *pol, char *why,
                               size_t len)
{
    char norm[PATH_MAX], real[PATH_MAX];
    if (!path || path[0] != '/' || strlen(path) >= HEALER_TARGET_MAX ||
        healer_rules_normalize(path, norm, sizeof norm) != 0)
        return say(why, len, HEALER_E_INVAL, "declare_path: \"%s\" must be an absolute path "
                   "without \"..\", shorter than %d", path ? path : "(null)", HEALER_TARGET_MAX);
    real_or_norm(norm, real, sizeof real);
    if (strcmp(norm, "/") == 0 || strcmp(real, "/") == 0)
        return say(why, len, HEALER_E_SCOPE, "declare_path: \"%s\" %s would put the whole system "
                   "in scope; no setting allows it", path,
                   strcmp(norm, "/") == 0 ? "is \"/\": it" : "resolves to \"/\": it");
    for (size_t i = 0; pol && i < pol->n_paths_allow; i++) {
        char an[PATH_MAX], ar[PATH_MAX];
        if (!pol->paths_allow[i] ||
            healer_rules_normalize(pol->paths_allow[i], an, sizeof an) != 0 ||
            strcmp(an, "/") == 0)
            continue;
        real_or_norm(an, ar, sizeof ar);
        /* Both forms must agree: a symlink inside an allowed directory must not lead out. */
        if ((healer_rules_path_under(norm, an) || healer_rules_path_under(norm, ar)) &&
            (healer_rules_path_under(real, ar) || healer_rules_path_under(real, an)))
            return HEALER_OK;
    }
    const char *plugin = pol && pol->plugin ? pol->plugin : "<name>";
    if (strcmp(real, norm) != 0)
        return say(why, len, HEALER_E_SCOPE, "declare_path: \"%s\" (really %s) is not in "
                   "plugins.%s.paths_allow (healerd.conf): add \"%s\" to allow it", path, real,
                   plugin, real);
    return say(why, len, HEALER_E_SCOPE, "declare_path: \"%s\" is not in plugins.%s.paths_allow "
               "(healerd.conf): add \"%s\" to allow it", path, plugin, norm);
}
