/* healctl.c — the command-line client of healerd: HTTP/1.1 over a plain TCP socket to the
 * agent's JSON API (docs/http-api.md), tables for people and the agent's JSON for scripts.
 * Exit status (CONTRACT.md): 0 success, 1 the agent answered with an error, 2 unreachable or
 * bad usage. No libcurl: the agent serves plain HTTP on loopback, and a client that must work
 * while the host is sick should depend on as little as possible. */
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

#ifndef HEALERD_VERSION
#define HEALERD_VERSION "0.0.0"
#endif

#define DEFAULT_URL "http://127.0.0.1:9191"
#define DEFAULT_PORT "9191"
#define DEFAULT_TOKEN_FILE "/etc/healerd/token"
#define DEFAULT_TIMEOUT 10.0
#define MAX_RESPONSE (64u << 20)   /* a sane agent answers in kilobytes; refuse a flood */
#define MAX_TOKEN 4096

enum { EX_OK = 0, EX_AGENT = 1, EX_UNREACHABLE = 2, EX_USAGE = 2 };

static const char *prog = "healctl";

static void errmsg(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void errmsg(const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "%s: ", prog);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

/* ---- URL ---------------------------------------------------------------------------- */

typedef struct url {
    char host[256];     /* without brackets */
    char port[8];
    char prefix[512];   /* path before /api/v1, without trailing slash ("" normally) */
    char hosthdr[300];  /* Host: header value, brackets kept for IPv6 */
    char base[900];     /* for messages: http://host:port/prefix */
} url;

/* Accepts http://HOST[:PORT][/PREFIX], [V6] as host, and HOST:PORT without a scheme. */
static int url_parse(const char *text, url *u, char *err, size_t errlen)
{
    memset(u, 0, sizeof *u);
    const char *p = text;
    if (strncasecmp(p, "https://", 8) == 0) {
        snprintf(err, errlen, "%s: https is not supported: healerd serves plain HTTP (keep it "
                 "on loopback, or put a TLS proxy in front and use http:// to reach it locally)",
                 text);
        return -1;
    }
    if (strncasecmp(p, "http://", 7) == 0)
        p += 7;
    else if (strstr(p, "://")) {
        snprintf(err, errlen, "%s: unsupported URL scheme (only http:// is)", text);
        return -1;
    }
    size_t alen = strcspn(p, "/?#");
    const char *rest = p + alen;
    if (memchr(p, '@', alen)) {
        snprintf(err, errlen, "%s: user names in the URL are not supported (use --token-file)",
                 text);
        return -1;
    }
    const char *h = p, *hend, *port = NULL;
    size_t plen = 0;
    if (*p == '[') {
        const char *close = memchr(p, ']', alen);
        if (!close) {
            snprintf(err, errlen, "%s: missing ']' after the IPv6 address", text);
            return -1;
        }
        h = p + 1;
        hend = close;
        if (close + 1 < p + alen) {
            if (close[1] != ':') {
                snprintf(err, errlen, "%s: expected ':PORT' after ']'", text);
                return -1;
            }
            port = close + 2;
            plen = (size_t)(p + alen - port);
        }
    } else {
        const char *colon = memchr(p, ':', alen);
        if (colon && memchr(colon + 1, ':', (size_t)(p + alen - colon - 1))) {
            snprintf(err, errlen, "%s: an IPv6 address must be written in brackets: "
                     "http://[::1]:9191", text);
            return -1;
        }
        hend = colon ? colon : p + alen;
        if (colon) {
            port = colon + 1;
            plen = (size_t)(p + alen - port);
        }
    }
    size_t hlen = (size_t)(hend - h);
    if (hlen == 0) {
        snprintf(err, errlen, "%s: no host in the URL", text);
        return -1;
    }
    if (hlen >= sizeof u->host) {
        snprintf(err, errlen, "%s: host name too long", text);
        return -1;
    }
    memcpy(u->host, h, hlen);
    if (port) {
        unsigned long v = 0;
        int ok = plen > 0 && plen <= 5;
        for (size_t i = 0; ok && i < plen; i++) {
            if (!isdigit((unsigned char)port[i]))
                ok = 0;
            else
                v = v * 10 + (unsigned long)(port[i] - '0');
        }
        if (!ok || v == 0 || v > 65535) {
            snprintf(err, errlen, "%s: bad port '%.*s' (1-65535)", text, (int)(plen > 16 ? 16 : plen),
                     port);
            return -1;
        }
        snprintf(u->port, sizeof u->port, "%lu", v);
    } else {
        /* The agent's port, not HTTP's 80: "--url http://host" means the agent on host. */
        snprintf(u->port, sizeof u->port, "%s", DEFAULT_PORT);
    }
    if (*rest == '?' || *rest == '#') {
        snprintf(err, errlen, "%s: a query or fragment makes no sense here", text);
        return -1;
    }
    size_t rlen = strlen(rest);
    while (rlen > 0 && rest[rlen - 1] == '/')
        rlen--;
    if (rlen >= sizeof u->prefix) {
        snprintf(err, errlen, "%s: path too long", text);
        return -1;
    }
    for (size_t i = 0; i < rlen; i++) {
        unsigned char c = (unsigned char)rest[i];
        if (c <= ' ' || c >= 0x7f || c == '?' || c == '#') {
            snprintf(err, errlen, "%s: the path may not contain spaces, controls, '?' or '#'", text);
            return -1;
        }
    }
    memcpy(u->prefix, rest, rlen);
    int v6 = strchr(u->host, ':') != NULL;
    snprintf(u->hosthdr, sizeof u->hosthdr, "%s%s%s:%s", v6 ? "[" : "", u->host, v6 ? "]" : "",
             u->port);
    snprintf(u->base, sizeof u->base, "http://%s%s", u->hosthdr, u->prefix);
    return 0;
}

/* ---- HTTP client -------------------------------------------------------------------- */

typedef struct buf {
    char *data;
    size_t len, cap;
} buf;

static int buf_add(buf *b, const void *p, size_t n)
{
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        while (cap < b->len + n + 1)
            cap *= 2;
        char *d = realloc(b->data, cap);
        if (!d)
            return -1;
        b->data = d;
        b->cap = cap;
    }
    memcpy(b->data + b->len, p, n);
    b->len += n;
    b->data[b->len] = '\0';
    return 0;
}

typedef struct response {
    int status;
    char reason[128];
    char content_type[128];
    buf body;
} response;

