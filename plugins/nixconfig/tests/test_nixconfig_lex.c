/* test_nixconfig_lex.c — the nixconfig lexer and the proof of a fix, pure (no parser runs):
 * byte classes of strings, indented strings with their escapes, ${} nesting, comments, paths
 * and URIs; the proof refusing every edit that touches them; and a light fuzz: random
 * mutations of real configurations, every candidate fix the plugin would consider, and for
 * each one the proof accepts, the invariant checked independently (the inserted bytes removed
 * give the original; every string, indented string and comment byte is unchanged). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../nixconfig.h"
#include "../nixconfig_lex.h"

static int cls_at(const char *s, const char *needle, int nth_byte)
{
    size_t n = strlen(s);
    unsigned char *c = malloc(n + 1);
    nc_lex L;
    nc_lex_run(s, n, n, &L, c);
    const char *p = strstr(s, needle);
    assert_non_null(p);
    int r = c[(size_t)(p - s) + (size_t)nth_byte] & NC_CL_MASK;
    free(c);
    return r;
}

static void test_classes(void **state)
{
    (void)state;
    const char *s = "{ a = \"x ${ \"}\" } y\"; # c }\n"
                    "  b = ''\n}\n  '''q''' ''$x ''\\n $${z} ${ c } w\n'';\n"
                    "  c = http://h/*x; d = ./a/b; e = <nixpkgs/lib>; f = a''; /* } */ }\n";
    assert_int_equal(cls_at(s, "x ${", 0), NC_CL_STR);
    assert_int_equal(cls_at(s, "\"}\"", 1), NC_CL_STR);     /* a } inside a nested string */
    assert_int_equal(cls_at(s, " } y", 1), NC_CL_CODE);     /* the } closing ${ */
    assert_int_equal(cls_at(s, " y\"", 1), NC_CL_STR);
    assert_int_equal(cls_at(s, "# c }", 4), NC_CL_COMMENT);
    assert_int_equal(cls_at(s, "\n}\n  '''", 1), NC_CL_IND);  /* } at column 0 inside '' */
    assert_int_equal(cls_at(s, "'''q", 3), NC_CL_IND);
    assert_int_equal(cls_at(s, "''$x", 3), NC_CL_IND);
    assert_int_equal(cls_at(s, "$${z}", 2), NC_CL_IND);      /* $${ is not an interpolation */
    assert_int_equal(cls_at(s, "${ c }", 3), NC_CL_WORD);    /* code inside the interpolation */
    assert_int_equal(cls_at(s, " w\n''", 1), NC_CL_IND);
    assert_int_equal(cls_at(s, "http://h/*x", 8), NC_CL_URI); /* slash-star in a URI: no comment */
    assert_int_equal(cls_at(s, "./a/b", 2), NC_CL_PATH);
    assert_int_equal(cls_at(s, "<nixpkgs/lib>", 3), NC_CL_PATH);
    assert_int_equal(cls_at(s, "a''", 2), NC_CL_WORD);       /* an identifier, no '' string */
    assert_int_equal(cls_at(s, "/* } */", 3), NC_CL_COMMENT);
    nc_lex L;
    nc_lex_run(s, strlen(s), strlen(s), &L, NULL);
    assert_int_equal(L.depth, 0);
    assert_int_equal(L.unterminated, 0);
    assert_int_equal(L.bad_close, -1);
    /* Unterminated: a string, an indented string, a comment. */
    const char *u[] = {"{ a = \"x; }\n", "{ a = ''x\n}\n", "{ a = 1; /* x }\n"};
    const char kinds[] = {'S', 'I', '*'};
    const size_t at[] = {6, 6, 9};
    for (int i = 0; i < 3; i++) {
        nc_lex_run(u[i], strlen(u[i]), strlen(u[i]), &L, NULL);
        assert_int_equal(L.unterminated, 1);
        assert_int_equal(L.unterminated_kind, kinds[i]);
        assert_int_equal(L.unterminated_off, at[i]);
    }
    /* A NUL is found wherever it is. */
    const char nul[] = "{ # a\0b\n a = 1; }\n";
    nc_lex_run(nul, sizeof nul - 1, sizeof nul - 1, &L, NULL);
    assert_int_equal(L.nul_at, 5);
}

