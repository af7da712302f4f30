#!/usr/bin/python3
# filewatch.py — an example healerd plugin in Python, written from sdk/docs/child-protocol.md and
# sdk/docs/bus-schema.md alone: it raises `stale_files` when a watched directory holds files older
# than max_age_days, and heals it by asking the agent to remove them (act_remove_old_files: the
# agent's actuator does the deleting, its checks and audit apply). Run by the agent with
#     plugins.filewatch = { exec = "/usr/lib/healerd/programs/filewatch.py"; directory = "..."; };
# Needs python3-msgpack. Standard library otherwise.
import json
import os
import select
import socket
import sys
import time

import msgpack

NAME = "filewatch"
ISSUE = "stale_files"

# Message kinds (bus-schema.md, child-protocol.md).
ISSUE_K, RESOLVE, DETECT, PLAN_REQ, PLAN, EXECUTE, RESULT, VERIFY, VERDICT, RESTORE = range(1, 11)
REQUEST, REPLY, HEALTH, STOP, ACK, CANCEL = range(11, 17)
INIT, READY, HOSTCALL, HOSTREPLY, PING, PONG = range(17, 23)

# Phases of a hostcall (`code`).
PH_IDLE, PH_INIT, PH_DETECT, PH_PLAN, PH_EXECUTE, PH_VERIFY = range(6)

# healer_rc, healer_outcome, action flags (sdk/include/healer/types.h).
RC_OK, RC_DRY_RUN, RC_E_NOTFOUND = 0, 1, -8
OUT_DONE, OUT_FAILED, OUT_DRY_RUN = 0, 2, 4
FLAG_DELETES, FLAG_AUTO_OK = 1 << 3, 1 << 6

# Config types (healer_config_type).
CFG_BOOL, CFG_INT, CFG_DOUBLE, CFG_STRING = 1, 2, 3, 4

DESCRIPTOR = {
    "name": NAME,
    "version": "1.0",
    "description": "removes files older than a limit from one directory (example, Python)",
    "abi_major": 1,
    "abi_minor": 0,
    "protocol": 2,           # child protocol: reads datagrams holding several messages (recv)
    "interval": 5.0,
    "issue_types": [ISSUE],
    "config": [
        {"name": "directory", "type": CFG_STRING, "default": None, "min": 0, "max": 0,
         "description": "absolute path of the directory to watch (required)"},
        {"name": "max_age_days", "type": CFG_DOUBLE, "default": "7", "min": 0, "max": 36500,
         "description": "files older than this many days are stale"},
        {"name": "auto_delete", "type": CFG_BOOL, "default": "false", "min": 0, "max": 0,
         "description": "mark the removal AUTO_OK (honoured only with allow_auto = true)"},
    ],
    "callbacks": {"init": True, "destroy": True, "detect": True, "plan": True,
                  "execute": True, "verify": True, "restore": False, "handle_request": False},
}


def log(level, text):
    # stderr is the agent's: keep the agent's line format.
    sys.stderr.write("%s plugin %s: %s\n" % (level, NAME, text))
    sys.stderr.flush()


