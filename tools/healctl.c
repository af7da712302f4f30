/* healctl.c — the command-line client of healerd: HTTP/1.1 over a plain TCP socket to the
 * agent's JSON API (docs/http-api.md), tables for people and the agent's JSON for scripts.
 * Exit status (CONTRACT.md): 0 success, 1 the agent answered with an error, 2 unreachable or
 * bad usage. No libcurl: the agent serves plain HTTP on loopback, and a client that must work
 * while the host is sick should depend on as little as possible.
 * This file owns the request layer (token, call() and its error messages) and the command
 * line; the HTTP client is in healctl_http.c, tables and commands in healctl_cmds.c. */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <langinfo.h>
#include <limits.h>
#include <locale.h>
#include <math.h>
#include <netdb.h>
#include <poll.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <libconfig.h>

#include "healctl_int.h"
#include "sanitize.h"

#ifndef HEALERD_VERSION
#define HEALERD_VERSION "0.0.0"
#endif

#define DEFAULT_URL "http://127.0.0.1:9191"
#define DEFAULT_TOKEN_FILE "/etc/healerd/token"
#define DEFAULT_CONFIG "/etc/healerd/healerd.conf"
#define DEFAULT_TIMEOUT 10.0
#define MAX_TOKEN 4096

static const char *prog = "healctl";

void healctl_errmsg(const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "%s: ", prog);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

/* ---- Requests ----------------------------------------------------------------------- */

/* Re-indents JSON text that jansson has already validated, without re-encoding it, so
 * numbers and key order are printed exactly as the agent sent them. */
static void print_pretty_json(const char *s, size_t len)
{
    int indent = 0, in_str = 0, esc = 0;
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        if (in_str) {
            /* jansson escapes C0 but sends DEL, C1 (U+0080..U+009F) and bidi controls as
             * they are; a terminal acts on them. \uNNNN is the same JSON string. */
            size_t cl;
            long cp = (unsigned char)c >= 0x7f ? sanitize_control_at(s + i, len - i, &cl) : -1;
            if (cp >= 0 && !esc) {
                printf("\\u%04lx", (unsigned long)cp);
                i += cl - 1;
                continue;
            }
            putchar(c);
            if (esc)
                esc = 0;
            else if (c == '\\')
                esc = 1;
            else if (c == '"')
                in_str = 0;
            continue;
        }
        switch (c) {
        case ' ': case '\t': case '\n': case '\r':
            break;
        case '"':
            in_str = 1;
            putchar(c);
            break;
        case '{': case '[': {
            size_t j = i + 1;
            while (j < len && isspace((unsigned char)s[j]))
                j++;
            putchar(c);
            if (j < len && (s[j] == '}' || s[j] == ']')) {
                putchar(s[j]);
                i = j;
            } else {
                indent++;
                printf("\n%*s", indent * 2, "");
            }
            break;
        }
        case '}': case ']':
            indent--;
            printf("\n%*s%c", indent > 0 ? indent * 2 : 0, "", c);
            break;
        case ',':
            printf(",\n%*s", indent * 2, "");
            break;
        case ':':
            fputs(": ", stdout);
            break;
        default:
            putchar(c);
        }
    }
    putchar('\n');
}

/* The first line of the body, cleaned and shortened, for errors that are not JSON. */
static char *body_excerpt(const response *r)
{
    char tmp[201];
    size_t n = r->body.len < 200 ? r->body.len : 200;
    if (r->body.data)
        memcpy(tmp, r->body.data, n);
    tmp[n] = '\0';
    tmp[strcspn(tmp, "\r\n")] = '\0';
    return healctl_clean_text(tmp);
}


/* Reads the first line of the token file into tok. 0 ok; -1 with why set. */
static int read_token(const char *file, char *tok, size_t toklen, char *why, size_t whylen)
{
    FILE *f = fopen(file, "re");
    if (!f) {
        snprintf(why, whylen, "cannot read %s: %s", file, strerror(errno));
        return -1;
    }
    if (!fgets(tok, (int)toklen, f)) {
        int e = ferror(f) ? errno : 0;
        fclose(f);
        snprintf(why, whylen, "%s is %s", file, e ? strerror(e) : "empty");
        tok[0] = '\0';
        return -1;
    }
    fclose(f);
    size_t n = strcspn(tok, "\r\n");
    tok[n] = '\0';
    while (n > 0 && (tok[n - 1] == ' ' || tok[n - 1] == '\t'))
        tok[--n] = '\0';
    if (n == 0) {
        snprintf(why, whylen, "the first line of %s is empty", file);
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        if ((unsigned char)tok[i] < 0x20 || tok[i] == 0x7f) {
            snprintf(why, whylen, "the token in %s contains control characters", file);
            tok[0] = '\0';
            return -1;
        }
    }
    return 0;
}

