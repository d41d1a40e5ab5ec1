#!/usr/bin/env bash
# Installs the real Remote Write receivers used by tests/real_*.rs: Prometheus (Debian package
# `prometheus`, 2.42 on bookworm) and VictoriaMetrics (`victoria-metrics`, 1.79 on bookworm).
# Idempotent; runs as root with no stdin (CI=true). The packaged services are kept from starting
# (policy-rc.d); the tests start their own instances on free ports with their own data dirs.
set -euo pipefail

export DEBIAN_FRONTEND=noninteractive

need=()
command -v prometheus >/dev/null 2>&1 || [ -x /usr/bin/prometheus ] || need+=(prometheus)
command -v victoria-metrics >/dev/null 2>&1 || [ -x /usr/bin/victoria-metrics ] || need+=(victoria-metrics)

if [ "${#need[@]}" -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "receivers.sh: need root to install ${need[*]}" >&2
    exit 1
  fi
  # Keep the packaged services from starting; leave an existing policy-rc.d alone.
  policy=/usr/sbin/policy-rc.d
  created_policy=0
  if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' > "$policy"
    chmod +x "$policy"
    created_policy=1
  fi
  cleanup() {
    if [ "$created_policy" = 1 ]; then rm -f "$policy"; fi
  }
  trap cleanup EXIT

  # Refresh the package lists only when apt does not know the packages yet.
  for pkg in "${need[@]}"; do
    if ! apt-cache show "$pkg" >/dev/null 2>&1; then
      apt-get update -q
      break
    fi
  done
  echo "receivers.sh: installing ${need[*]}"
  apt-get install -y -q --no-install-recommends "${need[@]}" </dev/null
fi

# If a packaged service started anyway, stop it by the PID in its pidfile (never by name).
for pidfile in /run/prometheus/prometheus.pid /run/prometheus.pid \
  /run/victoria-metrics/victoria-metrics.pid /run/victoria-metrics.pid; do
  if [ -r "$pidfile" ]; then
    pid=$(cat "$pidfile" 2>/dev/null || true)
    if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
      echo "receivers.sh: stopping packaged service pid $pid ($pidfile)"
      kill "$pid" || true
    fi
  fi
done
if command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ]; then
  for unit in prometheus victoria-metrics; do
    pid=$(systemctl show -p MainPID --value "$unit" 2>/dev/null || echo 0)
    if [ -n "$pid" ] && [ "$pid" != 0 ]; then
      echo "receivers.sh: stopping $unit (pid $pid)"
      systemctl stop "$unit" || kill "$pid" || true
    fi
  done
fi

prom=${PROMRW_PROMETHEUS_BIN:-$(command -v prometheus || echo /usr/bin/prometheus)}
vm=${PROMRW_VICTORIA_METRICS_BIN:-$(command -v victoria-metrics || echo /usr/bin/victoria-metrics)}
for bin in "$prom" "$vm"; do
  if [ ! -x "$bin" ]; then
    echo "receivers.sh: $bin is missing after the install" >&2
    exit 1
  fi
done
echo "receivers.sh: $prom: $("$prom" --version 2>&1 | head -n1)"
# Debian's VictoriaMetrics build prints an empty -version; the package version tells.
echo "receivers.sh: $vm: package victoria-metrics $(dpkg-query -W -f='${Version}' victoria-metrics 2>/dev/null || echo '?')"
