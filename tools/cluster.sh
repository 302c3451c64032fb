# tools/cluster.sh: shared steps of the project's commands (sourced, not run).
#   need_packages PKG...   install missing Debian packages (as root, or with sudo)
#   build_and_install      make && make install against PostgreSQL 15
#   use_cluster [CONF...]  a throwaway cluster in a temporary directory, removed at
#                          exit; or, when PGHOST, PGPORT, PGDATABASE or PGUSER is
#                          set, the server they name.  CONF lines go to postgresql.conf.

PG_BIN=/usr/lib/postgresql/15/bin
export PG_CONFIG=$PG_BIN/pg_config

as_root() {
    if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi
}

need_packages() {
    local missing=()
    for p in "$@"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
    done
    if [ ${#missing[@]} -gt 0 ]; then
        echo "installing: ${missing[*]}"
        as_root apt-get update -qq
        as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
    fi
}

build_and_install() {
    make -s PG_CONFIG="$PG_CONFIG" >/dev/null
    if [ -w "$($PG_CONFIG --pkglibdir)" ]; then
        make -s PG_CONFIG="$PG_CONFIG" install >/dev/null
    else
        as_root make -s PG_CONFIG="$PG_CONFIG" install >/dev/null
    fi
}

# Run a command as the cluster's owner (postgres when we are root: initdb refuses root).
as_owner() {
    if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

cluster_stop() {
    if [ -n "${CLUSTER_DIR:-}" ] && [ -d "$CLUSTER_DIR" ]; then
        as_owner "$PG_BIN/pg_ctl" -D "$CLUSTER_DIR/data" -m immediate stop >/dev/null 2>&1 || true
        rm -rf "$CLUSTER_DIR"
    fi
}

use_cluster() {
    if [ -n "${PGHOST:-}${PGPORT:-}${PGDATABASE:-}${PGUSER:-}" ]; then
        echo "using the server named by PG* variables (${PGHOST:-local}:${PGPORT:-5432})"
        return
    fi
    CLUSTER_DIR=$(mktemp -d /tmp/isoforest-pg.XXXXXX)
    chmod 755 "$CLUSTER_DIR"
    if [ "$(id -u)" = 0 ]; then chown postgres "$CLUSTER_DIR"; export PGUSER=postgres; else export PGUSER=$(id -un); fi
    trap cluster_stop EXIT
    as_owner "$PG_BIN/initdb" -D "$CLUSTER_DIR/data" -A trust -U "$PGUSER" --no-sync >/dev/null
    {
        echo "listen_addresses = ''"
        echo "unix_socket_directories = '$CLUSTER_DIR'"
        echo "port = 5432"
        echo "fsync = off"
        for line in "$@"; do echo "$line"; done
    } | as_owner tee -a "$CLUSTER_DIR/data/postgresql.conf" >/dev/null
    as_owner "$PG_BIN/pg_ctl" -D "$CLUSTER_DIR/data" -l "$CLUSTER_DIR/log" -w start >/dev/null
    export PGHOST=$CLUSTER_DIR PGPORT=5432 PGDATABASE=postgres
    echo "throwaway cluster in $CLUSTER_DIR (removed at exit)"
}
