import { strict as assert } from "node:assert";
import { dockerMissingHint, dockerNotFound } from "../../sdk/provider/docker-host";

describe("provider: DockerHost (ssh.bootstrap) pre-flight hint", () => {
  it("recognises a host without `docker` by exit 127 or the shell's message, not by a stopped engine", () => {
    assert.equal(dockerNotFound(127, ""), true);
    assert.equal(dockerNotFound(1, "sh: 1: docker: not found"), true);
    assert.equal(dockerNotFound(1, "bash: docker: command not found"), true);
    assert.equal(dockerNotFound(1, "Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon running?"), false);
  });

  it("names the host and says how to opt in", () => {
    assert.equal(
      dockerMissingHint("10.0.0.5"),
      "10.0.0.5: Docker is not installed there (`docker`: command not found). Install it, or set `ssh.bootstrap: true` on the AppService / Proxy / Accessory so Berth installs it from the host's distribution packages on the next deploy (docs/deploy.md#bootstrap-docker-on-a-host-that-has-none-sshbootstrap).",
    );
  });
});
