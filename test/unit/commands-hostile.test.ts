import * as assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import { line, quote } from "../../sdk/commands/shell";
import { appRunArgv } from "../../sdk/commands/app";
import { appHostSpec } from "../../sdk/config/app-host";
import { normalizeApp } from "../../sdk/config/app";

describe("commands: hostile input stays data", function () {
  const nasty = [`$(touch /tmp/berth-pwned)`, "`id`", `a'b"c`, "x; rm -rf /", "line1\\nline2", "*", "~root", "-e", "", " spaced  out ", "$HOME", "a\tb"];

  it("quote() round-trips every hostile word through a real shell unchanged", function () {
    for (const word of nasty) {
      const got = execFileSync("sh", ["-c", `printf '%s' ${quote(word)}`], { encoding: "utf8" });
      assert.equal(got, word, `quote(${JSON.stringify(word)}) = ${quote(word)}`);
    }
  });

  it("an app container's clear env, labels and volumes reach docker as single literal arguments", function () {
    const cfg = normalizeApp({
      service: "shop",
      image: "reg.test/shop:v1",
      destination: "staging",
      hosts: ["10.0.0.1"],
      env: { clear: { EVIL: "$(touch /tmp/berth-pwned); `id` 'q' \"d\"" } },
      labels: { note: "a'b; echo hi" },
      volumes: ["/data/it's:/data"],
      roles: undefined,
    } as any);
    const argv = appRunArgv(appHostSpec(cfg, "web", "10.0.0.1"));
    const rendered = line(argv);
    const words = execFileSync("sh", ["-c", `printf '%s\\0' ${rendered}`], { encoding: "utf8" }).split("\0").slice(0, -1);
    assert.deepEqual(words, [...argv]);
    assert.ok(words.includes("EVIL=$(touch /tmp/berth-pwned); `id` 'q' \"d\""));
    assert.equal(fs.existsSync("/tmp/berth-pwned"), false, "a command substitution ran");
  });
});
