/**
 * Issue 11, property style: hostile values (quotes, `$()`, backticks, `;`, `&&`, pipes,
 * redirections, newlines where a field allows them, unicode, very long values, a leading `-`)
 * pass validation in the fields that take any text — env values, label values, command arguments,
 * volumes, build args — and are rendered by sdk/commands into argv and shell text. The rendered
 * text is run by a real `/bin/sh -c` that prints each word it receives (`printf '%s\0'`): every
 * word must come back exactly as the argv word, and no command hidden in a value may run (each
 * would create a marker file in a temp directory).
 *
 * Deterministic (a seeded PRNG) and bounded (values are batched into a few dozen shells).
 */
import * as assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { appRunArgv, envFileContent, parseEnvFile } from "../../sdk/commands/app";
import { buildArgv } from "../../sdk/commands/buildx";
import { line } from "../../sdk/commands/shell";
import { appHostSpec } from "../../sdk/config/app-host";
import { type AppArgs, normalizeApp } from "../../sdk/config/app";
import { MAX_VALUE_BYTES } from "../../sdk/config/errors";
import { normalizeImage } from "../../sdk/config/image";

/** mulberry32: a small seeded PRNG, so every run generates the same values. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const SEED = 0x11b3e7;
const COUNT = 1200;

const dir = fs.mkdtempSync(path.join(os.tmpdir(), "berth-hostile-"));
const marker = path.join(dir, "pwned");

/** Shell syntax that would run `touch <marker>` (or write it) if a value were ever interpreted. */
const COMMANDS = [
  `$(touch ${marker})`,
  `\`touch ${marker}\``,
  `; touch ${marker}`,
  `;touch ${marker};`,
  `&& touch ${marker}`,
  `|| touch ${marker}`,
  `| touch ${marker}`,
  `& touch ${marker}`,
  `> ${marker}`,
  `>>${marker}`,
  `'; touch ${marker}; '`,
  `"; touch ${marker}; "`,
  `"$(touch ${marker})"`,
  `'$(touch ${marker})'`,
  `$(printf x > ${marker})`,
  `\${IFS}touch\${IFS}${marker}`,
];
/** Commands that need a line break or a tab: only for fields that allow them. */
const MULTILINE_COMMANDS = [`\ntouch ${marker}\n`, `x\n$(touch ${marker})`, `\r\ntouch ${marker}`, `'\ntouch ${marker}\n'`, `$(touch\t${marker})`];
const PIECES = [
  "'",
  '"',
  "\\",
  "\\'",
  "'\\''",
  "$",
  "$HOME",
  "${HOME}",
  "$((1+1))",
  "$?",
  "$@",
  "$1",
  "`",
  "``",
  "(",
  ")",
  "{a,b}",
  "[a-z]",
  "*",
  "?",
  "~",
  "~root",
  "#",
  "!",
  "!!",
  "%s",
  "%n",
  "=",
  "==",
  ",",
  ":",
  "@",
  "^",
  "<<EOF",
  "2>&1",
  " ",
  "  ",
  "a",
  "key=value",
  "--privileged",
  "-e",
];
const UNICODE = ["é", "ü", "ß", "日本語", "中", "🚀", "👩‍👩‍👧", "\u202e", "\u200b", "e\u0301", "Ω", "\ufeff", "𝔘𝔫𝔦", "ﷺ", "\u00a0", "ｆｕｌｌ"];
const PREFIXES = ["", "", "", "-", "--", "-e ", "--rm ", " ", "=", "#"];

/** A hostile value: `multiline` lets it hold line breaks and tabs (fields of data, not of lines). */
function hostile(rand: () => number, multiline: boolean): string {
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)];
  const parts: string[] = [pick(PREFIXES)];
  const n = 1 + Math.floor(rand() * 10);
  for (let i = 0; i < n; i++) {
    const r = rand();
    if (r < 0.3) parts.push(pick(COMMANDS));
    else if (r < 0.4 && multiline) parts.push(pick(MULTILINE_COMMANDS));
    else if (r < 0.75) parts.push(pick(PIECES));
    else if (r < 0.9) parts.push(pick(UNICODE));
    else parts.push(String.fromCharCode(0x21 + Math.floor(rand() * 94))); // any printable ASCII
  }
  let v = parts.join("");
  const long = rand();
  if (long < 0.03) v = v.repeat(Math.ceil(2000 / v.length)); // a few KiB
  else if (long < 0.035) v = v.repeat(Math.ceil(20000 / v.length)); // tens of KiB
  // Within the limit on one value (bytes, not characters), and never only spaces (a volume needs text).
  while (Buffer.byteLength(v, "utf8") > MAX_VALUE_BYTES - 64) v = Array.from(v).slice(0, Math.floor(Array.from(v).length * 0.9)).join("");
  return /\S/.test(v) ? v : `${v}x`;
}

