#!/usr/bin/env bash
# gen_token.sh — `healerd --gen-token [PATH] [--force]`: a 0600 file with 64 hex digits, never
# written over an existing file or through a symlink without --force, replaced whole with it,
# and the token works: a POST with it is accepted by a running agent.
. "$SRC/tests/lib/agent.sh"
H="$BUILD/bin/healerd"
umask 022
rc=0; "$H" --gen-token "$T/tok" 2>"$T/e1" || rc=$?
check "writes a token (exit $rc)" [ "$rc" = 0 ]
check "mode 0600 despite umask 022" [ "$(stat -c %a "$T/tok")" = 600 ]
check "one line of 64 hex digits" grep -Eqx '[0-9a-f]{64}' "$T/tok"
check "the message names the file" grep -q "$T/tok" "$T/e1"
cp "$T/tok" "$T/tok.orig"
rc=0; "$H" --gen-token "$T/tok" 2>"$T/e2" || rc=$?
check "an existing token is refused (exit $rc)" [ "$rc" = 1 ]
check "and kept" cmp -s "$T/tok" "$T/tok.orig"
check "the refusal says --force" grep -q -- "--force" "$T/e2"
echo secret >"$T/victim"
ln -s "$T/victim" "$T/link"
rc=0; "$H" --gen-token "$T/link" 2>/dev/null || rc=$?
check "a symlink is refused (exit $rc) and its target untouched" sh -c "[ $rc = 1 ] && [ \"\$(cat '$T/victim')\" = secret ]"
ln -s "$T/nowhere" "$T/dangling"
rc=0; "$H" --gen-token "$T/dangling" 2>/dev/null || rc=$?
check "a dangling symlink is refused (exit $rc), nothing created behind it" sh -c "[ $rc = 1 ] && [ ! -e '$T/nowhere' ]"
rc=0; "$H" --gen-token "$T/tok" --force 2>/dev/null || rc=$?
check "--force replaces it (exit $rc)" sh -c "[ $rc = 0 ] && ! cmp -s '$T/tok' '$T/tok.orig' && grep -Eqx '[0-9a-f]{64}' '$T/tok'"
check "--force leaves no temporary file" [ "$(ls "$T" | grep -c '^tok\.new')" = 0 ]
rc=0; "$H" --gen-token "$T/no/such/dir/tok" 2>"$T/e3" || rc=$?
check "a missing directory is a clear failure (exit $rc)" sh -c "[ $rc = 1 ] && grep -q 'cannot create $T/no/such/dir/tok' '$T/e3'"
rc=0; "$H" --force 2>/dev/null || rc=$?
check "--force alone is bad usage (exit $rc)" [ "$rc" = 2 ]
rc=0; "$H" --gen-token a b 2>/dev/null || rc=$?
check "two paths are bad usage (exit $rc)" [ "$rc" = 2 ]
# The token it makes is one the agent takes: http.token_file = $T/token (write_config).
"$H" --gen-token "$T/token" 2>/dev/null
write_config "$T/h.conf" "$(plugin_dir)"
start_agent "$T/h.conf" || { bad "agent starts"; finish; }
check "POST /api/v1/pause with the generated token: 200" \
  [ "$(status_of -X POST -H "Authorization: Bearer $(cat "$T/token")" "$URL/api/v1/pause")" = 200 ]
check "POST with another token: 401" \
  [ "$(status_of -X POST -H "Authorization: Bearer $(cat "$T/tok")" "$URL/api/v1/resume")" = 401 ]
stop_agent
finish
