#!/usr/bin/env bash
# The loader refuses every ABI fixture that breaks a rule, with one log line naming the file and
# the rule, shows it in /api/v1/plugins with its reason, and the agent keeps serving. Also: file
# and folder permissions, --check-config, and a plugin stuck in execute() never stalls the others.
. "$SRC/tests/lib/agent.sh"
ABI="$BUILD/tests/abi"

PDIR=$(plugin_dir "$ABI"/{good,major2,major_mismatch,newer_minor,small_descriptor,no_init,no_destroy,plan_without_execute,no_detect_no_plan,duplicate_name,unresolved_symbol,no_entry,bad_name,init_fails}.so)
install -m 0775 "$ABI/good.so" "$PDIR/group_writable.so"
install -m 0755 -o 65534 "$ABI/good.so" "$PDIR/not_root.so"
write_config "$T/a.conf" "$PDIR"
start_agent "$T/a.conf"
get /api/v1/plugins >"$T/plugins.json"

reason_of() { jq -r --arg f "$PDIR/$1.so" '.plugins[] | select(.file == $f) | "\(.state): \(.reason)"' "$T/plugins.json"; }
expect_refused() { # file-stem, substring of the reason
  local r; r=$(reason_of "$1")
  if [[ "$r" == refused:* && "$r" == *"$2"* ]]; then ok "$1 refused: $2"; else bad "$1: expected refusal '$2', got '$r'"; fi
  if grep -q "warn loader: $PDIR/$1.so: refused: .*$2" "$T/agent.log"; then ok "$1: one log line names file and rule"; else bad "$1: no log line"; fi
}
expect_refused major2 "built for plugin ABI major 2"
expect_refused major_mismatch "descriptor says ABI major 2"
expect_refused newer_minor "needs ABI 1.4, this agent has 1.3; fix: upgrade healerd"
expect_refused small_descriptor "descriptor too small"
expect_refused no_init "required callback init is missing"
expect_refused no_destroy "required callback destroy is missing"
expect_refused plan_without_execute "plan is set but execute is missing"
expect_refused no_detect_no_plan "neither detect nor plan"
expect_refused unresolved_symbol "undefined symbol"
expect_refused no_entry "not a healerd plugin"
expect_refused bad_name "invalid name"
expect_refused group_writable "writable by group"
expect_refused not_root "owned by uid 65534, not root"
# duplicate_name.so carries good.so's name: refused for the mismatch (its settings would be read
# from plugins.duplicate_name), with the fix; good.so loads.
expect_refused duplicate_name 'its descriptor is named "good" but its file is duplicate_name.so'
check "the mismatch refusal says how to fix it" grep -q 'fix: rename duplicate_name.so to good.so, or set .name = "duplicate_name"' "$T/agent.log"
check "good.so loaded" [ "$(reason_of good)" = "loaded: null" ]
r=$(reason_of init_fails)
case "$r" in "failed: init failed"*) ok "init_fails is failed with its reason";; *) bad "init_fails: $r";; esac
check "every refused plugin has a reason" [ "$(jq '[.plugins[] | select(.state != "loaded" and .reason == null)] | length' "$T/plugins.json")" = 0 ]
check "agent keeps serving /healthz" [ "$(status_of "$URL/healthz")" = 200 ]
check "plugin_info lists only the loaded plugin" [ "$(get /metrics | grep -c '^luminous_nix_plugin_info{')" = 1 ]
check "agent stops cleanly" stop_agent

# A folder anyone but root may write refuses everything in it.
chmod 775 "$PDIR"
start_agent "$T/a.conf"
check "insecure folder refuses its plugins" [ "$(get /api/v1/plugins | jq '[.plugins[] | select(.state == "loaded")] | length')" = 0 ]
check "and names the folder" grep -q "the plugin folder $PDIR is writable by group" "$T/agent.log"
stop_agent
chmod 755 "$PDIR"

# --check-config: each refusal on stderr, exit 2.
set +e
"$HEALERD" -c "$T/a.conf" --check-config >"$T/cc.out" 2>"$T/cc.err"; rc=$?
set -e
check "--check-config exits 2 with refused plugins" [ "$rc" = 2 ]
check "--check-config names each refused file" [ "$(grep -c ': refused: ' "$T/cc.err")" -ge 13 ]

# A plugin stuck in execute() stalls only itself: dirwatch keeps detecting and healing.
PDIR2="$T/plugins2"; mkdir -p "$PDIR2"; chmod 755 "$PDIR2"
install -m 0755 "$ABI/sleepy.so" "$BUILD/plugins/dirwatch.so" "$PDIR2/"
mkdir -p "$T/watched"; head -c 3000000 /dev/zero >"$T/watched/big"; touch -d '30 days ago' "$T/watched/big"
# dirwatch reports health 0 (3x over): let the high sleepy issue through the health floor.
MIN_HEALTH=0 ACTION_TIMEOUT=2 write_config "$T/b.conf" "$PDIR2" "
  sleepy = { sleep_seconds = 30.0; };
  dirwatch = { directory = \"$T/watched\"; paths_allow = [\"$T/watched\"]; max_bytes = 1000000; auto_delete = true; };"
start_agent "$T/b.conf"
wait_for "sleepy's heal started" 10 grep -q "issue #.* sleepy_issue" "$T/agent.log"
wait_for "dirwatch heals while sleepy sleeps" 10 grep -q "heal #.* dir_oversize on $T/watched: dry_run" "$T/agent.log"
wait_for "sleepy's action times out" 10 grep -q "plugin sleepy did not answer within 2 s" "$T/agent.log"
check "HTTP answers during the stall" [ "$(status_of "$URL/api/v1/status")" = 200 ]
start=$(date +%s)
check "SIGTERM stops the agent despite the stuck plugin" stop_agent
check "within 10 s" [ $(( $(date +%s) - start )) -le 10 ]
check "dry-run removed nothing" [ -f "$T/watched/big" ]
finish