static double now_mono(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Waits for events on fd until the deadline. 1 ready, 0 timed out, -1 error (errno). */
static int wait_fd(int fd, short events, double deadline)
{
    for (;;) {
        double left = deadline - now_mono();
        if (left <= 0)
            return 0;
        struct pollfd pfd = {.fd = fd, .events = events};
        int r = poll(&pfd, 1, (int)(left * 1000) + 1);
        if (r > 0)
            return 1;
        if (r == 0)
            continue; /* recheck the deadline */
        if (errno != EINTR)
            return -1;
    }
}

/* Connects to the first address of u that answers. Returns the socket or -1 with err set. */
static int tcp_connect(const url *u, double timeout, char *err, size_t errlen)
{
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_NUMERICSERV};
    struct addrinfo *res = NULL;
    int rc = getaddrinfo(u->host, u->port, &hints, &res);
    if (rc != 0) {
        snprintf(err, errlen, "cannot resolve '%s': %s", u->host,
                 rc == EAI_SYSTEM ? strerror(errno) : gai_strerror(rc));
        return -1;
    }
    int last = ECONNREFUSED;
    for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
        int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK,
                        ai->ai_protocol);
        if (fd < 0) {
            last = errno;
            continue;
        }
        if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0) {
            freeaddrinfo(res);
            return fd;
        }
        if (errno == EINPROGRESS) {
            int w = wait_fd(fd, POLLOUT, now_mono() + timeout);
            if (w == 1) {
                int soerr = 0;
                socklen_t sl = sizeof soerr;
                if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) == 0 && soerr == 0) {
                    freeaddrinfo(res);
                    return fd;
                }
                last = soerr ? soerr : errno;
            } else {
                last = w == 0 ? ETIMEDOUT : errno;
            }
        } else {
            last = errno;
        }
        close(fd);
    }
    freeaddrinfo(res);
    snprintf(err, errlen, "%s", strerror(last));
    return -1;
}

/* Finds a header's value in the block [h, end). Writes it trimmed into out. 1 found. */
static int header_get(const char *h, const char *end, const char *name, char *out, size_t outlen)
{
    size_t nlen = strlen(name);
    int found = 0;
    while (h < end) {
        const char *eol = memchr(h, '\n', (size_t)(end - h));
        if (!eol)
            eol = end;
        const char *colon = memchr(h, ':', (size_t)(eol - h));
        if (colon && (size_t)(colon - h) == nlen && strncasecmp(h, name, nlen) == 0) {
            const char *v = colon + 1, *ve = eol;
            while (v < ve && (*v == ' ' || *v == '\t'))
                v++;
            while (ve > v && isspace((unsigned char)ve[-1]))
                ve--;
            size_t vlen = (size_t)(ve - v);
            if (vlen >= outlen)
                vlen = outlen - 1;
            if (found) {
                /* Repeated header: RFC 9110 joins them with commas; keep both for the
                 * Content-Length conflict check below. */
                size_t cur = strlen(out);
                snprintf(out + cur, outlen - cur, ",%.*s", (int)vlen, v);
            } else {
                memcpy(out, v, vlen);
                out[vlen] = '\0';
            }
            found = 1;
        }
        h = eol + 1;
    }
    return found;
}

/* Decodes a chunked body starting at p. 1 complete, 0 need more, -1 malformed. */
static int dechunk(const char *p, const char *end, buf *out, char *err, size_t errlen)
{
    for (;;) {
        const char *eol = memchr(p, '\n', (size_t)(end - p));
        if (!eol)
            return 0;
        uint64_t size = 0;
        const char *q = p;
        int digits = 0;
        while (q < eol && isxdigit((unsigned char)*q)) {
            if (size > (UINT64_MAX >> 4) || ++digits > 15) {
                snprintf(err, errlen, "chunk size too large");
                return -1;
            }
            size = size * 16 + (uint64_t)(isdigit((unsigned char)*q) ? *q - '0'
                                                                      : (tolower((unsigned char)*q) - 'a' + 10));
            q++;
        }
        if (digits == 0 || (q < eol && *q != ';' && *q != '\r' && *q != ' ' && *q != '\t')) {
            snprintf(err, errlen, "bad chunk size line");
            return -1;
        }
        p = eol + 1;
        if (size == 0) {
            /* Trailers until an empty line. */
            for (;;) {
                eol = memchr(p, '\n', (size_t)(end - p));
                if (!eol)
                    return 0;
                int empty = eol == p || (eol == p + 1 && *p == '\r');
                p = eol + 1;
                if (empty)
                    return 1;
            }
        }
        if (size > MAX_RESPONSE || out->len + size > MAX_RESPONSE) {
            snprintf(err, errlen, "answer larger than %u bytes", MAX_RESPONSE);
            return -1;
        }
        if ((uint64_t)(end - p) < size + 1)
            return 0;
        if (buf_add(out, p, (size_t)size) != 0) {
            snprintf(err, errlen, "out of memory");
            return -1;
        }
        p += size;
        if (*p == '\r') {
            if (end - p < 2)
                return 0;
            p++;
        }
        if (*p != '\n') {
            snprintf(err, errlen, "chunk not followed by CRLF");
            return -1;
        }
        p++;
    }
}

/* Parses what has arrived so far. 1 complete (r filled), 0 need more, -1 malformed. */
static int parse_response(const buf *in, int eof, response *r, char *err, size_t errlen)
{
    const char *start = in->data ? in->data : "";
    const char *end = start + in->len;
    for (;;) {
        /* The header block ends at the first empty line (CRLF CRLF; bare LF tolerated). */
        const char *hend = NULL, *body = NULL;
        for (const char *q = start; q < end; q++) {
            if (*q != '\n')
                continue;
            if (q + 1 < end && q[1] == '\n') {
                hend = q + 1;
                body = q + 2;
                break;
            }
            if (q + 2 < end && q[1] == '\r' && q[2] == '\n') {
                hend = q + 1;
                body = q + 3;
                break;
            }
        }
        if (!hend) {
            if (eof) {
                snprintf(err, errlen, in->len ? "the connection closed in the middle of the headers"
                                              : "the connection closed without an answer");
                return -1;
            }
            return 0;
        }
        if (end - start < 12 || strncmp(start, "HTTP/1.", 7) != 0 || !isdigit((unsigned char)start[9]) ||
            !isdigit((unsigned char)start[10]) || !isdigit((unsigned char)start[11]) || start[8] != ' ') {
            snprintf(err, errlen, "not an HTTP/1.x answer");
            return -1;
        }
        r->status = (start[9] - '0') * 100 + (start[10] - '0') * 10 + (start[11] - '0');
        const char *sl_end = memchr(start, '\n', (size_t)(hend - start));
        const char *rs = start + 12;
        while (rs < sl_end && *rs == ' ')
            rs++;
        size_t rl = (size_t)(sl_end - rs);
        while (rl > 0 && isspace((unsigned char)rs[rl - 1]))
            rl--;
        if (rl >= sizeof r->reason)
            rl = sizeof r->reason - 1;
        memcpy(r->reason, rs, rl);
        r->reason[rl] = '\0';
        const char *headers = sl_end + 1;
        if (r->status >= 100 && r->status < 200) {
            start = body; /* an interim answer (100 Continue): the real one follows */
            continue;
        }
        if (r->status < 100) {
            snprintf(err, errlen, "bad status code %d", r->status);
            return -1;
        }
        char val[256];
        r->content_type[0] = '\0';
        header_get(headers, hend, "Content-Type", r->content_type, sizeof r->content_type);
        r->body.len = 0;
        if (r->status == 204 || r->status == 304)
            return 1;
        if (header_get(headers, hend, "Transfer-Encoding", val, sizeof val)) {
            /* Chunked must be the last coding; any other (gzip) we never asked for. */
            size_t vl = strlen(val);
            if (vl < 7 || strcasecmp(val + vl - 7, "chunked") != 0 || strchr(val, ',')) {
                snprintf(err, errlen, "unsupported Transfer-Encoding '%s'", val);
                return -1;
            }
            int d = dechunk(body, end, &r->body, err, errlen);
            if (d == 0 && eof) {
                snprintf(err, errlen, "the connection closed in the middle of a chunked answer");
                return -1;
            }
            if (d != 1)
                r->body.len = 0; /* decoded again from the start on the next read */
            return d;
        }
        if (header_get(headers, hend, "Content-Length", val, sizeof val)) {
            char *e;
            errno = 0;
            unsigned long long cl = strtoull(val, &e, 10);
            if (!isdigit((unsigned char)val[0]) || errno || *e) {
                snprintf(err, errlen, "bad Content-Length '%s'", val);
                return -1;
            }
            if (cl > MAX_RESPONSE) {
                snprintf(err, errlen, "answer of %llu bytes is larger than %u", cl, MAX_RESPONSE);
                return -1;
            }
            if ((unsigned long long)(end - body) < cl) {
                if (eof) {
                    snprintf(err, errlen, "the connection closed after %zu of %llu body bytes",
                             (size_t)(end - body), cl);
                    return -1;
                }
                return 0;
            }
            if (buf_add(&r->body, body, (size_t)cl) != 0) {
                snprintf(err, errlen, "out of memory");
                return -1;
            }
            return 1;
        }
        /* Neither: the body runs until the server closes. */
        if (!eof)
            return 0;
        if (buf_add(&r->body, body, (size_t)(end - body)) != 0) {
            snprintf(err, errlen, "out of memory");
            return -1;
        }
        return 1;
    }
}

