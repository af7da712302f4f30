# shellcheck shell=bash
# bench/fleet_procstat.sh — what the fleet benchmarks read about one agent process: CPU ticks
# (whole process and the fleet threads), RSS/PSS from /proc/PID/smaps_rollup, threads, sockets,
# and the TCP bytes its connections to given ports carried (ss -tin). Source it; numbers only.

ps_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }

ps_kib() { awk -v k="$2:" '$1 == k {print $2}' "/proc/$1/smaps_rollup"; }
ps_private_kib() { awk '$1 == "Private_Clean:" || $1 == "Private_Dirty:" {s += $2} END {print s}' "/proc/$1/smaps_rollup"; }

# "NAME TICKS" per thread name (threads of one name summed; digits dropped: ZMQbg/IO/0 and /1 are
# one line), to subtract a later snapshot from an earlier one.
ps_ticks_by_name() {
  local t
  for t in /proc/"$1"/task/*; do
    printf '%s %s\n' "$(tr -d '0-9' <"$t/comm" 2>/dev/null | tr ' ' _)" \
      "$(awk '{print $14 + $15}' "$t/stat" 2>/dev/null || echo 0)"
  done | awk '{s[$1] += $2} END {for (n in s) print n, s[n]}' | sort
}
ps_threads() { awk '/^Threads/ {print $2}' "/proc/$1/status"; }
ps_sockets() { find "/proc/$1/fd" -maxdepth 1 -lname 'socket:*' 2>/dev/null | wc -l; }
ps_fds() { find "/proc/$1/fd" -maxdepth 1 2>/dev/null | tail -n +2 | wc -l; }

# Bytes the process PID sent (field bytes_sent, or bytes_received with RX=1) over its
# established TCP connections whose remote port (or local port with LOCAL=1) is one of PORTS.
ps_tcp_bytes() { # PID FIELD SIDE(dport|sport) PORT...
  local pid=$1 field=$2 side=$3; shift 3
  local f="" p
  for p in "$@"; do f+="${f:+ or }$side = :$p"; done
  ss -tinpH state established "( $f )" 2>/dev/null | awk -v pid="pid=$pid," -v fld="$field:" '
    /users:/ { mine = index($0, pid) > 0; next }
    { for (i = 1; i <= NF; i++) if (index($i, fld) == 1 && mine) { split($i, kv, ":"); s += kv[2] } }
    END { print s + 0 }'
}
