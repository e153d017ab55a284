import { strict as assert } from "node:assert";
import { DockerignoreError, dockerignoreMatcher } from "../../sdk/config/image";

// [.dockerignore content, path relative to the context, excluded]. Every row was checked against
// moby/patternmatcher itself (ignorefile.ReadAll + New + MatchesOrParentMatches), which buildx and
// BuildKit use.
const CASES: [string, string, boolean][] = [
  ["# comment\nsecret", "secret", true],
  ["# secret", "# secret", false],
  [" # secret", "# secret", true],
  ["\n\n   \nsecret\n", "secret", true],
  ["  secret  \t", "secret", true],
  ["secret\r\n", "secret", true],
  ["\uFEFFsecret", "secret", true],
  ["/secret", "secret", true],
  ["/secret", "app/secret", false],
  ["./secret", "secret", true],
  ["secret/", "secret/key", true],
  ["a/../secret", "secret", true],
  ["a//b/./c", "a/b/c", true],
  ["../secret", "secret", false],
  ["*.log", "debug.log", true],
  ["*.log", "logs/debug.log", false],
  ["*", "anything/below", true],
  ["*/*.log", "logs/debug.log", true],
  ["build?", "build1", true],
  ["build?", "build12", false],
  ["a?c", "a/c", false],
  ["file[abc].txt", "fileb.txt", true],
  ["file[abc].txt", "filed.txt", false],
  ["v[0-9].tar", "v7.tar", true],
  ["v[0-9].tar", "vx.tar", false],
  ["[a-c][x-z]", "bz", true],
  ["[a-c][x-z]", "dz", false],
  ["tmp[^0-9]", "tmpa", true],
  ["tmp[^0-9]", "tmp1", false],
  ["[!a]x", "!x", true],
  ["[!a]x", "bx", false],
  ["\\*.txt", "*.txt", true],
  ["\\*.txt", "a.txt", false],
  ["\\!important", "!important", true],
  ["\\#notes", "#notes", true],
  ["what\\?", "what?", true],
  ["what\\?", "whatx", false],
  ["[\\]]", "]", true],
  ["**/*.bak", "x.bak", true],
  ["**/*.bak", "a/b/c/x.bak", true],
  ["a/**/b", "a/b", true],
  ["a/**/b", "a/x/y/b", true],
  ["a/**/b", "a/x/c", false],
  ["docs/**", "docs/a/b.md", true],
  ["docs/**", "docs", false],
  ["**", "any/thing", true],
  ["**/node_modules", "node_modules/x", true],
  ["**/node_modules", "pkg/node_modules/x/y.js", true],
  ["**.log", "app.log", true],
  ["node_modules", "node_modules/left-pad/index.js", true],
  ["node_modules", "src/node_modules", false],
  ["docs\n!docs/keep.md", "docs/keep.md", false],
  ["docs\n!docs/keep.md", "docs/other.md", true],
  ["*.md\n!README.md", "README.md", false],
  ["*.md\n!README.md", "CHANGES.md", true],
  ["!README.md\n*.md", "README.md", true],
  ["*\n!src\nsrc/tests", "src/main.ts", false],
  ["*\n!src\nsrc/tests", "src/tests/a.ts", true],
  ["*\n!src\nsrc/tests", "Dockerfile", true],
  ["data\n!data/*.csv\ndata/secret.csv", "data/a.csv", false],
  ["data\n!data/*.csv\ndata/secret.csv", "data/secret.csv", true],
  ["assets\n!assets/**/*.png", "assets/img/x/logo.png", false],
  ["assets\n!assets/**/*.png", "assets/img/x/logo.svg", true],
  ["! /keep\n*", "keep", true],
  ["*.md|x", "notes.md.bak", true],
  ["*.md|x", "inbox", true],
  ["*.md|x", "notes.txt", false],
];

function refusal(content: string, path?: string): string {
  try {
    const m = dockerignoreMatcher(content);
    if (path !== undefined) m(path);
  } catch (e) {
    assert.ok(e instanceof DockerignoreError, String(e));
    return e.message;
  }
  assert.fail(`expected a DockerignoreError for ${JSON.stringify(content)}`);
}