typedef enum net_rc { NET_OK = 0, NET_UNREACHABLE = 1, NET_BAD_ANSWER = 2 } net_rc;

/* One request on a fresh connection (Connection: close). */
static net_rc http_request(const url *u, double timeout, const char *method, const char *path,
                           const char *token, response *r, char *err, size_t errlen)
{
    memset(r, 0, sizeof *r);
    int fd = tcp_connect(u, timeout, err, errlen);
    if (fd < 0)
        return NET_UNREACHABLE;
    buf req = {0};
    char line[1024];
    int n = snprintf(line, sizeof line,
                     "%s %s%s HTTP/1.1\r\nHost: %s\r\nUser-Agent: healctl/" HEALERD_VERSION
                     "\r\nAccept: application/json\r\nConnection: close\r\n",
                     method, u->prefix, path, u->hosthdr);
    int ok = buf_add(&req, line, (size_t)n) == 0;
    if (strcmp(method, "POST") == 0) {
        ok = ok && buf_add(&req, "Content-Length: 0\r\n", 19) == 0;
        if (token && *token) {
            ok = ok && buf_add(&req, "Authorization: Bearer ", 22) == 0 &&
                 buf_add(&req, token, strlen(token)) == 0 && buf_add(&req, "\r\n", 2) == 0;
        }
    }
    ok = ok && buf_add(&req, "\r\n", 2) == 0;
    if (!ok) {
        free(req.data);
        close(fd);
        snprintf(err, errlen, "out of memory");
        return NET_UNREACHABLE;
    }

    net_rc rc = NET_OK;
    size_t off = 0;
    while (off < req.len) {
        ssize_t w = send(fd, req.data + off, req.len - off, MSG_NOSIGNAL);
        if (w > 0) {
            off += (size_t)w;
            continue;
        }
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            int wr = wait_fd(fd, POLLOUT, now_mono() + timeout);
            if (wr == 1)
                continue;
            snprintf(err, errlen, "sending the request: %s", wr == 0 ? strerror(ETIMEDOUT) : strerror(errno));
        } else {
            snprintf(err, errlen, "sending the request: %s", strerror(errno));
        }
        rc = NET_UNREACHABLE;
        break;
    }
    free(req.data);

    buf in = {0};
    while (rc == NET_OK) {
        int wr = wait_fd(fd, POLLIN, now_mono() + timeout);
        if (wr != 1) {
            snprintf(err, errlen, "waiting for the answer: %s",
                     wr == 0 ? "no answer within the timeout" : strerror(errno));
            rc = NET_UNREACHABLE;
            break;
        }
        char chunk[16384];
        ssize_t got = recv(fd, chunk, sizeof chunk, 0);
        if (got < 0) {
            if (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK)
                continue;
            snprintf(err, errlen, "reading the answer: %s", strerror(errno));
            rc = NET_UNREACHABLE;
            break;
        }
        if (got > 0 && (in.len + (size_t)got > MAX_RESPONSE + 65536 || buf_add(&in, chunk, (size_t)got) != 0)) {
            snprintf(err, errlen, "answer larger than %u bytes", MAX_RESPONSE);
            rc = NET_BAD_ANSWER;
            break;
        }
        int p = parse_response(&in, got == 0, r, err, errlen);
        if (p == 1)
            break;
        if (p < 0)
            rc = NET_BAD_ANSWER;
    }
    free(in.data);
    close(fd);
    if (rc != NET_OK) {
        free(r->body.data);
        r->body.data = NULL;
    }
    return rc;
}

/* ---- Text output -------------------------------------------------------------------- */

static int utf8_term;   /* the terminal takes UTF-8: "…" as the truncation mark */

/* Copies s, replacing control characters (C0, DEL and C1) by spaces: an issue summary comes
 * from a plugin and must not be able to drive the terminal with escape sequences. */
static char *clean_text(const char *s)
{
    if (!s)
        s = "";
    size_t n = strlen(s);
    char *out = malloc(n + 1);
    if (!out)
        return NULL;
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c < 0x20 || c == 0x7f) {
            out[o++] = ' ';
        } else if (c == 0xc2 && i + 1 < n && (unsigned char)s[i + 1] >= 0x80 &&
                   (unsigned char)s[i + 1] <= 0x9f) {
            out[o++] = ' ';
            i++;
        } else {
            out[o++] = (char)c;
        }
    }
    out[o] = '\0';
    return out;
}

/* Display width: one column per code point (good enough for the text the agent produces). */
static size_t text_width(const char *s)
{
    size_t w = 0;
    for (; *s; s++)
        if (((unsigned char)*s & 0xc0) != 0x80)
            w++;
    return w;
}

/* Truncates s in place to at most w columns, ending with a mark when cut. */
static void text_truncate(char *s, size_t w)
{
    if (text_width(s) <= w)
        return;
    const char *mark = utf8_term ? "\xe2\x80\xa6" : "...";
    size_t mw = utf8_term ? 1 : 3;
    if (w <= mw) {
        /* No room for a mark: plain cut at a code point boundary. */
        mark = "";
        mw = 0;
    }
    size_t keep = w - mw, cols = 0, i = 0;
    for (; s[i]; i++) {
        if (((unsigned char)s[i] & 0xc0) != 0x80) {
            if (cols == keep)
                break;
            cols++;
        }
    }
    /* Do not leave a trailing space before the mark. */
    while (i > 0 && s[i - 1] == ' ' && *mark)
        i--;
    memcpy(s + i, mark, strlen(mark) + 1);
}

enum { COL_LEFT = 0, COL_RIGHT = 1 };

typedef struct column {
    const char *head;
    int align;
    size_t max;         /* cap in columns (0 = none) */
} column;

typedef struct table {
    const column *cols;
    size_t ncols;
    char **cells;       /* row-major, owned */
    size_t ncells, cap;
    int oom;
} table;

