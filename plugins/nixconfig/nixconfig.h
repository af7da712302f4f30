/* nixconfig.h — shared declarations of the nixconfig plugin: the parser-output reader, the
 * light Nix lexer and syntax-fix candidates (nixconfig_fix.c), and the system profile's
 * generations and the plugin's generation state (nixconfig_gen.c). */
#ifndef NIXCONFIG_H
#define NIXCONFIG_H

#include <limits.h>
#include <stddef.h>

/* ---- nixconfig_fix.c: parser errors, lexer, fixes, imports -------------------------------- */

/* One error as nix-instantiate printed it. */
typedef struct nc_perr {
    char file[PATH_MAX];   /* "" when the output named no location */
    int line, col;         /* 1-based; 0 when unknown */
    char msg[256];         /* "syntax error, unexpected '}', expecting ';'" */
} nc_perr;

/* Reads the first "error: ..." and its location ("at FILE:L:C:" on a later line, or
 * ", at FILE:L:C" on the same line as older Nix prints). Returns 1 when an error was found. */
int nc_parse_error(const char *out, nc_perr *e);

/* Byte offset of (line, col) in src (n bytes), clamped to n. */
size_t nc_offset(const char *src, size_t n, int line, int col);
/* Line and column (1-based) of offset. */
void nc_linecol(const char *src, size_t n, size_t off, int *line, int *col);

/* One edit: at byte offset off, delete del bytes and insert ins. */
typedef struct nc_edit {
    size_t off;
    size_t del;
    char ins[16];
    const char *kind;      /* static: "missing_semicolon", "unclosed_bracket", ... */
} nc_edit;

#define NC_MAX_CANDIDATES 6

/* The candidate edits for the error e in src (each alone; the caller validates each with the
 * real parser and keeps the first that parses or moves the error forward). Returns how many
 * were written to out (at most NC_MAX_CANDIDATES); 0 = not an error this plugin fixes. */
int nc_fix_candidates(const char *src, size_t n, const nc_perr *e, nc_edit *out);

/* New buffer: src with edit applied (NUL-terminated, *out_n bytes). NULL when out of memory. */
char *nc_apply(const char *src, size_t n, const nc_edit *ed, size_t *out_n);

/* Edits serialised for an action parameter ("off:del:ins ..."), and back. */
int nc_edits_format(const nc_edit *eds, size_t n, char *buf, size_t len);
int nc_edits_parse(const char *s, nc_edit *eds, size_t max, size_t *n);

/* 64-bit FNV-1a of the content, as 16 hex digits: the action carries it so execute() only
 * applies the edits to the very content the operator was shown. */
void nc_hash(const char *s, size_t n, char out[17]);

/* Paths listed in `imports = [ ... ]`. From nix-instantiate --parse output (absolute paths,
 * "(/a/b.nix)") when parsed = 1, else from the source (./x, ../x, /x resolved against dir).
 * Calls add(ud, path) for each. */
void nc_scan_imports(const char *text, int parsed, const char *dir,
                     void (*add)(void *ud, const char *path), void *ud);

/* ---- nixconfig_gen.c: generations of a profile and the plugin's own record --------------- */

#define NC_MAX_GENS 512

/* The generation numbers of profile (PROFILE-N-link beside it), ascending, and the current
 * one (-1 when the profile link is missing or unreadable). Returns the count. */
int nc_gen_list(const char *profile, int *gens, int max, int *current);

/* The current generation alone (one readlink): -1 when unknown. */
int nc_gen_current(const char *profile);

/* Generation N's link path: PROFILE-N-link. */
void nc_gen_link(const char *profile, int gen, char *buf, size_t len);

/* 1 when profile is a per-user profile (/nix/var/nix/profiles/per-user/..., any
 * .nix-profile), by its text and by the real path of its directory. */
int nc_user_profile(const char *profile);

/* What the plugin knows about generations: known good (activated with exit 0), known bad,
 * and its own last activation. */
typedef struct nc_genstate {
    unsigned char good[NC_MAX_GENS + 1];   /* indexed by generation (1..NC_MAX_GENS) */
    unsigned char bad[NC_MAX_GENS + 1];
    int last_gen, last_exit;               /* own last switch-to-configuration; gen -1 = none */
} nc_genstate;

void nc_state_init(nc_genstate *s);
/* Reads the state file (missing = empty). 0, or -1 with errno. */
int nc_state_load(nc_genstate *s, const char *path);
/* The state file's text, into buf. */
void nc_state_format(const nc_genstate *s, const char *profile, char *buf, size_t len);
void nc_state_mark(nc_genstate *s, int gen, int good);

/* Reads an activation status file: "GEN EXIT" (or "EXIT" alone, meaning the current
 * generation: *gen = -1). Returns 1 when it holds a status, 0 when missing or unreadable. */
int nc_status_read(const char *path, int *gen, int *exit_status);

#endif
