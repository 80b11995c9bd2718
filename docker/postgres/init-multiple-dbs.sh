#!/bin/bash
# Creates one database per service that owns PostgreSQL (docs/architecture.md), on the first start of
# an empty data volume only (the postgres image runs /docker-entrypoint-initdb.d once).
# POSTGRES_MULTIPLE_DATABASES: comma-separated names, e.g. "order_db,inventory_db".
set -euo pipefail

for database in ${POSTGRES_MULTIPLE_DATABASES//,/ }; do
  echo "init-multiple-dbs: creating database ${database}"
  psql -v ON_ERROR_STOP=1 --username "${POSTGRES_USER}" --dbname postgres <<-SQL
	CREATE DATABASE "${database}";
	GRANT ALL PRIVILEGES ON DATABASE "${database}" TO "${POSTGRES_USER}";
SQL
done
