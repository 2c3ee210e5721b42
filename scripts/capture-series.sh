#!/usr/bin/env bash
# capture-series.sh — capture what the real exporters, Prometheus and Alertmanager expose at /metrics into
# tests/fixtures/metrics/<name>.prom. Its output is COMMITTED: obsgen's generated promtool tests feed
# series of these label shapes (obsgen/real_series.py), and tests/test_real_series.py checks that data and
# every rendered rule's selectors against the fixtures. Re-run it (as root) after bumping an exporter.
#
# What it installs:
#   system-wide, with apt-get install from this machine's Debian release: postgresql, redis-server, nginx,
#     mariadb-server, pgbouncer, haproxy (only the servers the exporters talk to, and HAProxy, whose
#     exporter is built in; this script runs each from a temp dir on 127.0.0.1, never
#     as a system service: where /usr/sbin/policy-rc.d is missing, one refusing service starts is put in
#     place for the install and removed after it)
#   nothing system-wide for the exporters: prometheus-node-exporter, prometheus-postgres-exporter,
#     prometheus-redis-exporter, prometheus-nginx-exporter, prometheus-blackbox-exporter,
#     prometheus-mysqld-exporter, prometheus-pgbouncer-exporter, prometheus-process-exporter,
#     prometheus-pushgateway, prometheus-mongodb-exporter, prometheus-elasticsearch-exporter are fetched with
#     `apt-get download` from Debian sid (trixie as fallback: the releases closest to the images obsgen
#     pins) through a PRIVATE sources list and state in a temp dir, as scripts/install-tools.sh does,
#     and unpacked there with `dpkg -x`
#   Prometheus and Alertmanager: .tools/bin/prometheus and .tools/bin/alertmanager (`make tools`)
#
# The captures (scripts/capture_series.py): node exporter with its default collectors; postgres exporter
# against a fresh PostgreSQL cluster; redis exporter against redis-server; nginx exporter reading nginx's
# stub_status; blackbox exporter's /probe?module=http_2xx of a local server answering 200 and of one
# answering 500, and its /metrics; Prometheus scraping itself and Alertmanager, with a rule group that
# fails and an always-firing alert sent to that Alertmanager and to a closed port; Alertmanager routing
# that alert to a webhook whose server answers 500; mysqld exporter against MariaDB; pgbouncer exporter
# against pgbouncer pooling a fresh PostgreSQL; HAProxy's built-in exporter with one backend up and one
# down; process exporter watching a running `sleep` and an absent name; a Pushgateway with one group
# pushed and one push refused; mongodb and elasticsearch exporters with no server (Debian has neither). Everything on 127.0.0.1, free ports, bounded
# (--timeout, 300 s), every process stopped when its capture ends.
#
# Usage: scripts/capture-series.sh [CAPTURE...]   (node postgres redis nginx blackbox stack_servers mysqld
#        pgbouncer haproxy process pushgateway mongodb elasticsearch)
# Needs: root, apt-get, dpkg, the project's .venv (`make dev`) and .tools (`make tools`).
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
PYTHON="$ROOT/.venv/bin/python"
TOOLS="$ROOT/.tools/bin"
EXPORTERS=(prometheus-node-exporter prometheus-postgres-exporter prometheus-redis-exporter
           prometheus-nginx-exporter prometheus-blackbox-exporter prometheus-mysqld-exporter
           prometheus-pgbouncer-exporter prometheus-process-exporter prometheus-pushgateway
           prometheus-mongodb-exporter prometheus-elasticsearch-exporter)
SERVERS=(postgresql redis-server nginx mariadb-server pgbouncer haproxy)
SUITES=(sid trixie)
KEYRING=/usr/share/keyrings/debian-archive-keyring.gpg

die() { echo "capture-series: ERROR: $*" >&2; exit 1; }
say() { echo "capture-series: $*" >&2; }

[ "$(id -u)" = 0 ] || die "run as root (it installs ${SERVERS[*]} with apt-get)"
[ -x "$PYTHON" ] || die "$PYTHON missing: run make dev"
for b in prometheus alertmanager; do [ -x "$TOOLS/$b" ] || die "$TOOLS/$b missing: run make tools"; done

WORK="$(mktemp -d "${TMPDIR:-/tmp}/capture-series.XXXXXX")"
POLICY_ADDED=0
cleanup() {
  [ "$POLICY_ADDED" = 1 ] && rm -f /usr/sbin/policy-rc.d
  rm -rf "$WORK"
}
trap cleanup EXIT

# ---- the servers behind the exporters: installed, never started as services ---------------------------
if [ ! -e /usr/sbin/policy-rc.d ]; then
  printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod 0755 /usr/sbin/policy-rc.d
  POLICY_ADDED=1
