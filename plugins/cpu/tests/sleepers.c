/* sleepers.c — N sleeping processes for the idle-cost test and bench/scale.sh: forks N
 * children that pause(), prints "ready N" once all exist, and waits. Every child dies with its
 * parent (PR_SET_PDEATHSIG), so killing the one pid the caller knows cleans up all of them. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <unistd.h>

int main(int argc, char **argv)
{
    long n = argc > 1 ? strtol(argv[1], NULL, 10) : 0;
    if (n < 0 || n > 100000) {
        fprintf(stderr, "usage: sleepers N (0..100000)\n");
        return 2;
    }
    pid_t parent = getpid();
    for (long i = 0; i < n; i++) {
        pid_t p = fork();
        if (p < 0) {
            perror("sleepers: fork");
            return 1;   /* the children made so far die with us */
        }
        if (p == 0) {
            prctl(PR_SET_PDEATHSIG, SIGKILL);
            if (getppid() != parent)   /* the parent died before prctl */
                _exit(0);
            for (;;)
                pause();
        }
    }
    /* Children are never reaped while alive; SIGCHLD ignored so none lingers as a zombie. */
    signal(SIGCHLD, SIG_IGN);
    printf("ready %ld\n", n);
    fflush(stdout);
    for (;;)
        pause();
}
