import { strict as assert } from "node:assert";
import { BerthConfigError } from "../../sdk/config/errors";
import { ImageArgs, dockerignoreMatcher, normalizeImage } from "../../sdk/config/image";

function problems(fn: () => unknown): string[] {
  try {
    fn();
  } catch (e) {
    assert.ok(e instanceof BerthConfigError, String(e));
    return e.problems.map((p) => `\`${p.path}\`: ${p.message}`);
  }
  assert.fail("expected a BerthConfigError");
}

const image = (input: unknown) => problems(() => normalizeImage(input as ImageArgs));

describe("config/image normalizeImage", () => {
  it("defaults: push, no load, Dockerfile in the context, service and destination labels first", () => {
    assert.deepEqual(normalizeImage({ context: "/src", tags: ["reg/app:1"], service: "app", destination: "staging", labels: { team: "a" } }), {
      context: "/src",
      dockerfile: "/src/Dockerfile",
      buildArgs: {},
      secrets: {},
      ssh: [],
      platforms: [],
      tags: ["reg/app:1"],
      labels: { service: "app", destination: "staging", team: "a" },
      exports: { push: true, load: false },
      cacheFrom: [],
      cacheTo: [],
      noCache: false,
      pull: false,
    });
  });

  it("seed 002: a build that exports nowhere is refused, saying why", () => {
    assert.deepEqual(image({ context: "/src", tags: ["reg/app:1"], push: false }), [
      "`push`: is false and neither `load` nor `oci` is set, so the image would stay only in the builder's cache (with the `docker-container` driver nothing is exported unless asked: seed 002's \"does not exist locally\"). Set `push`, `load` or `oci`.",
    ]);
  });

  it("needs a tag to push or load; a tag must have one and no digest", () => {
    assert.deepEqual(image({ context: "/src" }), ["`tags`: must name at least one image reference to push; got nothing. Add e.g. `registry.example.com/app:latest`."]);
    const p = image({ context: "/src", tags: ["reg/app", "reg/app@sha256:" + "a".repeat(64)] });
    assert.equal(p[0], "`tags[0]`: must be an image reference with a tag, like `registry.example.com/app:1.2.3`; got \"reg/app\". Add `:<tag>`, e.g. `:latest` or a version.");
    assert.match(p[1], /^`tags\[1\]`: must be an image reference with a tag, like `registry.example.com\/app:1.2.3`; got "reg\/app@sha256:a+\.\.\.\. A digest is an output of the build \(`Image.digest`\), not a tag.$/);
    assert.equal(p.length, 2);
  });

  it("checks platforms, caches, labels, secrets ids and paths with their paths", () => {
    assert.deepEqual(
      image({
        context: "src",
        tags: ["reg/app:1"],
        platforms: ["linux/amd64", "linux/amd64"],
        cacheTo: [{ type: "gha" }, { type: "registry", ref: "reg/cache:b", mode: "all" }],
        cacheFrom: [{ type: "local", path: "/c", mode: "max" }],
        labels: { service: "x" },
        secrets: { "bad id": "v" },
        oci: { dest: "out.tar" },
      }).sort(),
      [
        "`context`: must be an absolute path to the build context directory; got \"src\".",
        "`secrets.bad id`: must be a secret id (letters, digits, `_`, `.`, `-`); got \"bad id\".",
        "`platforms[1]`: must not repeat an earlier entry; got \"linux/amd64\" again. Remove the duplicate.",
        "`labels.service`: is set from the `service` field; got \"x\" in `labels`. Set `service` instead.",
        "`oci.dest`: must be an absolute path to the OCI output; got \"out.tar\".",
        "`cacheFrom[0].mode`: only applies to `cacheTo`: reading a cache has no mode. Remove it.",
        "`cacheTo[0].type`: must be `registry` or `local`; got \"gha\".",
        "`cacheTo[1].mode`: must be `min` or `max`; got \"all\".",
      ].sort(),
    );
  });

  it("never shows a build secret's value", () => {
    const p = image({ context: "/src", tags: ["reg/app:1"], secrets: { token: 12345 } });
    assert.deepEqual(p, ["`secrets.token`: must be a string; got a value that is not shown because it is secret."]);
  });
});

describe("config/image dockerignoreMatcher", () => {
  const m = dockerignoreMatcher(["# comment", "node_modules", "*.log", "/tmp/", "**/*.bak", "docs/**", "!docs/keep.md", "build?"].join("\n"));

  it("excludes by name, glob, leading slash, ** and directory prefix", () => {
    const cases: [string, boolean][] = [
      ["node_modules", true],
      ["node_modules/x/index.js", true],
      ["src/node_modules", false],
      ["app.log", true],
      ["src/app.log", false],
      ["tmp/a", true],
      ["a/b/c.bak", true],
      ["c.bak", true],
      ["docs/a.md", true],
      ["docs/keep.md", false],
      ["build1", true],
      ["build12", false],
      ["src/main.ts", false],
    ];
    assert.deepEqual(
      cases.map(([p]) => [p, m(p)]),
      cases,
    );
    assert.equal(m.hasExceptions, true);
    assert.equal(dockerignoreMatcher("a").hasExceptions, false);
  });
});
