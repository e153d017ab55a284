import { strict as assert } from "node:assert";
import {
  accessoryExecNewArgv,
  type AccessoryExecSpec,
  appContainersArgv,
  appDetailsArgv,
  appExecNewArgv,
  type AppExecSpec,
  defaultLines,
  execInContainerArgv,
  labelFilters,
  logsArgv,
  plainTerminalScript,
  logsScript,
  proxyDetailsArgv,
  runningContainerIdArgv,
} from "../../sdk/commands/day2";
import { line } from "../../sdk/commands/shell";

const web = { service: "app", role: "web", destination: "production" };

const appSpec: AppExecSpec = {
  service: "app",
  role: "web",
  destination: "production",
  image: "registry.example.com/app@sha256:" + "a".repeat(64),
  container: {
    restartPolicy: "unless-stopped",
    cmd: [],
    env: { RAILS_ENV: "production", GREETING: "hello world" },
    labels: { team: "ops" },
    options: { cpus: "2", "add-host": ["db:10.0.0.5"] },
    logging: { options: { "max-size": "10m" } },
    volumes: ["/data/uploads:/app/uploads"],
    network: "kamal",
  },
};

const accessorySpec: AccessoryExecSpec = {
  host: "10.0.0.13",
  app: "app-production",
  name: "db",
  image: "postgres:16.4",
  env: { POSTGRES_DB: "shop" },
  network: "kamal",
  volumes: ["pgdata:/var/lib/postgresql/data"],
  files: [{ hostPath: "app-db/etc/init.sql", remote: "/docker-entrypoint-initdb.d/init.sql", mode: "0644" }],
  directories: [{ hostPath: "app-db/data", remote: "/var/lib/postgresql/data2", options: "z" }],
};

