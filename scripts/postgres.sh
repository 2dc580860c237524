#!/usr/bin/env bash
# Ensures a local PostgreSQL server for tests and benchmarks, and prints its URL.
# Installs Debian's postgresql package when missing (as root, or with sudo), starts the
# cluster, and creates the role `laer` (password `laer`, allowed to create databases).
set -euo pipefail

as_root() {
  if [ "$(id -u)" = 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else
    echo "PostgreSQL setup needs root (or sudo) to install and start the server" >&2; exit 1
  fi
}

if ! command -v pg_ctlcluster >/dev/null; then
  echo "installing PostgreSQL from Debian's packages..." >&2
  as_root env DEBIAN_FRONTEND=noninteractive apt-get update -q >&2
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q postgresql >&2
fi
version=$(ls /etc/postgresql | sort -n | tail -n1)
if ! pg_lsclusters -h | awk -v v="$version" '$1==v && $2=="main"' | grep -q online; then
  as_root pg_ctlcluster "$version" main start >&2
fi
port=$(pg_lsclusters -h | awk -v v="$version" '$1==v && $2=="main" {print $3}')
as_root su postgres -c "psql -p $port -qv ON_ERROR_STOP=1" >&2 <<'SQL'
DO $$ BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'laer') THEN
    CREATE ROLE laer LOGIN PASSWORD 'laer' CREATEDB;
  END IF;
END $$;
SQL
echo "postgres://laer:laer@localhost:$port/postgres"
