#!/usr/bin/env bash
# Installs the Debian 12 packages healerd needs to build, test and run.
# Idempotent: only what is missing is installed; nothing happens when all are present.
set -euo pipefail

PKGS=(
  # build
  build-essential cmake pkg-config clang libclang-rt-14-dev
  # libraries
  libconfig-dev libzmq3-dev libmsgpack-dev libsqlite3-dev libmicrohttpd-dev
  libjansson-dev libcmocka-dev
  # notifications: webhooks and Alertmanager over http(s) (agent/notify_http.c)
  libcurl4-openssl-dev
  # test tools
  # the Debian package and its test (tests/integration/deb_package.sh)
  dpkg-dev debhelper lintian fakeroot
  prometheus prometheus-alertmanager nix-bin iproute2 stress-ng debootstrap wrk sqlite3 curl jq
  procps psmisc util-linux earlyoom valgrind
  # bench/scale.sh draws its chart
  gnuplot-nox
  # the Python example plugin (sdk/examples/python) and its test
  python3 python3-msgpack
  # service plugin: sd-bus, systemd-nspawn for the isolated test root, monit for the bench
  libsystemd-dev systemd-container monit
  # network plugin tests: a real DNS server in a namespace (dnsmasq-base ships no service)
  dnsmasq-base
  # fleet tests: fleet-wide limits in a real etcd (v3 API)
  etcd-server etcd-client
  # the dashboard's test drives a real headless browser over the DevTools protocol
  chromium python3-websocket
)

missing=()
for p in "${PKGS[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
  echo "install-deps: missing packages: ${missing[*]}" >&2
  echo "install-deps: run as root (or install them yourself) and try again" >&2
  exit 1
fi

echo "install-deps: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
# earlyoom and prometheus ship services. The tests run them by hand; a daemon started by
# the package would act on a shared machine, so forbid service starts for this install.
policy=/usr/sbin/policy-rc.d
added_policy=0
if [ ! -e "$policy" ]; then
  printf '#!/bin/sh\nexit 101\n' >"$policy"
  chmod 755 "$policy"
  added_policy=1
fi
trap '[ "$added_policy" = 1 ] && rm -f "$policy"' EXIT
apt-get update -qq
# --no-install-recommends keeps prometheus from pulling its whole exporter family.
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
