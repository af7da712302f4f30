#!/usr/bin/python3
"""dashboard_cdp.py — drives one headless Chromium over the DevTools protocol against a running
agent (dashboard_chromium.sh starts both): screenshots at 1400 and 400 px, no horizontal
overflow, table headers on one line, Confirm opens a dialog naming what the plan touches and
confirming runs the heal, Reject rejects another plan, and stopping the agent brings one stale
banner. Prints "ok - ..." / "not ok - ..." lines; exits 1 when a check failed.

Usage: dashboard_cdp.py CHROMIUM URL TOKEN OUT_DIR AGENT_PID
Kills only the browser it started (its own process group)."""
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
import base64

import websocket

CHROMIUM, URL, TOKEN, OUT, AGENT_PID = sys.argv[1:6]
FAILED = 0


def ok(cond, what, detail=""):
    global FAILED
    if cond:
        print("ok - " + what, flush=True)
    else:
        FAILED += 1
        print("not ok - " + what + (" (" + str(detail) + ")" if detail != "" else ""), flush=True)
    return cond


def api(path):
    with urllib.request.urlopen(URL + path, timeout=5) as r:
        return json.load(r)


def poll(fn, secs, step=0.1):
    """fn() until truthy or secs have passed; returns the last value."""
    end = time.monotonic() + secs
    v = None
    while True:
        try:
            v = fn()
        except Exception:  # the page or the agent in between states
            v = None
        if v or time.monotonic() > end:
            return v
        time.sleep(step)


class Page:
    def __init__(self, ws_url):
        self.ws = websocket.create_connection(ws_url, timeout=30, suppress_origin=True)
        self.n = 0
        self.events = []

    def call(self, method, **params):
        self.n += 1
        me = self.n
        self.ws.send(json.dumps({"id": me, "method": method, "params": params}))
        while True:
            m = json.loads(self.ws.recv())
            if m.get("id") == me:
                if "error" in m:
                    raise RuntimeError(method + ": " + json.dumps(m["error"]))
                return m.get("result", {})
            if "method" in m:
                self.events.append(m)

    def js(self, expr):
        r = self.call("Runtime.evaluate", expression=expr, returnByValue=True, awaitPromise=True)
        if "exceptionDetails" in r:
            raise RuntimeError("page: " + json.dumps(r["exceptionDetails"])[:400])
        return r["result"].get("value")

    def width(self, w, h):
        self.call("Emulation.setDeviceMetricsOverride", width=w, height=h, deviceScaleFactor=1,
                  mobile=w < 600)
        self.js("new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)))")

    def shot(self, name, w):
        """The whole page at width w, as OUT/name."""
        hgt = self.js("Math.ceil(document.documentElement.scrollHeight)")
        self.width(w, max(600, min(int(hgt), 6000)))
        data = self.call("Page.captureScreenshot", format="png")["data"]
        path = os.path.join(OUT, name)
        with open(path, "wb") as f:
            f.write(base64.b64decode(data))
        return path

    def click(self, selector):
        """A real mouse click at the centre of the element (scrolled into view first)."""
        r = self.js("(() => { const e = document.querySelector(%s); if (!e) return null;"
                    " e.scrollIntoView({block: 'center'}); const b = e.getBoundingClientRect();"
                    " return [b.left + b.width / 2, b.top + b.height / 2, b.right, innerWidth]; })()"
                    % json.dumps(selector))
        if not r:
            raise RuntimeError("nothing matches " + selector)
        for t in ("mousePressed", "mouseReleased"):
            self.call("Input.dispatchMouseEvent", type=t, x=r[0], y=r[1], button="left",
                      clickCount=1)
        return r


def no_overflow(p, w):
    sw, iw = p.js("[document.documentElement.scrollWidth, innerWidth]")
    ok(sw <= iw, "no horizontal overflow at %d px" % w, "scrollWidth %s > innerWidth %s" % (sw, iw))
    # every button inside the window (the Reject button was off a 400 px screen)
    off = p.js("[...document.querySelectorAll('button')].filter(b => b.offsetParent &&"
               " !b.closest('dialog') && (b.getBoundingClientRect().right > innerWidth + 0.5 ||"
               " b.getBoundingClientRect().left < 0)).map(b => b.textContent)")
    ok(off == [], "every button on screen at %d px" % w, off)


