#!/usr/bin/env bash
# Notifications on the real agent (issue #13 item 1): the ticker fixture's heal is risky (DELETES),
# so every plan waits for a person. A local webhook receiver, a real prometheus-alertmanager on
# loopback and an exec hook script are told: the plan waits (webhook event, active
# HealerdConfirmationWaiting alert, hook with HEALERD_* variables), a reject and a confirm end
# the alert (resolved), a pause raises HealerdPaused and a resume resolves it, and a webhook
# that is down is retried and then counted as failed. Skips (77) without alertmanager.
. "$SRC/tests/lib/agent.sh"
AM_BIN=$(command -v prometheus-alertmanager || command -v alertmanager || true)
[ -n "$AM_BIN" ] || { echo "skip: prometheus-alertmanager is not installed"; exit 77; }

PIDS=()
stop_helpers() { # only the processes this test started, by pid
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
}
trap 'stop_helpers; cleanup' EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# --- Alertmanager on loopback, its own storage, no cluster ---
AMP=$(free_port)
mkdir -p "$T/am"
cat >"$T/am/am.yml" <<'YML'
route:
  receiver: "null"
  group_wait: 1s
receivers:
  - name: "null"
YML
"$AM_BIN" --config.file="$T/am/am.yml" --storage.path="$T/am/data" \
  --web.listen-address="127.0.0.1:$AMP" --cluster.listen-address= >"$T/am/log" 2>&1 &
PIDS+=($!)
AM="http://127.0.0.1:$AMP"
for _ in $(seq 100); do curl -sf "$AM/-/ready" >/dev/null 2>&1 && break; sleep 0.1; done
if ! curl -sf "$AM/-/ready" >/dev/null 2>&1; then
  echo "skip: alertmanager did not start:"; tail -n 20 "$T/am/log"; exit 77
fi

# --- the webhook receiver ---
python3 "$SRC/tests/lib/notify_receiver.py" "$T/hook.port" "$T/hook.jsonl" &
PIDS+=($!)
for _ in $(seq 100); do [ -s "$T/hook.port" ] && break; sleep 0.05; done
HOOKP=$(cat "$T/hook.port")
DEAD=$(free_port) # nothing listens there: the retries and the failure count

# --- the exec hook: one file per event with the environment it got ---
mkdir -p "$T/exec"
cat >"$T/hook.sh" <<EOF2
#!/bin/sh
env | grep '^HEALERD_' | sort >"$T/exec/\$HEALERD_EVENT.\$\$"
echo "hook saw \$HEALERD_EVENT"
EOF2
chmod 755 "$T/hook.sh"

