/* confine.c — the plugin child's least privilege, applied by healerd-plugin before the plugin's
 * file is even mapped (its constructors run confined): no new privileges, every capability gone
 * but CAP_DAC_READ_SEARCH, a Landlock domain that allows writes only under the child's state
 * directory (and the PSI trigger files) and no signals out of it, and a seccomp filter that
 * refuses signalling, renicing or tracing other processes and the system-changing calls. */
#include "confine.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/audit.h>
#include <linux/capability.h>
#include <linux/filter.h>
#include <linux/landlock.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#if defined(__x86_64__)
#define CONFINE_ARCH AUDIT_ARCH_X86_64
#elif defined(__aarch64__)
#define CONFINE_ARCH AUDIT_ARCH_AARCH64
#endif

/* ---- capabilities ---------------------------------------------------------------------------- */

/* Reading any file is what detection needs; everything else a root child could do with a
 * capability (kill, renice, write any file, load modules) goes through the agent. */
static int caps_drop(char *why, size_t len)
{
    for (int c = 0; c <= 63; c++) {
        if (c == CAP_DAC_READ_SEARCH)
            continue;
        if (prctl(PR_CAPBSET_DROP, c, 0, 0, 0) != 0 && errno != EINVAL) {
            snprintf(why, len, "PR_CAPBSET_DROP %d: %s", c, strerror(errno));
            return -1;
        }
    }
    prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0);
    struct __user_cap_header_struct hdr = { _LINUX_CAPABILITY_VERSION_3, 0 };
    struct __user_cap_data_struct data[2];
    memset(data, 0, sizeof data);
    data[0].effective = data[0].permitted = 1u << CAP_DAC_READ_SEARCH;
    if (syscall(SYS_capset, &hdr, data) != 0) {
        snprintf(why, len, "capset: %s", strerror(errno));
        return -1;
    }
    return 0;
}

/* ---- Landlock -------------------------------------------------------------------------------- */

#ifndef LANDLOCK_SCOPE_SIGNAL
#define LANDLOCK_SCOPE_SIGNAL (1ULL << 1)
#endif

struct ll_ruleset_attr { /* as in linux/landlock.h of ABI 6, whatever the build headers have */
    __u64 handled_access_fs;
    __u64 handled_access_net;
    __u64 scoped;
};

static int ll_allow(int rs, const char *path, __u64 access)
{
    int fd = open(path, O_PATH | O_CLOEXEC);
    if (fd < 0)
        return -1;
    struct landlock_path_beneath_attr pb = { .allowed_access = access, .parent_fd = fd };
    int rc = (int)syscall(SYS_landlock_add_rule, rs, LANDLOCK_RULE_PATH_BENEATH, &pb, 0);
    close(fd);
    return rc;
}

