#!/usr/bin/env bash
# A PostgreSQL server for the tests on 127.0.0.1:5432 (trust auth, user
# `postgres`, database `test`; VIGILO_POSTGRES_PORT for another port).
#
# If one answers there already, nothing is done. Otherwise the server
# binaries are found (Debian's `postgresql` package is installed with
# apt-get when they are missing), a cluster is created with initdb in a
# temporary directory and started in the background; it runs until the
# machine stops or `pg_ctl -D <dir> stop`. The directory is printed.
set -euo pipefail

HOST=127.0.0.1
PORT="${VIGILO_POSTGRES_PORT:-5432}"

answers() {
    if command -v pg_isready >/dev/null 2>&1; then
        pg_isready -q -h "$HOST" -p "$PORT"
    else
        psql -h "$HOST" -p "$PORT" -U postgres -d postgres -Atqc 'SELECT 1' >/dev/null 2>&1
    fi
}

ensure_test_db() {
    psql -h "$HOST" -p "$PORT" -U postgres -d postgres -Atqc \
        "SELECT 1 FROM pg_database WHERE datname = 'test'" | grep -q 1 \
        || psql -h "$HOST" -p "$PORT" -U postgres -d postgres -qc 'CREATE DATABASE test'
}

if answers; then
    echo "postgres: answering on $HOST:$PORT"
    ensure_test_db
    exit 0
fi

# The newest installed server's binaries.
bindir() {
    local d
    d=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
    if [ -n "$d" ] && [ -x "$d/initdb" ]; then
        echo "$d"
    elif command -v initdb >/dev/null 2>&1; then
        dirname "$(command -v initdb)"
    fi
}

bin=$(bindir)
if [ -z "$bin" ]; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
        echo "== installing postgresql (apt-get)"
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
        bin=$(bindir)
    fi
    if [ -z "$bin" ]; then
        echo "the tests need PostgreSQL on $HOST:$PORT or its server binaries (apt-get install postgresql)" >&2
        exit 1
    fi
fi

# initdb and the server refuse to run as root: run them as `postgres`.
as_owner() {
    if [ "$(id -u)" = 0 ]; then
        id postgres >/dev/null 2>&1 || useradd --system --no-create-home postgres
        runuser -u postgres -- "$@"
    else
        "$@"
    fi
}

dir=$(mktemp -d -t vigilo-pg.XXXXXX)
[ "$(id -u)" = 0 ] && chown postgres "$dir"
echo "postgres: starting a cluster in $dir on $HOST:$PORT"
as_owner "$bin/initdb" -D "$dir/data" -U postgres --auth=trust -E UTF8 >"$dir/initdb.log"
as_owner "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w \
    -o "-h $HOST -p $PORT -k $dir" start >/dev/null
for _ in $(seq 1 30); do
    answers && break
    sleep 1
done
answers || { echo "postgres did not start; see $dir/server.log" >&2; exit 1; }
ensure_test_db
echo "postgres: ready on $HOST:$PORT"