/* Runs one request. Returns the exit code; on success *out holds the parsed JSON. */
int healctl_call(const ctx *c, const req_info *ri, json_t **out)
{
    *out = NULL;
    char tok[MAX_TOKEN] = "", why[600] = "";
    int post = strcmp(ri->method, "POST") == 0;
    int have_token = 0;
    if (post) {
        /* Without a readable token the request still goes out: the agent is the judge (it
         * may have no token configured, 403), and its answer is explained below. */
        have_token = read_token(c->token_file, tok, sizeof tok, why, sizeof why) == 0;
    }
    response r;
    char err[600] = "";
    net_rc nr = healctl_http_request(&c->u, c->timeout, ri->method, ri->path, have_token ? tok : NULL,
                             &r, err, sizeof err);
    explicit_bzero(tok, sizeof tok);
    if (nr == NET_UNREACHABLE) {
        healctl_errmsg("cannot reach the agent at %s: %s", c->u.base, err);
        return EX_UNREACHABLE;
    }
    if (nr == NET_BAD_ANSWER) {
        healctl_errmsg("%s %s%s: bad HTTP answer: %s", ri->method, c->u.base, ri->path, err);
        return EX_AGENT;
    }

    json_error_t je;
    json_t *root = r.body.len ? json_loadb(r.body.data, r.body.len, 0, &je) : NULL;
    int rc;
    if (r.status >= 200 && r.status < 300) {
        if (!root) {
            if (r.body.len)
                healctl_errmsg("%s %s%s: the agent's answer is not valid JSON (line %d, column %d: %s)",
                       ri->method, c->u.base, ri->path, je.line, je.column, je.text);
            else
                healctl_errmsg("%s %s%s: the agent's answer is empty", ri->method, c->u.base, ri->path);
            rc = EX_AGENT;
        } else if (!json_is_object(root)) {
            healctl_errmsg("%s %s%s: the agent's answer is not a JSON object", ri->method, c->u.base,
                   ri->path);
            rc = EX_AGENT;
        } else {
            if (c->json)
                print_pretty_json(r.body.data, r.body.len);
            *out = root;
            root = NULL;
            rc = EX_OK;
        }
    } else {
        rc = EX_AGENT;
        if (c->json && root)
            print_pretty_json(r.body.data, r.body.len);
        char *excerpt = NULL;
        const char *msg = root ? healctl_jstr(root, "error", NULL) : NULL;
        if (!msg) {
            excerpt = body_excerpt(&r);
            msg = excerpt && *excerpt ? excerpt : r.reason;
        }
        char *m = healctl_clean_text(msg);
        msg = m ? m : "";
        switch (r.status) {
        case 401:
            if (have_token)
                healctl_errmsg("the agent refused the token (401: %s): the token read from %s is wrong", msg,
                       c->token_file);
            else
                healctl_errmsg("the agent wants a token (401: %s) and none was sent: %s", msg, why);
            break;
        case 403:
            healctl_errmsg("the agent refuses every command (403: %s): no token is configured on the "
                   "agent; write one to the file named by http.token_file in its config and "
                   "reload healerd (systemctl reload healerd)", msg);
            break;
        case 404:
            if (ri->id)
                healctl_errmsg("no pending plan with ID %s (404: %s); see 'healctl pending'", ri->id, msg);
            else if (ri->what)
                healctl_errmsg("no %s with ID %s (404: %s); see 'healctl %s'", ri->what, ri->what_id,
                               msg, strcmp(ri->what, "heal") == 0 ? "history" : "issues");
            else
                healctl_errmsg("%s %s%s: not found (404: %s): is %s a healerd of this version?",
                       ri->method, c->u.base, ri->path, msg, c->u.base);
            break;
        default:
            healctl_errmsg("%s %s%s: the agent answered %d: %s", ri->method, c->u.base, ri->path, r.status,
                   msg);
        }
        free(m);
        free(excerpt);
    }
    json_decref(root);
    free(r.body.data);
    return rc;
}

/* ---- Command line ------------------------------------------------------------------- */

