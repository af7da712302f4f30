# tests/lib/testtmp.sh — where tests keep plugin folders and state. The loader refuses a
# plugin_dir below any directory that someone other than root could write (a world-writable
# /tmp included), so the build tree is used only when every directory above it is root-owned
# and not writable by group or others; otherwise (a clone under /tmp or a home directory) a
# root-only folder under /var/lib. Source it; healer_test_tmp BUILD prints the folder.
healer_test_tmp() {
  local d=$1 u m
  while :; do
    if [ -e "$d" ]; then
      read -r u m < <(stat -c '%u %a' "$d")
      if [ "$u" != 0 ] || (( (8#$m & 8#022) != 0 )); then
        echo "/var/lib/healerd-tests"
        return
      fi
    fi
    [ "$d" = / ] && break
    d=$(dirname "$d")
  done
  echo "$1/testtmp"
}