type Field = "env" | "label" | "cmd" | "volume" | "buildArg" | "imageLabel";
const FIELDS: Field[] = ["env", "label", "cmd", "volume", "buildArg", "imageLabel"];
/** Fields whose values may hold line breaks and tabs (a volume is one line of text). */
const MULTILINE: Record<Field, boolean> = { env: true, label: true, cmd: true, volume: false, buildArg: true, imageLabel: true };

interface Value {
  field: Field;
  value: string;
}

function generate(): Value[] {
  const rand = prng(SEED);
  return Array.from({ length: COUNT }, (_, i) => {
    const field = FIELDS[i % FIELDS.length];
    return { field, value: hostile(rand, MULTILINE[field]) };
  });
}

/** Bytes of a word once quoted for the shell (each `'` becomes `'\''`). */
function quoted(v: string): number {
  return Buffer.byteLength(v, "utf8") + 3 * (v.split("'").length - 1) + 8;
}

/** Batches of values whose rendered command stays well inside what one `sh -c` string holds. */
function batches(values: Value[], budget = 60 * 1024): Value[][] {
  const out: Value[][] = [];
  let cur: Value[] = [];
  let size = 0;
  for (const v of values) {
    if (cur.length > 0 && (size + quoted(v.value) > budget || cur.length >= 40)) {
      out.push(cur);
      cur = [];
      size = 0;
    }
    cur.push(v);
    size += quoted(v.value);
  }
  if (cur.length) out.push(cur);
  return out;
}

/** Runs the rendered words through a real shell and returns the words it received. */
function throughShell(rendered: string): string[] {
  const out = execFileSync("/bin/sh", ["-c", `printf '%s\\0' ${rendered}`], {
    cwd: dir,
    env: { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: dir },
    encoding: "utf8",
    maxBuffer: 64 * 1024 * 1024,
  });
  return out.split("\0").slice(0, -1);
}