static void usage(FILE *f)
{
    fprintf(f,
            "Usage: healctl [--url URL] [--token-file FILE] [--json] [--timeout SECONDS] COMMAND\n"
            "\n"
            "Talks to healerd's HTTP API.\n"
            "\n"
            "Commands:\n"
            "  status          version, mode, health, limits and what is left of them\n"
            "  issues          open issues\n"
            "  history [-n N]  healing history, newest first (N: 1-1000, default 50)\n"
            "  plugins         loaded and refused plugins, with reasons\n"
            "  knowledge       what the agent learned: per issue type and action\n"
            "  pending         plans waiting for confirmation\n"
            "  confirm ID      carry out a pending plan *\n"
            "  reject ID       drop a pending plan *\n"
            "  pause           stop healing; detection goes on *\n"
            "  resume          heal again *\n"
            "  hold TARGET     leave TARGET alone (default for 1 h) *\n"
            "                  [--for DURATION (90, 15m, 2h, 1d; 0 = until released)]\n"
            "                  [--type TYPE] [--reason TEXT] [--even-critical]\n"
            "  unhold TARGET   release the holds on TARGET [--type TYPE] *\n"
            "  holds           the holds in force\n"
            "  show heal ID    one heal: the governor's verdict, the candidates, every step\n"
            "                  and actuator call (ID: see 'healctl history')\n"
            "  show issue ID   one issue and the heals recorded for it\n"
            "  explain ID      why heal ID went as it did, in sentences\n"
            "  undo HEAL_ID    revert that heal's changes, newest first, and say what could\n"
            "                  not be undone and why [--dry-run] [--force] *\n"
            "  restore --to TIME  revert every change made since TIME (2026-12-02T16:00:00Z,\n"
            "                  local 2026-12-02T17:00, -1h, -30m, epoch seconds)\n"
            "                  [--dry-run] [--force] *\n"
            "  * sends the bearer token from the token file\n"
            "\n"
            "Options:\n"
            "  --url URL           the agent (default: $HEALCTL_URL, else http.listen of\n"
            "                      the config, else " DEFAULT_URL "; http only;\n"
            "                      IPv6 as http://[::1]:9191)\n"
            "  -c, --config FILE   read http.listen from FILE (default " DEFAULT_CONFIG ")\n"
            "  --no-legend         tables without their header line\n"
            "  --token-file FILE   bearer token for commands, first line (default\n"
            "                      " DEFAULT_TOKEN_FILE ")\n"
            "  --json              print the agent's JSON instead of tables\n"
            "  --timeout SECONDS   connect and read timeout (default 10)\n"
            "  -h, --help          this help\n"
            "  --version           healctl's version\n"
            "\n"
            "Exit status: 0 success, 1 the agent answered with an error, 2 the agent cannot\n"
            "be reached or the usage is wrong.\n");
}

/* A positive decimal integer that fits in uint64 (an ID) — strictly digits. */
static int valid_id(const char *s)
{
    if (!*s || strlen(s) > 19)
        return 0;
    for (const char *p = s; *p; p++)
        if (!isdigit((unsigned char)*p))
            return 0;
    return strtoull(s, NULL, 10) > 0;
}

/* Matches --name VALUE and --name=VALUE. 1 matched (value set), 0 not this option, -1 missing. */
static int opt_value(int argc, char **argv, int *i, const char *name, const char **value)
{
    const char *a = argv[*i];
    size_t n = strlen(name);
    if (strncmp(a, name, n) != 0)
        return 0;
    if (a[n] == '=') {
        *value = a + n + 1;
        return 1;
    }
    if (a[n] != '\0')
        return 0;
    if (*i + 1 >= argc) {
        healctl_errmsg("%s needs a value (try 'healctl --help')", name);
        return -1;
    }
    *value = argv[++*i];
    return 1;
}

/* http.listen of a healerd config as a URL for a client on this host ("0.0.0.0:9191" is
 * reached at 127.0.0.1, "[::]:9191" at [::1]). 0 and url; 1 the file has no http.listen (the
 * default URL holds); -1 with why (the file named by -c cannot be read, or HTTP is off). */
