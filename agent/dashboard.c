/* dashboard.c — the dashboard page (HTML, inline CSS and JS, nothing fetched from elsewhere)
 * and its Content-Security-Policy, which pins the inline style and script by SHA-256 so that
 * no other script can run in the page even if some data were ever mis-escaped. */
#include "dashboard.h"

#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The page in three parts: the style and the markup here, the script in dashboard_js.c. The
 * script inserts every value from the API with textContent, never as HTML; it talks only to
 * this origin's /api/v1. Edit the text here directly. */
static const char dash_css[] =
    ":root{--bg:#f6f7f9;--card:#fff;--fg:#1d2330;--muted:#667085;--line:#e3e6eb;--ok:#12805c;--warn:#b25e09;--bad:#c0262d;--accent:#2f5bd3}\n"
    "@media (prefers-color-scheme:dark){:root{--bg:#14171c;--card:#1c2027;--fg:#e6e8ec;--muted:#98a1b0;--line:#2c323c;--ok:#3fbf8a;--warn:#e9a23b;--bad:#f0646b;--accent:#7b9cf5}}\n"
    "*{box-sizing:border-box}\n"
    "[hidden]{display:none!important}\n"
    "body{margin:0;background:var(--bg);color:var(--fg);font:14px/1.45 system-ui,-apple-system,\"Segoe UI\",Roboto,sans-serif}\n"
    "header{display:flex;flex-wrap:wrap;align-items:center;gap:10px 16px;padding:14px 24px;background:var(--card);border-bottom:1px solid var(--line)}\n"
    "header h1{font-size:18px;margin:0;font-weight:650}\n"
    "main{padding:20px 24px;display:grid;gap:18px;grid-template-columns:repeat(auto-fit,minmax(min(440px,100%),1fr))}\n"
    "section{background:var(--card);border:1px solid var(--line);border-radius:8px;padding:14px 16px;min-width:0}\n"
    "section.wide{grid-column:1/-1}\n"
    "section.attention{border-color:var(--warn);box-shadow:0 0 0 1px var(--warn)}\n"
    "h2{font-size:15px;margin:0 0 10px;font-weight:650}\n"
    "h3{font-size:12px;margin:12px 0 6px;font-weight:600;color:var(--muted);text-transform:uppercase;letter-spacing:.04em}\n"
    "h3 span{text-transform:none;letter-spacing:0;font-weight:400}\n"
    ".muted{color:var(--muted)}\n"
    ".badge{display:inline-block;padding:1px 8px;border-radius:10px;font-size:12px;font-weight:600;border:1px solid currentColor;white-space:nowrap}\n"
    ".ok{color:var(--ok)}.warn{color:var(--warn)}.bad{color:var(--bad)}\n"
    ".health{display:flex;align-items:baseline;gap:14px}\n"
    ".health .big{font-size:64px;font-weight:700;line-height:1;font-variant-numeric:tabular-nums}\n"
    ".comps{display:grid;gap:6px}\n"
    ".comp{display:grid;grid-template-columns:minmax(0,1fr) minmax(60px,40%) 3em;gap:10px;align-items:center}\n"
    ".cname{overflow-wrap:anywhere}\n"
    ".cscore{text-align:right;font-weight:600;font-variant-numeric:tabular-nums}\n"
    ".comp .bar{margin:0;height:8px}\n"
    ".comp .bar>div{height:8px;background:currentColor}\n"
    "dl.kv{display:grid;grid-template-columns:max-content minmax(0,1fr);gap:3px 14px;margin:0}\n"
    "dl.kv dt{color:var(--muted)}dl.kv dd{margin:0;font-variant-numeric:tabular-nums;overflow-wrap:anywhere}\n"
    ".scroll{overflow-x:auto}\n"
    "table{width:100%;border-collapse:collapse}\n"
    "th,td{text-align:left;padding:6px 8px;border-bottom:1px solid var(--line);vertical-align:top}\n"
    "th{font-size:12px;color:var(--muted);font-weight:600;white-space:nowrap}\n"
    "td{overflow-wrap:break-word;word-break:normal;min-width:4em}\n"
    "td.num{text-align:right;font-variant-numeric:tabular-nums}\n"
    "ul.acts{margin:0;padding-left:18px}\n"
    "ul.acts li{overflow-wrap:anywhere}\n"
    ".bar{height:6px;background:var(--line);border-radius:3px;min-width:60px;margin-top:4px;overflow:hidden}\n"
    ".bar>div{height:6px;background:var(--accent);border-radius:3px}\n"
    "button{font:inherit;padding:4px 12px;border-radius:6px;border:1px solid var(--line);background:var(--bg);color:var(--fg);cursor:pointer}\n"
    "button:hover{border-color:var(--accent)}\n"
    "button:focus-visible{outline:2px solid var(--accent);outline-offset:2px}\n"
    "button.primary{background:var(--accent);border-color:var(--accent);color:#fff}\n"
    "button.danger{color:var(--bad);border-color:var(--bad)}\n"
    "button.big{font-size:15px;font-weight:600;padding:8px 18px;min-height:40px;min-width:110px}\n"
    "input{font:inherit;padding:4px 8px;border-radius:6px;border:1px solid var(--line);background:var(--bg);color:var(--fg);width:220px;min-width:0}\n"
    ".auth{margin-left:auto;display:flex;gap:8px;align-items:center;flex-wrap:wrap}\n"
    "#banner{margin:14px 24px 0;padding:10px 14px;border-radius:8px;border:1px solid currentColor;display:none;overflow-wrap:anywhere}\n"
    "#banner.show{display:block}\n"
    "#stale{margin:14px 24px 0;padding:12px 16px;border-radius:8px;background:var(--bad);color:#fff;font-weight:600;overflow-wrap:anywhere}\n"
    "body.stale main{opacity:.55}\n"
    ".empty{color:var(--muted);font-style:italic}\n"
    ".plans{display:grid;gap:12px}\n"
    ".plan{display:grid;grid-template-columns:minmax(0,1fr) auto;gap:12px 20px;align-items:start;border:1px solid var(--line);border-radius:8px;padding:12px 14px;background:var(--bg)}\n"
    ".plan-info{display:grid;gap:4px;min-width:0;overflow-wrap:anywhere}\n"
    ".plan-btns{display:flex;gap:10px;flex-wrap:wrap}\n"
    "svg.chart{display:block;width:100%;height:auto}\n"
    "svg.chart .grid{stroke:var(--line);stroke-width:1}\n"
    "svg.chart .axis{fill:var(--muted);font-size:11px}\n"
    "svg.chart .dot{fill:var(--accent)}\n"
    "svg.chart .line{fill:none;stroke:var(--accent);stroke-width:2;stroke-linejoin:round}\n"
    "svg.chart .hb.ok,.legend .key.ok{fill:var(--ok);background:var(--ok)}\n"
    "svg.chart .hb.bad,.legend .key.bad{fill:var(--bad);background:var(--bad)}\n"
    "svg.chart .hb.other,.legend .key.other{fill:var(--muted);background:var(--muted)}\n"
    ".legend{font-size:12px;color:var(--muted);margin-top:4px}\n"
    ".legend .key{display:inline-block;width:10px;height:10px;border-radius:2px;margin:0 4px 0 10px;vertical-align:-1px}\n"
    ".legend .key:first-child{margin-left:0}\n"
    "dialog{border:1px solid var(--line);border-radius:10px;background:var(--card);color:var(--fg);padding:18px 20px;width:min(640px,calc(100vw - 24px));max-height:calc(100vh - 48px);overflow:auto}\n"
    "dialog::backdrop{background:rgba(0,0,0,.45)}\n"
    "dialog h3{text-transform:none;letter-spacing:0;font-size:13px;color:var(--fg)}\n"
    "#dlg-body,#why-body{overflow-wrap:anywhere}\n"
    ".dlg-btns{display:flex;gap:10px;justify-content:flex-end;flex-wrap:wrap;margin-top:16px}\n"
    "@media (max-width:600px){\n"
    "header{padding:10px 12px}\n"
    ".auth{margin-left:0;width:100%}\n"
    ".auth input{flex:1 1 120px;width:auto}\n"
    "main{padding:12px;gap:12px;grid-template-columns:minmax(0,1fr)}\n"
    "#banner,#stale{margin:10px 12px 0}\n"
    "section{padding:12px}\n"
    ".health .big{font-size:48px}\n"
    ".plan{grid-template-columns:minmax(0,1fr)}\n"
    ".plan-btns button{flex:1 1 0}\n"
    ".scroll{overflow-x:visible}\n"
    "table,thead,tbody,tr,td{display:block;width:100%}\n"
    "thead{position:absolute;width:1px;height:1px;overflow:hidden;clip:rect(0 0 0 0)}\n"
    "tr{border:1px solid var(--line);border-radius:8px;padding:6px 10px;margin-bottom:10px}\n"
    "td{display:grid;grid-template-columns:7.5em minmax(0,1fr);gap:8px;border:0;padding:3px 0;overflow-wrap:anywhere;min-width:0}\n"
    "td::before{content:attr(data-label);color:var(--muted);font-size:12px;font-weight:600}\n"
    "td.num{text-align:left}\n"
    "dl.kv{grid-template-columns:minmax(0,1fr)}\n"
    "dl.kv dt{margin-top:4px}\n"
    "}\n";

