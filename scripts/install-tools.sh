#!/usr/bin/env bash
# install-tools.sh — install the real validators obsgen's checks run against,
# into the git-ignored folder .tools/ at the repo root (called by `make tools`).
#
# What it installs:
#   .tools/bin/promtool, prometheus   Debian sid packages `promtool` + `prometheus`
#                                     (Prometheus 3.5 LTS)
#   .tools/bin/amtool, alertmanager   Debian sid package `prometheus-alertmanager`
#                                     (Alertmanager 0.33.x; the deb names the daemon
#                                     /usr/bin/prometheus-alertmanager, we copy it
#                                     as `alertmanager`)
#   .tools/node_modules/@grafana/lezer-logql
#                                     Grafana's LogQL lezer grammar (npm, pinned),
#                                     used by obsgen/logql_check.mjs
#   .tools/bin/prometheus-*-exporter, prometheus-pushgateway
#                                     the exporters tests/test_exporters_live.py runs
#                                     (Debian sid packages, EXPORTERS below, fetched
#                                     and unpacked like Prometheus'), and
#   .tools/etc/prometheus/            their packaged configuration (blackbox.yml)
#   system-wide: postgresql, redis-server, nginx, mariadb-server, pgbouncer,
#                haproxy (SERVERS below)
#                                     the servers behind the exporters (HAProxy serves
#                                     its own metrics: Debian builds it with USE_PROMEX),
#                                     from this
#                                     machine's own Debian release with apt-get
#                                     install, only where missing and only as root.
#                                     They are never started as system services:
#                                     where /usr/sbin/policy-rc.d is missing, one
#                                     refusing service starts is put in place for
#                                     the install and removed after it. Where they
#                                     cannot be installed this says so and goes on;
#                                     the live test then fails unless OBSGEN_LIVE=0.
#
# Why Debian sid and not bookworm's own packages: bookworm ships Prometheus 2.42,
# whose promtool rejects kubernetes_sd_configs features the generated configs
# use, and Alertmanager 0.25, whose amtool lacks the newer *_file fields. sid
# has the current releases; trixie (2.53 / 0.28) is the fallback if sid fails.
#
# How: `apt-get update` + `apt-get download` run against a PRIVATE sources list
# and private lists/cache/status dirs in a temp dir, so the system's apt
# configuration and state are never touched. The mirror host is the one this
# machine already uses (read from /etc/apt; override with DEBIAN_MIRROR=URL).
# Packages are verified with /usr/share/keyrings/debian-archive-keyring.gpg;
# only if that fails is the suite retried with [trusted=yes]. The debs are
# unpacked with `dpkg -x` (nothing is installed system-wide) and only the
# binaries are copied. They are Go binaries needing just libc6 >= 2.34.
#
# Idempotent: a run that finds every tool in place and working only prints the
# version lines. `--force` (or TOOLS_FORCE=1) re-fetches everything.
# Needs: bash, apt-get, dpkg, node + npm (any node >= 18).
set -euo pipefail

# ---- pins -------------------------------------------------------------------
# lezer-logql >= 0.4.0 declares engines node>=24 (a build-tooling constraint;
# it runs fine on node 20, which this image has) — npm only warns about it.
LOGQL_VERSION="0.4.2"
LEZER_LR_VERSION="1.4.10"      # exact peer dependency of lezer-logql 0.4.x
LEZER_COMMON_VERSION="1.5.5"
SUITES=(sid trixie)
KEYRING=/usr/share/keyrings/debian-archive-keyring.gpg

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
TOOLS="$ROOT/.tools"
BIN="$TOOLS/bin"
PROM_BINS=(promtool prometheus amtool alertmanager)
# the exporters of the live test: Debian package = the binary it installs in /usr/bin
EXPORTERS=(prometheus-node-exporter prometheus-postgres-exporter prometheus-redis-exporter
           prometheus-nginx-exporter prometheus-blackbox-exporter prometheus-mysqld-exporter
           prometheus-pgbouncer-exporter prometheus-process-exporter prometheus-pushgateway)
# the servers behind them: Debian package -> a file it installs (a glob), proof that it is there
declare -A SERVERS=(
  [postgresql]="/usr/lib/postgresql/*/bin/postgres"
  [redis-server]="/usr/bin/redis-server"
  [nginx]="/usr/sbin/nginx"
  [mariadb-server]="/usr/sbin/mariadbd"
  [pgbouncer]="/usr/sbin/pgbouncer"
  [haproxy]="/usr/sbin/haproxy"
)

