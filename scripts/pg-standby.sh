#!/usr/bin/env bash
# A local PostgreSQL streaming-replication hot standby of the primary on
# 127.0.0.1:5432, so tests can point JOINEDUP_DATABASE_READ_URL at a real
# read-only replica (replication lag, read-only errors and all) instead of
# at the primary itself. Meant for CI (`bash .ci/run` as root on a clean
# Debian machine) and for developers; run it as root (or as postgres).
#
#   scripts/pg-standby.sh start [PORT]            make and start the standby (default port 5433);
#                                                 prints its URL as the last line on stdout
#   scripts/pg-standby.sh stop  [PORT]            stop it and remove its data directory
#   scripts/pg-standby.sh lag   [PORT]            replay lag in bytes (primary's current WAL
#                                                 position minus the standby's replay position)
#   scripts/pg-standby.sh wait  [PORT] [SECONDS]  wait (default 60 s) until the standby has replayed
#                                                 everything the primary had written at call time
#
#   export JOINEDUP_DATABASE_READ_URL=$(scripts/pg-standby.sh start)
#
# `start` is idempotent: a standby of this primary already running on PORT is
# left alone; a stale directory from a crashed run (or a standby that was
# promoted) is cleaned up and made again. It uses Debian's packaged PostgreSQL
# (the primary's major version, found with pg_lsclusters), runs the server
# side as the postgres user, takes `pg_basebackup -R` into
# ~postgres/joinedup-standby-PORT/data and starts it with pg_ctl, listening on
# 127.0.0.1 only, with the primary's own settings (time zone, locale,
# max_connections, ...) so that reads behave as they do on the primary.
#
# The primary is only read (settings, WAL positions) and backed up, with two
# exceptions. `wait`, if the standby has not caught up after a second, commits
# an empty transaction on the primary once a second (see cmd_wait). And
# pg_basebackup and the standby connect over TCP as postgres with a
# replication connection, and if pg_hba.conf's first rule for that is missing
# or is not `trust` (Debian's stock file has `host replication all
# 127.0.0.1/32 scram-sha-256`), `start` puts this line at the top of the
# primary's pg_hba.conf, reloads the primary, and says so:
#   host replication postgres 127.0.0.1/32 trust  # joinedup pg-standby.sh
# The line is left in place by `stop`. No replication slot is made, so a
# standby that is gone holds no WAL on the primary.
#
# Messages go to stderr; stdout carries only the result (the URL, or the lag).
set -euo pipefail
self=$(readlink -f "$0")
cd /  # the server side runs as postgres, who may not be able to enter the caller's directory

readonly primary_host=127.0.0.1 primary_port=5432
readonly hba_marker='# joinedup pg-standby.sh'
start_timeout=${PG_STANDBY_START_TIMEOUT:-60}

say() { printf 'pg-standby: %s\n' "$*" >&2; }
die() { printf 'pg-standby: error: %s\n' "$*" >&2; exit 1; }

usage() {
  sed -n '/^#   scripts\/pg-standby.sh start/,/^#   export/p' "$self" | sed 's/^# \{0,1\}//' >&2
  exit 2
}

# Run a command as the postgres user (directly if we already are postgres).
as_pg() {
  if [ "$(id -un)" = postgres ]; then
    "$@"
  else
    runuser -u postgres -- "$@"
  fi
}

# --- arguments ------------------------------------------------------------

cmd=${1:-}
case "$cmd" in
  start|stop|lag|wait) shift ;;
  ''|-h|--help|help) usage ;;
  *) say "unknown subcommand '$cmd'"; usage ;;
esac
port=${1:-5433}
case "$port" in
  ''|*[!0-9]*) die "PORT must be a number, got '$port'" ;;
esac
{ [ "$port" -ge 1024 ] && [ "$port" -le 65535 ]; } || die "PORT must be between 1024 and 65535, got $port"
[ "$port" != "$primary_port" ] || die "PORT must not be the primary's port $primary_port"