static const char dash_body[] =
    "<header>\n"
    "<h1>healerd</h1>\n"
    "<span id=\"mode\" class=\"badge\">…</span>\n"
    "<span id=\"paused\" class=\"badge warn\">paused</span>\n"
    "<span id=\"version\" class=\"muted\"></span>\n"
    "<span id=\"updated\" class=\"muted\"></span>\n"
    "<div class=\"auth\">\n"
    "<label for=\"token\" class=\"muted\">API token</label>\n"
    "<input id=\"token\" type=\"password\" autocomplete=\"off\" placeholder=\"paste the token once\">\n"
    "<button id=\"save-token\">Use</button>\n"
    "<button id=\"forget-token\">Forget</button>\n"
    "<button id=\"pause\">Pause</button>\n"
    "<button id=\"resume\">Resume</button>\n"
    "</div>\n"
    "</header>\n"
    "<div id=\"stale\" role=\"alert\" hidden></div>\n"
    "<div id=\"banner\" role=\"status\"></div>\n"
    "<main>\n"
    "<section id=\"pending-section\" class=\"wide\"><h2>Waiting for confirmation <span id=\"pending-count\" class=\"muted\"></span></h2><div id=\"pending\"></div></section>\n"
    "<section><h2>Health</h2><div class=\"health\"><span id=\"health\" class=\"big\">–</span><span class=\"muted\">/ 100</span></div><h3>By component</h3><div id=\"components\"></div><h3>Limits</h3><dl id=\"limits\" class=\"kv\"></dl></section>\n"
    "<section><h2>Last 24 hours</h2><h3>Health (lowest of each minute)</h3><div id=\"timeline\"></div><h3>Heals per hour <span id=\"perhour-sum\" class=\"muted\"></span></h3><div id=\"perhour\"></div><div class=\"legend\"><span class=\"key ok\"></span>healed <span class=\"key bad\"></span>failed or expired <span class=\"key other\"></span>other</div></section>\n"
    "<section class=\"wide\"><h2>Open issues</h2><div id=\"issues\"></div></section>\n"
    "<section class=\"wide\"><h2>Recent heals</h2><div id=\"heals\"></div></section>\n"
    "<section class=\"wide\"><h2>Plugins</h2><div id=\"plugins\"></div></section>\n"
    "<section class=\"wide\"><h2>Knowledge</h2><div id=\"knowledge\"></div></section>\n"
    "</main>\n"
    "<dialog id=\"confirm-dialog\" aria-labelledby=\"dlg-title\">\n"
    "<h2 id=\"dlg-title\"></h2>\n"
    "<div id=\"dlg-body\"></div>\n"
    "<div class=\"dlg-btns\"><button id=\"dlg-cancel\" class=\"big\">Cancel</button><button id=\"dlg-ok\" class=\"primary big\">Confirm</button></div>\n"
    "</dialog>\n"
    "<dialog id=\"why-dialog\" aria-labelledby=\"why-title\">\n"
    "<h2 id=\"why-title\"></h2>\n"
    "<div id=\"why-body\"></div>\n"
    "<div class=\"dlg-btns\"><button id=\"why-close\" class=\"big\">Close</button></div>\n"
    "</dialog>\n";

