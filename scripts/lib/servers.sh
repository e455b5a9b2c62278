# shellcheck shell=bash
# Helpers to run the local test servers (moto and the HTTP fixture).
#
# Source this file, then:
#   install_server_cleanup_trap
#   start_moto          # exports MOTO_PORT, KINESIS_TEST_MOTO_ENDPOINT
#   start_http_fixture  # exports KINESIS_TEST_HTTP_ORIGIN, KINESIS_TEST_HTTP_PROXY,
#                       #         KINESIS_TEST_HTTP_PROXY_USER, KINESIS_TEST_HTTP_PROXY_PASSWORD
#   ...
#   stop_servers        # also run by the trap; safe to call more than once
#
# Every server runs in its own process group (setsid) so it can be stopped as a
# whole and is not hit by a terminal's Ctrl-C before cleanup runs. All waits are
# bounded. Everything listens on 127.0.0.1 only.

_SERVERS_LIB_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
_SERVERS_REPO_ROOT="$(cd "$_SERVERS_LIB_DIR/../.." && pwd)"

SERVERS_START_TIMEOUT="${SERVERS_START_TIMEOUT:-30}"
SERVERS_FIXTURE_PROXY_USER="${SERVERS_FIXTURE_PROXY_USER:-fixture}"
SERVERS_FIXTURE_PROXY_PASSWORD="${SERVERS_FIXTURE_PROXY_PASSWORD:-fixture-secret}"

# Parallel arrays: process-group id, launcher pid (a child of this shell), name.
_SERVERS_PGIDS=()
_SERVERS_PIDS=()
_SERVERS_NAMES=()
_SERVERS_TMPDIR=""

_servers_log() { printf 'servers: %s\n' "$*" >&2; }

# Creates the temp dir once (must not run in a subshell: it sets a global).
_servers_ensure_tmpdir() {
  if [[ -z "$_SERVERS_TMPDIR" || ! -d "$_SERVERS_TMPDIR" ]]; then
    _SERVERS_TMPDIR="$(mktemp -d "${TMPDIR:-/tmp}/kinesis-test-servers.XXXXXX")" || return 1
  fi
}

_servers_log_tail() { # name logfile
  local name="$1" log="$2"
  {
    printf 'servers: %s failed to start; last lines of %s:\n' "$name" "$log"
    if [[ -f "$log" ]]; then tail -n 30 "$log" | sed 's/^/  | /'; else echo "  | (no log)"; fi
  } >&2
}

# Sleep in small steps; returns when "$@" succeeds (0) or after $timeout s (1).
_servers_wait_for() { # timeout_seconds command...
  local timeout="$1"; shift
  local deadline=$((SECONDS + timeout))
  while ((SECONDS <= deadline)); do
    if "$@"; then return 0; fi
    sleep 0.1
  done
  "$@"
}

# Is any non-zombie process left in process group $1?
_servers_group_alive() {
  local pgid="$1"
  if command -v ps >/dev/null 2>&1; then
    ps -eo pgid=,stat= 2>/dev/null | awk -v g="$pgid" '$1 == g && $2 !~ /^Z/ { found = 1 } END { exit !found }'
  else
    kill -0 -- "-$pgid" 2>/dev/null
  fi
}

# _servers_spawn NAME LOGFILE COMMAND... : start COMMAND in a new session,
# record its process group. Sets _SERVERS_LAST_PGID.
_servers_spawn() {
  local name="$1" log="$2"; shift 2
  local dir pidfile pgid="" launcher
  _servers_ensure_tmpdir || return 1
  dir="$_SERVERS_TMPDIR"
  pidfile="$dir/$name.pgid"
  rm -f "$pidfile"
  # The inner shell is the session (and process-group) leader; it records its
  # own pid, which equals the PGID, then execs the server in place. This works
  # whether or not setsid had to fork (it forks when job control is on).
  setsid bash -c 'echo $$ > "$0.tmp" && mv "$0.tmp" "$0" && exec "$@"' "$pidfile" "$@" \
    </dev/null >"$log" 2>&1 &
  launcher=$!
  if ! _servers_wait_for 10 test -s "$pidfile"; then
    kill -- "$launcher" 2>/dev/null || true
    _servers_log_tail "$name" "$log"
    return 1
  fi
  pgid="$(<"$pidfile")"
  _SERVERS_PGIDS+=("$pgid")
  _SERVERS_PIDS+=("$launcher")
  _SERVERS_NAMES+=("$name")
  _SERVERS_LAST_PGID="$pgid"
}

_servers_http_ready() { # url
  python3 - "$1" <<'PY' >/dev/null 2>&1
import sys, urllib.request, urllib.error
try:
    urllib.request.urlopen(sys.argv[1], timeout=2).read()
except urllib.error.HTTPError:
    pass  # any HTTP answer means the server is up
PY
}