if [ "$(id -u)" != 0 ] && [ "$(id -un)" != postgres ]; then
  die "run as root (or as postgres): the server side runs as the postgres user"
fi
command -v runuser >/dev/null || [ "$(id -un)" = postgres ] || die "runuser (util-linux) is missing"

pg_home=$(getent passwd postgres | cut -d: -f6) || die "no postgres user: is Debian's postgresql package installed?"
[ -d "$pg_home" ] || die "the postgres user's home $pg_home does not exist"
root="$pg_home/joinedup-standby-$port"  # everything of this standby lives here
data="$root/data"
sockdir="$root/run"
logfile="$root/standby.log"
url="postgres://postgres@127.0.0.1:$port/postgres"

# --- PostgreSQL binaries of the primary's major version -------------------

# Prints "VERSION CLUSTER" (CLUSTER empty if the primary is not a Debian cluster).
find_version() {
  local v=""
  if command -v pg_lsclusters >/dev/null; then
    # Ver Cluster Port Status Owner Datadir Logfile
    v=$(pg_lsclusters -h 2>/dev/null | awk -v p="$primary_port" '$3 == p && $4 ~ /^online/ { print $1, $2; exit }')
  fi
  if [ -z "$v" ] && command -v psql >/dev/null; then
    local num
    num=$(psql -X -qtAw "host=$primary_host port=$primary_port user=postgres dbname=postgres connect_timeout=5" \
      -c 'SHOW server_version_num' 2>/dev/null) || true
    [ -n "$num" ] && v=$((num / 10000))
  fi
  [ -n "$v" ] || die "no PostgreSQL primary running on $primary_host:$primary_port (pg_lsclusters shows none online on port $primary_port)"
  printf '%s\n' "$v"
}

cluster=""
if [ "$cmd" = stop ]; then
  # stop must work with the primary down: the standby's own version will do.
  version=$(cat "$data/PG_VERSION" 2>/dev/null || { cd /usr/lib/postgresql 2>/dev/null && printf "%s\n" * | sort -V | tail -n 1; })
  [ -n "$version" ] || die "no PostgreSQL in /usr/lib/postgresql"
else
  read -r version cluster < <(find_version) || true
  [ -n "$version" ] || exit 1  # find_version said why
fi
bin="/usr/lib/postgresql/$version/bin"
for tool in pg_ctl pg_basebackup psql pg_isready; do
  [ -x "$bin/$tool" ] || die "$bin/$tool is missing (primary is PostgreSQL $version)"
done

# --- connections ------------------------------------------------------------