static const char dash_head[] =
    "<!doctype html>\n"
    "<html lang=\"en\">\n"
    "<head>\n"
    "<meta charset=\"utf-8\">\n"
    "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
    "<meta name=\"referrer\" content=\"no-referrer\">\n"
    "<title>healerd</title>\n"
    "<link rel=\"icon\" href=\"data:,\">\n"
    "<style>";
static const char dash_mid1[] = "</style>\n</head>\n<body>\n";
static const char dash_mid2[] = "<script>";
static const char dash_tail[] = "</script>\n</body>\n</html>\n";

/* ---- SHA-256 (FIPS 180-4), only for the CSP hashes --------------------------------------- */

typedef struct sha256_ctx {
    uint32_t h[8];
    uint64_t bits;
    unsigned char buf[64];
    size_t n;
} sha256_ctx;

static const uint32_t K256[64] = {
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
};

static uint32_t ror(uint32_t x, unsigned n) { return (x >> n) | (x << (32 - n)); }

static void sha256_block(sha256_ctx *c, const unsigned char *p)
{
    uint32_t w[64];
    for (int i = 0; i < 16; i++)
        w[i] = (uint32_t)p[4 * i] << 24 | (uint32_t)p[4 * i + 1] << 16 |
               (uint32_t)p[4 * i + 2] << 8 | (uint32_t)p[4 * i + 3];
    for (int i = 16; i < 64; i++) {
        uint32_t s0 = ror(w[i - 15], 7) ^ ror(w[i - 15], 18) ^ (w[i - 15] >> 3);
        uint32_t s1 = ror(w[i - 2], 17) ^ ror(w[i - 2], 19) ^ (w[i - 2] >> 10);
        w[i] = w[i - 16] + s0 + w[i - 7] + s1;
    }
    uint32_t a = c->h[0], b = c->h[1], cc = c->h[2], d = c->h[3];
    uint32_t e = c->h[4], f = c->h[5], g = c->h[6], h = c->h[7];
    for (int i = 0; i < 64; i++) {
        uint32_t t1 = h + (ror(e, 6) ^ ror(e, 11) ^ ror(e, 25)) + ((e & f) ^ (~e & g)) + K256[i] + w[i];
        uint32_t t2 = (ror(a, 2) ^ ror(a, 13) ^ ror(a, 22)) + ((a & b) ^ (a & cc) ^ (b & cc));
        h = g; g = f; f = e; e = d + t1;
        d = cc; cc = b; b = a; a = t1 + t2;
    }
    c->h[0] += a; c->h[1] += b; c->h[2] += cc; c->h[3] += d;
    c->h[4] += e; c->h[5] += f; c->h[6] += g; c->h[7] += h;
}

