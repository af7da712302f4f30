/* etcdrig.c — a real etcd for unit tests (etcdrig.h): free ports chosen by binding port 0,
 * fork/exec of etcd with its output in the data dir, /health polled through a plain socket. */
#include "etcdrig.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

int etcdrig_available(void)
{
    return system("command -v etcd >/dev/null 2>&1") == 0;
}

static int free_port(void)
{
    int s = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    socklen_t l = sizeof a;
    if (s < 0 || bind(s, (struct sockaddr *)&a, sizeof a) < 0 ||
        getsockname(s, (struct sockaddr *)&a, &l) < 0) {
        if (s >= 0)
            close(s);
        return -1;
    }
    close(s);
    return ntohs(a.sin_port);
}

static int healthy(int port)
{
    int s = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port),
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    if (s < 0)
        return 0;
    int ok = 0;
    if (connect(s, (struct sockaddr *)&a, sizeof a) == 0) {
        const char req[] = "GET /health HTTP/1.0\r\n\r\n";
        char buf[512] = "";
        if (write(s, req, sizeof req - 1) == (ssize_t)(sizeof req - 1)) {
            ssize_t n, t = 0;
            while (t < (ssize_t)sizeof buf - 1 && (n = read(s, buf + t, sizeof buf - 1 - t)) > 0)
                t += n;
            buf[t] = 0;
            ok = strstr(buf, "\"health\":\"true\"") != NULL;
        }
    }
    close(s);
    return ok;
}

int etcdrig_start(etcdrig *r, int keep_dir)
{
    if (!keep_dir || !r->dir[0]) {
        snprintf(r->dir, sizeof r->dir, "/tmp/healerd-etcd-XXXXXX");
        if (!mkdtemp(r->dir))
            return -1;
        r->client_port = free_port();
        r->peer_port = free_port();
        if (r->client_port < 0 || r->peer_port < 0 || r->client_port == r->peer_port)
            return -1;
        snprintf(r->url, sizeof r->url, "http://127.0.0.1:%d", r->client_port);
    }
    char curl[64], purl[64], cluster[80], data[160], log[160];
    snprintf(curl, sizeof curl, "http://127.0.0.1:%d", r->client_port);
    snprintf(purl, sizeof purl, "http://127.0.0.1:%d", r->peer_port);
    snprintf(cluster, sizeof cluster, "rig=%s", purl);
    snprintf(data, sizeof data, "%s/data", r->dir);
    snprintf(log, sizeof log, "%s/etcd.log", r->dir);
    r->pid = fork();
    if (r->pid < 0)
        return -1;
    if (r->pid == 0) {
        int fd = open(log, O_WRONLY | O_CREAT | O_APPEND, 0600);
        if (fd >= 0) {
            dup2(fd, 1);
            dup2(fd, 2);
        }
        execlp("etcd", "etcd", "--name", "rig", "--data-dir", data, "--listen-client-urls", curl,
               "--advertise-client-urls", curl, "--listen-peer-urls", purl,
               "--initial-advertise-peer-urls", purl, "--initial-cluster", cluster, (char *)NULL);
        _exit(127);
    }
    /* up to 30 s: a loaded machine (ctest -j) may be slow to elect the single member */
    for (int i = 0; i < 300; i++) {
        if (healthy(r->client_port))
            return 0;
        if (waitpid(r->pid, NULL, WNOHANG) == r->pid) {
            r->pid = 0;
            fprintf(stderr, "etcd exited at start; see %s\n", log);
            return -1;
        }
        nanosleep(&(struct timespec){ .tv_nsec = 100000000 }, NULL);
    }
    fprintf(stderr, "etcd did not become healthy in 30 s; see %s\n", log);
    etcdrig_kill(r);
    return -1;
}

void etcdrig_kill(etcdrig *r)
{
    if (r->pid > 0) {
        kill(r->pid, SIGKILL);
        waitpid(r->pid, NULL, 0);
    }
    r->pid = 0;
}

void etcdrig_stop(etcdrig *r)
{
    etcdrig_kill(r);
    if (r->dir[0]) {
        char cmd[200];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", r->dir);
        if (system(cmd) != 0)
            fprintf(stderr, "could not remove %s\n", r->dir);
        r->dir[0] = 0;
    }
}
