import { strict as assert } from "node:assert";
import { asRoot, dockerGroupScript, dockerPackagesFor, dockerVersionScript, installScript, parseProbe, probeScript, startScript } from "../../sdk/commands/bootstrap";

describe("commands/bootstrap (ssh.bootstrap: Docker from the distribution's packages)", () => {
  it("probes the user, sudo, the init system and /etc/os-release", () => {
    assert.equal(
      probeScript(),
      [
        'echo "uid=$(id -u)"',
        'echo "user=$(id -un)"',
        "if command -v docker >/dev/null 2>&1; then echo docker=yes; else echo docker=no; fi",
        'if [ "$(id -u)" != 0 ] && command -v sudo >/dev/null 2>&1 && sudo -n true >/dev/null 2>&1; then echo sudo=yes; else echo sudo=no; fi',
        "if [ -d /run/systemd/system ]; then echo init=systemd; elif command -v rc-service >/dev/null 2>&1; then echo init=openrc; else echo init=none; fi",
        'if [ -r /etc/os-release ]; then (. /etc/os-release; echo "id=${ID:-}"; echo "like=${ID_LIKE:-}"; echo "version=${VERSION_ID:-}"; echo "name=${PRETTY_NAME:-}"); fi',
      ].join("\n"),
    );
  });

  it("reads the probe's output", () => {
    assert.deepEqual(parseProbe("uid=1000\nuser=deploy\ndocker=no\nsudo=yes\ninit=systemd\nid=ubuntu\nlike=debian\nversion=24.04\nname=Ubuntu 24.04 LTS\n"), {
      uid: "1000",
      user: "deploy",
      docker: false,
      sudo: true,
      init: "systemd",
      id: "ubuntu",
      like: "debian",
      version: "24.04",
      name: "Ubuntu 24.04 LTS",
    });
    assert.deepEqual(parseProbe("uid=0\nuser=root\ndocker=yes\nsudo=no\ninit=weird\n"), {
      uid: "0",
      user: "root",
      docker: true,
      sudo: false,
      init: "none",
      id: "",
      like: "",
      version: "",
      name: "",
    });
  });

  it("picks the distribution's own packages by ID, then ID_LIKE", () => {
    assert.deepEqual(dockerPackagesFor("debian"), { manager: "apt-get", packages: ["docker.io"] });
    assert.deepEqual(dockerPackagesFor("ubuntu"), { manager: "apt-get", packages: ["docker.io"] });
    assert.deepEqual(dockerPackagesFor("raspbian", "debian"), { manager: "apt-get", packages: ["docker.io"] });
    assert.deepEqual(dockerPackagesFor("fedora"), { manager: "dnf", packages: ["moby-engine"] });
    assert.deepEqual(dockerPackagesFor("amzn", "centos rhel fedora"), { manager: "yum", packages: ["docker"] });
    assert.deepEqual(dockerPackagesFor("alpine"), { manager: "apk", packages: ["docker"] });
    assert.deepEqual(dockerPackagesFor("opensuse-leap", "suse opensuse"), { manager: "zypper", packages: ["docker"] });
    assert.equal(dockerPackagesFor("rhel", "centos"), undefined);
    assert.equal(dockerPackagesFor(""), undefined);
  });

  it("installs non-interactively with each package manager", () => {
    assert.equal(installScript({ manager: "apt-get", packages: ["docker.io"] }), "apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q docker.io");
    assert.equal(installScript({ manager: "dnf", packages: ["moby-engine"] }), "dnf install -y moby-engine");
    assert.equal(installScript({ manager: "yum", packages: ["docker"] }), "yum install -y docker");
    assert.equal(installScript({ manager: "apk", packages: ["docker"] }), "apk add --no-cache docker");
    assert.equal(installScript({ manager: "zypper", packages: ["docker"] }), "zypper --non-interactive install docker");
  });

  it("runs as root through `sudo -n sh -c` when the user is not root", () => {
    assert.equal(asRoot("apt-get update -q", false), "apt-get update -q");
    assert.equal(asRoot("apt-get update -q && apt-get install -y docker.io", true), "sudo -n sh -c 'apt-get update -q && apt-get install -y docker.io'");
  });

  it("starts dockerd in the background where no systemd runs, and waits for it", () => {
    assert.equal(
      startScript("none"),
      [
        "if ! docker version --format '{{.Server.Version}}' >/dev/null 2>&1; then nohup dockerd >>/var/log/dockerd.log 2>&1 </dev/null & fi",
        "i=0",
        "until docker version --format '{{.Server.Version}}' >/dev/null 2>&1; do",
        "  i=$((i + 1))",
        '  if [ "$i" -ge 60 ]; then',
        '    echo "the Docker engine did not answer within 60 s"',
        "    tail -n 20 /var/log/dockerd.log",
        "    exit 1",
        "  fi",
        "  sleep 1",
        "done",
      ].join("\n"),
    );
  });

  it("enables and starts the service with systemd or OpenRC", () => {
    assert.match(startScript("systemd"), /^if ! docker version --format '\{\{\.Server\.Version\}\}' >\/dev\/null 2>&1; then systemctl enable --now docker; fi\n/);
    assert.match(startScript("systemd"), /\n {4}systemctl status docker --no-pager \| tail -n 20\n/);
    assert.match(startScript("openrc"), /then rc-update add docker default && rc-service docker start; fi\n/);
  });

  it("adds the login user to the docker group", () => {
    assert.equal(dockerGroupScript("deploy"), "getent group docker >/dev/null 2>&1 || groupadd docker\nusermod -aG docker deploy 2>/dev/null || addgroup deploy docker");
    assert.equal(dockerGroupScript("o'brien"), "getent group docker >/dev/null 2>&1 || groupadd docker\nusermod -aG docker 'o'\\''brien' 2>/dev/null || addgroup 'o'\\''brien' docker");
    assert.equal(dockerVersionScript(), "docker version --format '{{.Server.Version}}'");
  });
});
