/* confine.c — the plugin child's least privilege, applied by healerd-plugin before the plugin's
 * file is mapped or its program executed (no_new_privs, seccomp and Landlock survive execve):
 * every capability gone but CAP_DAC_READ_SEARCH (and CAP_SYS_PTRACE with inspect_processes), a
 * write barrier (a Landlock domain; with inspect_processes a dedicated uid, as Landlock refuses
 * /proc/PID access out of its domain), and a seccomp filter that
 * refuses signalling, renicing or tracing other processes, the system-changing calls and (unless
 * local_sockets) socket(AF_UNIX). */
#include "confine.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/audit.h>
#include <linux/capability.h>
#include <linux/filter.h>
#include <grp.h>
#include <linux/landlock.h>
#include <linux/seccomp.h>
#include <signal.h>
#include <sys/socket.h>
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

/* ---- capabilities and identity --------------------------------------------------------------- */

/* Reading any file is what detection needs (and, with inspect_processes, other processes' /proc
 * entries: the ptrace access checks want CAP_SYS_PTRACE); everything else a root child could do
 * with a capability (kill, renice, write any file, load modules) goes through the agent. */
static __u32 kept_caps(const confine_opts *o)
{
    return (1u << CAP_DAC_READ_SEARCH) | (o->inspect_processes ? 1u << CAP_SYS_PTRACE : 0);
}

static int bounding_drop(const confine_opts *o, char *why, size_t len)
{
    for (int c = 0; c <= 63; c++) {
        if (c < 32 && (kept_caps(o) & (1u << c)))
            continue;
        if (prctl(PR_CAPBSET_DROP, c, 0, 0, 0) != 0 && errno != EINVAL) {
            snprintf(why, len, "PR_CAPBSET_DROP %d: %s", c, strerror(errno));
            return -1;
        }
    }
    prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0);
    return 0;
}

static int caps_set(const confine_opts *o, char *why, size_t len)
{
    struct __user_cap_header_struct hdr = { _LINUX_CAPABILITY_VERSION_3, 0 };
    struct __user_cap_data_struct data[2];
    memset(data, 0, sizeof data);
    data[0].effective = data[0].permitted = kept_caps(o);
    if (syscall(SYS_capset, &hdr, data) != 0) {
        snprintf(why, len, "capset: %s", strerror(errno));
        return -1;
    }
    return 0;
}

/* With inspect_processes there is no Landlock domain (below), so the child leaves uid 0: without
 * CAP_DAC_OVERRIDE a file root owns (procfs and sysfs files, /proc/PID/mem of root's processes,
 * anything reached through another process's /proc/PID/root) is then not writable by the
 * permission bits alone. Its state directory becomes its own. */
static int identity_drop(const confine_opts *o, char *why, size_t len)
{
    uid_t u = CONFINE_INSPECT_UID;
    if (o->state_dir && *o->state_dir && chown(o->state_dir, u, u) != 0) {
        snprintf(why, len, "chown %s: %s", o->state_dir, strerror(errno));
        return -1;
    }
    if (prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) != 0 || setgroups(0, NULL) != 0 ||
        setresgid(u, u, u) != 0 || setresuid(u, u, u) != 0) {
        snprintf(why, len, "switching to uid %u: %s", (unsigned)u, strerror(errno));
        return -1;
    }
    /* A uid change clears the parent-death signal and makes the process undumpable (its /proc
     * files root's): the agent's death must still end it, and its own /proc stays its own. */
    prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
    if (getppid() == 1) {
        snprintf(why, len, "the agent is gone");
        return -1;
    }
    prctl(PR_SET_DUMPABLE, 1, 0, 0, 0);
    return 0;
}

/* ---- Landlock -------------------------------------------------------------------------------- */

#ifndef LANDLOCK_SCOPE_SIGNAL
#define LANDLOCK_SCOPE_ABSTRACT_UNIX_SOCKET (1ULL << 0)
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
static int landlock(const confine_opts *o, char *what, size_t wlen, char *why, size_t len)
{
    const char *state_dir = o->state_dir;
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
    /* Abstract unix sockets made outside the domain are out of reach too unless local_sockets
     * allows local sockets (seccomp refuses socket(AF_UNIX) itself; this holds for a socket
     * the child came by otherwise). */
    __u64 scope = LANDLOCK_SCOPE_SIGNAL | (o->local_sockets ? 0 : LANDLOCK_SCOPE_ABSTRACT_UNIX_SOCKET);
    struct ll_ruleset_attr attr = { .handled_access_fs = w, .scoped = abi >= 6 ? scope : 0 };
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
             abi >= 6 ? (o->local_sockets ? ", no signals out"
                                           : ", no signals or abstract sockets out") : "");
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

static int seccomp(const confine_opts *o, char *why, size_t len)
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
    /* A sanitizer build's LeakSanitizer stops the process's own threads with ptrace at exit;
     * those are test builds, and Landlock still refuses a ptrace of any process outside. With
     * inspect_processes there is no Landlock domain and CAP_SYS_PTRACE is kept: refused always
     * (such a child's leak check at exit is lost). */
#ifdef __SANITIZE_ADDRESS__
    if (o->inspect_processes)
#endif
    {
        f[n++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_ptrace, 0, 1);
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
    /* socket(AF_UNIX, ...): a local daemon (D-Bus, systemd's private socket, docker.sock) lets a
     * uid-0 client do what it lets root do; allowed with local_sockets. Only the low word is
     * compared: the kernel reads the family as an int. The inherited socketpair is untouched,
     * and socketpair(2) makes no connection out. */
    if (!o->local_sockets) {
        f[n++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_socket, 0, 4);
        f[n++] = (struct sock_filter)LD_ARG(0);
        f[n++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AF_UNIX, 0, 1);
        f[n++] = (struct sock_filter)DENY;
        f[n++] = (struct sock_filter)ALLOW;
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

int confine_self(const confine_opts *o, char *what, size_t wlen, char *why, size_t len)
{
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) {
        snprintf(why, len, "PR_SET_NO_NEW_PRIVS: %s", strerror(errno));
        return -1;
    }
    /* The write barrier and seccomp first: installing them needs nothing, and a failure below
     * leaves the child refused rather than half confined. A Landlock domain refuses every
     * ptrace-mode access (/proc/PID/fd, root, environ) to a process outside it whatever the
     * capabilities, so inspect_processes trades it for a dedicated uid. (Not a read-only mount
     * namespace: a plugin that reads /proc/self/mounts or statvfs would see every filesystem
     * read-only.) */
    char ll[256] = "";
    if (!o->inspect_processes && landlock(o, ll, sizeof ll, why, len) < 0)
        return -1;
    if (seccomp(o, why, len) < 0)
        return -1;
    if (bounding_drop(o, why, len) < 0)
        return -1;
    if (o->inspect_processes && identity_drop(o, why, len) < 0)
        return -1;
    if (caps_set(o, why, len) < 0)
        return -1;
    if (o->inspect_processes)
        snprintf(what, wlen, "no_new_privs, capabilities: dac_read_search, sys_ptrace "
                 "(inspect_processes), uid %u (no Landlock: writes limited by permissions), "
                 "seccomp: no signals, renice or tracing of other processes%s",
                 (unsigned)CONFINE_INSPECT_UID,
                 o->local_sockets ? "" : ", no unix sockets");
    else
        snprintf(what, wlen, "no_new_privs, capabilities: dac_read_search only, %s, seccomp: no "
                 "signals, renice or tracing of other processes%s", ll,
                 o->local_sockets ? "" : ", no unix sockets");
    return 0;
}