FORCE="${TOOLS_FORCE:-0}"
for a in "$@"; do
  case "$a" in
    --force) FORCE=1 ;;
    -h|--help) sed -n '2,50p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "install-tools: unknown argument: $a" >&2; exit 2 ;;
  esac
done

die() { echo "install-tools: ERROR: $*" >&2; exit 1; }
say() { echo "install-tools: $*" >&2; }

mkdir -p "$BIN"
# Serialise concurrent runs (e.g. make -j).
if command -v flock >/dev/null 2>&1; then
  exec 9>"$TOOLS/.lock"
  flock 9
fi

WORK=""
cleanup() { if [ -n "$WORK" ]; then rm -rf "$WORK"; fi; }
trap cleanup EXIT
LOG=/dev/null
show_log() { [ -s "$LOG" ] && { echo "---- last lines of log ----" >&2; tail -n 25 "$LOG" >&2; }; true; }

# ---- Prometheus / Alertmanager from Debian ------------------------------------
prom_tools_ok() {
  local b
  for b in "${PROM_BINS[@]}"; do
    [ -x "$BIN/$b" ] && "$BIN/$b" --version >/dev/null 2>&1 || return 1
  done
}

# Print the Debian archive URI this machine uses (the one carrying its release).
detect_mirror() {
  if [ -n "${DEBIAN_MIRROR:-}" ]; then echo "${DEBIAN_MIRROR%/}"; return; fi
  local codename="" f
  codename="$(. /etc/os-release 2>/dev/null && echo "${VERSION_CODENAME:-}")" || true
  {
    # deb822 *.sources: "URI SUITES..." per enabled deb paragraph
    for f in /etc/apt/sources.list.d/*.sources; do
      [ -f "$f" ] || continue
      awk '
        function flush() { if (types ~ /(^| )deb( |$)/ && enabled != "no")
                             { n = split(uris, u, " "); for (i = 1; i <= n; i++) print u[i], suites }
                           types = uris = suites = enabled = "" }
        /^[ \t]*#/ { next }
        /^[ \t]*$/ { flush(); next }
        { k = tolower($1); sub(/:$/, "", k); $1 = "" ; v = $0; sub(/^ +/, "", v)
          if (k == "types") types = v; else if (k == "uris") uris = v
          else if (k == "suites") suites = v; else if (k == "enabled") enabled = tolower(v) }
        END { flush() }' "$f"
    done
    # one-line format: deb [opts] URI SUITE COMPONENTS...
    for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
      [ -f "$f" ] || continue
      sed -e 's/#.*//' -e 's/\[[^]]*\]//' "$f" | awk '$1 == "deb" && NF >= 3 { print $2, $3 }'
    done
  } | awk -v cn="$codename" '
      $1 !~ /^https?:\/\// { next }
      { uri = $1; sub(/\/+$/, "", uri); sec = 0; rel = 0
        for (i = 2; i <= NF; i++) { if ($i ~ /security/) sec = 1; if (cn != "" && $i == cn) rel = 1 } }
      sec { next }
      rel && !best { best = uri }
      uri ~ /\/debian$/ && !deb { deb = uri }
      END { if (best) print best; else if (deb) print deb }'
}

# apt-get/apt-cache with every path pointed into $WORK: the system's sources,
# pinning, lists, cache and dpkg status are neither read for packages nor written.
APT_OPTS=()
set_apt_opts() {
  APT_OPTS=(
    -o "Dir::Etc::sourcelist=$WORK/sources.list"
    -o "Dir::Etc::sourceparts=$WORK/empty"
    -o "Dir::Etc::preferences=$WORK/empty/none"
    -o "Dir::Etc::preferencesparts=$WORK/empty"
    -o "Dir::State::Lists=$WORK/lists"
    -o "Dir::State::status=$WORK/status"
    -o "Dir::Cache=$WORK/cache"
    -o "APT::Architectures=$(dpkg --print-architecture)"
    -o "APT::Default-Release="
    -o "APT::Sandbox::User=root"
    -q
  )
}

