# shellcheck shell=bash
# Sourced (not executed: keep this file non-executable) by the mariadb image's entrypoint on the
# first start, after it created MARIADB_DATABASE and MARIADB_USER; its docker_process_sql and
# docker_sql_escape_string_literal functions are in scope. Adds what the local stack's bootstrap
# (shopstream/stack/services/mariadb.py) adds: the registry's database for the application user, and
# the CDC user with only the grants Debezium's MariaDB connector needs.
cdc_password=$(docker_sql_escape_string_literal "${SHOPSTREAM_MYSQL_CDC_PASSWORD:?}")
docker_process_sql <<SQL
CREATE DATABASE IF NOT EXISTS \`apicurio_registry\`;
GRANT ALL PRIVILEGES ON \`apicurio_registry\`.* TO '${MARIADB_USER}'@'%';
CREATE USER IF NOT EXISTS '${SHOPSTREAM_MYSQL_CDC_USER:?}'@'%' IDENTIFIED BY '${cdc_password}';
GRANT SELECT, RELOAD, SHOW DATABASES, REPLICATION SLAVE, REPLICATION CLIENT ON *.* TO '${SHOPSTREAM_MYSQL_CDC_USER}'@'%';
FLUSH PRIVILEGES;
SQL
unset cdc_password