/* 0 confined; 1 the kernel has no Landlock (what[] says so); -1 error. */
static int landlock(const char *state_dir, char *what, size_t wlen, char *why, size_t len)
{
    long abi = syscall(SYS_landlock_create_ruleset, NULL, 0, LANDLOCK_CREATE_RULESET_VERSION);
    if (abi < 1) {
        snprintf(what, wlen, "no Landlock (%s): writes limited by capabilities only",
                 strerror(errno));
        return 1;
    }
    __u64 file_w = LANDLOCK_ACCESS_FS_WRITE_FILE;
    __u64 w = file_w | LANDLOCK_ACCESS_FS_REMOVE_DIR | LANDLOCK_ACCESS_FS_REMOVE_FILE |
              LANDLOCK_ACCESS_FS_MAKE_CHAR | LANDLOCK_ACCESS_FS_MAKE_DIR |
              LANDLOCK_ACCESS_FS_MAKE_REG | LANDLOCK_ACCESS_FS_MAKE_SOCK |
              LANDLOCK_ACCESS_FS_MAKE_FIFO | LANDLOCK_ACCESS_FS_MAKE_BLOCK |
              LANDLOCK_ACCESS_FS_MAKE_SYM;
    if (abi >= 2)
        w |= 1ULL << 13; /* REFER: no linking a file out of the state directory */
    if (abi >= 3)
        file_w |= 1ULL << 14, w |= 1ULL << 14; /* TRUNCATE */
    struct ll_ruleset_attr attr = { .handled_access_fs = w,
                                    .scoped = abi >= 6 ? LANDLOCK_SCOPE_SIGNAL : 0 };
    size_t asz = abi >= 6 ? sizeof attr : offsetof(struct ll_ruleset_attr, handled_access_net) +
                                              (abi >= 4 ? sizeof(__u64) : 0);
    int rs = (int)syscall(SYS_landlock_create_ruleset, &attr, asz, 0);
    if (rs < 0) {
        snprintf(why, len, "landlock_create_ruleset: %s", strerror(errno));
        return -1;
    }
    if (state_dir && *state_dir && ll_allow(rs, state_dir, w) != 0) {
        snprintf(why, len, "landlock rule for %s: %s", state_dir, strerror(errno));
        close(rs);
        return -1;
    }
    /* A PSI trigger is registered by writing the pressure file (the memory plugin does); it
     * changes nothing but wakes the writer. Missing files (no PSI) are fine. */
    static const char *const psi[] = { "/proc/pressure/memory", "/proc/pressure/cpu",
                                       "/proc/pressure/io", NULL };
    for (int i = 0; psi[i]; i++)
        ll_allow(rs, psi[i], file_w);
    if (syscall(SYS_landlock_restrict_self, rs, 0) != 0) {
        snprintf(why, len, "landlock_restrict_self: %s", strerror(errno));
        close(rs);
        return -1;
    }
    close(rs);
    snprintf(what, wlen, "Landlock ABI %ld: writes only under %s%s", abi,
             state_dir && *state_dir ? state_dir : "(nothing)",
             abi >= 6 ? ", no signals out" : "");
    return 0;
}

/* ---- seccomp --------------------------------------------------------------------------------- */

#define LD_NR BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr))
#define LD_ARG(i) BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, args[i]))
#define LD_ARG_HI(i)                                                                              \
    BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, args[i]) + 4)
#define RET(v) BPF_STMT(BPF_RET | BPF_K, (v))
#define DENY RET(SECCOMP_RET_ERRNO | (EPERM & SECCOMP_RET_DATA))
#define ALLOW RET(SECCOMP_RET_ALLOW)

/* System calls refused outright: they change the system, other processes or the kernel, and
 * nothing a plugin detects needs them (the agent's actuators do what a heal needs). */
static const int denied[] = {
#ifndef __SANITIZE_ADDRESS__
    /* A sanitizer build's LeakSanitizer stops the process's own threads with ptrace at exit;
     * those are test builds, and Landlock still refuses a ptrace of any process outside. */
    SYS_ptrace,
#endif
    SYS_process_vm_readv, SYS_process_vm_writev, SYS_kcmp, SYS_pidfd_send_signal,
    SYS_pidfd_getfd, SYS_process_madvise, SYS_tkill, SYS_mount, SYS_umount2, SYS_pivot_root,
    SYS_chroot, SYS_reboot, SYS_kexec_load, SYS_kexec_file_load, SYS_init_module,
    SYS_finit_module, SYS_delete_module, SYS_swapon, SYS_swapoff, SYS_setns, SYS_unshare,
    SYS_settimeofday, SYS_clock_settime, SYS_clock_adjtime, SYS_adjtimex, SYS_sethostname,
    SYS_setdomainname, SYS_bpf, SYS_perf_event_open, SYS_io_uring_setup, SYS_userfaultfd,
    SYS_open_by_handle_at, SYS_acct, SYS_quotactl, SYS_keyctl, SYS_add_key, SYS_request_key,
    SYS_fanotify_init, SYS_move_mount, SYS_fsopen, SYS_fsmount, SYS_fsconfig, SYS_open_tree,
    SYS_mount_setattr, SYS_syslog, SYS_ioprio_set, SYS_migrate_pages, SYS_move_pages,
#ifdef SYS_iopl
    SYS_iopl, SYS_ioperm,
#endif
};

/* System calls whose first argument is a pid: allowed on this process (its pid, or 0 where 0
 * means the caller), refused on any other. */
static const int self_only[] = { SYS_kill, SYS_tgkill, SYS_rt_sigqueueinfo, SYS_rt_tgsigqueueinfo,
                                 SYS_sched_setattr, SYS_sched_setparam, SYS_sched_setscheduler,
                                 SYS_sched_setaffinity, SYS_prlimit64 };
