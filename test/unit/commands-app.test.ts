import { appHostSpec } from "../../sdk/config/app-host";
import { strict as assert } from "node:assert";
import { AppArgs, normalizeApp } from "../../sdk/config/app";
import {
  appDir,
  appRunArgv,
  containerIdArgv,
  containerName,
  envFileContent,
  envFilePath,
  healthStatusScript,
  labels,
  listContainersArgv,
  loginArgv,
  networkCreateArgv,
  pullArgv,
  serviceName,
  stopArgv,
  stopByNameScript,
} from "../../sdk/commands/app";
import { line } from "../../sdk/commands/shell";

/**
 * A command line from Kamal's tests with Kamal's quoting (`KAMAL_VERSION="999"`) taken out: the
 * values in these lines have no spaces or shell characters, so Berth's `quote` leaves them bare.
 */
function kamal(commandLine: string): string {
  return commandLine.replace(/"/g, "");
}

// Kamal's test/commands/app_test.rb setup: service app, image dhh/app, version 999, roles web and workers.
const kamalConfig: AppArgs = {
  service: "app",
  image: "dhh/app:999",
  destination: "",
  roles: { web: { hosts: ["1.1.1.1"] }, workers: { hosts: ["1.1.1.2"] } },
  env: { secret: { RAILS_MASTER_KEY: "456" } },
};

function run(args: Partial<AppArgs>, role = "web", host = "1.1.1.1"): string {
  const cfg = normalizeApp({ ...kamalConfig, ...args } as AppArgs);
  return line(appRunArgv(appHostSpec(cfg, role, host)));
}

describe("commands/app names and paths", () => {
  it("serviceName and containerName are <service>-<role>[-<destination>][-<version>]", () => {
    assert.equal(serviceName("app", "web", ""), "app-web");
    assert.equal(serviceName("app", "web", "staging"), "app-web-staging");
    assert.equal(containerName("app", "web", "", "999"), "app-web-999");
    assert.equal(containerName("app", "web", "staging", "999"), "app-web-staging-999");
  });

  it("appDir and envFilePath follow Kamal's .kamal/apps layout", () => {
    assert.equal(appDir("app", ""), ".kamal/apps/app");
    assert.equal(envFilePath("app", "", "web"), ".kamal/apps/app/env/roles/web.env");
    assert.equal(envFilePath("app", "staging", "workers"), ".kamal/apps/app-staging/env/roles/workers.env");
  });

  it("labels: a bare `--label destination` without a destination, custom labels after", () => {
    assert.deepEqual(labels("app", "web", ""), ["--label", "service=app", "--label", "role=web", "--label", "destination"]);
    assert.deepEqual(labels("app", "web", "staging", { team: "core" }), [
      "--label", "service=app", "--label", "role=web", "--label", "destination=staging", "--label", "team=core",
    ]);
  });
});

describe("commands/app appRunArgv (Kamal's test/commands/app_test.rb)", () => {
  it("run", () => {
    assert.equal(
      run({}),
      kamal(
        'docker run --detach --restart unless-stopped --name app-web-999 --network kamal --env KAMAL_CONTAINER_NAME="app-web-999" --env KAMAL_VERSION="999" --env KAMAL_HOST="1.1.1.1" --env-file .kamal/apps/app/env/roles/web.env --log-opt max-size="10m" --label service="app" --label role="web" --label destination dhh/app:999',
      ),
    );
  });

  it("run with destination", () => {
    assert.equal(
      run({ destination: "staging" }),
      kamal(
        'docker run --detach --restart unless-stopped --name app-web-staging-999 --network kamal --env KAMAL_CONTAINER_NAME="app-web-staging-999" --env KAMAL_VERSION="999" --env KAMAL_HOST="1.1.1.1" --env KAMAL_DESTINATION="staging" --env-file .kamal/apps/app-staging/env/roles/web.env --log-opt max-size="10m" --label service="app" --label role="web" --label destination="staging" dhh/app:999',
      ),
    );
  });

  it("run with volumes", () => {
    assert.equal(
      run({ volumes: ["/local/path:/container/path"] }),
      kamal(
        'docker run --detach --restart unless-stopped --name app-web-999 --network kamal --env KAMAL_CONTAINER_NAME="app-web-999" --env KAMAL_VERSION="999" --env KAMAL_HOST="1.1.1.1" --env-file .kamal/apps/app/env/roles/web.env --log-opt max-size="10m" --volume /local/path:/container/path --label service="app" --label role="web" --label destination dhh/app:999',
      ),
    );
  });

  it("run with custom options and cmd", () => {
    const roles = { web: { hosts: ["1.1.1.1"] }, jobs: { hosts: ["1.1.1.2"], cmd: "bin/jobs", options: { mount: "somewhere", "cap-add": true as const } } };
    assert.equal(
      run({ roles }, "jobs", "1.1.1.2"),
      kamal(
        'docker run --detach --restart unless-stopped --name app-jobs-999 --network kamal --env KAMAL_CONTAINER_NAME="app-jobs-999" --env KAMAL_VERSION="999" --env KAMAL_HOST="1.1.1.2" --env-file .kamal/apps/app/env/roles/jobs.env --log-opt max-size="10m" --label service="app" --label role="jobs" --label destination --mount "somewhere" --cap-add dhh/app:999 bin/jobs',
      ),
    );
  });

  it("run with custom restart policy", () => {
    assert.equal(
      run({ roles: { web: { hosts: ["1.1.1.1"], options: { restart: "on-failure" } } } }),
      kamal(
        'docker run --detach --restart on-failure --name app-web-999 --network kamal --env KAMAL_CONTAINER_NAME="app-web-999" --env KAMAL_VERSION="999" --env KAMAL_HOST="1.1.1.1" --env-file .kamal/apps/app/env/roles/web.env --log-opt max-size="10m" --label service="app" --label role="web" --label destination dhh/app:999',
      ),
    );
  });

  it("run with logging config", () => {
    assert.equal(
      run({ logging: { driver: "local", options: { "max-size": "100m", "max-file": "3" } } }),
      kamal(
        'docker run --detach --restart unless-stopped --name app-web-999 --network kamal --env KAMAL_CONTAINER_NAME="app-web-999" --env KAMAL_VERSION="999" --env KAMAL_HOST="1.1.1.1" --env-file .kamal/apps/app/env/roles/web.env --log-driver "local" --log-opt max-size="100m" --log-opt max-file="3" --label service="app" --label role="web" --label destination dhh/app:999',
      ),
    );
  });

  it("run with clear env, tag env and custom labels: clear values in argv, secret values never", () => {
    const cfg = normalizeApp({
      ...kamalConfig,
      roles: { web: { hosts: [{ host: "1.1.1.1", tags: ["eu"] }], labels: { team: "core" } } },
      env: { clear: { RAILS_ENV: "production", GREETING: "hello world" }, secret: { DB_PASSWORD: "s3cr3t-value" }, tags: { eu: { clear: { REGION: "eu" } } } },
      proxyRun: { network: "private" },
    });
    const argv = appRunArgv({ ...appHostSpec(cfg, "web", "1.1.1.1"), version: "999", image: "dhh/app:999" });
    assert.equal(
      line(argv),
      "docker run --detach --restart unless-stopped --name app-web-999 --network private --env KAMAL_CONTAINER_NAME=app-web-999 --env KAMAL_VERSION=999 --env KAMAL_HOST=1.1.1.1 --env RAILS_ENV=production --env 'GREETING=hello world' --env REGION=eu --env-file .kamal/apps/app/env/roles/web.env --log-opt max-size=10m --label service=app --label role=web --label destination --label team=core dhh/app:999",
    );
    assert.ok(!argv.some((a) => a.includes("s3cr3t-value")));
  });

  it("takes an explicit env file path and image", () => {
    const cfg = normalizeApp(kamalConfig);
    const argv = appRunArgv({ ...appHostSpec(cfg, "workers", "1.1.1.2"), version: "123", image: "dhh/app:123" }, "/tmp/x.env");
    assert.deepEqual(argv.slice(argv.indexOf("--env-file"), argv.indexOf("--env-file") + 2), ["--env-file", "/tmp/x.env"]);
    assert.equal(argv[argv.length - 1], "dhh/app:123");
    assert.ok(argv.includes("KAMAL_CONTAINER_NAME=app-workers-123"));
  });
});

describe("commands/app rollout commands (Kamal's reference §2.3)", () => {
  it("containerIdArgv", () => {
    assert.equal(line(containerIdArgv("app-web-999")), "docker container ls --all --filter 'name=^app-web-999$' --quiet");
  });

  it("healthStatusScript: health, or state without a health check", () => {
    assert.equal(
      healthStatusScript("app-web-999"),
      "docker container ls --all --filter 'name=^app-web-999$' --quiet | xargs docker inspect --format '{{if .State.Health}}{{.State.Health.Status}}{{else}}{{.State.Status}}{{end}}'",
    );
  });

  it("stopArgv and stopByNameScript, with and without -t", () => {
    assert.equal(line(stopArgv("abc123")), "docker stop abc123");
    assert.equal(line(stopArgv("abc123", 30)), "docker stop -t 30 abc123");
    assert.equal(stopByNameScript("app-web-123"), "docker container ls --all --filter 'name=^app-web-123$' --quiet | xargs docker stop");
    assert.equal(stopByNameScript("app-web-123", 10), "docker container ls --all --filter 'name=^app-web-123$' --quiet | xargs docker stop -t 10");
  });

  it("pullArgv, networkCreateArgv", () => {
    assert.equal(line(pullArgv("dhh/app:999")), "docker pull dhh/app:999");
    assert.equal(line(networkCreateArgv("kamal")), "docker network create kamal");
  });

  it("loginArgv reads the password from stdin", () => {
    assert.deepEqual(loginArgv("ghcr.io", "dhh"), ["docker", "login", "ghcr.io", "--username", "dhh", "--password-stdin"]);
  });

  it("listContainersArgv filters on Kamal's labels, an empty destination included", () => {
    assert.equal(
      line(listContainersArgv({ service: "app", role: "web", destination: "" }, "{{.Names}}")),
      "docker container ls --all --filter label=service=app --filter label=destination= --filter label=role=web --format '{{.Names}}'",
    );
    assert.equal(
      line(listContainersArgv({ service: "app", destination: "staging" }, "{{.ID}}")),
      "docker container ls --all --filter label=service=app --filter label=destination=staging --format '{{.ID}}'",
    );
  });
});

describe("commands/app envFileContent", () => {
  it("writes sorted KEY=value lines with values taken literally", () => {
    assert.equal(
      envFileContent({ ZED: "last", API_KEY: 'a "quoted" #value with spaces ', EMPTY: "" }),
      'API_KEY=a "quoted" #value with spaces \nEMPTY=\nZED=last\n',
    );
    assert.equal(envFileContent({}), "");
  });

  it("refuses a value with a line break, without showing it", () => {
    assert.throws(
      () => envFileContent({ TOKEN: "abc\ndef-TOPSECRET" }),
      (e: Error) => e.message === "envFileContent: the value of TOKEN has a line break and cannot go in an env file" && !e.message.includes("TOPSECRET"),
    );
  });
});
