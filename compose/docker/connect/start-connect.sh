#!/usr/bin/env bash
# Starts a distributed Kafka Connect worker configured by its environment alone, so that Compose and
# the testcontainers provider need no file: every CONNECT_<NAME> variable becomes the worker property
# <name> lower-cased with "_" -> "." (the convention of Confluent's images), e.g.
# CONNECT_BOOTSTRAP_SERVERS=kafka:9092 -> bootstrap.servers=kafka:9092.
set -euo pipefail
properties=${CONNECT_WORKER_PROPERTIES:-/tmp/connect-worker.properties}
: >"$properties"
for name in $(compgen -e | grep '^CONNECT_' | sort); do
  [[ $name == CONNECT_WORKER_PROPERTIES ]] && continue
  key=${name#CONNECT_}
  key=${key,,}
  printf '%s=%s\n' "${key//_/.}" "${!name}" >>"$properties"
done
exec "${KAFKA_HOME:-/opt/kafka}/bin/connect-distributed.sh" "$properties"