# Administrative queries on the primary: as postgres over the Unix socket
# (peer authentication, Debian's default) when that works, otherwise over TCP
# as postgres (trust, or a password in TEST_POSTGRES_URL / PGPASSWORD).
primary_psql=()
pick_primary_conn() {
  [ ${#primary_psql[@]} -eq 0 ] || return 0
  local sock=""
  [ -z "$cluster" ] || sock=$(pg_conftool -s "$version" "$cluster" show unix_socket_directories 2>/dev/null | cut -d, -f1 | tr -d "' ") || true
  sock=${sock:-/var/run/postgresql}
  if as_pg "$bin/psql" -X -qtAw -h "$sock" -p "$primary_port" -d postgres -c 'SELECT 1' >/dev/null 2>&1; then
    primary_psql=(as_pg "$bin/psql" -X -qtAw -v ON_ERROR_STOP=1 -h "$sock" -p "$primary_port" -d postgres)
    return 0
  fi
  local tcp="${TEST_POSTGRES_URL:-postgres://postgres@$primary_host:$primary_port/postgres}"
  if "$bin/psql" -X -qtAw "$tcp" -c 'SELECT 1' >/dev/null 2>&1; then
    primary_psql=("$bin/psql" -X -qtAw -v ON_ERROR_STOP=1 "$tcp")
    return 0
  fi
  die "cannot run queries on the primary: neither as postgres over the socket in $sock nor over TCP at $primary_host:$primary_port"
}
primary_sql() { pick_primary_conn; "${primary_psql[@]}" -c "$1"; }

standby_conninfo="host=127.0.0.1 port=$port user=postgres dbname=postgres connect_timeout=5"
standby_sql() { "$bin/psql" -X -qtAw -v ON_ERROR_STOP=1 "$standby_conninfo" -c "$1"; }

# Something (anything) accepts TCP connections on 127.0.0.1:PORT?
port_listening() { (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; }

# Pids of processes (the postmaster and its children) whose working directory
# is this standby's data directory, even if that directory was deleted.
our_pids() {
  local pid cwd candidates
  if command -v pgrep >/dev/null; then
    candidates=$(pgrep -x postgres || true)
  else
    candidates=$(cd /proc && printf '%s\n' [0-9]*)
  fi
  for pid in $candidates; do
    cwd=$(readlink "/proc/$pid/cwd" 2>/dev/null) || continue
    if [ "$cwd" = "$data" ] || [ "$cwd" = "$data (deleted)" ]; then
      printf '%s\n' "$pid"
    fi
  done
}

log_tail() {
  if [ -f "$logfile" ]; then
    say "last lines of $logfile:"
    tail -n 30 "$logfile" | sed 's/^/    /' >&2
  fi
}

# Stop whatever of this standby is running and remove its directory.
teardown() {
  if [ -f "$data/postmaster.pid" ] && [ -n "$(our_pids)" ]; then
    as_pg "$bin/pg_ctl" stop -D "$data" -m fast -w -t 30 >/dev/null 2>&1 \
      || as_pg "$bin/pg_ctl" stop -D "$data" -m immediate -w -t 30 >/dev/null 2>&1 || true
  fi
  local pids
  pids=$(our_pids)
  if [ -n "$pids" ]; then
    # No usable pid file (deleted or damaged): immediate shutdown by signal.
    # shellcheck disable=SC2086
    kill -QUIT $pids 2>/dev/null || true
    for _ in $(seq 1 100); do
      pids=$(our_pids)
      [ -z "$pids" ] && break
      sleep 0.1
    done
    if [ -n "$pids" ]; then
      # shellcheck disable=SC2086
      kill -KILL $pids 2>/dev/null || true
      sleep 0.5
    fi
  fi
  [ -z "$(our_pids)" ] || die "could not stop the standby's processes: $(our_pids | tr '\n' ' ')"
  case "$root" in
    */joinedup-standby-[0-9]*) rm -rf -- "$root" ;;
    *) die "refusing to remove unexpected path '$root'" ;;
  esac
}

# Serialise start/stop on the same port (parallel test runners).
lock() {
  local lockdir=/run/lock
  [ -d "$lockdir" ] && [ -w "$lockdir" ] || lockdir=/tmp
  local lockfile="$lockdir/joinedup-pg-standby-$port.lock"
  exec 9>>"$lockfile"
  chmod 0666 "$lockfile" 2>/dev/null || true  # root and postgres may both run this
  flock -w 300 9 || die "timed out waiting for another pg-standby.sh on port $port"
}

# --- checks on the primary ----------------------------------------------------

check_primary() {
  "$bin/pg_isready" -q -h "$primary_host" -p "$primary_port" \
    || die "the primary on $primary_host:$primary_port is not accepting connections"
  [ "$(primary_sql 'SELECT pg_is_in_recovery()')" = f ] \
    || die "$primary_host:$primary_port is itself in recovery, not a primary"

  local wal_level max_senders used_senders
  wal_level=$(primary_sql 'SHOW wal_level')
  case "$wal_level" in
    replica|logical) ;;
    *) die "the primary has wal_level = $wal_level; streaming replication needs replica or logical (set it in postgresql.conf and restart the primary)" ;;
  esac
  max_senders=$(primary_sql 'SHOW max_wal_senders')
  [ "$max_senders" -gt 0 ] \
    || die "the primary has max_wal_senders = 0; streaming replication needs at least 3 (set it in postgresql.conf and restart the primary)"
  used_senders=$(primary_sql "SELECT count(*) FROM pg_stat_replication")
  # pg_basebackup -X stream uses two WAL senders while it runs; the standby then uses one.
  [ $((max_senders - used_senders)) -ge 2 ] \
    || die "the primary has max_wal_senders = $max_senders with $used_senders in use; pg_basebackup needs 2 free"

  local sync
  sync=$(primary_sql 'SHOW synchronous_standby_names')
  [ -z "$sync" ] || say "warning: the primary has synchronous_standby_names = '$sync'; if that matches this standby, commits on the primary wait for it"
}