def main():
    udd = tempfile.mkdtemp(prefix="healerd-chromium.")
    log = open(os.path.join(OUT, "chromium.log"), "wb")
    proc = subprocess.Popen([CHROMIUM, "--headless=new", "--remote-debugging-port=0",
                             "--user-data-dir=" + udd, "--no-sandbox", "--disable-gpu",
                             "--no-first-run", "--no-default-browser-check",
                             "--disable-extensions", "--disable-background-networking",
                             "--disable-sync", "--disable-dev-shm-usage", "--mute-audio",
                             "about:blank"], stdout=log, stderr=log, start_new_session=True)
    try:
        run(udd)
    finally:
        try:
            os.killpg(proc.pid, signal.SIGTERM)   # our browser's own group, nothing else
            proc.wait(timeout=10)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            proc.wait()
        subprocess.run(["rm", "-rf", udd])


def run(udd):
    portfile = os.path.join(udd, "DevToolsActivePort")
    ok(poll(lambda: os.path.exists(portfile) and open(portfile).read().count("\n") >= 1, 60),
       "chromium wrote DevToolsActivePort")
    port = open(portfile).read().split("\n")[0].strip()
    targets = poll(lambda: [t for t in json.load(urllib.request.urlopen(
        "http://127.0.0.1:%s/json/list" % port, timeout=5)) if t.get("type") == "page"], 30)
    p = Page(targets[0]["webSocketDebuggerUrl"])
    for d in ("Page", "Runtime", "Log"):
        p.call(d + ".enable")

    p.width(1400, 1000)
    p.call("Page.navigate", url=URL + "/")
    ok(poll(lambda: p.js("document.querySelectorAll('#pending .plan').length >= 2"), 30),
       "two pending plans shown as cards")
    ok(poll(lambda: p.js("!!document.querySelector('#timeline svg polyline')"), 30),
       "health timeline drawn (SVG polyline)")
    ok(p.js("!!document.querySelector('#perhour svg')"), "heals per hour drawn (SVG)")
    ok(poll(lambda: p.js("document.querySelectorAll('#components .comp').length >= 1"), 30),
       "health broken down by component")
    p.js("document.getElementById('token').value = %s; document.getElementById('save-token').click()"
         % json.dumps(TOKEN))
    ok(p.js("sessionStorage.getItem('healerd.token') === %s" % json.dumps(TOKEN)),
       "token kept for the tab")
    pw = p.js("document.getElementById('pending-section').getBoundingClientRect().width")
    mw = p.js("document.querySelector('main').clientWidth")
    ok(pw >= mw - 60, "pending plans span the full width at 1400 px", "%s of %s" % (pw, mw))
    no_overflow(p, 1400)
    lines = p.js("[...document.querySelectorAll('th')].filter(t => t.offsetParent).map(t => {"
                 " const r = document.createRange(); r.selectNodeContents(t);"
                 " return [t.textContent, new Set([...r.getClientRects()].map(x => Math.round(x.top))).size]; })")
    ok(lines and all(n <= 1 for _, n in lines), "every table header on one line at 1400 px",
       [l for l in lines or [] if l[1] > 1])
    p.shot("dashboard-1400-before.png", 1400)

    # ---- 400 px: one column, cards, everything on screen; confirm and reject from here ----
    p.width(400, 900)
    no_overflow(p, 400)
    cols = p.js("getComputedStyle(document.querySelector('main')).gridTemplateColumns.split(' ').length")
    ok(cols == 1, "one column under 600 px", cols)
    p.shot("dashboard-400.png", 400)
    p.width(400, 900)

    first = p.js("document.querySelector('#pending .plan').dataset.plan")
    plan = [x for x in api("/api/v1/pending")["pending"] if str(x["id"]) == first]
    p.click("#pending .plan[data-plan='%s'] button[data-act=confirm]" % first)
    ok(poll(lambda: p.js("document.getElementById('confirm-dialog').open"), 5),
       "Confirm opens the dialog")
    body = p.js("document.getElementById('dlg-body').textContent")
    want = []
    if plan:
        pv = plan[0].get("preview") or {}
        if pv.get("touches"):
            want = [t.get("path") or t.get("name") or t.get("unit") or t.get("text") for t in pv["touches"]]
        else:
            want = [a["action"] for a in plan[0].get("actions", [])]
    ok(want and all(w and w in body for w in want), "the dialog lists what plan %s touches" % first,
       "%s not all in %r" % (want, body[:300]))
    box = p.js("(() => { const b = document.getElementById('confirm-dialog').getBoundingClientRect();"
               " return [b.left, b.right, innerWidth]; })()")
    ok(box[0] >= 0 and box[1] <= box[2], "the dialog fits a 400 px screen", box)
    p.call("Page.captureScreenshot", format="png")   # the dialog renders before we go on
    data = p.call("Page.captureScreenshot", format="png")["data"]
    open(os.path.join(OUT, "dashboard-400-dialog.png"), "wb").write(base64.b64decode(data))
    p.click("#dlg-ok")
    healed = poll(lambda: [h for h in api("/api/v1/heals?limit=50")["heals"]
                           if str(h["id"]) == first and h["outcome"] == "healed"], 20)
    ok(healed, "confirming in the dialog ran heal %s (healed)" % first)

    second = poll(lambda: p.js("[...document.querySelectorAll('#pending .plan')].map(e => e.dataset.plan)"
                               ".filter(id => id !== %s)[0]" % json.dumps(first)), 15)
    ok(second, "another plan waits")
    if second:
        r = p.click("#pending .plan[data-plan='%s'] button[data-act=reject]" % second)
        ok(r[2] <= r[3], "its Reject button is on screen at 400 px", r)
        rejected = poll(lambda: [h for h in api("/api/v1/heals?limit=50")["heals"]
                                 if str(h["id"]) == second and h["outcome"] == "rejected"], 20)
        ok(rejected, "Reject rejected plan %s" % second)

    # the README's picture: after the heals, reloaded so the charts have them
    p.width(1400, 1000)
    p.call("Page.reload", ignoreCache=True)
    poll(lambda: p.js("!!document.querySelector('#timeline svg polyline') &&"
                      " document.querySelectorAll('#heals tbody tr').length >= 2"), 30)

    # ---- why: the healed heal's explanation (healctl explain on the page) ----
    ok(poll(lambda: p.js("(() => { const r = [...document.querySelectorAll('#heals tbody tr')]"
                         ".find(tr => tr.firstChild && tr.firstChild.textContent === %s);"
                         " if (!r) return false; r.querySelector('button.why').click(); return true; })()"
                         % json.dumps(first)), 15), "heal %s has a Why? button" % first)
    ok(poll(lambda: p.js("document.getElementById('why-dialog').open"), 5), "Why? opens the explanation")
    why = p.js("document.getElementById('why-body').textContent")
    for part in ("candidate", "The governor", "Steps", "Actuator calls", "Outcome: healed"):
        ok(part in why, "the explanation says %r" % part, why[:400])
    p.js("document.getElementById('why-close').click()")
    ok(poll(lambda: not p.js("document.getElementById('why-dialog').open"), 5), "Close closes it")
    no_overflow(p, 1400)
    p.shot("dashboard-1400.png", 1400)

    # ---- the agent stops: one banner says so, and since when ----
    p.width(400, 900)
    os.kill(int(AGENT_PID), signal.SIGTERM)   # the agent this test started
    text = poll(lambda: p.js("(() => { const b = document.getElementById('stale');"
                             " return b.hidden ? '' : b.textContent; })()"), 30, 0.25)
    ok(text and "unreachable since" in text and "showing data from" in text,
       "the stale banner appears when the agent stops", text)
    shown = p.js("[...document.querySelectorAll('[role=alert],#banner.show')].filter(e => e.offsetParent).length")
    ok(shown == 1, "one banner, not one per panel", shown)
    ok("Failed to fetch" not in p.js("document.body.innerText"), "no raw 'Failed to fetch' on the page")
    no_overflow(p, 400)
    p.shot("dashboard-400-stale.png", 400)

    errs = [e for e in p.events if e["method"] == "Runtime.exceptionThrown" or
            (e["method"] == "Log.entryAdded" and e["params"]["entry"].get("level") == "error" and
             "Content Security Policy" in e["params"]["entry"].get("text", ""))]
    ok(not errs, "no script exception and no CSP violation", json.dumps(errs)[:500])


main()
sys.exit(1 if FAILED else 0)
