/* confine.h — least privilege of a plugin child (confine.c): what healerd-plugin applies to
 * itself before it maps the plugin or executes its program. Documented in
 * sdk/docs/child-protocol.md "Privileges". */
#pragma once
#include <stddef.h>

/* The uid a child with inspect_processes runs as (it keeps CAP_SYS_PTRACE instead of a Landlock
 * domain): one no account and no other process uses, so that the permission bits of root's files
 * and of other processes' /proc entries refuse its writes. */
#define CONFINE_INSPECT_UID 2147483646u

typedef struct confine_opts {
    const char *state_dir;  /* the one directory it may write (NULL: none) */
    int inspect_processes;  /* plugins.<name>.inspect_processes: keep CAP_SYS_PTRACE */
    int local_sockets;      /* plugins.<name>.local_sockets: allow socket(AF_UNIX) */
} confine_opts;

/* Confines this process for good. On success what[] says what was applied; on failure why[]
 * says what could not be. */
int confine_self(const confine_opts *o, char *what, size_t wlen, char *why, size_t len);
