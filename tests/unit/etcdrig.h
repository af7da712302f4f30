/* etcdrig.h — a real etcd for a unit test: started on free loopback ports with a temporary data
 * directory, waited for until it answers, stopped and removed. Tests skip (77) without etcd. */
#ifndef TESTS_ETCDRIG_H
#define TESTS_ETCDRIG_H

#include <sys/types.h>

typedef struct etcdrig {
    pid_t pid;
    int client_port, peer_port;
    char url[64];               /* http://127.0.0.1:PORT */
    char dir[128];              /* its data directory */
} etcdrig;

/* 1 when an etcd binary is on PATH. */
int etcdrig_available(void);
/* Starts etcd (a fresh data dir unless keep_dir and r->dir is set) and waits until its
 * /health answers; 0 or -1. The ports of a restart are the same. */
int etcdrig_start(etcdrig *r, int keep_dir);
/* SIGKILLs it and reaps it (data dir kept: etcdrig_start(r, 1) brings it back). */
void etcdrig_kill(etcdrig *r);
/* Kills it and removes the data dir. */
void etcdrig_stop(etcdrig *r);

#endif
