import { strict as assert } from "node:assert";
import { argumentize, ensureNetworkScript, loggingArgs, optionize } from "../../sdk/commands/docker";

describe("commands/docker", () => {
  it("optionize: `--k v`, true as a bare flag, lists repeated, in the order given (Kamal's optionize)", () => {
    assert.deepEqual(optionize({ mount: "somewhere", "cap-add": true, "add-host": ["a:1.1.1.1", "b:2.2.2.2"] }), [
      "--mount", "somewhere", "--cap-add", "--add-host", "a:1.1.1.1", "--add-host", "b:2.2.2.2",
    ]);
    assert.deepEqual(optionize({}), []);
  });

  it("argumentize: `flag k=v`, undefined as a bare key, empty string kept as `k=`", () => {
    assert.deepEqual(argumentize("--label", { service: "app", destination: undefined }), ["--label", "service=app", "--label", "destination"]);
    assert.deepEqual(argumentize("--env", { EMPTY: "" }), ["--env", "EMPTY="]);
  });

  it("loggingArgs: driver first, then each option", () => {
    assert.deepEqual(loggingArgs({ driver: "local", options: { "max-size": "100m", "max-file": "3" } }), [
      "--log-driver", "local", "--log-opt", "max-size=100m", "--log-opt", "max-file=3",
    ]);
    assert.deepEqual(loggingArgs({ options: { "max-size": "10m" } }), ["--log-opt", "max-size=10m"]);
  });

  it("ensureNetworkScript creates the network only when inspect fails, and accepts one created meanwhile", () => {
    assert.equal(ensureNetworkScript("kamal"), "docker network inspect kamal --format '{{.Name}}' || docker network create kamal || docker network inspect kamal --format '{{.Name}}'");
  });
});