# The first pg_hba.conf rule that a replication connection from 127.0.0.1 as
# postgres would match, as "line|method" (empty if none). An approximation of
# the server's matching (no groups or regular expressions), which is why
# replication_works below has the last word.
first_replication_rule() {
  primary_sql "
    SELECT line_number || '|' || auth_method
    FROM pg_hba_file_rules
    WHERE error IS NULL
      AND type IN ('host', 'hostssl', 'hostnossl')
      AND database && ARRAY['replication']
      AND user_name && ARRAY['all', 'postgres']
      AND CASE
            WHEN address IN ('all', 'samehost', 'samenet', 'localhost') THEN true
            WHEN address ~ '^[0-9.]+\$' AND netmask ~ '^[0-9.]+\$'
              THEN (inet '127.0.0.1' & netmask::inet) = (address::inet & netmask::inet)
            ELSE false
          END
    ORDER BY line_number
    LIMIT 1"
}

replication_works() {
  as_pg "$bin/psql" -X -qtAw \
    "host=$primary_host port=$primary_port user=postgres dbname=postgres replication=true connect_timeout=5" \
    -c IDENTIFY_SYSTEM >/dev/null 2>&1
}

reload_primary_and_wait() {
  primary_sql 'SELECT pg_reload_conf()' >/dev/null
  for _ in $(seq 1 50); do
    replication_works && return 0
    sleep 0.1
  done
  return 1
}

