#!/usr/bin/env bash
# Runs inside the bare host's new mount and UTS namespaces (lab/lib/bare-host.sh calls it through
# `nsenter --net=<netns> unshare --mount=<file> --uts=<file> --propagation private`), once, when
# the host is set up. Mounts what a Linux server has, then makes ROOT the namespace's root
# (pivot_root), so every process started in this namespace sees only the host's own Debian.
#
#   /proc            a new procfs
#   /sys             a new sysfs (of the host's network namespace), with the machine's cgroup
#                    hierarchy bound on /sys/fs/cgroup (dockerd needs it)
#   /dev             the machine's /dev, bound (with /dev/pts, /dev/shm, /dev/mqueue)
#   /run             a tmpfs (/run/sshd, /run/lock)
set -euo pipefail

root=$1
host_name=$2

hostname "$host_name"

mount --bind "$root" "$root"
mount -t proc proc "$root/proc"
mount -t sysfs sysfs "$root/sys"
mount --rbind /sys/fs/cgroup "$root/sys/fs/cgroup"
mount --rbind /dev "$root/dev"
mount -t tmpfs -o mode=0755,size=64m berth-host-run "$root/run"
mkdir -p "$root/run/sshd" "$root/run/lock"
chmod 0755 "$root/run/sshd"

cd "$root"
mkdir -p .berth-oldroot
pivot_root . .berth-oldroot
umount -l /.berth-oldroot
rmdir /.berth-oldroot
