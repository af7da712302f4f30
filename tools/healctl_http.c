/* healctl_http.c — healctl's HTTP client: the --url parser and one HTTP/1.1 request over a
 * plain TCP socket (connect with a deadline, Connection: close, chunked or sized bodies, a
 * cap on the answer's size). Knows nothing of JSON or of the commands. */
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "healctl_int.h"

#define DEFAULT_PORT "9191"
#define MAX_RESPONSE (64u << 20)   /* a sane agent answers in kilobytes; refuse a flood */

/* ---- URL ---------------------------------------------------------------------------- */

/* Accepts http://HOST[:PORT][/PREFIX], [V6] as host, and HOST:PORT without a scheme. */
int healctl_url_parse(const char *text, url *u, char *err, size_t errlen)
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


int healctl_buf_add(buf *b, const void *p, size_t n)
{
    if (n > SIZE_MAX / 2 - b->len)
        return -1; /* no reply is that big; and len + n + 1 below cannot wrap */
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
        if (healctl_buf_add(out, p, (size_t)size) != 0) {
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
            if (healctl_buf_add(&r->body, body, (size_t)cl) != 0) {
                snprintf(err, errlen, "out of memory");
                return -1;
            }
            return 1;
        }
        /* Neither: the body runs until the server closes. */
        if (!eof)
            return 0;
        if (healctl_buf_add(&r->body, body, (size_t)(end - body)) != 0) {
            snprintf(err, errlen, "out of memory");
            return -1;
        }
        return 1;
    }
}


/* One request on a fresh connection (Connection: close). */
net_rc healctl_http_request(const url *u, double timeout, const char *method, const char *path,
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
    int ok = healctl_buf_add(&req, line, (size_t)n) == 0;
    if (strcmp(method, "POST") == 0) {
        ok = ok && healctl_buf_add(&req, "Content-Length: 0\r\n", 19) == 0;
        if (token && *token) {
            ok = ok && healctl_buf_add(&req, "Authorization: Bearer ", 22) == 0 &&
                 healctl_buf_add(&req, token, strlen(token)) == 0 && healctl_buf_add(&req, "\r\n", 2) == 0;
        }
    }
    ok = ok && healctl_buf_add(&req, "\r\n", 2) == 0;
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
        if (got > 0 && (in.len + (size_t)got > MAX_RESPONSE + 65536 || healctl_buf_add(&in, chunk, (size_t)got) != 0)) {
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