start_moto() {
  local dir log port="" pgid deadline
  _servers_ensure_tmpdir || return 1
  dir="$_SERVERS_TMPDIR"
  log="$dir/moto.log"
  local -a cmd
  if command -v moto_server >/dev/null 2>&1; then
    cmd=(moto_server -H 127.0.0.1 -p 0)
  else
    cmd=(python3 -m moto.server -H 127.0.0.1 -p 0)
  fi
  _servers_spawn moto "$log" "${cmd[@]}" || return 1
  pgid="$_SERVERS_LAST_PGID"

  deadline=$((SECONDS + SERVERS_START_TIMEOUT))
  while ((SECONDS <= deadline)); do
    port="$(grep -aoE 'Running on http://127\.0\.0\.1:[0-9]+' "$log" 2>/dev/null | head -n 1 | sed 's/.*://')" || true
    [[ -n "$port" ]] && break
    if ! _servers_group_alive "$pgid"; then break; fi
    sleep 0.1
  done
  if [[ -z "$port" ]]; then
    _servers_log_tail moto "$log"
    return 1
  fi
  if ! _servers_wait_for "$SERVERS_START_TIMEOUT" _servers_http_ready "http://127.0.0.1:$port/moto-api/"; then
    _servers_log_tail moto "$log"
    return 1
  fi
  export MOTO_PORT="$port"
  export KINESIS_TEST_MOTO_ENDPOINT="http://127.0.0.1:$port"
  _servers_log "moto listening on $KINESIS_TEST_MOTO_ENDPOINT (pgid $pgid)"
}

start_http_fixture() {
  local dir log portfile pgid origin="" proxy="" deadline
  _servers_ensure_tmpdir || return 1
  dir="$_SERVERS_TMPDIR"
  log="$dir/http_fixture.log"
  portfile="$dir/http_fixture.ports.json"
  rm -f "$portfile"
  _servers_spawn http_fixture "$log" python3 "$_SERVERS_REPO_ROOT/scripts/testing/http_fixture.py" \
    --port-file "$portfile" \
    --proxy-auth "$SERVERS_FIXTURE_PROXY_USER:$SERVERS_FIXTURE_PROXY_PASSWORD" || return 1
  pgid="$_SERVERS_LAST_PGID"

  deadline=$((SECONDS + SERVERS_START_TIMEOUT))
  while ((SECONDS <= deadline)); do
    [[ -s "$portfile" ]] && break
    if ! _servers_group_alive "$pgid"; then break; fi
    sleep 0.1
  done
  if [[ -s "$portfile" ]]; then
    # {"origin": P1, "proxy": P2}
    origin="$(sed -n 's/.*"origin": *\([0-9][0-9]*\).*/\1/p' "$portfile")"
    proxy="$(sed -n 's/.*"proxy": *\([0-9][0-9]*\).*/\1/p' "$portfile")"
  fi
  if [[ -z "$origin" || -z "$proxy" ]]; then
    _servers_log_tail http_fixture "$log"
    return 1
  fi
  if ! _servers_wait_for "$SERVERS_START_TIMEOUT" _servers_http_ready "http://127.0.0.1:$origin/connections"; then
    _servers_log_tail http_fixture "$log"
    return 1
  fi
  export KINESIS_TEST_HTTP_ORIGIN="http://127.0.0.1:$origin"
  export KINESIS_TEST_HTTP_PROXY="127.0.0.1:$proxy"
  export KINESIS_TEST_HTTP_PROXY_USER="$SERVERS_FIXTURE_PROXY_USER"
  export KINESIS_TEST_HTTP_PROXY_PASSWORD="$SERVERS_FIXTURE_PROXY_PASSWORD"
  _servers_log "http fixture: origin $KINESIS_TEST_HTTP_ORIGIN, proxy $KINESIS_TEST_HTTP_PROXY (pgid $pgid)"
}

stop_servers() {
  local i pgid pid any_alive deadline
  if ((${#_SERVERS_PGIDS[@]} > 0)); then
    for pgid in "${_SERVERS_PGIDS[@]}"; do
      kill -TERM -- "-$pgid" 2>/dev/null || true
    done
    deadline=$((SECONDS + 3))
    while :; do
      any_alive=0
      for pgid in "${_SERVERS_PGIDS[@]}"; do
        if _servers_group_alive "$pgid"; then any_alive=1; break; fi
      done
      ((any_alive == 0)) && break
      ((SECONDS >= deadline)) && break
      sleep 0.1
    done
    for i in "${!_SERVERS_PGIDS[@]}"; do
      pgid="${_SERVERS_PGIDS[$i]}"
      if _servers_group_alive "$pgid"; then
        _servers_log "${_SERVERS_NAMES[$i]} (pgid $pgid) did not stop after SIGTERM; sending SIGKILL"
        kill -KILL -- "-$pgid" 2>/dev/null || true
      fi
    done
    # Reap our direct children so no zombies linger.
    for pid in "${_SERVERS_PIDS[@]}"; do
      wait "$pid" 2>/dev/null || true
    done
  fi
  _SERVERS_PGIDS=()
  _SERVERS_PIDS=()
  _SERVERS_NAMES=()
  if [[ -n "$_SERVERS_TMPDIR" && -d "$_SERVERS_TMPDIR" ]]; then
    rm -rf -- "$_SERVERS_TMPDIR"
  fi
  _SERVERS_TMPDIR=""
  return 0
}

_servers_on_exit() {
  local status=$?
  stop_servers
  return "$status"
}

_servers_on_signal() { # exit_status
  trap - EXIT INT TERM HUP
  stop_servers
  exit "$1"
}

install_server_cleanup_trap() {
  trap '_servers_on_exit' EXIT
  trap '_servers_on_signal 130' INT
  trap '_servers_on_signal 143' TERM
  trap '_servers_on_signal 129' HUP
}
