#!/bin/sh
# PID 1 gets no default signal handlers: stop cleanly on SIGTERM instead of waiting for SIGKILL.
httpd -f -v -p "${PORT:-80}" -h /www "$@" &
pid=$!
trap 'kill -TERM "$pid"; wait "$pid"; exit 0' TERM INT
wait "$pid"