static int proven(const char *s, size_t off, size_t del, const char *ins, char **out)
{
    nc_edit e = {.off = off, .del = del, .kind = "t"};
    snprintf(e.ins, sizeof e.ins, "%s", ins);
    size_t on;
    char why[200];
    char *o = NULL;
    int r = nc_fix_proven(s, strlen(s), &e, 1, &o, &on, why, sizeof why);
    if (out)
        *out = o;
    else
        free(o);
    return r;
}

static void test_proof(void **state)
{
    (void)state;
    const char *s = "{\n  a = ''\n}\n  '';\n  b = \"x}\" # c\n  c = foo;\n";
    char *o = NULL;
    /* At the end: fine, and exactly the original plus the closer. */
    assert_int_equal(proven(s, strlen(s), 0, "}\n", &o), 1);
    assert_int_equal(strncmp(o, s, strlen(s)), 0);
    assert_string_equal(o + strlen(s), "}\n");
    free(o);
    size_t in_ind = (size_t)(strstr(s, "\n}\n") - s) + 1;
    assert_int_equal(proven(s, in_ind, 0, "}\n", NULL), 0);       /* inside the '' string */
    size_t in_str = (size_t)(strstr(s, "x}") - s) + 1;
    assert_int_equal(proven(s, in_str, 1, "", NULL), 0);          /* deleting a } of a string */
    assert_int_equal(proven(s, in_str, 0, ";", NULL), 0);
    size_t in_com = (size_t)(strstr(s, "# c") - s) + 2;
    assert_int_equal(proven(s, in_com, 0, ";", NULL), 0);         /* inside the comment */
    size_t mid = (size_t)(strstr(s, "foo") - s) + 1;
    assert_int_equal(proven(s, mid, 0, ";", NULL), 0);            /* splitting a token */
    size_t after = (size_t)(strstr(s, "foo") - s) + 3;
    assert_int_equal(proven(s, after, 0, "x", NULL), 0);          /* not a closer or ';' */
    assert_int_equal(proven(s, after, 0, "\"", NULL), 0);         /* would open a string */
    /* A quote that "terminates" an unterminated string: refused before anything else. */
    const char *u = "{\n  a = \"fixture;\n  b = 1;\n}\n";
    assert_int_equal(proven(u, 15, 0, "\"", NULL), 0);
    /* A NUL anywhere: refused. */
    const char nul[] = "{ # \0\n a = 1 }\n";
    nc_edit e = {.off = 12, .del = 0, .ins = ";", .kind = "t"};
    char why[200];
    size_t on;
    assert_int_equal(nc_fix_proven(nul, sizeof nul - 1, &e, 1, &o, &on, why, sizeof why), 0);
    assert_non_null(strstr(why, "NUL"));
    /* An edit beyond the end: refused, no overflow. */
    assert_int_equal(proven(s, strlen(s) + 5, 0, ";", NULL), 0);
}

/* ---- the fuzz ------------------------------------------------------------------------------ */

static unsigned long long rng = 0x9e3779b97f4a7c15ULL;
static unsigned rnd(unsigned n)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (unsigned)(rng % n);
}

static const char *const seeds[] = {
    "{ config, pkgs, ... }:\n{\n  imports = [ ./hardware.nix ];\n"
    "  environment.etc.\"motd\".text = ''\nWelcome ''${USER} to ${config.networking.hostName};"
    " {here}.\n  '''q''' ''$HOME ''\\t $${not} {\n${ builtins.concatStringsSep \",\" [ \"a\" "
    "\"b}\" ''c'' ] }\n}\n  '';\n  # a } and '' in a comment\n  services.openssh = {\n"
    "    enable = true; /* } ] ) */\n    ports = [ 22 (1 + 2) ];\n  };\n"
    "  networking.hostName = \"h ${ \"x}\" } y\";\n  u = http://e.org/a*b;\n}\n",
    "let\n  a = \"x\\\"; }\";\n  b = ./a/b;\n  c = <nixpkgs>;\nin { inherit a b c; d = a'' ; "
    "e = ''\n]\n''; f = x: { y = x; }; }\n",
};

