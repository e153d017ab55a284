#!/bin/sh
# PID 1 gets no default signal handlers: stop cleanly on SIGTERM instead of waiting for SIGKILL.
# For fault tests: a container started with BERTH_FAIL_HEALTH set fails its health check (`/up`).
[ -n "${BERTH_FAIL_HEALTH:-}" ] && rm -f /www/up
httpd -f -v -p "${PORT:-80}" -h /www "$@" &
pid=$!
trap 'kill -TERM "$pid"; wait "$pid"; exit 0' TERM INT
wait "$pid"
