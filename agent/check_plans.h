/* check_plans.h — plans.d checked by --check-config (check_plans.c). */
#ifndef CHECK_PLANS_H
#define CHECK_PLANS_H

#include <stdio.h>

#include "loader.h"

/* The problems of every loaded plans plugin's plans.d, one "FILE:LINE: message" each on err. */
int check_plans_config(const plugin_set *set, FILE *err);

#endif