ensure_replication_hba() {
  local hba rule method tmp
  hba=$(primary_sql 'SHOW hba_file')
  rule=$(first_replication_rule)
  method=${rule#*|}
  if [ -n "$rule" ] && [ "$method" = trust ]; then
    say "primary's $hba line ${rule%%|*} allows replication from 127.0.0.1 as postgres (trust)"
    if ! replication_works; then
      # The file says trust but the running server disagrees: not reloaded yet?
      say "but a replication connection fails; reloading the primary's configuration"
      reload_primary_and_wait || die "replication connections from 127.0.0.1 as postgres to the primary still fail; see $hba"
    fi
    return 0
  fi
  if [ -n "$rule" ]; then
    say "primary's $hba line ${rule%%|*} would make replication from 127.0.0.1 as postgres use '$method', not trust"
  else
    say "primary's $hba has no rule for replication connections from 127.0.0.1 as postgres"
  fi
  say "CHANGING THE PRIMARY: adding 'host replication postgres 127.0.0.1/32 trust' at the top of $hba and reloading it"
  [ -w "$hba" ] || die "cannot write $hba"
  tmp=$(mktemp)
  {
    printf 'host    replication     postgres        127.0.0.1/32            trust  %s: a local test standby\n' "$hba_marker"
    grep -vF "$hba_marker" "$hba" || true
  } >"$tmp"
  cat "$tmp" >"$hba"  # keeps the file's owner and mode
  rm -f "$tmp"
  local errors
  errors=$(primary_sql 'SELECT count(*) FROM pg_hba_file_rules WHERE error IS NOT NULL')
  [ "$errors" = 0 ] || die "$hba now has errors (see pg_hba_file_rules); not reloading"
  reload_primary_and_wait || die "after reloading, replication connections from 127.0.0.1 as postgres to the primary still fail; see $hba"
  say "primary reloaded; replication from 127.0.0.1 as postgres now allowed"
}

# --- the standby ------------------------------------------------------------

# Settings of the primary's configuration files that the standby should share
# (time zone, locale, memory, max_connections, ...), as postgresql.conf lines.
# Those that say where things are, or that only make sense on the primary,
# are left out. max_connections and friends must be at least the primary's
# or a hot standby refuses to start, so they are always copied.
mirrored_settings() {
  primary_sql "
    SELECT name || ' = ''' || replace(replace(setting, '\\', '\\\\'), '''', '''''') || ''''
    FROM pg_settings
    WHERE (source = 'configuration file'
           AND coalesce(sourcefile, '') NOT LIKE '%/postgresql.auto.conf'  -- copied with the data directory
           AND name NOT IN ('data_directory', 'config_file', 'hba_file', 'ident_file',
                            'external_pid_file', 'port', 'listen_addresses',
                            'unix_socket_directories', 'unix_socket_group', 'unix_socket_permissions',
                            'cluster_name', 'hot_standby', 'primary_conninfo', 'primary_slot_name',
                            'restore_command', 'archive_mode', 'archive_command', 'archive_library',
                            'logging_collector', 'log_directory', 'log_filename', 'log_destination',
                            'synchronous_standby_names', 'event_source')
           AND name NOT LIKE 'recovery%')
       OR name IN ('max_connections', 'max_worker_processes', 'max_wal_senders',
                   'max_prepared_transactions', 'max_locks_per_transaction')
    ORDER BY name"
}

make_standby() {
  local ts_args=() oid loc
  while IFS='|' read -r oid loc; do
    [ -n "$oid" ] || continue
    # Tablespaces outside the data directory would collide with the primary's.
    ts_args+=(-T "$loc=$root/tablespaces/$oid")
  done < <(primary_sql "SELECT oid, pg_tablespace_location(oid) FROM pg_tablespace WHERE spcname NOT IN ('pg_default', 'pg_global')")

  install -d -m 0700 -o postgres -g postgres "$root" "$sockdir"
  say "pg_basebackup of $primary_host:$primary_port into $data"
  if ! as_pg "$bin/pg_basebackup" -D "$data" -R -X stream -c fast -w --no-sync \
      -d "host=$primary_host port=$primary_port user=postgres" "${ts_args[@]}" 2>"$root/basebackup.log"; then
    sed 's/^/    /' "$root/basebackup.log" >&2
    die "pg_basebackup failed"
  fi
  rm -f "$root/basebackup.log"
  [ -f "$data/standby.signal" ] || die "pg_basebackup -R wrote no standby.signal"

  # Debian keeps the configuration in /etc, so the backup has none: write it.
  {
    printf '# Written by scripts/pg-standby.sh: a hot standby of %s:%s.\n' "$primary_host" "$primary_port"
    printf '# Settings mirrored from the primary:\n'
    mirrored_settings
    printf '# The standby itself:\n'
    printf "listen_addresses = '127.0.0.1'\n"
    printf 'port = %s\n' "$port"
    printf "unix_socket_directories = '%s'\n" "$sockdir"
    printf "cluster_name = 'joinedup-standby-%s'\n" "$port"
    printf 'hot_standby = on\n'
    # A throwaway that never outlives a reboot (start then makes it again):
    # no fsync, which also spares the fsync of the whole data directory that
    # the first start after pg_basebackup would otherwise do.
    printf 'fsync = off\n'
    printf 'logging_collector = off\n'
    printf "log_destination = 'stderr'\n"
  } | as_pg tee "$data/postgresql.conf" >/dev/null
  printf '%s\n' \
    '# Written by scripts/pg-standby.sh: a local test replica, loopback only.' \
    'local all all trust' \
    'host  all all 127.0.0.1/32 trust' | as_pg tee "$data/pg_hba.conf" >/dev/null
  : | as_pg tee "$data/pg_ident.conf" >/dev/null

  say "starting the standby on 127.0.0.1:$port (log: $logfile)"
  # 9>&-: the server must not inherit our lock's descriptor and so hold it.
  if ! as_pg "$bin/pg_ctl" start -D "$data" -l "$logfile" -w -t "$start_timeout" \
      -o "-p $port -k $sockdir -c listen_addresses=127.0.0.1 -c hot_standby=on" >/dev/null 9>&-; then
    log_tail
    die "pg_ctl could not start the standby on port $port"
  fi
}

wait_in_recovery() {
  local deadline=$((SECONDS + start_timeout)) r=""
  while [ $SECONDS -lt $deadline ]; do
    r=$(standby_sql 'SELECT pg_is_in_recovery()' 2>/dev/null) || r=""
    [ "$r" = t ] && return 0
    sleep 0.2
  done
  log_tail
  die "the standby on port $port did not report pg_is_in_recovery() = t within ${start_timeout}s (last answer: '${r:-no connection}')"
}

# How the server on PORT (if any) relates to this script: prints one of
#   ours-standby  ours-promoted  ours-broken  other-standby  other  none
classify_port() {
  local pids row recovery dir sysid primary_sysid
  pids=$(our_pids)
  if [ -n "$pids" ] && [ ! -f "$data/PG_VERSION" ]; then
    echo ours-broken  # running from a directory that was removed
    return
  fi
  if ! port_listening; then
    [ -n "$pids" ] || { echo none; return; }
    # Ours, but not listening (yet, or any more): give it a moment.
    for _ in $(seq 1 50); do port_listening && break; sleep 0.2; done
    port_listening || { echo ours-broken; return; }
  fi
  # pg_isready: 0 accepting, 1 rejecting (starting up, not yet consistent),
  # 2 no response (not PostgreSQL, or hung).
  local ready=1
  for _ in $(seq 1 50); do
    ready=0
    "$bin/pg_isready" -q -h 127.0.0.1 -p "$port" -t 3 || ready=$?
    [ "$ready" = 1 ] || break
    sleep 0.2
  done
  row=""
  if [ "$ready" = 0 ]; then
    row=$(standby_sql "SELECT pg_is_in_recovery(), current_setting('data_directory')" 2>/dev/null) || row=""
  fi
  if [ -z "$row" ]; then
    if [ -n "$pids" ]; then echo ours-broken; else echo other; fi
    return
  fi
  IFS='|' read -r recovery dir <<<"$row"
  if [ "$dir" = "$data" ]; then
    if [ "$recovery" = t ]; then echo ours-standby; else echo ours-promoted; fi
    return
  fi
  sysid=$(standby_sql 'SELECT system_identifier FROM pg_control_system()' 2>/dev/null) || sysid=none
  primary_sysid=$(primary_sql 'SELECT system_identifier FROM pg_control_system()')
  if [ "$recovery" = t ] && [ "$sysid" = "$primary_sysid" ]; then
    echo other-standby
  else
    echo other
  fi
}

# --- subcommands ------------------------------------------------------------

cmd_start() {
  lock
  local t0=$SECONDS state
  check_primary
  state=$(classify_port)
  case "$state" in
    ours-standby)
      say "a standby of $primary_host:$primary_port is already running on port $port and is in recovery; nothing to do"
      printf '%s\n' "$url"
      return 0 ;;
    other-standby)
      say "a standby of $primary_host:$primary_port not made by this script is already running on port $port and is in recovery; leaving it alone (stop will not stop it)"
      printf '%s\n' "$url"
      return 0 ;;
    other)
      die "port $port is in use by something that is not a standby of $primary_host:$primary_port; choose another PORT" ;;
    ours-promoted)
      say "the server in $data on port $port is no longer in recovery (promoted?); making it again" ;;
    ours-broken)
      say "the server on port $port runs from $data, which is gone or damaged; making it again" ;;
  esac
  if [ -e "$root" ] || [ -n "$(our_pids)" ]; then
    say "removing the stale standby in $root"
  fi
  teardown
  ensure_replication_hba
  make_standby
  wait_in_recovery
  say "standby running on 127.0.0.1:$port, in recovery, streaming from $primary_host:$primary_port ($((SECONDS - t0))s)"
  printf '%s\n' "$url"
}

