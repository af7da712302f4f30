/* dashboard.c — the dashboard page (HTML, inline CSS and JS, nothing fetched from elsewhere)
 * and its Content-Security-Policy, which pins the inline style and script by SHA-256 so that
 * no other script can run in the page even if some data were ever mis-escaped. */
#include "dashboard.h"

#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

/* The page in three parts. The script inserts every value from the API with textContent,
 * never as HTML; it talks only to this origin's /api/v1. Edit the text here directly. */
static const char dash_css[] =
    ":root{--bg:#f6f7f9;--card:#fff;--fg:#1d2330;--muted:#667085;--line:#e3e6eb;--ok:#12805c;--warn:#b25e09;--bad:#c0262d;--accent:#2f5bd3}\n"
    "@media (prefers-color-scheme:dark){:root{--bg:#14171c;--card:#1c2027;--fg:#e6e8ec;--muted:#98a1b0;--line:#2c323c;--ok:#3fbf8a;--warn:#e9a23b;--bad:#f0646b;--accent:#7b9cf5}}\n"
    "*{box-sizing:border-box}\n"
    "[hidden]{display:none!important}\n"
    "body{margin:0;background:var(--bg);color:var(--fg);font:14px/1.45 system-ui,-apple-system,\"Segoe UI\",Roboto,sans-serif}\n"
    "header{display:flex;flex-wrap:wrap;align-items:center;gap:12px 20px;padding:14px 24px;background:var(--card);border-bottom:1px solid var(--line)}\n"
    "header h1{font-size:18px;margin:0;font-weight:650}\n"
    "main{padding:20px 24px;display:grid;gap:18px;grid-template-columns:repeat(auto-fit,minmax(420px,1fr))}\n"
    "section{background:var(--card);border:1px solid var(--line);border-radius:8px;padding:14px 16px;min-width:0}\n"
    "section.wide{grid-column:1/-1}\n"
    "h2{font-size:15px;margin:0 0 10px;font-weight:650}\n"
    ".muted{color:var(--muted)}\n"
    ".badge{display:inline-block;padding:1px 8px;border-radius:10px;font-size:12px;font-weight:600;border:1px solid currentColor}\n"
    ".ok{color:var(--ok)}.warn{color:var(--warn)}.bad{color:var(--bad)}\n"
    ".health{display:flex;align-items:baseline;gap:14px}\n"
    ".health .big{font-size:64px;font-weight:700;line-height:1;font-variant-numeric:tabular-nums}\n"
    "dl.kv{display:grid;grid-template-columns:max-content 1fr;gap:3px 14px;margin:12px 0 0}\n"
    "dl.kv dt{color:var(--muted)}dl.kv dd{margin:0;font-variant-numeric:tabular-nums}\n"
    "table{width:100%;border-collapse:collapse}\n"
    "th,td{text-align:left;padding:6px 8px;border-bottom:1px solid var(--line);vertical-align:top;overflow-wrap:anywhere}\n"
    "th{font-size:12px;color:var(--muted);font-weight:600}\n"
    "td.num{text-align:right;font-variant-numeric:tabular-nums}\n"
    "ul.acts{margin:0;padding-left:16px}\n"
    ".bar{height:6px;background:var(--line);border-radius:3px;min-width:60px;margin-top:4px}\n"
    ".bar>div{height:6px;background:var(--accent);border-radius:3px}\n"
    "button{font:inherit;padding:4px 12px;border-radius:6px;border:1px solid var(--line);background:var(--bg);color:var(--fg);cursor:pointer}\n"
    "button:hover{border-color:var(--accent)}\n"
    "button.primary{background:var(--accent);border-color:var(--accent);color:#fff}\n"
    "button.danger{color:var(--bad)}\n"
    "input{font:inherit;padding:4px 8px;border-radius:6px;border:1px solid var(--line);background:var(--bg);color:var(--fg);width:220px}\n"
    ".auth{margin-left:auto;display:flex;gap:8px;align-items:center;flex-wrap:wrap}\n"
    "#banner{margin:14px 24px 0;padding:10px 14px;border-radius:8px;border:1px solid currentColor;display:none}\n"
    "#banner.show{display:block}\n"
    ".empty{color:var(--muted);font-style:italic}\n"
    ".row-actions{display:flex;gap:6px}\n";

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
    "<div id=\"banner\" role=\"status\"></div>\n"
    "<main>\n"
    "<section><h2>Health</h2><div class=\"health\"><span id=\"health\" class=\"big\">–</span><span class=\"muted\">/ 100</span></div><dl id=\"limits\" class=\"kv\"></dl></section>\n"
    "<section><h2>Pending confirmations</h2><div id=\"pending\"></div></section>\n"
    "<section class=\"wide\"><h2>Open issues</h2><div id=\"issues\"></div></section>\n"
    "<section class=\"wide\"><h2>Recent heals</h2><div id=\"heals\"></div></section>\n"
    "<section><h2>Plugins</h2><div id=\"plugins\"></div></section>\n"
    "<section><h2>Knowledge</h2><div id=\"knowledge\"></div></section>\n"
    "</main>\n";

