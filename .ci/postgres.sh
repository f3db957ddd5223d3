# Sourced by .ci/run: a throwaway PostgreSQL for the review store's tests, stopped and removed at exit.
# Exports MATCHER_TEST_POSTGRES_URL; without PostgreSQL (and no apt-get to install it) those tests skip.

postgres_bindir() {
    if command -v pg_ctl >/dev/null; then
        dirname "$(readlink -f "$(command -v pg_ctl)")"
    else  # Debian keeps the server's binaries off PATH
        ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1
    fi
}

start_throwaway_postgres() {
    if [ -z "$(postgres_bindir)" ] && command -v apt-get >/dev/null; then
        DEBIAN_FRONTEND=noninteractive apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
    fi
    local bin
    bin="$(postgres_bindir)"
    if [ -z "$bin" ]; then
        echo "PostgreSQL not found: its review store tests will be skipped" >&2
        return 0
    fi
    PG_DIR="$(mktemp -d)"
    PG_AS=()
    if [ "$(id -u)" = 0 ]; then  # initdb and pg_ctl refuse to run as root
        chown nobody "$PG_DIR"
        PG_AS=(runuser -u nobody --)
    fi
    local port
    port="$(python -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
    "${PG_AS[@]}" "$bin/initdb" -D "$PG_DIR/data" -U postgres -A trust --no-sync >/dev/null
    trap stop_throwaway_postgres EXIT
    "${PG_AS[@]}" "$bin/pg_ctl" -D "$PG_DIR/data" -l "$PG_DIR/log" -w \
        -o "-h 127.0.0.1 -p $port -k $PG_DIR -F" start >/dev/null
    "$bin/createdb" -h 127.0.0.1 -p "$port" -U postgres matcher_test
    PG_BIN="$bin"
    export MATCHER_TEST_POSTGRES_URL="postgresql+psycopg://postgres@127.0.0.1:$port/matcher_test"
    echo "Throwaway PostgreSQL at $MATCHER_TEST_POSTGRES_URL" >&2
}

stop_throwaway_postgres() {
    "${PG_AS[@]}" "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -m fast stop >/dev/null || true
    rm -rf "$PG_DIR"
}