PDIR=$(plugin_dir "$BUILD/tests/plugins/ticker.so")
TICKS="$T/ticks"; mkdir -p "$TICKS"
echo "s3cret-token" >"$T/token"; chmod 600 "$T/token"
AUTH='Authorization: Bearer s3cret-token'
# cooldown 0.05 min: a rejected (snoozed) tick is planned again 3 s later
MODE=live COOLDOWN=0.05 write_config "$T/a.conf" "$PDIR" \
  "ticker = { dir = \"$TICKS\"; paths_allow = [\"$TICKS\"]; fresh = false; risky = true; };" \
  "notify = {
  instance = \"notify-test\";
  timeout_s = 2.0; retries = 2; backoff_s = 0.1; backoff_max_s = 0.2;
  webhook = { urls = [\"http://127.0.0.1:$HOOKP/hook\", \"http://127.0.0.1:$DEAD/down\"]; };
  alertmanager = { urls = [\"$AM\"]; resend_s = 5.0; };
  exec = { argv = [\"$T/hook.sh\"]; timeout_s = 5.0; };
};"
check "--check-config accepts the notify section" "$HEALERD" -c "$T/a.conf" --check-config
start_agent "$T/a.conf"

pending_id() { get /api/v1/pending | jq -e '.pending[0].id'; }
post() { curl -s --max-time 5 -X POST -H "$AUTH" "$URL$1"; }
# -s: jq 1.6's -e judges only the last input's result, so a match followed by other events
# would read as "not there"
hook_has() { jq -s -e --arg ev "$1" --argjson id "$2" 'any(.[]; .event == $ev and .heal_id == $id)' "$T/hook.jsonl"; }
am_alert() { # am_alert NAME [HEAL_ID]: the active alert's JSON
  curl -s "$AM/api/v2/alerts" | jq -e --arg n "$1" --arg id "${2:-}" \
    '.[] | select(.labels.alertname == $n and ($id == "" or .labels.heal_id == $id) and .status.state == "active")'
}
am_gone() { ! am_alert "$@"; }

wait_for "a plan waits for confirmation" 10 pending_id
ID=$(pending_id)
wait_for "webhook: confirmation_waiting for heal $ID" 10 hook_has confirmation_waiting "$ID"
J=$(jq -c --argjson id "$ID" 'select(.event == "confirmation_waiting" and .heal_id == $id)' "$T/hook.jsonl" | head -n1)
check "webhook: issue_type, target, instance, severity, action" \
  [ "$(jq -r '[.issue_type, .target, .instance, .severity, .action, .plugin] | join(" ")' <<<"$J")" = "ticker_issue tick notify-test low write_tick ticker" ]
wait_for "alertmanager: HealerdConfirmationWaiting active" 10 am_alert HealerdConfirmationWaiting "$ID"
A=$(am_alert HealerdConfirmationWaiting "$ID")
check "alert labels: instance, issue_type, target, severity, plugin" \
  [ "$(jq -r '.labels | [.instance, .issue_type, .target, .severity, .plugin] | join(" ")' <<<"$A")" = "notify-test ticker_issue tick low ticker" ]
check "alert has a summary naming healctl confirm" grep -q "healctl confirm $ID" <<<"$(jq -r '.annotations.summary' <<<"$A")"
exec_ran() { ls "$T/exec"/confirmation_waiting.* >/dev/null 2>&1; }
wait_for "exec hook ran for confirmation_waiting" 10 exec_ran
E=$(cat "$(ls "$T/exec"/confirmation_waiting.* | head -n1)")
check "exec env: HEALERD_EVENT" grep -qx "HEALERD_EVENT=confirmation_waiting" <<<"$E"
check "exec env: HEALERD_ISSUE_TYPE" grep -qx "HEALERD_ISSUE_TYPE=ticker_issue" <<<"$E"
check "exec env: HEALERD_TARGET" grep -qx "HEALERD_TARGET=tick" <<<"$E"
check "exec env: HEALERD_HEAL_ID" grep -qx "HEALERD_HEAL_ID=$ID" <<<"$E"
check "exec env: HEALERD_INSTANCE" grep -qx "HEALERD_INSTANCE=notify-test" <<<"$E"
hook_logged() { grep -q "exec hook .*hook saw confirmation_waiting" "$T/agent.log"; }
wait_for "exec hook output in the log" 10 hook_logged

# --- reject: the alert is resolved ---
post "/api/v1/pending/$ID/reject" >/dev/null
wait_for "webhook: plan_rejected for heal $ID" 10 hook_has plan_rejected "$ID"
wait_for "alertmanager: heal $ID's alert resolved after reject" 10 am_gone HealerdConfirmationWaiting "$ID"

# --- the next plan (after the snooze): confirm, healed, resolved ---
next_id() { get /api/v1/pending | jq -e --argjson old "$ID" '.pending[] | select(.id != $old) | .id'; }
wait_for "a new plan waits" 15 next_id
ID2=$(next_id | head -n1)
wait_for "alertmanager: heal $ID2's alert active" 10 am_alert HealerdConfirmationWaiting "$ID2"
post "/api/v1/pending/$ID2/confirm" >/dev/null
wait_for "webhook: plan_confirmed for heal $ID2" 10 hook_has plan_confirmed "$ID2"
wait_for "webhook: heal_executed for heal $ID2" 10 hook_has heal_executed "$ID2"
wait_for "alertmanager: heal $ID2's alert resolved after confirm" 10 am_gone HealerdConfirmationWaiting "$ID2"

# --- pause / resume ---
post /api/v1/pause >/dev/null
wait_for "alertmanager: HealerdPaused active" 10 am_alert HealerdPaused
post /api/v1/resume >/dev/null
wait_for "alertmanager: HealerdPaused resolved" 10 am_gone HealerdPaused

# --- a receiver that is down: retried, then counted ---
failed() { get /metrics | grep -Eq '^luminous_nix_notifications_failed_total\{sink="webhook"\} [1-9]'; }
wait_for "metrics: webhook failures counted" 15 failed
check "log: the dead receiver retried (attempt 3 of 3)" grep -q "webhook http://127.0.0.1:$DEAD/down: attempt 3 of 3 failed" "$T/agent.log"
check "metrics: dropped_total present" grep -q '^luminous_nix_notifications_dropped_total 0' <(get /metrics)
check "metrics: alertmanager deliveries counted" grep -Eq '^luminous_nix_notifications_sent_total\{sink="alertmanager"\} [1-9]' <(get /metrics)

stop_agent
finish