static void sha256(const void *data, size_t len, unsigned char out[32])
{
    sha256_ctx c = {{0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
                     0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19}, 0, {0}, 0};
    const unsigned char *p = data;
    c.bits = (uint64_t)len * 8;
    while (len >= 64) {
        sha256_block(&c, p);
        p += 64;
        len -= 64;
    }
    memcpy(c.buf, p, len);
    c.n = len;
    c.buf[c.n++] = 0x80;
    if (c.n > 56) {
        memset(c.buf + c.n, 0, 64 - c.n);
        sha256_block(&c, c.buf);
        c.n = 0;
    }
    memset(c.buf + c.n, 0, 56 - c.n);
    for (int i = 0; i < 8; i++)
        c.buf[56 + i] = (unsigned char)(c.bits >> (56 - 8 * i));
    sha256_block(&c, c.buf);
    for (int i = 0; i < 8; i++) {
        out[4 * i] = (unsigned char)(c.h[i] >> 24);
        out[4 * i + 1] = (unsigned char)(c.h[i] >> 16);
        out[4 * i + 2] = (unsigned char)(c.h[i] >> 8);
        out[4 * i + 3] = (unsigned char)c.h[i];
    }
}

static void base64(const unsigned char *in, size_t n, char *out)
{
    static const char tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    size_t o = 0;
    for (size_t i = 0; i < n; i += 3) {
        uint32_t v = (uint32_t)in[i] << 16 | (i + 1 < n ? (uint32_t)in[i + 1] << 8 : 0) |
                     (i + 2 < n ? in[i + 2] : 0);
        out[o++] = tab[(v >> 18) & 63];
        out[o++] = tab[(v >> 12) & 63];
        out[o++] = i + 1 < n ? tab[(v >> 6) & 63] : '=';
        out[o++] = i + 2 < n ? tab[v & 63] : '=';
    }
    out[o] = '\0';
}

void dashboard_sha256_base64(const void *data, size_t len, char out[45])
{
    unsigned char h[32];
    sha256(data, len, h);
    base64(h, sizeof h, out);
}

/* ---- the page and the policy, built once ------------------------------------------------ */

static char *page;   /* built once, kept for the process's life */
static size_t page_len;
static char csp[512];
static pthread_once_t once = PTHREAD_ONCE_INIT;

static void build(void)
{
    const char *parts[] = {dash_head, dash_css, dash_mid1, dash_body, dash_mid2, dashboard_js, dash_tail};
    size_t n = 0, total = 1;
    for (size_t i = 0; i < sizeof parts / sizeof parts[0]; i++)
        total += strlen(parts[i]);
    page = malloc(total);
    if (!page) {
        /* no page: the route answers with an empty body; the CSP below still holds */
        static char none[1];
        page = none;
        page_len = 0;
        total = 0;
    }
    for (size_t i = 0; total && i < sizeof parts / sizeof parts[0]; i++) {
        size_t l = strlen(parts[i]);
        memcpy(page + n, parts[i], l);
        n += l;
    }
    if (total) {
        page[n] = '\0';
        page_len = n;
    }
    char bs[45], bj[45];
    dashboard_sha256_base64(dash_css, strlen(dash_css), bs);
    dashboard_sha256_base64(dashboard_js, strlen(dashboard_js), bj);
    snprintf(csp, sizeof csp,
             "default-src 'none'; script-src 'sha256-%s'; style-src 'sha256-%s'; "
             "connect-src 'self'; img-src data:; base-uri 'none'; form-action 'none'; "
             "frame-ancestors 'none'",
             bj, bs);
}

const char *dashboard_html(size_t *len)
{
    pthread_once(&once, build);
    if (len)
        *len = page_len;
    return page;
}

const char *dashboard_csp(void)
{
    pthread_once(&once, build);
    return csp;
}