# fetch_suite SUITE SOURCE-OPTION -> debs in $WORK/debs; non-zero on failure
fetch_suite() {
  local suite="$1" opt="$2" p pkgs=()
  rm -rf "$WORK/lists" "$WORK/cache" "$WORK/debs"
  mkdir -p "$WORK/lists/partial" "$WORK/cache/archives/partial" "$WORK/debs" "$WORK/empty"
  : > "$WORK/status"
  echo "deb [$opt] $MIRROR $suite main" > "$WORK/sources.list"
  echo "== $suite [$opt]" >> "$LOG"
  apt-get "${APT_OPTS[@]}" --error-on=any update >> "$LOG" 2>&1 || return 1
  # The split differs between releases: promtool has its own package in
  # trixie/sid (older releases shipped it inside `prometheus`).
  for p in promtool prometheus prometheus-alertmanager; do
    if apt-cache "${APT_OPTS[@]}" show "$p" >/dev/null 2>&1; then pkgs+=("$p"); fi
  done
  case " ${pkgs[*]} " in *" prometheus "*) ;; *) return 1 ;; esac
  case " ${pkgs[*]} " in *" prometheus-alertmanager "*) ;; *) return 1 ;; esac
  (cd "$WORK/debs" && apt-get "${APT_OPTS[@]}" download "${pkgs[@]}") >> "$LOG" 2>&1 || return 1
  PKGS_USED="${pkgs[*]}"
}

