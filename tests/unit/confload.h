/* confload.h — loading a healerd.conf text in a unit test and keeping what config_load
 * reported (line and message of each problem), for the tests of one section each. */
#ifndef TESTS_CONFLOAD_H
#define TESTS_CONFLOAD_H

#include "config.h"

typedef struct msgs {
    int n;
    int line[16];
    char text[16][512];
} msgs;

/* A fresh directory for the test's files (dir gets its path); 0 or -1. */
int confload_setup(char *dir, size_t n, const char *name);
/* Removes dir and the files the tests left in it. */
void confload_teardown(const char *dir);
/* Writes text to DIR/h.conf and loads it; returns the number of problems (m gets them) and
 * *out when it loaded (freed when out is NULL). */
int confload(const char *dir, const char *text, msgs *m, config **out);

#endif
