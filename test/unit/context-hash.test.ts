import { strict as assert } from "node:assert";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { hashContext } from "../../sdk/components/context-hash";
import { BerthConfigError } from "../../sdk/config/errors";

const roots: string[] = [];

/** A new project directory at `<tmp>/<where>/project` holding `files` (a `null` value makes a directory). */
function project(where: string, files: Record<string, string | null>): string {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), "berth-hash-"));
  roots.push(root);
  const dir = path.join(root, where, "project");
  fs.mkdirSync(dir, { recursive: true });
  for (const [name, content] of Object.entries(files)) {
    const file = path.join(dir, name);
    if (content === null) fs.mkdirSync(file, { recursive: true });
    else {
      fs.mkdirSync(path.dirname(file), { recursive: true });
      fs.writeFileSync(file, content);
    }
  }
  return dir;
}

function problems(fn: () => unknown): string[] {
  try {
    fn();
  } catch (e) {
    assert.ok(e instanceof BerthConfigError, String(e));
    return e.problems.map((p) => `\`${p.path}\`: ${p.message}`);
  }
  assert.fail("expected a BerthConfigError");
}

const APP = {
  "app/Dockerfile": "FROM scratch\nCOPY . /\n",
  "app/.dockerignore": "# editor and build leftovers\n*.sw[op]\ncache[0-9]/\nlogs\n!logs/keep.txt\n",
  "app/src/main.ts": "console.log(1);\n",
  "app/src/util.ts": "export {};\n",
  "app/static": null,
  "app/main.ts.swp": "vim swap",
  "app/cache1/blob": "cached",
  "app/logs/today.log": "noise",
  "app/logs/keep.txt": "kept",
};

