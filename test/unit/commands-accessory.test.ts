import { strict as assert } from "node:assert";
import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import {
  accessoryEnvFilePath,
  accessoryRunArgv,
  deleteDataScript,
  directoryScript,
  fileScript,
  onHost,
  removeAccessoryContainersScript,
  restoreScript,
  setAsideScript,
  startAccessoryScript,
  tcpHealthScript,
} from "../../sdk/commands/accessory";
import { accessoryHostSpec, normalizeAccessory, type PlainAccessoryArgs } from "../../sdk/config/accessory";
import { line } from "../../sdk/commands/shell";

/** Kamal's quoting (`--env MYSQL_ROOT_HOST="%"`) taken out: Berth's `quote` leaves these words bare. */
function kamal(commandLine: string): string {
  return commandLine.replace(/"/g, "");
}

const HOME = "/home/deploy";

// Kamal's test/commands/accessory_test.rb setup: service app, accessories mysql, redis and busybox.
const mysql: PlainAccessoryArgs = {
  service: "app",
  name: "mysql",
  image: "private.registry/mysql:8.0",
  host: "1.1.1.5",
  port: "127.0.0.1:3306:3306",
  env: { clear: { MYSQL_ROOT_HOST: "%" }, secret: { MYSQL_ROOT_PASSWORD: "secret123" } },
  options: { cpus: "4", memory: "2GB" },
};
const redis: PlainAccessoryArgs = {
  service: "app",
  name: "redis",
  image: "redis:latest",
  host: "1.1.1.6",
  port: "127.0.0.1:6379:6379",
  labels: { cache: "true" },
  env: { clear: { SOMETHING: "else" } },
  volumes: ["/var/lib/redis:/data"],
};
const busybox: PlainAccessoryArgs = {
  service: "app",
  name: "busybox",
  serviceName: "custom-busybox",
  image: "busybox:latest",
  registry: { server: "other.registry", username: "user", password: "pw" },
  host: "1.1.1.7",
};

function run(args: PlainAccessoryArgs, host?: string): string {
  const cfg = normalizeAccessory(args);
  return line(accessoryRunArgv(accessoryHostSpec(cfg, host ?? cfg.hosts[0]), HOME));
}

describe("commands/accessory accessoryRunArgv (Kamal's test/commands/accessory_test.rb, with HEAD's KAMAL_HOST)", () => {
  it("run", () => {
    assert.equal(
      run(mysql),
      kamal(
        'docker run --name app-mysql --detach --restart unless-stopped --network kamal --log-opt max-size="10m" --publish 127.0.0.1:3306:3306 --env KAMAL_HOST="1.1.1.5" --env MYSQL_ROOT_HOST="%" --env-file .kamal/apps/app/env/accessories/mysql.env --label service="app-mysql" --cpus "4" --memory "2GB" private.registry/mysql:8.0',
      ),
    );
    assert.equal(
      run(redis),
      kamal(
        'docker run --name app-redis --detach --restart unless-stopped --network kamal --log-opt max-size="10m" --publish 127.0.0.1:6379:6379 --env KAMAL_HOST="1.1.1.6" --env SOMETHING="else" --env-file .kamal/apps/app/env/accessories/redis.env --volume /var/lib/redis:/data --label service="app-redis" --label cache="true" redis:latest',
      ),
    );
    // The accessory's own registry goes in front of its image, as in Kamal.
    assert.equal(
      run(busybox),
      kamal(
        'docker run --name custom-busybox --detach --restart unless-stopped --network kamal --log-opt max-size="10m" --env KAMAL_HOST="1.1.1.7" --env-file .kamal/apps/app/env/accessories/busybox.env --label service="custom-busybox" other.registry/busybox:latest',
      ),
    );
  });

  it("run with logging config", () => {
    assert.equal(
      run({ ...busybox, logging: { driver: "local", options: { "max-size": "100m", "max-file": "3" } } }),
      kamal(
        'docker run --name custom-busybox --detach --restart unless-stopped --network kamal --log-driver "local" --log-opt max-size="100m" --log-opt max-file="3" --env KAMAL_HOST="1.1.1.7" --env-file .kamal/apps/app/env/accessories/busybox.env --label service="custom-busybox" other.registry/busybox:latest',
      ),
    );
  });

  it("run with custom restart policy", () => {
    assert.equal(
      run({ ...mysql, options: { ...mysql.options, restart: "on-failure" } }),
      kamal(
        'docker run --name app-mysql --detach --restart on-failure --network kamal --log-opt max-size="10m" --publish 127.0.0.1:3306:3306 --env KAMAL_HOST="1.1.1.5" --env MYSQL_ROOT_HOST="%" --env-file .kamal/apps/app/env/accessories/mysql.env --label service="app-mysql" --cpus "4" --memory "2GB" private.registry/mysql:8.0',
      ),
    );
  });

  it("run in custom network", () => {
    assert.match(run({ ...mysql, network: "custom" }), / --network custom /);
  });

  it("files, then directories, then volumes, mounted from the login user's home; cmd after the image", () => {
    assert.equal(
      run({
        service: "app",
        name: "mysql",
        image: "mysql:5.7",
        host: "1.1.1.3",
        port: 3306,
        files: ["config/my.cnf:/etc/mysql/my.cnf", { content: "x", remote: "/docker-entrypoint-initdb.d/setup.sql", options: "ro" }],
        directories: ["data:/var/lib/mysql", { local: "/mnt/backups", remote: "/backups", mode: "0750", owner: "999:999" }],
        volumes: ["logs:/var/log/mysql"],
        cmd: ["mysqld", "--max-connections=50"],
      }),
      "docker run --name app-mysql --detach --restart unless-stopped --network kamal --log-opt max-size=10m --publish 3306:3306 --env KAMAL_HOST=1.1.1.3 " +
        "--env-file .kamal/apps/app/env/accessories/mysql.env " +
        "--volume /home/deploy/app-mysql/etc/mysql/my.cnf:/etc/mysql/my.cnf " +
        "--volume /home/deploy/app-mysql/docker-entrypoint-initdb.d/setup.sql:/docker-entrypoint-initdb.d/setup.sql:ro " +
        "--volume /home/deploy/app-mysql/data:/var/lib/mysql --volume /mnt/backups:/backups --volume logs:/var/log/mysql " +
        "--label service=app-mysql mysql:5.7 mysqld --max-connections=50",
    );
  });

  it("a destination names the env file's app directory, not the container", () => {
    assert.match(run({ ...mysql, destination: "staging" }), /--name app-mysql .*--env-file \.kamal\/apps\/app-staging\/env\/accessories\/mysql\.env/);
  });

  it("refuses a relative home (docker binds need absolute paths)", () => {
    assert.throws(() => accessoryRunArgv(accessoryHostSpec(normalizeAccessory(mysql), "1.1.1.5"), "home"), /home must be an absolute path/);
  });
});

describe("commands/accessory paths and scripts", () => {
  it("env file and host paths follow Kamal's layout", () => {
    assert.equal(accessoryEnvFilePath("app", "mysql"), ".kamal/apps/app/env/accessories/mysql.env");
    assert.equal(onHost("/root", "app-db/data"), "/root/app-db/data");
    assert.equal(onHost("/root/", "/mnt/x"), "/mnt/x");
  });

  it("directoryScript: mkdir -p, then chmod and chown when set", () => {
    assert.equal(directoryScript({ hostPath: "app-db/data" }), "mkdir -p app-db/data");
    assert.equal(directoryScript({ hostPath: "app-db/data", mode: "0750", owner: "999:999" }), "mkdir -p app-db/data && chmod 0750 app-db/data && chown 999:999 app-db/data");
  });

  it("fileScript: content from stdin into a 0600 temp file, then mode, owner and an atomic rename", () => {
    assert.equal(
      fileScript({ hostPath: "app-db/etc/my.cnf", mode: "0644", owner: "999" }),
      "mkdir -p app-db/etc && (umask 077 && cat > app-db/etc/my.cnf.tmp) && chmod 0644 app-db/etc/my.cnf.tmp && chown 999 app-db/etc/my.cnf.tmp && mv app-db/etc/my.cnf.tmp app-db/etc/my.cnf",
    );
  });

  it("fileScript writes what stdin carries, with the mode asked for (a real shell)", () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "berth-file-"));
    try {
      const content = "a 'quoted' $VALUE\nline two\n";
      execFileSync("sh", ["-c", fileScript({ hostPath: "svc/etc/app.conf", mode: "0640" })], { cwd: dir, input: content });
      assert.equal(fs.readFileSync(path.join(dir, "svc/etc/app.conf"), "utf8"), content);
      assert.equal((fs.statSync(path.join(dir, "svc/etc/app.conf")).mode & 0o777).toString(8), "640");
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it("setAsideScript renames and stops the running container and prints its new name", () => {
    assert.equal(
      setAsideScript("app-db", "abc123", 30),
      [
        "if [ -n \"$(docker container ls --all --filter 'name=^app-db$' --quiet)\" ]; then",
        "  docker rename app-db app-db_replaced_abc123",
        "  docker stop -t 30 app-db_replaced_abc123 >/dev/null",
        "  printf '%s\\n' app-db_replaced_abc123",
        "fi",
      ].join("\n"),
    );
  });

  it("startAccessoryScript prints the new container's id only when docker run succeeded", () => {
    assert.equal(
      startAccessoryScript(["docker", "run", "--name", "app-db", "img"], "app-db"),
      "docker run --name app-db img >/dev/null && docker container ls --all --filter 'name=^app-db$' --quiet",
    );
  });

  it("restoreScript removes the failed container and starts the previous one under its name", () => {
    assert.equal(
      restoreScript("app-db", "app-db_replaced_abc123"),
      "docker rm --force app-db >/dev/null 2>&1 || true\ndocker rename app-db_replaced_abc123 app-db\ndocker start app-db >/dev/null",
    );
  });

  it("removeAccessoryContainersScript removes the container and any set aside, by exact name", () => {
    assert.equal(
      removeAccessoryContainersScript("app-db"),
      "docker container ls --all --quiet --filter 'name=^app-db(_replaced_[0-9a-f]+)?$' | xargs -r docker rm --force >/dev/null",
    );
  });

  it("tcpHealthScript connects from the host to the container's address on its network", () => {
    assert.equal(
      tcpHealthScript("app-db", 5432),
      "ip=$(docker inspect --format '{{range .NetworkSettings.Networks}}{{.IPAddress}} {{end}}' app-db | awk '{print $1}') && [ -n \"$ip\" ] && timeout 3 bash -c 'exec 3<>/dev/tcp/$0/5432' \"$ip\"",
    );
  });

  it("deleteDataScript: rm -rf for home-relative and absolute directories, docker volume rm for volumes; nothing else", () => {
    assert.equal(
      deleteDataScript(["~/app-db", "/mnt/backups", "volume:pgdata"]),
      "set -e\nrm -rf -- app-db\nrm -rf -- /mnt/backups\ndocker volume rm --force pgdata >/dev/null",
    );
    for (const bad of ["/", "~/", "app-db", "~/../etc", "/mnt/../etc"]) assert.throws(() => deleteDataScript([bad]), /is not/);
  });
});
