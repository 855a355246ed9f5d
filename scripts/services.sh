#!/usr/bin/env bash
# Make the test servers reachable on loopback: PostgreSQL (127.0.0.1:5432, user postgres with
# trust auth, database "test") and RabbitMQ (127.0.0.1:5672, guest/guest), plus Prometheus's
# promtool for the metrics tests. Uses what is running; otherwise starts what is installed;
# otherwise installs Debian's packages and starts them bound to 127.0.0.1. Idempotent.
set -euo pipefail

log() { printf 'services: %s\n' "$*" >&2; }
port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
wait_port() { # port seconds
  for _ in $(seq 1 $(( $2 * 5 ))); do port_open "$1" && return 0; sleep 0.2; done
  log "nothing answers on 127.0.0.1:$1 after $2 s"; return 1
}
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

install_packages() {
  [ $# -gt 0 ] || return 0
  log "installing Debian packages: $*"
  # Keep package scripts from starting daemons on every interface: we start them ourselves.
  local policy=/usr/sbin/policy-rc.d created=0
  if [ ! -e "$policy" ]; then printf '#!/bin/sh\nexit 101\n' | as_root tee "$policy" >/dev/null; as_root chmod +x "$policy"; created=1; fi
  as_root env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends "$@"
  if [ "$created" = 1 ]; then as_root rm -f "$policy"; fi
}

missing=()
port_open 5432 || command -v pg_ctlcluster >/dev/null || missing+=(postgresql)
port_open 5672 || command -v rabbitmq-server >/dev/null || missing+=(rabbitmq-server)
command -v promtool >/dev/null || missing+=(prometheus)
install_packages "${missing[@]}"

pg_psql() { psql -h 127.0.0.1 -U postgres -w -X -q "$@"; }

if ! port_open 5432; then
  version=$(ls /etc/postgresql 2>/dev/null | sort -V | tail -n 1)
  if [ -z "$version" ]; then
    version=$(ls /usr/lib/postgresql | sort -V | tail -n 1)
    as_root pg_createcluster "$version" main >/dev/null
  fi
  conf=/etc/postgresql/$version/main
  as_root sed -i "s/^#\?listen_addresses.*/listen_addresses = '127.0.0.1'/" "$conf/postgresql.conf"
  log "starting PostgreSQL $version"
  as_root pg_ctlcluster --skip-systemctl-redirect "$version" main start
  wait_port 5432 60
fi
if ! pg_psql -d postgres -c 'select 1' >/dev/null 2>&1; then
  # A fresh Debian cluster wants a password over TCP; tests use trust on loopback only.
  version=$(ls /etc/postgresql | sort -V | tail -n 1)
  hba=/etc/postgresql/$version/main/pg_hba.conf
  log "allowing trust auth on 127.0.0.1 in $hba"
  as_root sed -i '1i host all all 127.0.0.1/32 trust\nhost all all ::1/128 trust' "$hba"
  as_root pg_ctlcluster --skip-systemctl-redirect "$version" main reload
  sleep 1
fi
pg_psql -d postgres -tc "select 1 from pg_database where datname = 'test'" | grep -q 1 \
  || pg_psql -d postgres -c 'create database test'

if ! port_open 5672; then
  log "starting RabbitMQ"
  as_root env RABBITMQ_NODE_IP_ADDRESS=127.0.0.1 ERL_EPMD_ADDRESS=127.0.0.1 rabbitmq-server -detached
  wait_port 5672 120
fi
# The port opens a moment before the broker accepts logins; wait for the node to be fully up.
as_root rabbitmqctl await_startup --timeout 120 >/dev/null 2>&1 || true
log "PostgreSQL and RabbitMQ are up on 127.0.0.1"