static int url_from_config(const char *file, int must, char *out, size_t n, char *why, size_t wn)
{
    config_t cf;
    config_init(&cf);
    int rc = 1;
    const char *listen = NULL;
    if (config_read_file(&cf, file) != CONFIG_TRUE) {
        if (must || config_error_type(&cf) != CONFIG_ERR_FILE_IO) {
            snprintf(why, wn, "%s:%d: %s", config_error_file(&cf) ? config_error_file(&cf) : file,
                     config_error_line(&cf), config_error_text(&cf));
            rc = -1;
        }
    } else if (config_lookup_string(&cf, "http.listen", &listen) == CONFIG_TRUE) {
        if (!*listen) {
            snprintf(why, wn, "%s: http.listen is empty: the agent serves no HTTP", file);
            rc = -1;
        } else if (strncmp(listen, "0.0.0.0:", 8) == 0) {
            snprintf(out, n, "http://127.0.0.1:%s", listen + 8);
            rc = 0;
        } else if (strncmp(listen, "[::]:", 5) == 0) {
            snprintf(out, n, "http://[::1]:%s", listen + 5);
            rc = 0;
        } else {
            snprintf(out, n, "http://%s", listen);
            rc = 0;
        }
    }
    config_destroy(&cf);
    return rc;
}

