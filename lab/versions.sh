# shellcheck shell=bash
# The one place for the lab's versions. Changing a value here rebuilds only that
# artefact: the cache directory is keyed by it (~/.cache/berth/lab/<name>-<version>/).

# kamal-proxy, built from its Go module. Kamal v2's minimum and default image.
KAMAL_PROXY_VERSION=v0.9.2

# BuildKit (buildkitd + buildctl) and buildx, built from their Go modules.
# Newer tags exist (buildkit v0.34.x, buildx v0.38.x) but some of their
# dependencies are refused by the Go module proxy reachable here (403), so
# these are the newest releases whose whole dependency graph resolves.
BUILDKIT_VERSION=v0.33.1
BUILDX_VERSION=v0.37.2

# Tag of the lab's busybox base image (berth-lab/base:<tag>).
BASE_IMAGE_TAG=1

# Bump when the way the lab packs its images changes (file layout, metadata),
# so cached image tarballs made by the old recipe are not reused.
IMAGE_RECIPE=1

# Debian packages the lab runs (from the machine's apt sources).
LAB_APT_PACKAGES=(docker.io openssh-server openssh-client busybox-static docker-registry tinyproxy runc iptables openssl curl jq)

# Addresses. Host k (1..10) is berth-hk at 10.77.0.(10+k); its engine's
# default bridge is 10.78.k.0/24 and its user-defined networks come from
# 10.(80+k).0.0/16.
LAB_GATEWAY=10.77.0.1
LAB_SUBNET=10.77.0.0/24
LAB_BRIDGE=berth0
LAB_MAX_HOSTS=10
LAB_DEFAULT_HOSTS=2
# Host 3 (berth-h3, 10.77.0.13) is the fault host, for tests that break a host: always
# up, published in lab.json as `faultHost` (never in `hosts`), its engine's data root a
# small ext4 image loop-mounted in its own mount namespace, which a test may fill. With
# `--hosts 3` or more it is a regular host too.
LAB_FAULT_HOST=3
LAB_FAULT_DISK_MB=1536
REGISTRY_PLAIN_PORT=5000
REGISTRY_TLS_PORT=5443
PROXY_PORT=8888