fi
MISSING=()  # installed ones are left as they are (apt-get install would upgrade them)
for p in "${SERVERS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || MISSING+=("$p")
done
: > "$WORK/apt.log"
if [ ${#MISSING[@]} -gt 0 ]; then
  say "apt-get install ${MISSING[*]}"
  apt-get update -q >> "$WORK/apt.log" 2>&1 || { tail -n 20 "$WORK/apt.log" >&2; die "apt-get update failed"; }
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${MISSING[@]}" \
    >> "$WORK/apt.log" 2>&1 || { tail -n 20 "$WORK/apt.log" >&2; die "apt-get install failed"; }
fi
if [ "$POLICY_ADDED" = 1 ]; then rm -f /usr/sbin/policy-rc.d; POLICY_ADDED=0; fi

# ---- the exporters: Debian sid debs, unpacked in $WORK ----------------------------------------------------
mirror() {
  if [ -n "${DEBIAN_MIRROR:-}" ]; then echo "${DEBIAN_MIRROR%/}"; return; fi
  # the first non-security Debian archive this machine uses (one-line or deb822 sources)
  local uri
  uri="$({ sed -n 's/^[ \t]*URIs:[ \t]*//p' /etc/apt/sources.list.d/*.sources 2>/dev/null | tr ' ' '\n'
           sed -e 's/#.*//' -e 's/\[[^]]*\]//' /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null |
             awk '$1 == "deb" { print $2 }'
         } | awk '/^https?:\/\// && !/security/ { sub(/\/+$/, ""); print; exit }')"
  echo "${uri:-http://deb.debian.org/debian}"
}
MIRROR="$(mirror)"
APT=(-o "Dir::Etc::sourcelist=$WORK/sources.list" -o "Dir::Etc::sourceparts=$WORK/empty"
     -o "Dir::Etc::preferences=$WORK/empty/none" -o "Dir::Etc::preferencesparts=$WORK/empty"
     -o "Dir::State::Lists=$WORK/lists" -o "Dir::State::status=$WORK/status" -o "Dir::Cache=$WORK/cache"
     -o "APT::Architectures=$(dpkg --print-architecture)" -o "APT::Default-Release="
     -o "APT::Sandbox::User=root" -q)
fetch_suite() {  # fetch_suite SUITE -> debs in $WORK/debs
  rm -rf "$WORK/lists" "$WORK/cache" "$WORK/debs"
  mkdir -p "$WORK/lists/partial" "$WORK/cache/archives/partial" "$WORK/debs" "$WORK/empty"
  : > "$WORK/status"
  local opt="trusted=yes"
  [ -r "$KEYRING" ] && opt="signed-by=$KEYRING"
  echo "deb [$opt] $MIRROR $1 main" > "$WORK/sources.list"
  apt-get "${APT[@]}" --error-on=any update >> "$WORK/apt.log" 2>&1 &&
    (cd "$WORK/debs" && apt-get "${APT[@]}" download "${EXPORTERS[@]}") >> "$WORK/apt.log" 2>&1
}
SUITE=""
for s in "${SUITES[@]}"; do
  if fetch_suite "$s"; then SUITE="$s"; break; fi
  say "note: Debian $s failed, trying the next suite"
done
[ -n "$SUITE" ] || { tail -n 20 "$WORK/apt.log" >&2; die "could not download ${EXPORTERS[*]} from $MIRROR"; }

# package -> "version (suite)", for the first comment line of each fixture
{
  echo "{"
  for deb in "$WORK"/debs/*.deb; do
    dpkg -x "$deb" "$WORK/x"
    printf '  "%s": "%s (Debian %s)",\n' "$(dpkg-deb -f "$deb" Package)" "$(dpkg-deb -f "$deb" Version)" "$SUITE"
  done
  # the .tools binaries print their Debian version as the revision
  suite="$(awk '{ print $2 }' "$TOOLS/.source" 2>/dev/null || echo unknown)"
  for b in prometheus alertmanager; do
    rev="$("$TOOLS/$b" --version 2>&1 | sed -n 's/.*revision: \([^)]*\)).*/\1/p' | head -n 1)"
    pkg="$b"; [ "$b" = alertmanager ] && pkg=prometheus-alertmanager
    printf '  "%s": "%s (Debian %s, .tools/bin/%s)",\n' "$pkg" "${rev:-unknown}" "$suite" "$b"
  done
  # servers whose own exporter is captured (HAProxy's built-in one)
  printf '  "haproxy": "%s (Debian %s, installed)",\n' "$(dpkg-query -W -f='${Version}' haproxy)" \
    "$(sed -n 's/^VERSION_CODENAME=//p' /etc/os-release)"
  echo '  "": ""'
  echo "}"
} > "$WORK/versions.json"

"$PYTHON" "$ROOT/scripts/capture_series.py" --bin "$WORK/x/usr/bin" --etc "$WORK/x/etc/prometheus" \
  --tools "$TOOLS" --versions "$WORK/versions.json" --out "$ROOT/tests/fixtures/metrics" "$@"
