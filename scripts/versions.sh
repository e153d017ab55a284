# One place for the versions Berth's scripts install. Keep BERTH_PULUMI_VERSION equal to the
# @pulumi/pulumi version in package.json (scripts/install.sh checks it).
BERTH_NODE_VERSION=${BERTH_NODE_VERSION:-22.23.3}
BERTH_PULUMI_VERSION=${BERTH_PULUMI_VERSION:-3.259.0}
