#!/usr/bin/env bash
# Runs inside a test host's new mount and UTS namespaces (scripts/lab.sh calls it
# through `unshare --mount=<file> --uts=<file> --propagation private`), once, when the
# host is created.
# The host's dockerd and sshd both run in this namespace, so what an SSH session sees
# is what the host's engine sees: bind mounts of ~/... or /tmp/... in `docker run -v`
# name the host's own files.
#
#   /run            a private tmpfs: /run/docker (the engine's exec root), /run/sshd,
#                   and /run/docker.sock -> the host engine's socket (so
#                   /var/run/docker.sock is this host's engine, never the root one)
#   /root           bound to <host dir>/home (the login user's home)
#   /tmp            bound to <host dir>/tmp
set -euo pipefail

host_dir=$1
host_name=$2

hostname "$host_name"

# Drop this namespace's copies of the root namespace's runtime mounts (other hosts'
# netns files, the root engine's container mounts), deepest first, so they are not
# held alive from here.
awk '{ print $2 }' /proc/self/mounts |
  grep -E '^(/run|/var/run|/var/lib/docker|/var/lib/berth-lab)/' |
  sort -r |
  while read -r mountpoint; do
    umount -l "$mountpoint" 2>/dev/null || true
  done

mount -t tmpfs -o mode=0755,size=64m berth-host-run /run
mkdir -p /run/sshd /run/lock
chmod 0755 /run/sshd
ln -s "$host_dir/docker.sock" /run/docker.sock

mount --bind "$host_dir/home" /root
mount --bind "$host_dir/tmp" /tmp
