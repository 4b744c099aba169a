#!/usr/bin/env bash
# Runs the store test binary (argument 1) against a real, throw-away MariaDB server:
# a fresh datadir, 127.0.0.1 on a free port, a password-protected user limited to the test
# databases. The server and its files are removed on exit, whatever happens.
set -euo pipefail

test_bin=${1:?usage: mariadb_store_test.sh TEST_BINARY}
PATH=$PATH:/usr/sbin:/usr/local/sbin
for tool in mariadb-install-db mariadbd mariadb mariadb-admin; do
    command -v "$tool" >/dev/null || { echo "mariadb_store_test: $tool not found (install mariadb-server mariadb-client)" >&2; exit 1; }
done

work=$(mktemp -d /tmp/edgecam-mariadb-XXXXXX)
server_pid=""
cleanup() {
    if [ -n "$server_pid" ] && kill -0 "$server_pid" 2>/dev/null; then
        kill "$server_pid"
        for _ in $(seq 100); do kill -0 "$server_pid" 2>/dev/null || break; sleep 0.1; done
        kill -9 "$server_pid" 2>/dev/null || true
    fi
    rm -rf "$work"
}
trap cleanup EXIT

fail() {
    echo "mariadb_store_test: $*" >&2
    for log in "$work/install.log" "$work/error.log"; do
        [ -f "$log" ] && { echo "--- $log" >&2; tail -30 "$log" >&2; }
    done
    exit 1
}

# mariadbd refuses to run as root unless told to; as another user it runs as that user.
run_as=()
if [ "$(id -u)" -eq 0 ]; then run_as=(--user=root); fi
admin=(mariadb --no-defaults --socket="$work/sock" --user="$(id -un)")

port=$(/usr/bin/python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
password=$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')

mariadb-install-db --no-defaults "${run_as[@]}" --datadir="$work/data" --skip-test-db \
    --auth-root-authentication-method=socket >"$work/install.log" 2>&1 || fail "mariadb-install-db failed"

mariadbd --no-defaults "${run_as[@]}" --datadir="$work/data" --socket="$work/sock" \
    --pid-file="$work/mariadbd.pid" --log-error="$work/error.log" \
    --bind-address=127.0.0.1 --port="$port" --skip-name-resolve \
    --innodb-buffer-pool-size=32M --innodb-log-file-size=16M --innodb-use-native-aio=0 \
    --innodb-flush-log-at-trx-commit=2 --open-files-limit=1024 --max-connections=32 --table-open-cache=256 &
server_pid=$!

for _ in $(seq 300); do
    kill -0 "$server_pid" 2>/dev/null || fail "mariadbd exited during start-up"
    mariadb-admin --no-defaults --socket="$work/sock" --user="$(id -un)" ping >/dev/null 2>&1 && break
    sleep 0.1
done
mariadb-admin --no-defaults --socket="$work/sock" --user="$(id -un)" ping >/dev/null 2>&1 ||
    fail "mariadbd did not answer within 30 s"

"${admin[@]}" -e "CREATE USER 'edgecam'@'127.0.0.1' IDENTIFIED BY '$password';
    GRANT ALL PRIVILEGES ON \`edgecam\\_test\\_%\`.* TO 'edgecam'@'127.0.0.1';" ||
    fail "creating the test user failed"

echo "mariadb_store_test: mariadbd on 127.0.0.1:$port (datadir $work/data)"
EDGECAM_STORE_KIND=mysql EDGECAM_MYSQL_HOST=127.0.0.1 EDGECAM_MYSQL_PORT="$port" \
    EDGECAM_MYSQL_USER=edgecam EDGECAM_MYSQL_PASSWORD="$password" "$test_bin"