describe("hostile values pass validation where allowed and stay data through a real shell", function () {
  this.timeout(120000);
  const values = generate();
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  it(`generates at least 1000 hostile values, deterministically (${values.length}, seed ${SEED})`, function () {
    assert.ok(values.length >= 1000);
    assert.deepEqual(generate(), values, "the same seed must give the same values");
    for (const f of FIELDS) assert.ok(values.filter((v) => v.field === f).length >= 150, f);
    // The generator really is hostile: command syntax, line breaks, a leading dash, long values.
    assert.ok(values.filter((v) => v.value.includes(marker)).length > values.length / 2);
    assert.ok(values.some((v) => v.value.includes("\n")));
    assert.ok(values.some((v) => v.value.startsWith("-")));
    assert.ok(values.some((v) => Buffer.byteLength(v.value) > 16 * 1024));
    assert.ok(values.some((v) => /[^\u0000-\u007f]/.test(v.value)));
  });

  it("the harness sees a command run when a value is not quoted (a control for the tests below)", function () {
    const control = path.join(dir, "control");
    throughShell(`x$(touch ${control})`);
    assert.equal(fs.existsSync(control), true, "the shell did not run the unquoted command");
    fs.rmSync(control);
    assert.deepEqual(throughShell(`'a b' c`), ["a b", "c"]);
  });

  it("an app container: env values, label values, cmd arguments and volumes round-trip as single words", function () {
    const started = Date.now();
    const app = values.filter((v) => ["env", "label", "cmd", "volume"].includes(v.field));
    let checked = 0;
    for (const batch of batches(app)) {
      const clear: Record<string, string> = {};
      const labels: Record<string, string> = {};
      const cmd: string[] = ["run"];
      const volumes: string[] = [];
      batch.forEach((v, i) => {
        if (v.field === "env") clear[`V${i}`] = v.value;
        else if (v.field === "label") labels[`l${i}`] = v.value;
        else if (v.field === "cmd") cmd.push(v.value);
        else volumes.push(v.value);
      });
      const args = { service: "shop", image: "reg.test/shop:v1", destination: "staging", roles: { web: { hosts: ["10.0.0.1"], cmd, labels, env: { clear }, volumes } } };
      let cfg;
      try {
        cfg = normalizeApp(args as AppArgs);
      } catch (e) {
        assert.fail(`hostile values were refused where they are allowed:\n${(e as Error).message.slice(0, 3000)}`);
      }
      const argv = appRunArgv(appHostSpec(cfg, "web", "10.0.0.1"));
      // Each value is one argv word (env and labels as `k=v`).
      for (const [k, v] of Object.entries(clear)) assert.ok(argv.includes(`${k}=${v}`), `env ${k} is not one word`);
      for (const [k, v] of Object.entries(labels)) assert.ok(argv.includes(`${k}=${v}`), `label ${k} is not one word`);
      for (const v of volumes) assert.equal(argv[argv.indexOf(v) - 1], "--volume");
      assert.deepEqual(argv.slice(-cmd.length), cmd);
      const rendered = line(argv);
      assert.ok(Buffer.byteLength(rendered) < 128 * 1024, "the rendered command does not fit one sh -c string");
      assert.deepEqual(throughShell(rendered), [...argv]);
      checked += batch.length;
    }
    assert.equal(checked, app.length);
    assert.equal(fs.existsSync(marker), false, "a command hidden in a value ran");
    assert.deepEqual(fs.readdirSync(dir), [], "something was written to the temp directory");
    assert.ok(Date.now() - started < 60000);
  });

  it("an image build: build args and labels round-trip as single words", function () {
    const image = values.filter((v) => v.field === "buildArg" || v.field === "imageLabel");
    let checked = 0;
    for (const batch of batches(image)) {
      const buildArgs: Record<string, string> = {};
      const labels: Record<string, string> = {};
      batch.forEach((v, i) => {
        if (v.field === "buildArg") buildArgs[`A${i}`] = v.value;
        else labels[`org.test.l${i}`] = v.value;
      });
      let cfg;
      try {
        cfg = normalizeImage({ context: "/src/app", tags: ["reg.test/app:1"], buildArgs, labels });
      } catch (e) {
        assert.fail(`hostile values were refused where they are allowed:\n${(e as Error).message.slice(0, 3000)}`);
      }
      const { secrets: _s, ...plain } = cfg;
      const argv = buildArgv(plain, { metadataFile: path.join(dir, "none.json"), secretEnv: {}, envBuildArgs: [] });
      for (const [k, v] of Object.entries(buildArgs)) assert.equal(argv[argv.indexOf(`${k}=${v}`) - 1], "--build-arg");
      for (const [k, v] of Object.entries(labels)) assert.equal(argv[argv.indexOf(`${k}=${v}`) - 1], "--label");
      assert.deepEqual(throughShell(line(argv)), [...argv]);
      checked += batch.length;
    }
    assert.equal(checked, image.length);
    assert.equal(fs.existsSync(marker), false, "a command hidden in a value ran");
  });

  it("single-line values as secret env values round-trip through docker's env file format", function () {
    const single = values.filter((v) => !/[\r\n]/.test(v.value));
    assert.ok(single.length > 500);
    const secret = Object.fromEntries(single.map((v, i) => [`S${i}`, v.value]));
    const cfg = normalizeApp({ service: "shop", image: "reg.test/shop:v1", destination: "", hosts: ["10.0.0.1"], env: { secret: Object.fromEntries(Object.entries(secret).slice(0, 50)) } });
    assert.equal(Object.keys(cfg.env.secret).length, 50);
    assert.deepEqual(parseEnvFile(envFileContent(secret)), secret);
  });

  it("the same values are refused, naming the field, where a field takes one line only", function () {
    // A line break in a volume (one line of text) is a problem, not a new line in the command.
    const multi = values.filter((v) => v.value.includes("\n")).slice(0, 50);
    assert.ok(multi.length > 10);
    for (const [i, v] of multi.entries()) {
      assert.throws(
        () => normalizeApp({ service: "shop", image: "reg.test/shop:v1", destination: "", hosts: ["10.0.0.1"], volumes: [v.value] }),
        (e: Error) => e.name === "BerthConfigError" && e.message.includes("`volumes[0]`: must be one line of text without control characters"),
        `value ${i}`,
      );
    }
  });
});