install_prom_tools() {
  MIRROR="$(detect_mirror)"
  if [ -z "$MIRROR" ]; then
    die "could not find this machine's Debian mirror in /etc/apt/sources.list{,.d}; set DEBIAN_MIRROR=http://HOST/debian"
  fi
  command -v apt-get >/dev/null && command -v dpkg >/dev/null || die "apt-get and dpkg are required"
  set_apt_opts

  local suite opt got="" b src deb
  local opts=()
  [ -r "$KEYRING" ] && opts+=("signed-by=$KEYRING")
  opts+=("trusted=yes")
  for suite in "${SUITES[@]}"; do
    for opt in "${opts[@]}"; do
      if fetch_suite "$suite" "$opt"; then got="$suite [$opt]"; break 2; fi
      [ "$opt" = "trusted=yes" ] || say "note: $suite with $opt failed, retrying"
    done
  done
  [ -n "$got" ] || { show_log; die "could not download prometheus/alertmanager packages from $MIRROR (tried: ${SUITES[*]})"; }
  [ "${got%% *}" = "${SUITES[0]}" ] || say "note: fell back to Debian $got"

  for deb in "$WORK"/debs/*.deb; do
    dpkg -x "$deb" "$WORK/x" || die "dpkg -x failed for $(basename "$deb")"
  done
  mkdir -p "$WORK/newbin"
  for b in "${PROM_BINS[@]}"; do
    src="$WORK/x/usr/bin/$b"
    [ "$b" = alertmanager ] && [ ! -e "$src" ] && src="$WORK/x/usr/bin/prometheus-alertmanager"
    [ -f "$src" ] || die "binary $b not found in packages: $PKGS_USED"
    install -m 0755 "$src" "$WORK/newbin/$b"
    "$WORK/newbin/$b" --version >/dev/null 2>&1 || die "$b from Debian $got does not run here: $("$WORK/newbin/$b" --version 2>&1 | head -n 3)"
  done
  for b in "${PROM_BINS[@]}"; do mv -f "$WORK/newbin/$b" "$BIN/$b"; done
  # Debian's alertmanager reads its built-in notification templates from the package's data folder and
  # refuses to start without them: keep the package's copies beside the binaries for am_assets_ok.
  mkdir -p "$TOOLS/share/alertmanager"
  cp -f "$WORK"/x/usr/share/prometheus/alertmanager/*.tmpl "$TOOLS/share/alertmanager/" 2>/dev/null || true
  echo "debian $got $MIRROR: $PKGS_USED" > "$BIN/.source"
}

# The templates go where the Debian build reads them (the one path outside .tools/ this script writes, and
# only when it is missing: it is what installing the package would have put there).
AM_ASSETS=/usr/share/prometheus/alertmanager
install_am_assets() {
  [ -f "$AM_ASSETS/default.tmpl" ] && return 0
  ls "$TOOLS"/share/alertmanager/*.tmpl >/dev/null 2>&1 || return 0  # not a Debian build: nothing to place
  if mkdir -p "$AM_ASSETS" 2>/dev/null && cp -n "$TOOLS"/share/alertmanager/*.tmpl "$AM_ASSETS/"; then
    say "placed alertmanager's templates in $AM_ASSETS"
  else
    say "note: cannot write $AM_ASSETS; the alertmanager server will not start (amtool works)"
  fi
}

# ---- the exporters from Debian, unpacked beside Prometheus ---------------------
exporters_ok() {
  local b
  for b in "${EXPORTERS[@]}"; do
    [ -x "$BIN/$b" ] && "$BIN/$b" --version >/dev/null 2>&1 || return 1
  done
  [ -f "$TOOLS/etc/prometheus/blackbox.yml" ]
}

# fetch_debs SUITE SOURCE-OPTION PACKAGE... -> debs in $WORK/debs; non-zero on failure
fetch_debs() {
  local suite="$1" opt="$2"
  shift 2
  rm -rf "$WORK/lists" "$WORK/cache" "$WORK/debs"
  mkdir -p "$WORK/lists/partial" "$WORK/cache/archives/partial" "$WORK/debs" "$WORK/empty"
  : > "$WORK/status"
  echo "deb [$opt] $MIRROR $suite main" > "$WORK/sources.list"
  echo "== $suite [$opt]: $*" >> "$LOG"
  apt-get "${APT_OPTS[@]}" --error-on=any update >> "$LOG" 2>&1 || return 1
  (cd "$WORK/debs" && apt-get "${APT_OPTS[@]}" download "$@") >> "$LOG" 2>&1
}

install_exporters() {
  MIRROR="$(detect_mirror)"
  [ -n "$MIRROR" ] || die "could not find this machine's Debian mirror in /etc/apt; set DEBIAN_MIRROR=http://HOST/debian"
  command -v apt-get >/dev/null && command -v dpkg >/dev/null || die "apt-get and dpkg are required"
  set_apt_opts
  local suite opt got="" b deb
  local opts=()
  [ -r "$KEYRING" ] && opts+=("signed-by=$KEYRING")
  opts+=("trusted=yes")
  for suite in "${SUITES[@]}"; do
    for opt in "${opts[@]}"; do
      if fetch_debs "$suite" "$opt" "${EXPORTERS[@]}"; then got="$suite [$opt]"; break 2; fi
    done
  done
  [ -n "$got" ] || { show_log; die "could not download ${EXPORTERS[*]} from $MIRROR (tried: ${SUITES[*]})"; }
  rm -rf "$WORK/xe"
  for deb in "$WORK"/debs/*.deb; do
    dpkg -x "$deb" "$WORK/xe" || die "dpkg -x failed for $(basename "$deb")"
  done
  for b in "${EXPORTERS[@]}"; do
    [ -f "$WORK/xe/usr/bin/$b" ] || die "binary $b not found in its package"
    "$WORK/xe/usr/bin/$b" --version >/dev/null 2>&1 || die "$b from Debian $got does not run here"
  done
  for b in "${EXPORTERS[@]}"; do install -m 0755 "$WORK/xe/usr/bin/$b" "$BIN/$b"; done
  mkdir -p "$TOOLS/etc/prometheus"
  cp -f "$WORK"/xe/etc/prometheus/*.yml "$TOOLS/etc/prometheus/" 2>/dev/null || true
  [ -f "$TOOLS/etc/prometheus/blackbox.yml" ] || die "blackbox.yml not found in prometheus-blackbox-exporter"
  echo "debian $got $MIRROR: ${EXPORTERS[*]}" > "$BIN/.exporters-source"
}

# ---- the servers behind the exporters: apt-get install, never started ---------
servers_missing() {  # prints the packages of SERVERS whose file is not there
  local p f
  for p in "${!SERVERS[@]}"; do
    f="$(compgen -G "${SERVERS[$p]}" | head -n 1)" || true
    [ -n "$f" ] && [ -x "$f" ] || echo "$p"
  done | sort
}

install_servers() {
  local missing policy_added=0 log
  missing="$(servers_missing | tr '\n' ' ')"
  [ -n "${missing// /}" ] || return 0
  if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then
    say "WARNING: cannot install $missing(needs root and apt-get): tests/test_exporters_live.py fails without them; OBSGEN_LIVE=0 skips it"
    return 0
  fi
  log="$(mktemp "${TMPDIR:-/tmp}/obsgen-servers.XXXXXX")"
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod 0755 /usr/sbin/policy-rc.d && policy_added=1
  fi
  say "apt-get install $missing(not started as services)"
  # shellcheck disable=SC2086 # one word per package
  if ! { apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $missing; } \
       >> "$log" 2>&1; then
    tail -n 20 "$log" >&2
    say "WARNING: apt-get install $missing failed: tests/test_exporters_live.py fails without them; OBSGEN_LIVE=0 skips it"
  fi
  [ "$policy_added" = 1 ] && rm -f /usr/sbin/policy-rc.d
  rm -f "$log"
}

# ---- LogQL grammar from npm ---------------------------------------------------
pkg_version() {  # pkg_version DIR -> version from DIR/package.json, or nothing
  node -e 'try { process.stdout.write(require(process.argv[1] + "/package.json").version) } catch (e) {}' "$1" 2>/dev/null || true
}

logql_ok() {
  [ "$(pkg_version "$TOOLS/node_modules/@grafana/lezer-logql")" = "$LOGQL_VERSION" ] &&
    [ -n "$(pkg_version "$TOOLS/node_modules/@lezer/lr")" ]
}

install_logql() {
  command -v node >/dev/null && command -v npm >/dev/null ||
    die "node and npm are required for @grafana/lezer-logql (apt-get install nodejs npm)"
  cat > "$TOOLS/package.json" <<EOF
{
  "name": "obsgen-tools",
  "private": true,
  "description": "generated by scripts/install-tools.sh",
  "dependencies": {
    "@grafana/lezer-logql": "$LOGQL_VERSION",
    "@lezer/lr": "$LEZER_LR_VERSION",
    "@lezer/common": "$LEZER_COMMON_VERSION"
  }
}
EOF
  (cd "$TOOLS" && npm install --no-audit --no-fund --no-update-notifier --engine-strict=false) >> "$LOG" 2>&1 ||
    { show_log; die "npm install of @grafana/lezer-logql@$LOGQL_VERSION failed"; }
  logql_ok || { show_log; die "@grafana/lezer-logql@$LOGQL_VERSION not found in .tools/node_modules after npm install"; }
}

# Sanity check that the checker really parses and really flags errors.
check_logql_checker() {
  local out
  out="$(printf '%s' '["sum(count_over_time({a=\"b\"}[1m])) > 50", "rate({app=\"x\"}[5m]) > "]' |
         node "$ROOT/obsgen/logql_check.mjs" 2>&1)" || die "obsgen/logql_check.mjs failed: $out"
  case "$out" in
    *'"ok":true'*'"ok":false'*) ;;
    *) die "obsgen/logql_check.mjs gave unexpected results: $out" ;;
  esac
}

# ---- main ---------------------------------------------------------------------
need_prom=1; need_logql=1; need_exporters=1
if [ "$FORCE" != 1 ]; then
  prom_tools_ok && need_prom=0
  logql_ok && need_logql=0
  exporters_ok && need_exporters=0
fi
if [ $need_prom = 1 ] || [ $need_logql = 1 ] || [ $need_exporters = 1 ]; then
  WORK="$(mktemp -d "${TMPDIR:-/tmp}/obsgen-tools.XXXXXX")"
  LOG="$WORK/log"
fi
[ $need_prom = 1 ] && install_prom_tools
if [ ! -d "$TOOLS/share/alertmanager" ]; then  # installed before the templates were kept: fetch them once
  [ -n "$WORK" ] || { WORK="$(mktemp -d "${TMPDIR:-/tmp}/obsgen-tools.XXXXXX")"; LOG="$WORK/log"; }
  install_prom_tools
fi
install_am_assets
[ $need_exporters = 1 ] && install_exporters
install_servers
[ $need_logql = 1 ] && install_logql
if [ -f "$ROOT/obsgen/logql_check.mjs" ]; then check_logql_checker; fi

ver() { "$BIN/$1" --version 2>&1 | awk 'NR == 1 { for (i = 1; i <= NF; i++) if ($i == "version") { print $(i + 1); exit } }'; }
for b in "${PROM_BINS[@]}"; do
  printf '%-13s %-12s .tools/bin/%s\n' "$b" "$(ver "$b")" "$b"
done
for b in "${EXPORTERS[@]}"; do
  v="$("$BIN/$b" --version 2>&1 | grep -oE '[0-9]+\.[0-9]+\.[0-9]+' | head -n 1)" || true
  printf '%-18s %-20s .tools/bin/%s\n' "${b#prometheus-}" "$v" "$b"
done
for p in $(printf '%s\n' "${!SERVERS[@]}" | sort); do
  f="$(compgen -G "${SERVERS[$p]}" | head -n 1)" || true
  printf '%-18s %-20s %s\n' "$p" "$(dpkg-query -W -f='${Version}' "$p" 2>/dev/null || echo missing)" "${f:-MISSING}"
done
printf '%-13s %-12s .tools/node_modules/@grafana/lezer-logql (@lezer/lr %s, node %s)\n' \
  lezer-logql "$(pkg_version "$TOOLS/node_modules/@grafana/lezer-logql")" \
  "$(pkg_version "$TOOLS/node_modules/@lezer/lr")" "$(node --version)"