static void table_cell(table *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void table_cell(table *t, const char *fmt, ...)
{
    if (t->oom)
        return;
    char *raw = NULL;
    va_list ap;
    va_start(ap, fmt);
    int n = vasprintf(&raw, fmt, ap);
    va_end(ap);
    /* An absent value reads better as "-" than as a hole in the table. */
    char *c = n < 0 ? NULL : clean_text(*raw ? raw : "-");
    free(n < 0 ? NULL : raw);
    if (c && t->ncells == t->cap) {
        size_t cap = t->cap ? t->cap * 2 : 64;
        char **cells = realloc(t->cells, cap * sizeof *cells);
        if (!cells) {
            free(c);
            c = NULL;
        } else {
            t->cells = cells;
            t->cap = cap;
        }
    }
    if (!c) {
        t->oom = 1;
        return;
    }
    t->cells[t->ncells++] = c;
}

static size_t terminal_width(void)
{
    struct winsize ws;
    if (isatty(STDOUT_FILENO) && ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0)
        return ws.ws_col;
    const char *c = getenv("COLUMNS");
    if (c && *c) {
        long v = strtol(c, NULL, 10);
        if (v > 0 && v < 10000)
            return (size_t)v;
    }
    return 0; /* a pipe: do not squeeze the last column */
}

/* Prints the table: columns as wide as their widest cell (within their cap); the last column
 * takes what the terminal has left. */
static int table_print(table *t)
{
    if (t->oom) {
        errmsg("out of memory");
        return -1;
    }
    size_t nc = t->ncols, nrows = t->ncells / nc;
    if (t->ncells % nc != 0 || nc > 16) {
        errmsg("internal error: a table row has the wrong number of cells");
        return -1;
    }
    size_t width[16] = {0};
    for (size_t c = 0; c < nc; c++) {
        width[c] = text_width(t->cols[c].head);
        for (size_t r = 0; r < nrows; r++) {
            char *cell = t->cells[r * nc + c];
            if (t->cols[c].max && c + 1 < nc)
                text_truncate(cell, t->cols[c].max);
            size_t w = text_width(cell);
            if (w > width[c])
                width[c] = w;
        }
    }
    size_t term = terminal_width();
    if (term) {
        size_t used = 0;
        for (size_t c = 0; c + 1 < nc; c++)
            used += width[c] + 2;
        size_t left = term > used + 10 ? term - used : 10;
        for (size_t r = 0; r < nrows; r++)
            text_truncate(t->cells[r * nc + nc - 1], left);
    } else if (t->cols[nc - 1].max) {
        for (size_t r = 0; r < nrows; r++)
            text_truncate(t->cells[r * nc + nc - 1], t->cols[nc - 1].max);
    }
    for (size_t r = 0; r <= nrows; r++) {
        for (size_t c = 0; c < nc; c++) {
            const char *s = r == 0 ? t->cols[c].head : t->cells[(r - 1) * nc + c];
            size_t pad = width[c] - text_width(s);
            int last = c + 1 == nc;
            if (t->cols[c].align == COL_RIGHT)
                printf("%*s%s", (int)pad, "", s);
            else
                printf("%s%*s", s, last ? 0 : (int)pad, "");
            fputs(last ? "\n" : "  ", stdout);
        }
    }
    return 0;
}

static void table_free(table *t)
{
    for (size_t i = 0; i < t->ncells; i++)
        free(t->cells[i]);
    free(t->cells);
}

/* ---- Formatting values -------------------------------------------------------------- */

static const char *jstr(const json_t *o, const char *key, const char *dflt)
{
    const char *s = json_string_value(json_object_get(o, key));
    return s ? s : dflt;
}

static int jnum(const json_t *o, const char *key, double *out)
{
    json_t *v = json_object_get(o, key);
    if (!json_is_number(v))
        return 0;
    *out = json_number_value(v);
    return isfinite(*out);
}

/* An integer field as text, "-" when absent. */
static void fmt_int(char *b, size_t n, const json_t *o, const char *key)
{
    double v;
    if (jnum(o, key, &v))
        snprintf(b, n, "%.0f", v);
    else
        snprintf(b, n, "-");
}

static void fmt_span(char *b, size_t n, double s)
{
    if (s < 0)
        s = 0;
    if (s < 60)
        snprintf(b, n, "%.0fs", floor(s));
    else if (s < 3600)
        snprintf(b, n, "%.0fm", floor(s / 60));
    else if (s < 86400)
        snprintf(b, n, "%.0fh %.0fm", floor(s / 3600), floor(fmod(s, 3600) / 60));
    else
        snprintf(b, n, "%.0fd %.0fh", floor(s / 86400), floor(fmod(s, 86400) / 3600));
}

/* A duration that may be short (an action took 0.2 s). */
static void fmt_duration(char *b, size_t n, const json_t *o, const char *key)
{
    double s;
    if (!jnum(o, key, &s) || s < 0)
        snprintf(b, n, "-");
    else if (s < 10)
        snprintf(b, n, "%.1fs", s);
    else
        fmt_span(b, n, s);
}

static double now_real(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Within a day: "5m ago" / "in 5m"; otherwise local time "YYYY-MM-DD HH:MM:SS". */
static void fmt_time(char *b, size_t n, const json_t *o, const char *key)
{
    double t;
    if (!jnum(o, key, &t) || t <= 0 || t > 1e11) {
        snprintf(b, n, "-");
        return;
    }
    double d = now_real() - t;
    char span[32];
    if (d >= 0 && d < 86400) {
        if (d < 1) {
            snprintf(b, n, "just now");
        } else {
            fmt_span(span, sizeof span, d);
            snprintf(b, n, "%s ago", span);
        }
        return;
    }
    if (d < 0 && d > -86400) {
        fmt_span(span, sizeof span, -d);
        snprintf(b, n, "in %s", span);
        return;
    }
    time_t tt = (time_t)t;
    struct tm tm;
    if (!localtime_r(&tt, &tm) || strftime(b, n, "%Y-%m-%d %H:%M:%S", &tm) == 0)
        snprintf(b, n, "-");
}

/* Joins the string values of an array (or the `key` member of each object in it). */
static char *join_array(const json_t *arr, const char *key, const char *sep)
{
    buf b = {0};
    size_t i;
    json_t *v;
    buf_add(&b, "", 0);
    json_array_foreach(arr, i, v) {
        const char *s = key ? jstr(v, key, NULL) : json_string_value(v);
        if (!s)
            continue;
        if (b.len)
            buf_add(&b, sep, strlen(sep));
        buf_add(&b, s, strlen(s));
    }
    if (!b.data)
        return strdup("");
    return b.data;
}

/* ---- Commands ----------------------------------------------------------------------- */

typedef struct ctx {
    url u;
    const char *url_text;
    const char *token_file;
    int json;
    double timeout;
} ctx;

/* Re-indents JSON text that jansson has already validated, without re-encoding it, so
 * numbers and key order are printed exactly as the agent sent them. */
static void print_pretty_json(const char *s, size_t len)
{
    int indent = 0, in_str = 0, esc = 0;
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        if (in_str) {
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
    return clean_text(tmp);
}

typedef struct req_info {
    const char *method;
    const char *path;
    const char *id;     /* confirm/reject: the plan ID, for the 404 message */
} req_info;

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
static int call(const ctx *c, const req_info *ri, json_t **out)
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
    net_rc nr = http_request(&c->u, c->timeout, ri->method, ri->path, have_token ? tok : NULL,
                             &r, err, sizeof err);
    explicit_bzero(tok, sizeof tok);
    if (nr == NET_UNREACHABLE) {
        errmsg("cannot reach the agent at %s: %s", c->u.base, err);
        return EX_UNREACHABLE;
    }
    if (nr == NET_BAD_ANSWER) {
        errmsg("%s %s%s: bad HTTP answer: %s", ri->method, c->u.base, ri->path, err);
        return EX_AGENT;
    }

    json_error_t je;
    json_t *root = r.body.len ? json_loadb(r.body.data, r.body.len, 0, &je) : NULL;
    int rc;
    if (r.status >= 200 && r.status < 300) {
        if (!root) {
            if (r.body.len)
                errmsg("%s %s%s: the agent's answer is not valid JSON (line %d, column %d: %s)",
                       ri->method, c->u.base, ri->path, je.line, je.column, je.text);
            else
                errmsg("%s %s%s: the agent's answer is empty", ri->method, c->u.base, ri->path);
            rc = EX_AGENT;
        } else if (!json_is_object(root)) {
            errmsg("%s %s%s: the agent's answer is not a JSON object", ri->method, c->u.base,
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
        const char *msg = root ? jstr(root, "error", NULL) : NULL;
        if (!msg) {
            excerpt = body_excerpt(&r);
            msg = excerpt && *excerpt ? excerpt : r.reason;
        }
        char *m = clean_text(msg);
        msg = m ? m : "";
        switch (r.status) {
        case 401:
            if (have_token)
                errmsg("the agent refused the token (401: %s): the token read from %s is wrong", msg,
                       c->token_file);
            else
                errmsg("the agent wants a token (401: %s) and none was sent: %s", msg, why);
            break;
        case 403:
            errmsg("the agent refuses every command (403: %s): no token is configured on the "
                   "agent; write one to the file named by http.token_file in its config and "
                   "reload healerd (systemctl reload healerd)", msg);
            break;
        case 404:
            if (ri->id)
                errmsg("no pending plan with ID %s (404: %s); see 'healctl pending'", ri->id, msg);
            else
                errmsg("%s %s%s: not found (404: %s): is %s a healerd of this version?",
                       ri->method, c->u.base, ri->path, msg, c->u.base);
            break;
        default:
            errmsg("%s %s%s: the agent answered %d: %s", ri->method, c->u.base, ri->path, r.status,
                   msg);
        }
        free(m);
        free(excerpt);
    }
    json_decref(root);
    free(r.body.data);
    return rc;
}

/* The array under key, or an error message and NULL. */
static json_t *want_array(const ctx *c, json_t *root, const char *key)
{
    json_t *a = json_object_get(root, key);
    if (!json_is_array(a))
        errmsg("unexpected answer from %s: no \"%s\" array", c->u.base, key);
    return json_is_array(a) ? a : NULL;
}

/* "until 14:05:03 (4m left)" for an end time in epoch seconds; "" when absent or past. */
static void fmt_until(char *b, size_t n, const json_t *o, const char *key)
{
    double t;
    b[0] = '\0';
    if (!jnum(o, key, &t) || t <= 0 || t > 1e11)
        return;
    double left = t - now_real();
    if (left <= 0)
        return;
    time_t tt = (time_t)t;
    struct tm tm;
    char clock[32] = "?", span[32];
    if (localtime_r(&tt, &tm))
        strftime(clock, sizeof clock, left < 86400 ? "%H:%M:%S" : "%Y-%m-%d %H:%M:%S", &tm);
    fmt_span(span, sizeof span, left < 1 ? 1 : left);
    snprintf(b, n, "until %s (%s left)", clock, span);
}

/* The cooldowns or snoozes of /api/v1/status, one line each. */
static void print_entries(const json_t *arr, const char *what)
{
    size_t i;
    const json_t *e;
    json_array_foreach(arr, i, e) {
        char until[96];
        fmt_until(until, sizeof until, e, "until");
        if (!until[0])
            continue;
        char *type = clean_text(jstr(e, "issue_type", "?"));
        char *target = clean_text(jstr(e, "target", "?"));
        const char *sev = jstr(e, "severity", NULL);
        printf("               %s %s on %s %s%s%s%s\n", what, type ? type : "?",
               target ? target : "?", until, sev ? " (after a " : "", sev ? sev : "",
               sev ? " heal)" : "");
        free(type);
        free(target);
    }
}

static int cmd_status(const ctx *c)
{
    json_t *root;
    int rc = call(c, &(req_info){"GET", "/api/v1/status", NULL}, &root);
    if (rc != EX_OK || c->json) {
        json_decref(root);
        return rc;
    }
    char up[32], v[64];
    double d;
    if (jnum(root, "uptime_seconds", &d))
        fmt_span(up, sizeof up, d);
    else
        snprintf(up, sizeof up, "-");
    char *ver = clean_text(jstr(root, "version", "?"));
    char *abi = clean_text(jstr(root, "abi", "?"));
    char *mode = clean_text(jstr(root, "mode", "?"));
    printf("healerd %s (plugin ABI %s) at %s\n", ver ? ver : "?", abi ? abi : "?", c->u.base);
    free(ver);
    free(abi);
    printf("  mode         %s%s\n", mode ? mode : "?",
           json_is_true(json_object_get(root, "paused")) ? ", PAUSED (no healing until resume)" : "");
    free(mode);
    printf("  uptime       %s\n", up);
    if (jnum(root, "health", &d)) {
        /* Name the component that pulls the number down, so "why 50?" has an answer. */
        const json_t *worst = NULL, *comp;
        size_t ci;
        double ws = 101, s;
        json_array_foreach(json_object_get(root, "health_components"), ci, comp) {
            if (jnum(comp, "score", &s) && s < ws) {
                ws = s;
                worst = comp;
            }
        }
        if (worst && ws < 100) {
            char *wp = clean_text(jstr(worst, "plugin", "?"));
            char *wc = clean_text(jstr(worst, "component", "?"));
            printf("  health       %.1f / 100 (lowest: %s %s at %.0f)\n", d, wp ? wp : "?",
                   wc ? wc : "?", ws);
            free(wp);
            free(wc);
        } else {
            printf("  health       %.1f / 100\n", d);
        }
    } else {
        printf("  health       -\n");
    }
    fmt_int(v, sizeof v, root, "open_issues");
    printf("  open issues  %s\n", v);
    fmt_int(v, sizeof v, root, "pending");
    printf("  pending      %s%s\n", v,
           jnum(root, "pending", &d) && d > 0 ? " (see 'healctl pending')" : "");
    const json_t *l = json_object_get(root, "limits");
    if (json_is_object(l)) {
        char a[32], b[32], m[32];
        fmt_int(a, sizeof a, l, "heals_last_hour");
        fmt_int(b, sizeof b, l, "heals_left_this_hour");
        fmt_int(m, sizeof m, l, "max_heals_per_hour");
        printf("  heals        %s in the last hour, %s left (max %s)\n", a, b, m);
        fmt_int(a, sizeof a, l, "rollbacks_today");
        fmt_int(b, sizeof b, l, "rollbacks_left_today");
        fmt_int(m, sizeof m, l, "max_rollbacks_per_day");
        printf("  rollbacks    %s today, %s left (max %s)\n", a, b, m);
        fmt_int(a, sizeof a, l, "min_health_for_auto");
        printf("  auto-heal    when health >= %s, or the issue is critical\n", a);
        fmt_int(a, sizeof a, l, "cooldowns_active");
        if (jnum(l, "cooldown_minutes", &d))
            snprintf(b, sizeof b, "%g", d);
        else
            snprintf(b, sizeof b, "-");
        printf("  cooldowns    %s active (%s min each)\n", a, b);
        print_entries(json_object_get(root, "cooldowns"), "cooldown");
        print_entries(json_object_get(root, "snoozes"), "rejected: snoozed");
        if (jnum(l, "auto_after_confirmations", &d) && d > 0)
            printf("  confirmed    risky actions run without asking after %.0f confirmed "
                   "successes in a row\n", d);
    }
    const json_t *bus = json_object_get(root, "bus");
    if (json_is_object(bus)) {
        char s[32], r[32], dr[32], ma[32];
        fmt_int(s, sizeof s, bus, "sent");
        fmt_int(r, sizeof r, bus, "received");
        fmt_int(dr, sizeof dr, bus, "dropped");
        fmt_int(ma, sizeof ma, bus, "malformed");
        printf("  bus          %s sent, %s received, %s dropped, %s malformed\n", s, r, dr, ma);
    }
    json_decref(root);
    return EX_OK;
}

static int cmd_issues(const ctx *c)
{
    json_t *root;
    int rc = call(c, &(req_info){"GET", "/api/v1/issues", NULL}, &root);
    if (rc != EX_OK || c->json) {
        json_decref(root);
        return rc;
    }
    json_t *arr = want_array(c, root, "issues");
    if (!arr) {
        json_decref(root);
        return EX_AGENT;
    }
    if (json_array_size(arr) == 0) {
        printf("no open issues\n");
        json_decref(root);
        return EX_OK;
    }
    static const column cols[] = {
        {"ID", COL_RIGHT, 0}, {"SEVERITY", COL_LEFT, 8}, {"STATE", COL_LEFT, 80},
        {"TYPE", COL_LEFT, 28}, {"TARGET", COL_LEFT, 32}, {"LAST SEEN", COL_LEFT, 0},
        {"COUNT", COL_RIGHT, 0}, {"SUMMARY", COL_LEFT, 100}};
    table t = {cols, sizeof cols / sizeof *cols, NULL, 0, 0, 0};
    size_t i;
    json_t *it;
    json_array_foreach(arr, i, it) {
        char id[32], seen[48], count[32];
        fmt_int(id, sizeof id, it, "id");
        fmt_time(seen, sizeof seen, it, "last_seen");
        fmt_int(count, sizeof count, it, "count");
        const char *state = jstr(it, "state", "-"), *reason = jstr(it, "reason", NULL);
        char cd[96], sn[96], wait[256] = "";
        fmt_until(cd, sizeof cd, it, "cooldown_until");
        fmt_until(sn, sizeof sn, it, "snoozed_until");
        if (cd[0] || sn[0])
            snprintf(wait, sizeof wait, "; %s%s%s%s%s", cd[0] ? "cooldown " : "", cd,
                     cd[0] && sn[0] ? "; " : "", sn[0] ? "rejected, snoozed " : "", sn);
        table_cell(&t, "%s", id);
        table_cell(&t, "%s", jstr(it, "severity", "-"));
        if (reason && *reason)
            table_cell(&t, "%s (%s)%s", state, reason, wait);
        else
            table_cell(&t, "%s%s", state, wait);
        table_cell(&t, "%s", jstr(it, "type", "-"));
        table_cell(&t, "%s", jstr(it, "target", "-"));
        table_cell(&t, "%s", seen);
        table_cell(&t, "%s", count);
        table_cell(&t, "%s", jstr(it, "summary", ""));
    }
    rc = table_print(&t) == 0 ? EX_OK : EX_AGENT;
    table_free(&t);
    json_decref(root);
    return rc;
}

static int cmd_history(const ctx *c, long limit)
{
    char path[64];
    if (limit > 0)
        snprintf(path, sizeof path, "/api/v1/heals?limit=%ld", limit);
    else
        snprintf(path, sizeof path, "/api/v1/heals");
    json_t *root;
    int rc = call(c, &(req_info){"GET", path, NULL}, &root);
    if (rc != EX_OK || c->json) {
        json_decref(root);
        return rc;
    }
    json_t *arr = want_array(c, root, "heals");
    if (!arr) {
        json_decref(root);
        return EX_AGENT;
    }
    if (json_array_size(arr) == 0) {
        printf("no heals yet\n");
        json_decref(root);
        return EX_OK;
    }
    static const column cols[] = {
        {"ID", COL_RIGHT, 0}, {"WHEN", COL_LEFT, 0}, {"TYPE", COL_LEFT, 28},
        {"TARGET", COL_LEFT, 32}, {"OUTCOME", COL_LEFT, 28}, {"TOOK", COL_RIGHT, 0},
        {"ACTIONS", COL_LEFT, 100}};
    table t = {cols, sizeof cols / sizeof *cols, NULL, 0, 0, 0};
    size_t i;
    json_t *h;
    json_array_foreach(arr, i, h) {
        char id[32], when[48], took[32];
        fmt_int(id, sizeof id, h, "id");
        double dummy;
        fmt_time(when, sizeof when, h, jnum(h, "started_at", &dummy) ? "started_at" : "detected_at");
        fmt_duration(took, sizeof took, h, "duration_seconds");
        const char *outcome = jstr(h, "outcome", "-"), *reason = jstr(h, "reason", NULL);
        table_cell(&t, "%s", id);
        table_cell(&t, "%s", when);
        table_cell(&t, "%s", jstr(h, "issue_type", "-"));
        table_cell(&t, "%s", jstr(h, "target", "-"));
        table_cell(&t, "%s%s%s%s", strcmp(outcome, "dry_run") == 0 ? "dry-run" : outcome,
                   reason && *reason ? " (" : "", reason && *reason ? reason : "",
                   reason && *reason ? ")" : "");
        table_cell(&t, "%s", took);
        /* Each action with its own outcome: "renice pid:123 healed; kill pid:123 failed". */
        buf acts = {0};
        buf_add(&acts, "", 0);
        size_t j;
        json_t *a;
        json_array_foreach(json_object_get(h, "actions"), j, a) {
            const char *name = jstr(a, "action", "?"), *tgt = jstr(a, "target", NULL),
                       *out = jstr(a, "outcome", NULL);
            if (acts.len)
                buf_add(&acts, "; ", 2);
            buf_add(&acts, name, strlen(name));
            if (tgt && *tgt) {
                buf_add(&acts, " ", 1);
                buf_add(&acts, tgt, strlen(tgt));
            }
            if (out && *out) {
                buf_add(&acts, " ", 1);
                buf_add(&acts, out, strlen(out));
            }
        }
        table_cell(&t, "%s", acts.data && acts.len ? acts.data : jstr(h, "summary", ""));
        free(acts.data);
    }
    rc = table_print(&t) == 0 ? EX_OK : EX_AGENT;
    table_free(&t);
    json_decref(root);
    return rc;
}

/* The ISOLATION, CHILD, PID, CRASHES and LAST CRASH cells of one plugin: what its healerd-plugin
 * child is doing ("process" object of /api/v1/plugins), so an operator sees a crash loop. */
static void plugin_child_cells(table *t, const json_t *p)
{
    const json_t *proc = json_object_get(p, "process");
    table_cell(t, "%s", jstr(p, "isolation", "-"));
    if (!json_is_object(proc)) {
        for (int k = 0; k < 4; k++)
            table_cell(t, "-");
        return;
    }
    const char *run = jstr(proc, "run_state", "-");
    char when[64], last[64];
    double pid = 0, crashes = 0;
    double at;
    if (strcmp(run, "restarting") == 0 && jnum(proc, "next_start", &at) && at > 0 && at < 1e11) {
        time_t tt = (time_t)at;
        struct tm tm;
        char clock[32] = "?";
        if (localtime_r(&tt, &tm))
            strftime(clock, sizeof clock, "%H:%M:%S", &tm);
        fmt_time(when, sizeof when, proc, "next_start");
        table_cell(t, "restarting at %s (%s)", clock, when);
    } else {
        table_cell(t, "%s", run);
    }
    if (jnum(proc, "pid", &pid) && pid > 0)
        table_cell(t, "%.0f", pid);
    else
        table_cell(t, "-");
    jnum(proc, "crashes", &crashes);
    table_cell(t, "%.0f", crashes);
    const char *lc = jstr(proc, "last_crash", NULL);
    if (lc && *lc) {
        fmt_time(last, sizeof last, proc, "last_crash_time");
        table_cell(t, "%s (%s)", lc, last);
    } else {
        table_cell(t, "-");
    }
}

static int cmd_plugins(const ctx *c)
{
    json_t *root;
    int rc = call(c, &(req_info){"GET", "/api/v1/plugins", NULL}, &root);
    if (rc != EX_OK || c->json) {
        json_decref(root);
        return rc;
    }
    json_t *arr = want_array(c, root, "plugins");
    if (!arr) {
        json_decref(root);
        return EX_AGENT;
    }
    if (json_array_size(arr) == 0) {
        printf("no plugins\n");
        json_decref(root);
        return EX_OK;
    }
    static const column cols[] = {
        {"NAME", COL_LEFT, 32}, {"VERSION", COL_LEFT, 16}, {"STATE", COL_LEFT, 10},
        {"INTERVAL", COL_RIGHT, 0}, {"ISOLATION", COL_LEFT, 0}, {"CHILD", COL_LEFT, 40},
        {"PID", COL_RIGHT, 0}, {"CRASHES", COL_RIGHT, 0}, {"LAST CRASH", COL_LEFT, 80},
        {"ISSUE TYPES", COL_LEFT, 40}, {"DETAILS", COL_LEFT, 120}};
    table t = {cols, sizeof cols / sizeof *cols, NULL, 0, 0, 0};
    size_t i;
    json_t *p;
    json_array_foreach(arr, i, p) {
        const char *name = jstr(p, "name", NULL), *file = jstr(p, "file", "-");
        const char *state = jstr(p, "state", "-"), *reason = jstr(p, "reason", NULL);
        if (!name || !*name) {
            /* A refused file may have no name: show which file it was. */
            const char *slash = strrchr(file, '/');
            name = slash ? slash + 1 : file;
        }
        char iv[32] = "-";
        double d;
        if (jnum(p, "interval", &d) && d > 0)
            snprintf(iv, sizeof iv, "%gs", d);
        char *types = join_array(json_object_get(p, "issue_types"), NULL, ",");
        table_cell(&t, "%s", name);
        table_cell(&t, "%s", jstr(p, "version", "-"));
        table_cell(&t, "%s", state);
        table_cell(&t, "%s", iv);
        plugin_child_cells(&t, p);
        table_cell(&t, "%s", types && *types ? types : "-");
        if (reason && *reason)
            table_cell(&t, "%s: %s", file, reason);
        else
            table_cell(&t, "%s", jstr(p, "description", ""));
        free(types);
    }
    rc = table_print(&t) == 0 ? EX_OK : EX_AGENT;
    table_free(&t);
    json_decref(root);
    return rc;
}

static int cmd_knowledge(const ctx *c)
{
    json_t *root;
    int rc = call(c, &(req_info){"GET", "/api/v1/knowledge", NULL}, &root);
    if (rc != EX_OK || c->json) {
        json_decref(root);
        return rc;
    }
    json_t *arr = want_array(c, root, "knowledge");
    if (!arr) {
        json_decref(root);
        return EX_AGENT;
    }
    if (json_array_size(arr) == 0) {
        printf("nothing learned yet\n");
        json_decref(root);
        return EX_OK;
    }
    static const column cols[] = {
        {"ISSUE TYPE", COL_LEFT, 32}, {"ACTION", COL_LEFT, 32}, {"ATTEMPTS", COL_RIGHT, 0},
        {"SUCCESSES", COL_RIGHT, 0}, {"RATE", COL_RIGHT, 0}, {"CONFIDENCE", COL_RIGHT, 0},
        {"CONFIRMED OK", COL_RIGHT, 0}, {"AUTOMATIC", COL_LEFT, 0}};
    table t = {cols, sizeof cols / sizeof *cols, NULL, 0, 0, 0};
    size_t i;
    json_t *k;
    json_array_foreach(arr, i, k) {
        char at[32], su[32], rate[32] = "-", conf[32] = "-";
        fmt_int(at, sizeof at, k, "attempts");
        fmt_int(su, sizeof su, k, "successes");
        double a, s, cf;
        if (jnum(k, "attempts", &a) && jnum(k, "successes", &s) && a > 0)
            snprintf(rate, sizeof rate, "%.0f%%", 100.0 * s / a);
        if (jnum(k, "confidence", &cf))
            snprintf(conf, sizeof conf, "%.2f", cf);
        table_cell(&t, "%s", jstr(k, "issue_type", "-"));
        table_cell(&t, "%s", jstr(k, "action", "-"));
        table_cell(&t, "%s", at);
        table_cell(&t, "%s", su);
        table_cell(&t, "%s", rate);
        table_cell(&t, "%s", conf);
        char cs[32];
        fmt_int(cs, sizeof cs, k, "confirmed_successes");
        table_cell(&t, "%s", cs);
        table_cell(&t, "%s", json_is_true(json_object_get(k, "automatic")) ? "yes" : "no");
    }
    rc = table_print(&t) == 0 ? EX_OK : EX_AGENT;
    table_free(&t);
    json_decref(root);
    return rc;
}

static int cmd_pending(const ctx *c)
{
    json_t *root;
    int rc = call(c, &(req_info){"GET", "/api/v1/pending", NULL}, &root);
    if (rc != EX_OK || c->json) {
        json_decref(root);
        return rc;
    }
    json_t *arr = want_array(c, root, "pending");
    if (!arr) {
        json_decref(root);
        return EX_AGENT;
    }
    if (json_array_size(arr) == 0) {
        printf("no plans waiting for confirmation\n");
        json_decref(root);
        return EX_OK;
    }
    static const column cols[] = {
        {"ID", COL_RIGHT, 0}, {"TYPE", COL_LEFT, 28}, {"TARGET", COL_LEFT, 32},
        {"SEVERITY", COL_LEFT, 8}, {"CREATED", COL_LEFT, 0}, {"EXPIRES", COL_LEFT, 0},
        {"ACTIONS", COL_LEFT, 48}, {"WHY CONFIRM", COL_LEFT, 80}};
    table t = {cols, sizeof cols / sizeof *cols, NULL, 0, 0, 0};
    size_t i;
    json_t *p;
    json_array_foreach(arr, i, p) {
        char id[32], cr[48], ex[48];
        fmt_int(id, sizeof id, p, "id");
        fmt_time(cr, sizeof cr, p, "created_at");
        fmt_time(ex, sizeof ex, p, "expires_at");
        char *acts = join_array(json_object_get(p, "actions"), "action", ", ");
        table_cell(&t, "%s", id);
        table_cell(&t, "%s", jstr(p, "issue_type", "-"));
        table_cell(&t, "%s", jstr(p, "target", "-"));
        table_cell(&t, "%s", jstr(p, "severity", "-"));
        table_cell(&t, "%s", cr);
        table_cell(&t, "%s", ex);
        table_cell(&t, "%s", acts && *acts ? acts : "-");
        table_cell(&t, "%s", jstr(p, "reason", ""));
        free(acts);
    }
    rc = table_print(&t) == 0 ? EX_OK : EX_AGENT;
    table_free(&t);
    json_decref(root);
    if (rc == EX_OK)
        printf("\nconfirm with 'healctl confirm ID', refuse with 'healctl reject ID'\n");
    return rc;
}

static int cmd_post(const ctx *c, const char *path, const char *id, const char *done)
{
    json_t *root;
    int rc = call(c, &(req_info){"POST", path, id}, &root);
    if (rc != EX_OK) {
        json_decref(root);
        return rc;
    }
    const char *msg = jstr(root, "message", NULL);
    json_t *ok = json_object_get(root, "ok");
    if (json_is_false(ok)) {
        /* A 200 that says it did not work is still a failure for the caller's script. */
        char *m = clean_text(msg ? msg : jstr(root, "error", "the agent did not do it"));
        errmsg("%s", m ? m : "");
        free(m);
        rc = EX_AGENT;
    } else if (!c->json) {
        char *m = clean_text(msg && *msg ? msg : done);
        printf("%s\n", m ? m : done);
        free(m);
    }
    json_decref(root);
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
            "  * sends the bearer token from the token file\n"
            "\n"
            "Options:\n"
            "  --url URL           the agent (default " DEFAULT_URL "; http only;\n"
            "                      IPv6 as http://[::1]:9191)\n"
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
        errmsg("%s needs a value (try 'healctl --help')", name);
        return -1;
    }
    *value = argv[++*i];
    return 1;
}

int main(int argc, char **argv)
{
    setlocale(LC_CTYPE, "");
    utf8_term = strcmp(nl_langinfo(CODESET), "UTF-8") == 0;

    ctx c = {.url_text = DEFAULT_URL, .token_file = DEFAULT_TOKEN_FILE, .timeout = DEFAULT_TIMEOUT};
    const char *pos[4];
    int npos = 0, end_opts = 0;
    const char *limit_text = NULL, *timeout_text = NULL;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = NULL;
        if (end_opts || a[0] != '-' || a[1] == '\0') {
            if (npos == (int)(sizeof pos / sizeof *pos)) {
                errmsg("too many arguments (try 'healctl --help')");
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
        } else if ((m = opt_value(argc, argv, &i, "--token-file", &v)) != 0) {
            if (m < 0)
                return EX_USAGE;
            c.token_file = v;
        } else if ((m = opt_value(argc, argv, &i, "--timeout", &v)) != 0) {
            if (m < 0)
                return EX_USAGE;
            timeout_text = v;
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
                errmsg("-n needs a number (try 'healctl --help')");
                return EX_USAGE;
            }
        } else {
            errmsg("unknown option '%s' (try 'healctl --help')", a);
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
            errmsg("--timeout: '%s' is not a number of seconds in (0, 3600]", timeout_text);
            return EX_USAGE;
        }
    }
    long limit = 0;
    if (limit_text) {
        if (strcmp(cmd, "history") != 0) {
            errmsg("-n only applies to 'history'");
            return EX_USAGE;
        }
        char *e;
        errno = 0;
        limit = strtol(limit_text, &e, 10);
        if (errno || *e || e == limit_text || limit < 1 || limit > 1000) {
            errmsg("-n: '%s' is not a number from 1 to 1000", limit_text);
            return EX_USAGE;
        }
    }
    int want_id = strcmp(cmd, "confirm") == 0 || strcmp(cmd, "reject") == 0;
    static const char *const known[] = {"status", "issues", "history", "plugins", "knowledge",
                                        "pending", "confirm", "reject", "pause", "resume"};
    int is_known = 0;
    for (size_t k = 0; k < sizeof known / sizeof *known; k++)
        if (strcmp(cmd, known[k]) == 0)
            is_known = 1;
    if (!is_known) {
        errmsg("unknown command '%s' (try 'healctl --help')", cmd);
        return EX_USAGE;
    }
    if (want_id && npos != 2) {
        errmsg("%s needs exactly one plan ID (see 'healctl pending')", cmd);
        return EX_USAGE;
    }
    if (!want_id && npos != 1) {
        errmsg("%s takes no argument ('%s' is one too many)", cmd, pos[1]);
        return EX_USAGE;
    }
    if (want_id && !valid_id(pos[1])) {
        errmsg("%s: '%s' is not a plan ID (a positive number; see 'healctl pending')", cmd, pos[1]);
        return EX_USAGE;
    }
    char err[1200];
    if (url_parse(c.url_text, &c.u, err, sizeof err) != 0) {
        errmsg("--url %s", err);
        return EX_USAGE;
    }

    int rc;
    char path[96], done[96];
    if (strcmp(cmd, "status") == 0)
        rc = cmd_status(&c);
    else if (strcmp(cmd, "issues") == 0)
        rc = cmd_issues(&c);
    else if (strcmp(cmd, "history") == 0)
        rc = cmd_history(&c, limit);
    else if (strcmp(cmd, "plugins") == 0)
        rc = cmd_plugins(&c);
    else if (strcmp(cmd, "knowledge") == 0)
        rc = cmd_knowledge(&c);
    else if (strcmp(cmd, "pending") == 0)
        rc = cmd_pending(&c);
    else if (want_id) {
        snprintf(path, sizeof path, "/api/v1/pending/%s/%s", pos[1], cmd);
        snprintf(done, sizeof done, "%s plan %s", cmd[0] == 'c' ? "confirmed" : "rejected", pos[1]);
        rc = cmd_post(&c, path, pos[1], done);
    } else {
        snprintf(path, sizeof path, "/api/v1/%s", cmd);
        rc = cmd_post(&c, path, NULL,
                      cmd[0] == 'p' ? "paused: no healing until 'healctl resume'" : "resumed");
    }
    if (fflush(stdout) != 0 || ferror(stdout)) {
        errmsg("writing the output: %s", strerror(errno));
        return EX_AGENT;
    }
    return rc;
}