class Plugin:
    def __init__(self, sock):
        self.sock = sock
        self.deferred = []       # messages that came while a hostcall waited for its reply
        self.inbox = []          # messages of the last datagram not taken yet
        self.call_seq = 0
        self.published = False   # we raised stale_files and have not resolved it
        self.settings = {}

    # ---- transport: msgpack maps; the agent may put several in one datagram (protocol 2) ------
    def send(self, m):
        # One message per datagram: the agent reads either.
        m = {k: v for k, v in m.items() if v is not None}
        m["v"] = 1
        self.sock.send(msgpack.packb(m, use_bin_type=True))

    def recv(self):
        if not self.inbox:
            data = self.sock.recv(1 << 20 | 1)
            if not data:
                return None                   # the agent closed the socket: it is gone
            u = msgpack.Unpacker(raw=False, strict_map_key=False, max_buffer_size=len(data))
            u.feed(data)
            self.inbox.extend(u)              # every map of the datagram, in order
        return self.inbox.pop(0)

    def hostcall(self, method, args, phase, att=0):
        """Asks the agent to run a host function; returns (code, text, out-values)."""
        self.call_seq += 1
        seq = self.call_seq
        self.send({"k": HOSTCALL, "seq": seq, "method": method, "code": phase, "att": att,
                   "args": {k: str(v) for k, v in args.items()}})
        while True:
            m = self.recv()
            if m is None:
                sys.exit(0)
            k = m.get("k")
            if k == HOSTREPLY and m.get("seq") == seq:
                return m.get("code", 0), m.get("text", ""), m.get("args") or {}
            if k == PING:                     # answered even while we wait
                self.send({"k": PONG, "seq": m.get("seq", 0)})
            else:
                self.deferred.append(m)

    # ---- the plugin -----------------------------------------------------------------------------
    def stale(self):
        """(count, bytes) of the regular files directly in the directory older than the limit."""
        limit = time.time() - float(self.settings.get("max_age_days", 7)) * 86400
        count = size = 0
        try:
            with os.scandir(self.settings["directory"]) as it:
                for e in it:
                    st = e.stat(follow_symlinks=False)
                    if e.is_file(follow_symlinks=False) and st.st_mtime < limit:
                        count += 1
                        size += st.st_size
        except OSError as err:
            log("warn", "cannot read %s: %s" % (self.settings["directory"], err))
        return count, size

    def init(self, doc):
        self.settings = doc.get("settings", {})
        d = self.settings.get("directory") or ""
        if not d.startswith("/"):
            return -2, "plugins.%s.directory must be an absolute path" % NAME
        code, text, _ = self.hostcall("declare_path", {"path": d}, PH_INIT)
        if code < 0:
            return code, "cannot declare %s: %s" % (d, text)
        return 0, ""

    def detect(self):
        count, size = self.stale()
        d = self.settings["directory"]
        if count and not self.published:
            self.send({"k": ISSUE_K, "plugin": NAME, "issue": {
                "type": ISSUE, "sev": 1, "target": d, "plugin": NAME, "time": time.time(),
                "summary": "%d file(s) in %s older than %g days (%d bytes)"
                           % (count, d, float(self.settings.get("max_age_days", 7)), size),
                "m": {"stale_files": float(count), "stale_bytes": float(size)}}})
            self.published = True
        elif not count and self.published:
            self.send({"k": RESOLVE, "plugin": NAME, "issue": {"type": ISSUE, "target": d}})
            self.published = False

    def plan(self, m):
        d = self.settings["directory"]
        flags = FLAG_DELETES | (FLAG_AUTO_OK if self.settings.get("auto_delete") else 0)
        days = float(self.settings.get("max_age_days", 7))
        action = {"plugin": NAME, "name": "remove_stale", "target": d, "step": 0,
                  "desc": "remove the files older than %g days in %s" % (days, d),
                  "impact": 0.2, "conf": 0.9, "flags": flags,
                  "params": {"dir": d, "days": repr(days)}}
        self.send({"k": PLAN, "seq": m.get("seq", 0), "plugin": NAME, "code": 0,
                   "actions": [action]})

    def verdict(self, m):
        count, _ = self.stale()
        self.send({"k": VERDICT, "seq": m.get("seq", 0), "att": m.get("att", 0), "plugin": NAME,
                   "code": 1 if count == 0 else 0, "m": {"stale_files": float(count)},
                   "text": "no stale files left" if count == 0 else "%d stale files left" % count})

    def execute(self, m):
        t0 = time.monotonic()
        acts = m.get("actions") or []
        params = (acts[0].get("params") or {}) if acts else {}
        att = m.get("att", 0)
        if not acts or acts[0].get("name") != "remove_stale":
            outcome, text, out = OUT_FAILED, "unknown action", {}
        else:
            code, text, out = self.hostcall("act_remove_old_files", {
                "dir": params.get("dir", ""), "older_than_days": params.get("days", "7"),
                "recursive": 0, "rotated_first": 0, "stop_after_bytes": 0}, PH_EXECUTE, att)
            outcome = OUT_DONE if code == RC_OK else OUT_DRY_RUN if code == RC_DRY_RUN \
                else OUT_FAILED
        self.send({"k": RESULT, "seq": m.get("seq", 0), "att": att, "plugin": NAME,
                   "code": outcome, "text": text, "dur": time.monotonic() - t0,
                   "m": {"removed": float(out.get("count", "0") or 0)}, "wait": 0.0})
        if outcome in (OUT_DONE, OUT_DRY_RUN):    # the agent waits for our verdict
            self.verdict(m)

    def handle(self, m):
        """Returns False when the plugin must stop."""
        k = m.get("k")
        if k == PING:
            self.send({"k": PONG, "seq": m.get("seq", 0)})
        elif k == DETECT:
            self.detect()
            self.send({"k": ACK, "seq": m.get("seq", 0), "plugin": NAME, "code": 0})
        elif k == PLAN_REQ:
            self.plan(m)
        elif k == EXECUTE:
            self.execute(m)
        elif k == VERIFY:
            self.verdict(m)
        elif k == RESTORE:                 # nothing to give back: removed files stay removed
            self.send({"k": ACK, "seq": m.get("seq", 0), "att": m.get("att", 0),
                       "plugin": NAME, "code": 0})
        elif k == REQUEST:
            self.send({"k": REPLY, "seq": m.get("seq", 0), "plugin": m.get("from"),
                       "from": NAME, "code": RC_E_NOTFOUND,
                       "text": "plugin %s serves no requests" % NAME})
        elif k == STOP:
            return False
        return True                         # CANCEL and the rest: nothing to do

    def run(self):
        m = self.recv()
        if m is None or m.get("k") != INIT:
            log("error", "the first message was not MSG_INIT")
            return 1
        doc = json.loads(m.get("text") or "{}")
        code, why = self.init(doc)
        self.send({"k": READY, "code": code, "text": why})
        if code < 0:
            return 1
        interval = float(doc.get("interval") or DESCRIPTOR["interval"])
        auto = doc.get("auto_detect", True)
        next_detect = time.monotonic()
        while True:
            if self.deferred:
                if not self.handle(self.deferred.pop(0)):
                    return 0
                continue
            timeout = max(0.0, next_detect - time.monotonic()) if auto else None
            # Messages left of the last datagram are ready without waiting.
            ready = self.inbox or select.select([self.sock], [], [], timeout)[0]
            m = self.recv() if ready else False
            if m is None:
                return 0                    # EOF: the agent is gone
            if m is not False and not self.handle(m):
                return 0
            if auto and time.monotonic() >= next_detect:
                self.detect()
                next_detect = time.monotonic() + interval


def main(argv):
    if "--describe" in argv:
        print(json.dumps(DESCRIPTOR))
        return 0
    if "--sock" not in argv[:-1]:
        sys.stderr.write("usage: %s --describe | --sock FD\n" % argv[0])
        return 2
    fd = int(argv[argv.index("--sock") + 1])
    sock = socket.socket(fileno=fd)          # family and type (SOCK_SEQPACKET) from the fd
    rc = Plugin(sock).run()
    # The agent takes the socket closing as the end of the process and kills what is left:
    # leave at once rather than close it first and then run the interpreter's finalization.
    sys.stderr.flush()
    os._exit(rc)


if __name__ == "__main__":
    sys.exit(main(sys.argv))