cmd_stop() {
  lock
  if [ -e "$root" ] || [ -n "$(our_pids)" ]; then
    teardown
    say "standby on port $port stopped; $root removed"
  else
    say "no standby of this script on port $port; nothing to stop"
  fi
  forget_replication_rule
  if port_listening; then
    say "warning: something else still listens on 127.0.0.1:$port"
  fi
}

# Takes back the replication rule `start` added to the primary's
# pg_hba.conf (marked), unless another of this script's standbys still runs:
# passwordless replication must not outlive the test that needed it.
forget_replication_rule() {
  local hba tmp
  hba=$(primary_sql 'SHOW hba_file' 2>/dev/null) || return 0
  [ -n "$hba" ] && [ -r "$hba" ] && grep -qF "$hba_marker" "$hba" || return 0
  if ls -d "$(dirname "$root")"/joinedup-standby-*/data >/dev/null 2>&1; then
    say "another standby of this script remains; the replication rule stays in $hba"
    return 0
  fi
  tmp=$(mktemp)
  grep -vF "$hba_marker" "$hba" >"$tmp" || true
  cat "$tmp" >"$hba"
  rm -f "$tmp"
  primary_sql 'SELECT pg_reload_conf()' >/dev/null || true
  say "removed the replication rule this script added to $hba, and reloaded the primary"
}

