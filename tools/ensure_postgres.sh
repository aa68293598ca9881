#!/usr/bin/env bash
# Make sure a PostgreSQL server answers on 127.0.0.1:5432 for the tests.
# Under CI it is required: start it (or install it) when it is not running.
set -u
ready() { pg_isready -h 127.0.0.1 -p 5432 -q 2>/dev/null; }
ready && exit 0
if [ "${CI:-}" != "true" ] && [ "${PAIGONG_START_POSTGRES:-}" != "1" ]; then
  echo "注意: PostgreSQL 未运行，PostgreSQL 测试将被跳过 (CI=true 时为必需)。"
  exit 0
fi
echo "==> 启动 PostgreSQL"
if ! command -v pg_ctlcluster >/dev/null 2>&1; then
  echo "==> 安装 PostgreSQL"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq && apt-get install -y -qq postgresql >/dev/null
fi
version=$(ls /etc/postgresql 2>/dev/null | sort -V | tail -n 1)
if [ -n "$version" ]; then
  pg_ctlcluster --skip-systemctl-redirect "$version" main start 2>/dev/null || pg_ctlcluster "$version" main start || true
fi
for _ in $(seq 1 30); do ready && break; sleep 1; done
if ! ready; then echo "PostgreSQL 无法启动" >&2; exit 1; fi
# trust auth for local TCP connections as the tests expect
if ! psql -h 127.0.0.1 -U postgres -d postgres -c 'select 1' >/dev/null 2>&1; then
  hba=$(find /etc/postgresql/"$version" -name pg_hba.conf | head -n 1)
  sed -i 's/^\(host\s\+all\s\+all\s\+127.0.0.1\/32\s\+\)\S\+/\1trust/' "$hba"
  pg_ctlcluster --skip-systemctl-redirect "$version" main reload 2>/dev/null || pg_ctlcluster "$version" main reload
fi
psql -h 127.0.0.1 -U postgres -d postgres -tc "select 1 from pg_database where datname='test'" | grep -q 1 \
  || psql -h 127.0.0.1 -U postgres -d postgres -c 'create database test' >/dev/null
exit 0