int main(int argc, char **argv)
{
    setlocale(LC_CTYPE, "");
    healctl_utf8_term = strcmp(nl_langinfo(CODESET), "UTF-8") == 0;

    ctx c = {.url_text = DEFAULT_URL, .token_file = DEFAULT_TOKEN_FILE, .timeout = DEFAULT_TIMEOUT};
    const char *pos[4];
    int npos = 0, end_opts = 0;
    const char *limit_text = NULL, *timeout_text = NULL, *config_text = NULL;
    int url_given = 0;
    /* hold/unhold (issue #11) */
    const char *for_text = NULL, *type_text = NULL, *reason_text = NULL;
    int even_critical = 0;
    /* undo/restore (issue #15) */
    const char *to_text = NULL;
    int dry_run = 0, force = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = NULL;
        if (end_opts || a[0] != '-' || a[1] == '\0') {
            if (npos == (int)(sizeof pos / sizeof *pos)) {
                healctl_errmsg("too many arguments (try 'healctl --help')");
                return EX_USAGE;
            }
            pos[npos++] = a;
            continue;
        }
        int m;
        if (strcmp(a, "--") == 0) {
            end_opts = 1;
        } else if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            usage(stdout);
            return EX_OK;
        } else if (strcmp(a, "--version") == 0 || strcmp(a, "-V") == 0) {
            printf("healctl %s\n", HEALERD_VERSION);
            return EX_OK;
        } else if (strcmp(a, "--json") == 0 || strcmp(a, "-j") == 0) {
            c.json = 1;
        } else if ((m = opt_value(argc, argv, &i, "--url", &v)) != 0) {
            if (m < 0)
                return EX_USAGE;
            c.url_text = v;
            url_given = 1;
        } else if ((m = opt_value(argc, argv, &i, "--config", &v)) != 0 ||
                   (m = opt_value(argc, argv, &i, "-c", &v)) != 0) {
            if (m < 0)
                return EX_USAGE;
            config_text = v;
        } else if (strcmp(a, "--no-legend") == 0) {
            healctl_no_legend = 1;
        } else if ((m = opt_value(argc, argv, &i, "--token-file", &v)) != 0) {
            if (m < 0)
                return EX_USAGE;
            c.token_file = v;
        } else if ((m = opt_value(argc, argv, &i, "--timeout", &v)) != 0) {
            if (m < 0)
                return EX_USAGE;
            timeout_text = v;
        } else if ((m = opt_value(argc, argv, &i, "--for", &v)) != 0) {
            if (m < 0)
                return EX_USAGE;
            for_text = v;
        } else if ((m = opt_value(argc, argv, &i, "--type", &v)) != 0) {
            if (m < 0)
                return EX_USAGE;
            type_text = v;
        } else if ((m = opt_value(argc, argv, &i, "--reason", &v)) != 0) {
            if (m < 0)
                return EX_USAGE;
            reason_text = v;
        } else if (strcmp(a, "--even-critical") == 0) {
            even_critical = 1;
        } else if (strcmp(a, "--dry-run") == 0) {
            dry_run = 1;
        } else if (strcmp(a, "--force") == 0) {
            force = 1;
        } else if ((m = opt_value(argc, argv, &i, "--to", &v)) != 0) {
            if (m < 0)
                return EX_USAGE;
            to_text = v;
        } else if ((m = opt_value(argc, argv, &i, "--limit", &v)) != 0) {
            if (m < 0)
                return EX_USAGE;
            limit_text = v;
        } else if (strncmp(a, "-n", 2) == 0) {
            if (a[2]) {
                limit_text = a + 2;
            } else if (i + 1 < argc) {
                limit_text = argv[++i];
            } else {
                healctl_errmsg("-n needs a number (try 'healctl --help')");
                return EX_USAGE;
            }
        } else {
            healctl_errmsg("unknown option '%s' (try 'healctl --help')", a);
            return EX_USAGE;
        }
    }

    if (npos == 0) {
        usage(stderr);
        return EX_USAGE;
    }
    const char *cmd = pos[0];
    if (strcmp(cmd, "help") == 0) {
        usage(stdout);
        return EX_OK;
    }
    if (timeout_text) {
        char *e;
        errno = 0;
        c.timeout = strtod(timeout_text, &e);
        if (errno || *e || e == timeout_text || !(c.timeout > 0) || c.timeout > 3600) {
            healctl_errmsg("--timeout: '%s' is not a number of seconds in (0, 3600]", timeout_text);
            return EX_USAGE;
        }
    }
    long limit = 0;
    if (limit_text) {
        if (strcmp(cmd, "history") != 0) {
            healctl_errmsg("-n only applies to 'history'");
            return EX_USAGE;
        }
        char *e;
        errno = 0;
        limit = strtol(limit_text, &e, 10);
        if (errno || *e || e == limit_text || limit < 1 || limit > 1000) {
            healctl_errmsg("-n: '%s' is not a number from 1 to 1000", limit_text);
            return EX_USAGE;
        }
    }
    int want_id = strcmp(cmd, "confirm") == 0 || strcmp(cmd, "reject") == 0;
    int want_target = strcmp(cmd, "hold") == 0 || strcmp(cmd, "unhold") == 0;
    if ((for_text || reason_text || even_critical) && strcmp(cmd, "hold") != 0) {
        healctl_errmsg("--for, --reason and --even-critical only apply to 'hold'");
        return EX_USAGE;
    }
    if (type_text && !want_target) {
        healctl_errmsg("--type only applies to 'hold' and 'unhold'");
        return EX_USAGE;
    }
    double for_s;
    if (for_text && healctl_parse_duration(for_text, &for_s) != 0) {
        healctl_errmsg("--for: '%s' is not a duration: a number of seconds, or with s, m, h or "
                       "d (90, 15m, 2h, 1.5d; 0 = until released), at most 3650d", for_text);
        return EX_USAGE;
    }
    static const char *const known[] = {"status", "issues", "history", "plugins", "knowledge",
                                        "pending", "confirm", "reject", "pause", "resume",
                                        "hold", "unhold", "holds", "show", "explain",
                                        "undo", "restore"};
    int is_known = 0;
    for (size_t k = 0; k < sizeof known / sizeof *known; k++)
        if (strcmp(cmd, known[k]) == 0)
            is_known = 1;
    if (!is_known) {
        healctl_errmsg("unknown command '%s' (try 'healctl --help')", cmd);
        return EX_USAGE;
    }
    if (want_id && npos != 2) {
        healctl_errmsg("%s needs exactly one plan ID (see 'healctl pending')", cmd);
        return EX_USAGE;
    }
    if (want_target && (npos != 2 || !pos[1][0])) {
        healctl_errmsg("%s needs exactly one TARGET (a unit, interface, mount point, ... or a "
                       "shell pattern)", cmd);
        return EX_USAGE;
    }
    int is_undo = strcmp(cmd, "undo") == 0, is_restore = strcmp(cmd, "restore") == 0;
    if ((dry_run || force) && !is_undo && !is_restore) {
        healctl_errmsg("--dry-run and --force only apply to 'undo' and 'restore'");
        return EX_USAGE;
    }
    if (to_text && !is_restore) {
        healctl_errmsg("--to only applies to 'restore'");
        return EX_USAGE;
    }
    if (is_restore && (!to_text || npos != 1)) {
        healctl_errmsg("restore needs --to TIME and nothing else (TIME: 2026-12-02T16:00:00Z, "
                       "-1h, -30m, or seconds since the epoch)");
        return EX_USAGE;
    }
    if (is_undo && (npos != 2 || !valid_id(pos[1]))) {
        healctl_errmsg("undo needs exactly one heal ID (a positive number; see 'healctl history')");
        return EX_USAGE;
    }
    int is_show = strcmp(cmd, "show") == 0, is_explain = strcmp(cmd, "explain") == 0;
    if (is_show && (npos != 3 || (strcmp(pos[1], "heal") != 0 && strcmp(pos[1], "issue") != 0))) {
        healctl_errmsg("show needs 'heal ID' or 'issue ID' (see 'healctl history', 'healctl issues')");
        return EX_USAGE;
    }
    if (is_explain && npos != 2) {
        healctl_errmsg("explain needs exactly one heal ID (see 'healctl history')");
        return EX_USAGE;
    }
    const char *one_id = is_show ? pos[2] : is_explain ? pos[1] : NULL;
    if (one_id && !valid_id(one_id)) {
        healctl_errmsg("%s: '%s' is not an ID (a positive number; see 'healctl %s')", cmd, one_id,
                       is_show && pos[1][0] == 'i' ? "issues" : "history");
        return EX_USAGE;
    }
    if (!want_id && !want_target && !one_id && !is_undo && npos != 1) {
        healctl_errmsg("%s takes no argument ('%s' is one too many)", cmd, pos[1]);
        return EX_USAGE;
    }
    if (want_id && !valid_id(pos[1])) {
        healctl_errmsg("%s: '%s' is not a plan ID (a positive number; see 'healctl pending')", cmd, pos[1]);
        return EX_USAGE;
    }
    /* Where the agent is: --url, else $HEALCTL_URL, else the config's http.listen (the file
     * of -c must be readable; the default one may be absent), else the default. */
    char cfg_url[600], why[700];
    const char *url_from = "--url";
    const char *env = getenv("HEALCTL_URL");
    if (!url_given && env && *env) {
        c.url_text = env;
        url_from = "HEALCTL_URL";
    } else if (!url_given) {
        int r = url_from_config(config_text ? config_text : DEFAULT_CONFIG, config_text != NULL,
                                cfg_url, sizeof cfg_url, why, sizeof why);
        if (r < 0 && config_text) {
            healctl_errmsg("-c %s", why);
            return EX_USAGE;
        }
        if (r == 0) {
            c.url_text = cfg_url;
            url_from = "http.listen";
        }
    }
    char err[1200];
    if (healctl_url_parse(c.url_text, &c.u, err, sizeof err) != 0) {
        healctl_errmsg("%s %s", url_from, err);
        return EX_USAGE;
    }

    int rc;
    char path[96], done[96];
    if (strcmp(cmd, "status") == 0)
        rc = healctl_cmd_status(&c);
    else if (strcmp(cmd, "issues") == 0)
        rc = healctl_cmd_issues(&c);
    else if (strcmp(cmd, "history") == 0)
        rc = healctl_cmd_history(&c, limit);
    else if (strcmp(cmd, "plugins") == 0)
        rc = healctl_cmd_plugins(&c);
    else if (strcmp(cmd, "knowledge") == 0)
        rc = healctl_cmd_knowledge(&c);
    else if (strcmp(cmd, "pending") == 0)
        rc = healctl_cmd_pending(&c);
    else if (strcmp(cmd, "holds") == 0)
        rc = healctl_cmd_holds(&c);
    else if (is_explain)
        rc = healctl_cmd_explain(&c, one_id);
    else if (is_undo || is_restore)
        rc = healctl_cmd_undo(&c, is_undo ? pos[1] : NULL, to_text, dry_run, force);
    else if (is_show)
        rc = pos[1][0] == 'h' ? healctl_cmd_show_heal(&c, one_id) : healctl_cmd_show_issue(&c, one_id);
    else if (want_target)
        rc = healctl_cmd_hold(&c, cmd[0] == 'u', pos[1], type_text, for_text, reason_text,
                              even_critical);
    else if (want_id) {
        snprintf(path, sizeof path, "/api/v1/pending/%s/%s", pos[1], cmd);
        snprintf(done, sizeof done, "%s plan %s", cmd[0] == 'c' ? "confirmed" : "rejected", pos[1]);
        rc = healctl_cmd_post(&c, path, pos[1], done);
    } else {
        snprintf(path, sizeof path, "/api/v1/%s", cmd);
        rc = healctl_cmd_post(&c, path, NULL,
                      cmd[0] == 'p' ? "paused: no healing until 'healctl resume'" : "resumed");
    }
    if (fflush(stdout) != 0 || ferror(stdout)) {
        healctl_errmsg("writing the output: %s", strerror(errno));
        return EX_AGENT;
    }
    return rc;
}