describe("components/context-hash hashContext", () => {
  after(() => roots.forEach((r) => fs.rmSync(r, { recursive: true, force: true })));

  it("gives the same hash for the same context in two checkouts at different paths, files made in another order and time", () => {
    const a = project("ci/runner-7/checkout", APP);
    const b = project("home/dev", Object.fromEntries(Object.entries(APP).reverse()));
    const past = new Date("2001-02-03T04:05:06Z");
    for (const f of ["app/src/main.ts", "app/Dockerfile"]) fs.utimesSync(path.join(b, f), past, past);
    const ha = hashContext(a, "app");
    assert.match(ha.hash, /^sha256:[0-9a-f]{64}$/);
    assert.deepEqual(hashContext(b, "app"), ha);
    assert.deepEqual(hashContext(a, "./app/"), ha);
    assert.deepEqual(hashContext(b, path.join(b, "app"), path.join(b, "app", "Dockerfile")), ha);
  });

  it("records the context and Dockerfile relative to the project directory, with forward slashes", () => {
    const dir = project("p", { ...APP, "docker/web.Dockerfile": "FROM scratch\n", Dockerfile: "FROM scratch\n" });
    const pick = (r: { context: string; dockerfile: string }) => ({ context: r.context, dockerfile: r.dockerfile });
    assert.deepEqual(pick(hashContext(dir, "app")), { context: "app", dockerfile: "app/Dockerfile" });
    assert.deepEqual(pick(hashContext(dir, path.join(dir, "app", "src", ".."))), { context: "app", dockerfile: "app/Dockerfile" });
    assert.deepEqual(pick(hashContext(dir, "app", "docker/web.Dockerfile")), { context: "app", dockerfile: "docker/web.Dockerfile" });
    assert.deepEqual(pick(hashContext(dir, ".")), { context: ".", dockerfile: "Dockerfile" });
    assert.deepEqual(pick(hashContext(path.join(dir, "docker"), "../app")), { context: "../app", dockerfile: "../app/Dockerfile" });
    // An absolute path outside the project stays absolute (and so differs per machine).
    const outside = project("elsewhere", { Dockerfile: "FROM scratch\n" });
    assert.deepEqual(pick(hashContext(dir, outside)), { context: outside, dockerfile: path.join(outside, "Dockerfile") });
  });

  it("changes when a sent file changes, not when an ignored one (matched by a character class) does", () => {
    const dir = project("p", APP);
    const h0 = hashContext(dir, "app").hash;
    const write = (f: string, s: string) => fs.writeFileSync(path.join(dir, "app", f), s);

    write("main.ts.swp", "other swap"); // *.sw[op]
    write("util.ts.swo", "new swap"); // *.sw[op]
    write("cache1/blob", "other"); // cache[0-9]/
    write("logs/today.log", "more noise"); // logs
    assert.equal(hashContext(dir, "app").hash, h0, "an ignored file changed the hash");

    write("src/main.ts", "console.log(2);\n");
    const h1 = hashContext(dir, "app").hash;
    assert.notEqual(h1, h0, "a sent file's change did not change the hash");

    write("cacheX", "not ignored: X is not in [0-9]");
    assert.notEqual(hashContext(dir, "app").hash, h1);
  });

  it("counts a file re-included by `!` under an excluded directory", () => {
    const dir = project("p", APP);
    const h0 = hashContext(dir, "app").hash;
    fs.writeFileSync(path.join(dir, "app/logs/keep.txt"), "changed");
    assert.notEqual(hashContext(dir, "app").hash, h0);
  });

  it("counts the executable bit, empty directories, symlinks and the Dockerfile", function () {
    const dir = project("p", APP);
    const hash = () => hashContext(dir, "app").hash;
    const h0 = hash();
    fs.chmodSync(path.join(dir, "app/src/main.ts"), 0o755);
    assert.notEqual(hash(), h0, "exec bit");
    fs.chmodSync(path.join(dir, "app/src/main.ts"), 0o644);
    assert.equal(hash(), h0);
    fs.chmodSync(path.join(dir, "app/src/main.ts"), 0o600);
    assert.equal(hash(), h0, "only the exec bit of the mode counts");

    fs.rmdirSync(path.join(dir, "app/static"));
    assert.notEqual(hash(), h0, "an empty directory is sent too");
    fs.mkdirSync(path.join(dir, "app/static"));
    assert.equal(hash(), h0);

    fs.symlinkSync("src/main.ts", path.join(dir, "app/current"));
    const h1 = hash();
    assert.notEqual(h1, h0, "symlink");
    fs.unlinkSync(path.join(dir, "app/current"));
    fs.symlinkSync("src/util.ts", path.join(dir, "app/current"));
    assert.notEqual(hash(), h1, "symlink target");
    fs.unlinkSync(path.join(dir, "app/current"));

    fs.appendFileSync(path.join(dir, "app/Dockerfile"), "LABEL a=b\n");
    assert.notEqual(hash(), h0, "Dockerfile");
  });

  it("keeps the hash format of earlier Berth versions, so an upgrade rebuilds nothing", function () {
    const dir = project("p", { "app/Dockerfile": "FROM scratch\n", "app/a.txt": "a", "app/.dockerignore": "*.log\n", "app/x.log": "x", "app/d": null });
    fs.chmodSync(path.join(dir, "app/a.txt"), 0o755);
    fs.symlinkSync("a.txt", path.join(dir, "app/l"));
    // Berth 68ff735's hashContext(context, dockerfile) on this context.
    assert.equal(hashContext(dir, "app").hash, "sha256:8c331e593a522929d54ec4f1b71c61df4abd23995405d60611f52742a5106dbd");
  });

  it("uses <Dockerfile>.dockerignore before the context's .dockerignore, as buildx does", () => {
    const dir = project("p", { ...APP, "docker/web.Dockerfile": "FROM scratch\n", "docker/web.Dockerfile.dockerignore": "src/util.ts\n" });
    const hash = () => hashContext(dir, "app", "docker/web.Dockerfile").hash;
    const h0 = hash();
    fs.writeFileSync(path.join(dir, "app/src/util.ts"), "changed");
    assert.equal(hash(), h0, "src/util.ts is ignored by web.Dockerfile.dockerignore");
    fs.writeFileSync(path.join(dir, "app/main.ts.swp"), "changed");
    assert.notEqual(hash(), h0, "the context's .dockerignore does not apply");
  });

  it("refuses a missing context or Dockerfile and an ignore file Docker refuses, naming the field", () => {
    const dir = project("p", { ...APP, "app/README": "x" });
    assert.deepEqual(problems(() => hashContext(dir, "nope")), [
      `\`context\`: must be a directory; got "nope", which does not exist (${JSON.stringify(path.join(dir, "nope"))}). Paths are relative to the program's directory.`,
      `\`dockerfile\`: must be a file; got "nope/Dockerfile", which does not exist (${JSON.stringify(path.join(dir, "nope", "Dockerfile"))}). Set \`dockerfile\`, or add a Dockerfile to the context.`,
    ]);
    assert.deepEqual(problems(() => hashContext(dir, "app/README", "app")), [
      `\`context\`: must be a directory; got "app/README", which is not a directory (${JSON.stringify(path.join(dir, "app", "README"))}). Paths are relative to the program's directory.`,
      `\`dockerfile\`: must be a file; got "app", which is not a file (${JSON.stringify(path.join(dir, "app"))}). Set \`dockerfile\`, or add a Dockerfile to the context.`,
    ]);
    fs.writeFileSync(path.join(dir, "app/.dockerignore"), "*.tmp\n[a\n");
    assert.deepEqual(problems(() => hashContext(dir, "app")), [
      "`context`: has an ignore file Docker refuses, \"app/.dockerignore\": line 2: `[a` is not a pattern Docker accepts: a `[…]` class must have members and a closing `]`, a range cannot start with `-` or `]`, and a `\\` must escape a character. Escape a literal `[`, `]`, `-` or `\\` with `\\`. Fix or remove that line.",
    ]);
    fs.writeFileSync(path.join(dir, "app/Dockerfile.dockerignore"), "src/\\y\n");
    assert.deepEqual(problems(() => hashContext(dir, "app")), [
      "`dockerfile`: has an ignore file Docker refuses, \"app/Dockerfile.dockerignore\": line 1: `src/\\y` has `\\y`, which Docker reads as a regular-expression escape and refuses. Remove the `\\`. Fix or remove that line.",
    ]);
  });
});