describe("commands/day2: what the Day-2 commands run on a host", function () {
  it("label filters are Kamal's container_filter_args: service, destination (empty when none), role when given", function () {
    assert.deepEqual(labelFilters(web), ["--filter", "label=service=app", "--filter", "label=destination=production", "--filter", "label=role=web"]);
    assert.deepEqual(labelFilters({ service: "app", destination: "" }), ["--filter", "label=service=app", "--filter", "label=destination="]);
  });

  it("details is `docker ps` of the role (Kamal's `app details`)", function () {
    assert.equal(line(appDetailsArgv(web)), "docker ps --filter label=service=app --filter label=destination=production --filter label=role=web");
  });

  it("containers lists every container of the service, stopped ones too (Kamal's `app containers`)", function () {
    assert.equal(line(appContainersArgv({ service: "app", destination: "" })), "docker container ls --all --filter label=service=app --filter label=destination=");
  });

  it("the running container of a role: the newest running or restarting one", function () {
    assert.equal(
      line(runningContainerIdArgv(web)),
      "docker ps --latest --quiet --filter label=service=app --filter label=destination=production --filter label=role=web --filter status=running --filter status=restarting",
    );
  });

  it("logs: Kamal's default of 100 lines unless --since or --grep; --lines wins", function () {
    assert.equal(defaultLines({}), 100);
    assert.equal(defaultLines({ since: "5m" }), undefined);
    assert.equal(defaultLines({ grep: "GET" }), undefined);
    assert.equal(defaultLines({ grep: "GET", lines: 7 }), 7);
    assert.equal(defaultLines({ lines: 0 }), 0);
  });

  it("logs argv: --timestamps, --since, --tail in that order, then the container", function () {
    assert.deepEqual(logsArgv("0123456789ab", { lines: 100 }), ["docker", "logs", "--tail", "100", "0123456789ab"]);
    assert.deepEqual(logsArgv("kamal-proxy", { timestamps: true, since: "2026-12-02T10:00:00Z", lines: 5 }), [
      "docker",
      "logs",
      "--timestamps",
      "--since",
      "2026-12-02T10:00:00Z",
      "--tail",
      "5",
      "kamal-proxy",
    ]);
  });

  it("logs --follow: `--follow` after --tail; followed through a terminal whose newlines stay newlines", function () {
    assert.equal(line(logsArgv("app-db", { lines: 10, follow: true })), "docker logs --tail 10 --follow app-db");
    assert.equal(plainTerminalScript(logsScript("app-db", { follow: true, grep: "ERROR" })), "stty -onlcr 2>/dev/null; docker logs --follow app-db 2>&1 | grep -e ERROR");
  });

  it("logs script: stderr folded in; --grep through `grep -e` with the pattern quoted", function () {
    assert.equal(logsScript("app-db", { lines: 100 }), "docker logs --tail 100 app-db 2>&1");
    assert.equal(logsScript("app-db", { since: "42m", grep: "it's -v; rm -rf /" }), `docker logs --since 42m app-db 2>&1 | grep -e 'it'\\''s -v; rm -rf /'`);
  });

  it("exec --reuse: `docker exec` in the running container, each word quoted, env before the container", function () {
    assert.deepEqual(execInContainerArgv("0123456789ab", ["sh", "-c", "echo $HOME"], { DEBUG: "1" }), ["docker", "exec", "--env", "DEBUG=1", "0123456789ab", "sh", "-c", "echo $HOME"]);
    assert.equal(line(execInContainerArgv("app-db", ["cat", "/etc/hostname"])), "docker exec app-db cat /etc/hostname");
    assert.throws(() => execInContainerArgv("app-db", []), /no command/);
    assert.equal(line(execInContainerArgv("app-db", ["psql"], {}, true)), "docker exec -it app-db psql");
  });

  it("app exec in a new container: Kamal's `docker run --rm` with the role's network, env, env file, volumes and options; no name, no labels", function () {
    assert.equal(
      line(appExecNewArgv(appSpec, ["bin/rails", "runner", "puts 1"], { VERBOSE: "1" })),
      "docker run --rm --network kamal --env RAILS_ENV=production --env 'GREETING=hello world' --env-file .kamal/apps/app-production/env/roles/web.env --env VERBOSE=1 " +
        "--volume /data/uploads:/app/uploads --cpus 2 --add-host db:10.0.0.5 registry.example.com/app@sha256:" +
        "a".repeat(64) +
        " bin/rails runner 'puts 1'",
    );
    assert.throws(() => appExecNewArgv(appSpec, []), /no command/);
    assert.deepEqual(appExecNewArgv(appSpec, ["bin/rails", "console"], {}, true).slice(0, 5), ["docker", "run", "--rm", "-it", "--network"]);
  });

  it("accessory exec in a new container: its network, env (KAMAL_HOST first), env file and mounts under the login user's home", function () {
    assert.equal(
      line(accessoryExecNewArgv(accessorySpec, "/home/deploy", ["psql", "-c", "select 1"])),
      "docker run --rm --network kamal --env KAMAL_HOST=10.0.0.13 --env POSTGRES_DB=shop --env-file .kamal/apps/app-production/env/accessories/db.env " +
        "--volume /home/deploy/app-db/etc/init.sql:/docker-entrypoint-initdb.d/init.sql --volume /home/deploy/app-db/data:/var/lib/postgresql/data2:z " +
        "--volume pgdata:/var/lib/postgresql/data postgres:16.4 psql -c 'select 1'",
    );
    assert.throws(() => accessoryExecNewArgv(accessorySpec, "home", ["true"]), /home must be an absolute path/);
    assert.deepEqual(accessoryExecNewArgv(accessorySpec, "/home/deploy", ["psql"], {}, true).slice(0, 4), ["docker", "run", "--rm", "-it"]);
  });

  it("proxy details: `docker ps --filter name=^<container>$` (Kamal's `proxy details`)", function () {
    assert.equal(line(proxyDetailsArgv("kamal-proxy")), "docker ps --filter 'name=^kamal-proxy$'");
  });
});
