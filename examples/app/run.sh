#!/bin/sh
# PID 1 gets no default signal handlers: stop cleanly on SIGTERM instead of waiting for SIGKILL.
# For fault tests: a container started with BERTH_FAIL_HEALTH set fails its health check (`/up`).
[ -n "${BERTH_FAIL_HEALTH:-}" ] && rm -f /www/up
# With BERTH_HEALTHY_AFTER=<seconds>, `/up` passes only after that long (a slow boot); with
# BERTH_STOP_DELAY=<seconds>, the container takes that long to stop (a slow `docker stop`).
if [ -n "${BERTH_HEALTHY_AFTER:-}" ] && [ -f /www/up ]; then
  rm -f /www/up
  (sleep "$BERTH_HEALTHY_AFTER" && echo ok >/www/up) &
fi
httpd -f -v -p "${PORT:-80}" -h /www "$@" &
pid=$!
trap 'sleep "${BERTH_STOP_DELAY:-0}"; kill -TERM "$pid"; wait "$pid"; exit 0' TERM INT
wait "$pid"