describe("config/image dockerignoreMatcher: Docker's rules", () => {
  it(`decides ${CASES.length} pattern/path cases as Docker does`, () => {
    assert.ok(CASES.length >= 40);
    assert.deepEqual(
      CASES.map(([content, path]) => [content, path, dockerignoreMatcher(content)(path)]),
      CASES,
    );
  });

  it("comments, blank lines and whitespace: only a `#` in the first column starts a comment", () => {
    const m = dockerignoreMatcher("# build output\n\n  dist  \n #x\n\t\n");
    assert.deepEqual(["dist", "dist/app.js", "#x", "# build output", "src"].map(m), [true, true, true, false, false]);
  });

  it("cleans patterns like filepath.Clean and drops one leading slash, exceptions too", () => {
    const m = dockerignoreMatcher("/a/./b/../c/\n!/a/c/keep\n./d//e");
    assert.deepEqual(["a/c", "a/c/x", "a/c/keep", "a/b", "d/e", "d"].map(m), [true, true, false, false, true, false]);
  });

  it("a re-included file under an excluded directory, and the walker hint for it", () => {
    const m = dockerignoreMatcher("vendor\n!vendor/modules.txt");
    assert.deepEqual(["vendor", "vendor/a/b.go", "vendor/modules.txt"].map(m), [true, true, false]);
    assert.equal(m.hasExceptions, true);
    assert.equal(dockerignoreMatcher("vendor\n# !vendor/x").hasExceptions, false);
    assert.equal(dockerignoreMatcher("").hasExceptions, false);
    assert.equal(dockerignoreMatcher("")("anything"), false);
  });

  it("refuses what Docker refuses when it reads the file, naming the line", () => {
    assert.equal(refusal("a\n!"), "line 2: `!` is a lone `!`: an exception needs a pattern after it.");
    const syntax = "is not a pattern Docker accepts: a `[…]` class must have members and a closing `]`, a range cannot start with `-` or `]`, and a `\\` must escape a character. Escape a literal `[`, `]`, `-` or `\\` with `\\`.";
    assert.equal(refusal("x\n  [a  "), `line 2: \`[a\` ${syntax}`);
    assert.equal(refusal("[]a]"), `line 1: \`[]a]\` ${syntax}`);
    assert.equal(refusal("[-a]"), `line 1: \`[-a]\` ${syntax}`);
    assert.equal(refusal("a\\"), `line 1: \`a\\\` ${syntax}`);
  });

  it("refuses a pattern whose regexp Docker refuses when it first uses it, as the build fails there", () => {
    assert.equal(refusal("\\y", "a"), "line 1: `\\y` has `\\y`, which Docker reads as a regular-expression escape and refuses. Remove the `\\`.");
    assert.equal(refusal("ok\n[z-a]*", "a"), "line 2: `[z-a]*` has a character range whose end comes before its start, which Docker refuses.");
    assert.equal(refusal("a*[", "a"), "line 1: `a*[` has a character class `[...]` that is not closed, which Docker refuses.");
    assert.equal(refusal("*\n!\\y", "a"), "line 2: `!\\y` has `\\y`, which Docker reads as a regular-expression escape and refuses. Remove the `\\`.");
    // Docker never evaluates an exception while nothing is excluded, so it never notices this one.
    assert.equal(dockerignoreMatcher("!\\y")("a"), false);
  });

  it("keeps Docker's regexp quirks: `\\d` is a digit, `{n}` repeats, `[[:alpha:]]` is a class", () => {
    assert.deepEqual(["v1", "vd"].map(dockerignoreMatcher("v\\d")), [true, false]);
    assert.deepEqual(["xx.tmp", "x{2}.tmp"].map(dockerignoreMatcher("x{2}*")), [true, false]);
    assert.deepEqual(["a", "1"].map(dockerignoreMatcher("[[:alpha:]]")), [true, false]);
  });
});