static const char dash_js[] =
    "\"use strict\";\n"
    "// Every value from the API reaches the page through textContent: nothing is parsed as HTML.\n"
    "(function () {\n"
    "  var POLL_MS = 5000;\n"
    "  var TOKEN_KEY = \"healerd.token\";\n"
    "  var $ = function (id) { return document.getElementById(id); };\n"
    "\n"
    "  function el(tag, cls, text) {\n"
    "    var e = document.createElement(tag);\n"
    "    if (cls) e.className = cls;\n"
    "    if (text !== undefined && text !== null) e.textContent = String(text);\n"
    "    return e;\n"
    "  }\n"
    "  function clear(node) { while (node.firstChild) node.removeChild(node.firstChild); }\n"
    "  function put(id, node) { var c = $(id); clear(c); c.appendChild(node); }\n"
    "  function empty(text) { return el(\"p\", \"empty\", text); }\n"
    "  function num(v, digits) {\n"
    "    if (typeof v !== \"number\" || !isFinite(v)) return \"–\";\n"
    "    return digits === undefined ? String(v) : v.toFixed(digits);\n"
    "  }\n"
    "  function when(t) {\n"
    "    if (typeof t !== \"number\" || !isFinite(t)) return \"–\";\n"
    "    var d = Date.now() / 1000 - t;\n"
    "    var a = Math.abs(d);\n"
    "    var span = a < 90 ? Math.round(a) + \" s\" : a < 5400 ? Math.round(a / 60) + \" min\"\n"
    "      : a < 172800 ? Math.round(a / 3600) + \" h\" : Math.round(a / 86400) + \" d\";\n"
    "    var rel = d < 0 ? \"in \" + span : span + \" ago\";\n"
    "    var abs = new Date(t * 1000).toLocaleString();\n"
    "    return rel + \" (\" + abs + \")\";\n"
    "  }\n"
    "  function sevClass(s) { return s === \"critical\" || s === \"high\" ? \"bad\" : s === \"medium\" ? \"warn\" : \"muted\"; }\n"
    "  function outcomeClass(o) {\n"
    "    return o === \"healed\" ? \"ok\" : o === \"failed\" || o === \"expired\" ? \"bad\"\n"
    "      : o === \"dry_run\" || o === \"suppressed\" || o === \"rejected\" || o === \"pending\" ? \"warn\" : \"muted\";\n"
    "  }\n"
    "  function badge(text, cls) { return el(\"span\", \"badge \" + (cls || \"\"), text === null || text === undefined ? \"–\" : text); }\n"
    "\n"
    "  // rows: arrays of cells; a cell is text, a Node, or {node|text, cls}.\n"
    "  function table(headers, rows) {\n"
    "    var t = el(\"table\"), thead = el(\"thead\"), tr = el(\"tr\");\n"
    "    headers.forEach(function (h) { tr.appendChild(el(\"th\", null, h)); });\n"
    "    thead.appendChild(tr);\n"
    "    t.appendChild(thead);\n"
    "    var tb = el(\"tbody\");\n"
    "    rows.forEach(function (r) {\n"
    "      var row = el(\"tr\");\n"
    "      r.forEach(function (c) {\n"
    "        var td = el(\"td\");\n"
    "        if (c && typeof c === \"object\" && !(c instanceof Node)) {\n"
    "          if (c.cls) td.className = c.cls;\n"
    "          c = c.node !== undefined ? c.node : c.text;\n"
    "        }\n"
    "        if (c instanceof Node) td.appendChild(c);\n"
    "        else td.textContent = c === null || c === undefined ? \"–\" : String(c);\n"
    "        row.appendChild(td);\n"
    "      });\n"
    "      tb.appendChild(row);\n"
    "    });\n"
    "    t.appendChild(tb);\n"
    "    return t;\n"
    "  }\n"
    "\n"
    "  var banner = $(\"banner\");\n"
    "  function say(text, cls) {\n"
    "    banner.textContent = text;\n"
    "    banner.className = \"show \" + (cls || \"\");\n"
    "  }\n"
    "  function unsay() { banner.className = \"\"; banner.textContent = \"\"; }\n"
    "\n"
    "  function getJSON(path) {\n"
    "    return fetch(path, { cache: \"no-store\", headers: { Accept: \"application/json\" } }).then(function (r) {\n"
    "      return r.json().catch(function () { return {}; }).then(function (body) {\n"
    "        if (!r.ok) throw new Error(path + \": \" + r.status + \" \" + (body.error || r.statusText));\n"
    "        return body;\n"
    "      });\n"
    "    });\n"
    "  }\n"
    "\n"
    "  function token() { try { return sessionStorage.getItem(TOKEN_KEY) || \"\"; } catch (e) { return \"\"; } }\n"
    "\n"
    "  function post(path, what) {\n"
    "    var t = token();\n"
    "    var headers = { Accept: \"application/json\" };\n"
    "    if (t) headers.Authorization = \"Bearer \" + t;\n"
    "    return fetch(path, { method: \"POST\", headers: headers, cache: \"no-store\" }).then(function (r) {\n"
    "      return r.json().catch(function () { return {}; }).then(function (body) {\n"
    "        if (r.ok) {\n"
    "          say(what + \": \" + (body.message || \"done\"), \"ok\");\n"
    "        } else if (r.status === 401) {\n"
    "          say(what + \" refused (401): \" + (body.error || \"token missing or wrong\") +\n"
    "              (t ? \" — the token in use was not accepted.\" : \" — paste the API token above first.\"), \"bad\");\n"
    "        } else if (r.status === 403) {\n"
    "          say(what + \" refused (403): \" + (body.error || \"no token configured on the agent\"), \"bad\");\n"
    "        } else {\n"
    "          say(what + \" failed (\" + r.status + \"): \" + (body.error || r.statusText), \"bad\");\n"
    "        }\n"
    "      });\n"
    "    }).catch(function (e) { say(what + \" failed: \" + e.message, \"bad\"); }).then(refresh);\n"
    "  }\n"
    "\n"
    "  function renderStatus(s) {\n"
    "    var mode = $(\"mode\");\n"
    "    mode.textContent = s.mode || \"?\";\n"
    "    mode.className = \"badge \" + (s.mode === \"live\" ? \"ok\" : \"warn\");\n"
    "    $(\"paused\").hidden = !s.paused;\n"
    "    $(\"version\").textContent = \"v\" + (s.version || \"?\") + \" · ABI \" + (s.abi || \"?\") +\n"
    "      \" · up \" + Math.round((s.uptime_seconds || 0) / 60) + \" min\";\n"
    "    var h = $(\"health\");\n"
    "    h.textContent = num(s.health, 0);\n"
    "    h.className = \"big \" + (s.health >= 70 ? \"ok\" : s.health >= 30 ? \"warn\" : \"bad\");\n"
    "    var dl = $(\"limits\");\n"
    "    clear(dl);\n"
    "    var l = s.limits || {}, bus = s.bus || {};\n"
    "    [[\"Open issues\", s.open_issues],\n"
    "     [\"Waiting for confirmation\", s.pending],\n"
    "     [\"Heals this hour\", num(l.heals_last_hour) + \" of \" + num(l.max_heals_per_hour) + \" (\" + num(l.heals_left_this_hour) + \" left)\"],\n"
    "     [\"Rollbacks today\", num(l.rollbacks_today) + \" of \" + num(l.max_rollbacks_per_day) + \" (\" + num(l.rollbacks_left_today) + \" left)\"],\n"
    "     [\"Auto-heal below health\", num(l.min_health_for_auto) + \" only if critical\"],\n"
    "     [\"Cooldowns active\", num(l.cooldowns_active) + \" (\" + num(l.cooldown_minutes) + \" min each)\"],\n"
    "     [\"Cooling down\", (s.cooldowns || []).map(function (c) { return c.issue_type + \" on \" + c.target + \" until \" + when(c.until); }).join(\"; \") || \"–\"],\n"
    "     [\"Rejected (snoozed)\", (s.snoozes || []).map(function (c) { return c.issue_type + \" on \" + c.target + \" until \" + when(c.until); }).join(\"; \") || \"–\"],\n"
    "     [\"Bus\", num(bus.sent) + \" sent, \" + num(bus.dropped) + \" dropped, \" + num(bus.malformed) + \" malformed\"]\n"
    "    ].forEach(function (kv) { dl.appendChild(el(\"dt\", null, kv[0])); dl.appendChild(el(\"dd\", null, kv[1] === undefined ? \"–\" : kv[1])); });\n"
    "  }\n"
    "\n"
    "  function renderIssues(d) {\n"
    "    var list = d.issues || [];\n"
    "    if (!list.length) return put(\"issues\", empty(\"No open issues.\"));\n"
    "    put(\"issues\", table([\"ID\", \"Type\", \"Severity\", \"Target\", \"Summary\", \"State\", \"Seen\", \"Plugin\", \"Heals again\"],\n"
    "      list.map(function (i) {\n"
    "        return [i.id, i.type, { node: badge(i.severity, sevClass(i.severity)) }, i.target, i.summary,\n"
    "          { node: badge(i.state + (i.reason ? \": \" + i.reason : \"\"), outcomeClass(i.state)) },\n"
    "          (i.count || 1) + \"× · last \" + when(i.last_seen), i.plugin,\n"
    "          i.snoozed_until ? \"rejected: not before \" + when(i.snoozed_until)\n"
    "            : i.cooldown_until ? \"cooldown until \" + when(i.cooldown_until) : \"–\"];\n"
    "      })));\n"
    "  }\n"
    "\n"
    "  function actionList(acts, fmt) {\n"
    "    var ul = el(\"ul\", \"acts\");\n"
    "    (acts || []).forEach(function (a) { ul.appendChild(el(\"li\", null, fmt(a))); });\n"
    "    return ul;\n"
    "  }\n"
    "\n"
    "  function renderHeals(d) {\n"
    "    var list = d.heals || [];\n"
    "    if (!list.length) return put(\"heals\", empty(\"No heals yet.\"));\n"
    "    put(\"heals\", table([\"ID\", \"Issue\", \"Target\", \"Outcome\", \"Actions\", \"Finished\", \"Duration\"],\n"
    "      list.map(function (h) {\n"
    "        return [h.id, h.issue_type, h.target,\n"
    "          { node: badge(h.outcome + (h.dry_run ? \" (dry-run)\" : \"\") + (h.reason ? \": \" + h.reason : \"\"), outcomeClass(h.outcome)) },\n"
    "          { node: actionList(h.actions, function (a) {\n"
    "              return a.plugin + \"/\" + a.action + (a.target ? \" → \" + a.target : \"\") + \": \" + a.outcome +\n"
    "                (a.message ? \" — \" + a.message : \"\");\n"
    "            }) },\n"
    "          when(h.finished_at || h.started_at), { text: num(h.duration_seconds, 2) + \" s\", cls: \"num\" }];\n"
    "      })));\n"
    "  }\n"
    "\n"
    "  function renderPending(d) {\n"
    "    var list = d.pending || [];\n"
    "    if (!list.length) return put(\"pending\", empty(\"Nothing waits for confirmation.\"));\n"
    "    put(\"pending\", table([\"ID\", \"Issue\", \"Why it waits\", \"Plan\", \"Expires\", \"\"],\n"
    "      list.map(function (p) {\n"
    "        var btns = el(\"div\", \"row-actions\");\n"
    "        var ok = el(\"button\", \"primary\", \"Confirm\"), no = el(\"button\", \"danger\", \"Reject\");\n"
    "        ok.addEventListener(\"click\", function () { post(\"/api/v1/pending/\" + encodeURIComponent(p.id) + \"/confirm\", \"Confirm #\" + p.id); });\n"
    "        no.addEventListener(\"click\", function () { post(\"/api/v1/pending/\" + encodeURIComponent(p.id) + \"/reject\", \"Reject #\" + p.id); });\n"
    "        btns.appendChild(ok);\n"
    "        btns.appendChild(no);\n"
    "        var issue = el(\"div\");\n"
    "        issue.appendChild(badge(p.severity, sevClass(p.severity)));\n"
    "        issue.appendChild(document.createTextNode(\" \" + p.issue_type + \" on \" + p.target));\n"
    "        if (p.summary) issue.appendChild(el(\"div\", \"muted\", p.summary));\n"
    "        return [p.id, { node: issue }, p.reason,\n"
    "          { node: actionList(p.actions, function (a) {\n"
    "              return (a.step !== undefined ? a.step + \". \" : \"\") + a.plugin + \"/\" + a.action +\n"
    "                (a.target ? \" → \" + a.target : \"\") + (a.description ? \": \" + a.description : \"\") +\n"
    "                (a.flags && a.flags.length ? \" [\" + a.flags.join(\", \") + \"]\" : \"\");\n"
    "            }) },\n"
    "          when(p.expires_at), { node: btns }];\n"
    "      })));\n"
    "  }\n"
    "\n"
    "  function renderPlugins(d) {\n"
    "    var list = d.plugins || [];\n"
    "    if (!list.length) return put(\"plugins\", empty(\"No plugins.\"));\n"
    "    put(\"plugins\", table([\"Plugin\", \"Version\", \"State\", \"Isolation\", \"Child\", \"Crashes\", \"Issue types\"],\n"
    "      list.map(function (p) {\n"
    "        var st = el(\"div\");\n"
    "        st.appendChild(badge(p.state, p.state === \"loaded\" ? \"ok\" : p.state === \"disabled\" ? \"muted\" : \"bad\"));\n"
    "        if (p.reason) st.appendChild(el(\"div\", \"muted\", p.reason));\n"
    "        var name = el(\"div\", null, p.name);\n"
    "        if (p.file) name.appendChild(el(\"div\", \"muted\", p.file));\n"
    "        // The healerd-plugin child (process isolation): a crash loop shows here.\n"
    "        var x = p.process, child = el(\"div\"), crashes = el(\"div\");\n"
    "        if (x) {\n"
    "          var rs = x.run_state;\n"
    "          child.appendChild(badge(rs, rs === \"running\" ? \"ok\" : rs === \"restarting\" || rs === \"starting\" ? \"warn\" : rs === \"failed\" ? \"bad\" : \"muted\"));\n"
    "          if (x.pid) child.appendChild(el(\"div\", \"muted\", \"pid \" + x.pid));\n"
    "          if (rs === \"restarting\" && x.next_start) child.appendChild(el(\"div\", \"muted\", \"restarts \" + when(x.next_start)));\n"
    "          crashes.appendChild(el(\"div\", null, num(x.crashes)));\n"
    "          if (x.last_crash) crashes.appendChild(el(\"div\", \"muted\", x.last_crash + \", \" + when(x.last_crash_time)));\n"
    "        } else {\n"
    "          child.appendChild(el(\"span\", \"muted\", \"–\"));\n"
    "          crashes.appendChild(el(\"span\", \"muted\", \"–\"));\n"
    "        }\n"
    "        return [{ node: name }, p.version, { node: st }, p.isolation || \"–\", { node: child }, { node: crashes }, (p.issue_types || []).join(\", \")];\n"
    "      })));\n"
    "  }\n"
    "\n"
    "  function renderKnowledge(d) {\n"
    "    var list = d.knowledge || [];\n"
    "    if (!list.length) return put(\"knowledge\", empty(\"Nothing learned yet.\"));\n"
    "    put(\"knowledge\", table([\"Issue type\", \"Action\", \"Attempts\", \"Successes\", \"Confidence\", \"Confirmed in a row\"],\n"
    "      list.map(function (k) {\n"
    "        var c = el(\"div\", null, num(k.confidence * 100, 0) + \" %\");\n"
    "        var bar = el(\"div\", \"bar\"), fill = el(\"div\");\n"
    "        var pct = Math.max(0, Math.min(100, (k.confidence || 0) * 100));\n"
    "        fill.style.width = pct + \"%\";\n"
    "        bar.appendChild(fill);\n"
    "        c.appendChild(bar);\n"
    "        return [k.issue_type, k.action, { text: k.attempts, cls: \"num\" }, { text: k.successes, cls: \"num\" }, { node: c },\n"
    "          num(k.confirmed_successes) + (k.automatic ? \" · automatic\" : \"\")];\n"
    "      })));\n"
    "  }\n"
    "\n"
    "  var views = [\n"
    "    [\"/api/v1/status\", renderStatus], [\"/api/v1/issues\", renderIssues],\n"
    "    [\"/api/v1/heals?limit=20\", renderHeals], [\"/api/v1/pending\", renderPending],\n"
    "    [\"/api/v1/plugins\", renderPlugins], [\"/api/v1/knowledge\", renderKnowledge]\n"
    "  ];\n"
    "  var failing = false;\n"
    "\n"
    "  function refresh() {\n"
    "    return Promise.all(views.map(function (v) {\n"
    "      return getJSON(v[0]).then(v[1]).then(function () { return null; }, function (e) { return e.message; });\n"
    "    })).then(function (errors) {\n"
    "      errors = errors.filter(function (e) { return e; });\n"
    "      if (errors.length) {\n"
    "        failing = true;\n"
    "        say(\"Cannot read the agent: \" + errors.join(\"; \"), \"bad\");\n"
    "      } else if (failing) {\n"
    "        failing = false;\n"
    "        unsay();\n"
    "      }\n"
    "      $(\"updated\").textContent = \"updated \" + new Date().toLocaleTimeString();\n"
    "    });\n"
    "  }\n"
    "\n"
    "  var input = $(\"token\");\n"
    "  function showToken() { input.placeholder = token() ? \"token set for this tab\" : \"paste the token once\"; }\n"
    "  $(\"save-token\").addEventListener(\"click\", function () {\n"
    "    var t = input.value.trim();\n"
    "    if (!t) return say(\"Paste the token from the agent's http.token_file first.\", \"warn\");\n"
    "    try { sessionStorage.setItem(TOKEN_KEY, t); } catch (e) { return say(\"This browser does not keep the token: \" + e.message, \"bad\"); }\n"
    "    input.value = \"\";\n"
    "    showToken();\n"
    "    say(\"Token kept for this browser tab.\", \"ok\");\n"
    "  });\n"
    "  $(\"forget-token\").addEventListener(\"click\", function () {\n"
    "    try { sessionStorage.removeItem(TOKEN_KEY); } catch (e) { /* nothing kept */ }\n"
    "    showToken();\n"
    "    say(\"Token forgotten.\", \"muted\");\n"
    "  });\n"
    "  $(\"pause\").addEventListener(\"click\", function () { post(\"/api/v1/pause\", \"Pause\"); });\n"
    "  $(\"resume\").addEventListener(\"click\", function () { post(\"/api/v1/resume\", \"Resume\"); });\n"
    "\n"
    "  showToken();\n"
    "  $(\"paused\").hidden = true;\n"
    "  refresh();\n"
    "  setInterval(refresh, POLL_MS);\n"
    "})();\n";

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

static char page[sizeof dash_head + sizeof dash_css + sizeof dash_mid1 + sizeof dash_body +
                 sizeof dash_mid2 + sizeof dash_js + sizeof dash_tail];
static size_t page_len;
static char csp[512];
static pthread_once_t once = PTHREAD_ONCE_INIT;

static void build(void)
{
    const char *parts[] = {dash_head, dash_css, dash_mid1, dash_body, dash_mid2, dash_js, dash_tail};
    size_t n = 0;
    for (size_t i = 0; i < sizeof parts / sizeof parts[0]; i++) {
        size_t l = strlen(parts[i]);
        memcpy(page + n, parts[i], l);
        n += l;
    }
    page[n] = '\0';
    page_len = n;
    char bs[45], bj[45];
    dashboard_sha256_base64(dash_css, strlen(dash_css), bs);
    dashboard_sha256_base64(dash_js, strlen(dash_js), bj);
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
