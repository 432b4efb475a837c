#!/usr/bin/env bash
# Install (if needed) and start a PostgreSQL server on 127.0.0.1 for the store tests,
# then print the URL the tests use. Only loopback; the cluster lives in a temp folder.
set -euo pipefail
if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
  export DEBIAN_FRONTEND=noninteractive
  (apt-get update -qq && apt-get install -y -qq postgresql >/dev/null) 1>&2
fi
bin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
data=$(mktemp -d /tmp/portrait-pg.XXXXXX)
# A free port, so that a server already running on this machine does not get in the way.
port=${PORTRAIT_PG_PORT:-$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')}
chown postgres "$data"
runuser -u postgres -- "$bin/initdb" -D "$data" -A trust -U postgres >/dev/null
runuser -u postgres -- "$bin/pg_ctl" -D "$data" -o "-p $port -k /tmp -c listen_addresses=127.0.0.1" \
  -l "$data/log" -w start >/dev/null
runuser -u postgres -- "$bin/createdb" -h 127.0.0.1 -p "$port" portrait_test
echo "postgresql+psycopg://postgres@127.0.0.1:$port/portrait_test"