static const char *const msgs[] = {
    "syntax error, unexpected '=', expecting ';'",
    "syntax error, unexpected '}', expecting ';'",
    "syntax error, unexpected end of file",
    "syntax error, unexpected ']'",
    "syntax error, unexpected ')'",
    "syntax error, unexpected ID, expecting ';'",
    "syntax error, unexpected '}'",
};

/* The bytes of strings, indented strings and comments, in order, with a separator between
 * pieces: the invariant's independent half compares these lists. */
static char *content(const char *s, size_t n, size_t *len)
{
    unsigned char *c = malloc(n + 1);
    char *o = malloc(2 * n + 2);
    nc_lex L;
    nc_lex_run(s, n, n, &L, c);
    size_t j = 0;
    for (size_t i = 0; i < n; i++) {
        int k = c[i] & NC_CL_MASK;
        if (k != NC_CL_STR && k != NC_CL_IND && k != NC_CL_COMMENT)
            continue;
        if (!(c[i] & NC_CL_CONT))
            o[j++] = '\x01';
        o[j++] = s[i];
    }
    free(c);
    *len = j;
    return o;
}

static void test_fuzz(void **state)
{
    (void)state;
    unsigned accepted = 0, refused = 0, mutants = 0;
    const char ins_set[] = ";{}[]()\"'\n $#/*\\";
    for (int it = 0; it < 3000; it++) {
        const char *seed = seeds[rnd(sizeof seeds / sizeof seeds[0])];
        size_t n = strlen(seed);
        char *s = malloc(n + 8);
        memcpy(s, seed, n + 1);
        int muts = 1 + (int)rnd(2);
        for (int k = 0; k < muts; k++) {
            size_t at = rnd((unsigned)n + 1);
            if (rnd(2) && n > 0 && at < n) {
                memmove(s + at, s + at + 1, n - at);
                n--;
            } else {
                memmove(s + at + 1, s + at, n - at + 1);
                s[at] = ins_set[rnd(sizeof ins_set - 1)];
                n++;
            }
        }
        mutants++;
        nc_lex L;
        unsigned char *c = malloc(n + 1);
        nc_lex_run(s, n, n, &L, c);   /* never crashes, every byte classed */
        for (size_t i = 0; i < n; i++)
            assert_true((c[i] & NC_CL_MASK) <= NC_CL_URI);
        free(c);
        for (int t = 0; t < 3; t++) {
            nc_perr e;
            memset(&e, 0, sizeof e);
            e.line = 1 + (int)rnd(30);
            e.col = 1 + (int)rnd(40);
            snprintf(e.msg, sizeof e.msg, "%s", msgs[rnd(sizeof msgs / sizeof msgs[0])]);
            nc_edit cand[NC_MAX_CANDIDATES];
            int k = nc_fix_candidates(s, n, &e, cand);
            for (int i = 0; i < k; i++) {
                char *o = NULL, why[200];
                size_t on = 0;
                int r = nc_fix_proven(s, n, &cand[i], 1, &o, &on, why, sizeof why);
                assert_true(r == 0 || r == 1);
                if (r == 0) {
                    refused++;
                    continue;
                }
                accepted++;
                /* Independently: the result is the original with the edit, nothing else. */
                size_t il = strlen(cand[i].ins), off = cand[i].off, del = cand[i].del;
                assert_int_equal(on, n - del + il);
                assert_memory_equal(o, s, off);
                assert_memory_equal(o + off + il, s + off + del, n - off - del);
                for (size_t d = 0; d < del; d++)
                    assert_non_null(strchr("}])", s[off + d]));
                for (size_t d = 0; d < il; d++)
                    assert_non_null(strchr(";}]) \n", cand[i].ins[d]));
                /* Every string, indented string and comment: the same bytes, the same pieces. */
                size_t la, lb;
                char *ca = content(s, n, &la), *cb = content(o, on, &lb);
                assert_int_equal(la, lb);
                assert_memory_equal(ca, cb, la);
                free(ca);
                free(cb);
                free(o);
            }
        }
        free(s);
    }
    print_message("fuzz: %u mutants, %u candidate fixes proven, %u refused\n", mutants,
                  accepted, refused);
    assert_true(accepted > 0);
    assert_true(refused > 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_classes),
        cmocka_unit_test(test_proof),
        cmocka_unit_test(test_fuzz),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