/* Of those, the ones where 0 means "this process" (for kill, 0 is the agent's process group). */
static int zero_is_self(int nr)
{
    return nr != SYS_kill && nr != SYS_tgkill && nr != SYS_rt_sigqueueinfo &&
           nr != SYS_rt_tgsigqueueinfo;
}

static int seccomp(char *why, size_t len)
{
#ifndef CONFINE_ARCH
    snprintf(why, len, "no seccomp filter for this architecture");
    return -1;
#else
    __u32 self = (__u32)getpid();
    size_t nd = sizeof denied / sizeof denied[0], ns = sizeof self_only / sizeof self_only[0];
    struct sock_filter f[512];
    size_t n = 0;
    f[n++] = (struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS,
                                          offsetof(struct seccomp_data, arch));
    f[n++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, CONFINE_ARCH, 1, 0);
    f[n++] = (struct sock_filter)RET(SECCOMP_RET_KILL_PROCESS);
    f[n++] = (struct sock_filter)LD_NR;
#ifdef __x86_64__
    /* x32 calls share the arch: refuse them all rather than mapping each number twice. */
    f[n++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JGE | BPF_K, 0x40000000, 0, 1);
    f[n++] = (struct sock_filter)DENY;
#endif
    for (size_t i = 0; i < nd; i++) {
        f[n++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (__u32)denied[i], 0, 1);
        f[n++] = (struct sock_filter)DENY;
    }
    for (size_t i = 0; i < ns; i++) {
        int z = zero_is_self(self_only[i]);
        /* nr == X ? (arg0 == self [|| arg0 == 0]) && arg0_hi == 0 ? allow : deny : next */
        f[n++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (__u32)self_only[i], 0,
                                              (__u8)(z ? 7 : 6));
        f[n++] = (struct sock_filter)LD_ARG_HI(0);
        f[n++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 0, 0, (__u8)(z ? 4 : 3));
        f[n++] = (struct sock_filter)LD_ARG(0);
        f[n++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, self, (__u8)(z ? 1 : 0),
                                              (__u8)(z ? 0 : 1));
        if (z)
            f[n++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 0, 0, 1);
        f[n++] = (struct sock_filter)ALLOW;
        f[n++] = (struct sock_filter)DENY;
    }
    /* setpriority(which, who, prio): only PRIO_PROCESS on this process (0 or its pid). */
    f[n++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_setpriority, 0, 9);
    f[n++] = (struct sock_filter)LD_ARG(0);
    f[n++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, PRIO_PROCESS, 0, 5);
    f[n++] = (struct sock_filter)LD_ARG_HI(1);
    f[n++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 0, 0, 3);
    f[n++] = (struct sock_filter)LD_ARG(1);
    f[n++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, self, 2, 0);
    f[n++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 0, 1, 0);
    f[n++] = (struct sock_filter)DENY;
    f[n++] = (struct sock_filter)ALLOW;
    f[n++] = (struct sock_filter)ALLOW;
    if (n > sizeof f / sizeof f[0]) {
        snprintf(why, len, "seccomp filter too long (%zu)", n);
        return -1;
    }
    struct sock_fprog prog = { .len = (unsigned short)n, .filter = f };
    if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, SECCOMP_FILTER_FLAG_TSYNC, &prog) != 0) {
        snprintf(why, len, "seccomp: %s", strerror(errno));
        return -1;
    }
    return 0;
#endif
}

int confine_self(const char *state_dir, char *what, size_t wlen, char *why, size_t len)
{
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) {
        snprintf(why, len, "PR_SET_NO_NEW_PRIVS: %s", strerror(errno));
        return -1;
    }
    /* Landlock and seccomp first: installing them needs nothing, and a failure below leaves
     * the child refused rather than half confined. */
    char ll[256];
    if (landlock(state_dir, ll, sizeof ll, why, len) < 0)
        return -1;
    if (seccomp(why, len) < 0)
        return -1;
    if (caps_drop(why, len) < 0)
        return -1;
    snprintf(what, wlen, "no_new_privs, capabilities: dac_read_search only, %s, seccomp: no "
             "signals, renice or tracing of other processes", ll);
    return 0;
}