standby_is_up() {
  [ "$(standby_sql 'SELECT pg_is_in_recovery()' 2>/dev/null)" = t ] \
    || die "no standby in recovery on 127.0.0.1:$port (run: $0 start $port)"
}

cmd_lag() {
  standby_is_up
  local replayed current lag
  # The standby first, so that the primary's position is never behind it.
  replayed=$(standby_sql 'SELECT pg_last_wal_replay_lsn()')
  [ -n "$replayed" ] || die "the standby has not replayed any WAL yet"
  current=$(primary_sql 'SELECT pg_current_wal_lsn()')
  lag=$(primary_sql "SELECT pg_wal_lsn_diff('$current', '$replayed')::bigint")
  say "primary at $current, standby replayed $replayed"
  printf '%s\n' "$lag"
}

now_ms() { local t=${EPOCHREALTIME//[!0-9]/}; echo $((10#$t / 1000)); }

cmd_wait() {
  local timeout=${1:-60}
  case "$timeout" in ''|*[!0-9]*) die "TIMEOUT_SECONDS must be a whole number, got '$timeout'" ;; esac
  standby_is_up
  local target start deadline next_nudge caught="" replayed=""
  target=$(primary_sql 'SELECT pg_current_wal_lsn()')
  start=$(now_ms)
  deadline=$((start + timeout * 1000))
  next_nudge=$((start + 1000))
  while :; do
    caught=$(standby_sql "SELECT coalesce(pg_last_wal_replay_lsn() >= '$target'::pg_lsn, false)") || caught=""
    [ "$caught" = t ] && break
    if [ "$(now_ms)" -ge "$deadline" ]; then
      replayed=$(standby_sql 'SELECT pg_last_wal_replay_lsn()' 2>/dev/null) || true
      log_tail
      die "the standby on port $port had not replayed up to $target within ${timeout}s (replayed: ${replayed:-unknown})"
    fi
    if [ "$(now_ms)" -ge "$next_nudge" ]; then
      # pg_current_wal_lsn() may end in the first part of a record whose rest
      # is still in the primary's WAL buffers (the WAL writer writes whole
      # pages), and on an idle primary nothing may flush it for a long time.
      # An empty transaction's commit flushes it: no data is written.
      primary_sql 'SET synchronous_commit = local; SELECT txid_current()' >/dev/null || true
      next_nudge=$(($(now_ms) + 1000))
    fi
    sleep 0.05
  done
  say "standby on port $port has replayed the primary's WAL up to $target ($(($(now_ms) - start)) ms)"
}

case "$cmd" in
  start) pick_primary_conn; cmd_start ;;
  stop) cmd_stop ;;
  lag) pick_primary_conn; cmd_lag ;;
  wait) pick_primary_conn; shift $(($# > 0 ? 1 : 0)); cmd_wait "${1:-60}" ;;
esac
