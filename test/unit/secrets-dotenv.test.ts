/**
 * Kamal's `.kamal/secrets` format, parsed without running anything: the command hook is a fake.
 * Expected values are dotenv 3.2's own (spec/dotenv/parser_spec.rb) and Kamal's
 * (test/secrets_test.rb, test/secrets/dotenv_inline_command_substitution_test.rb).
 */
import { strict as assert } from "node:assert";
import {
  DotenvSyntaxError,
  chomp,
  commandEnd,
  extractSecret,
  isKamalSecretsCommand,
  parseDotenv,
  parseKamalSecretsCommand,
  secretsFileNames,
  shellEscape,
  shellSplit,
} from "../../sdk/secrets/dotenv";

/** Parses with `echo`-like commands: `echo X` → `X\n`; records each command run. */
async function parse(text: string, env: Record<string, string> = {}) {
  const ran: string[] = [];
  const values = await parseDotenv(text, {
    env,
    command: async (cmd) => {
      ran.push(cmd);
      const m = /^echo (.*)$/s.exec(cmd);
      if (m) return `${m[1].replace(/^"(.*)"$/s, "$1").replace(/^'(.*)'$/s, "$1")}\n`;
      if (cmd === "dollar") return "pa$word \\$x\n";
      if (cmd === "crlf") return "v\r\n";
      throw new Error(`no fake for ${cmd}`);
    },
  });
  return { values, ran };
}

describe("secrets/dotenv parseDotenv (dotenv 3.2 as Kamal calls it)", () => {
  const table: [string, Record<string, string>, Record<string, string>?][] = [
    ["FOO=bar", { FOO: "bar" }],
    ["FOO= bar", { FOO: "bar" }],
    ["FOO=bar\\ bar", { FOO: "bar bar" }],
    ["  FOO =bar  ", { FOO: "bar" }],
    ['FOO="bar"  ', { FOO: "bar" }],
    ["FOO='bar'", { FOO: "bar" }],
    ['FOO="escaped\\"bar"', { FOO: 'escaped"bar' }],
    ["FOO=", { FOO: "" }],
    ["FOO=test\nBAR=$FOO", { FOO: "test", BAR: "test" }],
    ["FOO=test\nBAR=${FOO}bar", { FOO: "test", BAR: "testbar" }],
    ["BAR=$FOO", { BAR: "from-env" }, { FOO: "from-env" }],
    ["FOO=file\nBAR=$FOO", { FOO: "file", BAR: "file" }, { FOO: "env" }],
    ["BAR=$UNSET", { BAR: "" }],
    ['FOO=test\nBAR="quote $FOO"', { FOO: "test", BAR: "quote test" }],
    ["BAR='quote $FOO'", { BAR: "quote $FOO" }],
    ['FOO="foo\\$BAR"', { FOO: "foo$BAR" }],
    ['FOO=test\nBAR="foo\\${FOO} ${FOO}"', { FOO: "test", BAR: "foo${FOO} test" }],
    ["OPTION_A: 1", { OPTION_A: "1" }],
    ["export OPTION_A=2", { OPTION_A: "2" }],
    ["OPTION_A=2\nexport OPTION_A", { OPTION_A: "2" }],
    ['FOO="bar\\nbaz"', { FOO: "bar\\nbaz" }],
    ['DOTENV_LINEBREAK_MODE=legacy\nFOO="bar\\nbaz\\rfizz"', { DOTENV_LINEBREAK_MODE: "legacy", FOO: "bar\nbaz\rfizz" }],
    ["FOO.BAR=foobar", { "FOO.BAR": "foobar" }],
    ["lol$wut", {}],
    ["\n \t  \nfoo=bar\n \nfizz=buzz", { foo: "bar", fizz: "buzz" }],
    ['FOO="a\n\nb"', { FOO: "a\n\nb" }],
    ["foo=bar # this is foo", { foo: "bar" }],
    ['foo= "bar#baz" # comment', { foo: "bar#baz" }],
    ["# HELLO=world\n", {}],
    ["A=first line\nexport B='line 1\nline 2'\nC=\"x\"", { A: "first line", B: "line 1\nline 2", C: "x" }],
    ["E='this is \\'quoted\\''", { E: "this is \\'quoted\\'" }],
    ["FOO=bar\rbaz=fbb", { FOO: "bar", baz: "fbb" }],
    ['FOO="bar\\$ \\$\\$"', { FOO: "bar$ $$" }],
    ['FOO="bar $ "', { FOO: "bar $ " }],
    ['FOO="bar" baz', { FOO: '"bar" baz' }],
    ["SECRET_TOKEN='1234 with \"中文\"'", { SECRET_TOKEN: '1234 with "中文"' }],
  ];
  for (const [text, expected, env] of table) {
    it(`${JSON.stringify(text)} → ${JSON.stringify(expected)}`, async () => {
      assert.deepEqual((await parse(text, env)).values, expected);
    });
  }

  it("runs `$(...)` with the file's variables expanded first, and removes one trailing newline", async () => {
    const { values, ran } = await parse("VAR1=var1\ninterp=$(echo \"VAR1 is $VAR1\")\nC=$(crlf)");
    assert.deepEqual(values, { VAR1: "var1", interp: "VAR1 is var1", C: "v" });
    assert.deepEqual(ran, ['echo "VAR1 is var1"', "crlf"]);
  });

  it("matches balanced parentheses, and leaves an escaped `\\$(...)` as written (its variables still expanded)", async () => {
    const nested = await parse('echo=$(echo "$(echo hello)")');
    assert.deepEqual(nested.ran, ['echo "$(echo hello)"']);
    const { values, ran } = await parse("V=x\necho=escaped-\\$(echo $V)");
    assert.deepEqual(values, { V: "x", echo: "escaped-$(echo x)" });
    assert.deepEqual(ran, []);
  });

  it("keeps a command's output byte for byte: no `$VAR` expansion of what a command printed (dotenv would)", async () => {
    assert.equal((await parse("P=$(dollar)")).values.P, "pa$word \\$x");
  });

  it("refuses `export X` with no value when X is not set earlier, naming the line", async () => {
    await assert.rejects(parse("A=1\n\nexport NOPE"), (e: Error) => {
      assert.ok(e instanceof DotenvSyntaxError);
      assert.equal(e.line, 3);
      assert.equal(e.message, "`export NOPE` has no value and `NOPE` is not set earlier in the file. Give it a value (`NOPE=…`) or remove the line.");
      return true;
    });
  });

  it("gives the command hook the line, the key and the command as written", async () => {
    const seen: unknown[] = [];
    await parseDotenv("# c\nA=1\n\nB=$(run $A)", {
      env: {},
      command: async (cmd, at) => {
        seen.push([cmd, at.key, at.line, at.written, Object.fromEntries(at.values)]);
        return "";
      },
    });
    assert.deepEqual(seen, [["run 1", "B", 4, "run $A", { A: "1" }]]);
  });

  it("Kamal's command pattern: escaped parentheses inside, no empty groups, no backslash-newline", () => {
    const cmd = 'kamal secrets extract KEY1 \\{\\"KEY1\\":\\"pass\\)word\\"\\}';
    const text = `$(${cmd})`;
    assert.equal(commandEnd(text, 1), text.length);
    assert.equal(commandEnd("$()", 1), -1);
    assert.equal(commandEnd("$(a ())", 1), -1);
    assert.equal(commandEnd("$(a \\\nb)", 1), -1);
    assert.equal(commandEnd("$(a (b) c) d", 1), 10);
  });

  it("lists Kamal's files: -common first, then the destination's or the plain one", () => {
    assert.deepEqual(secretsFileNames(".kamal/secrets"), [".kamal/secrets-common", ".kamal/secrets"]);
    assert.deepEqual(secretsFileNames("custom/path/secrets", "prod"), ["custom/path/secrets-common", "custom/path/secrets.prod"]);
  });

  it("chomp removes one \\n, \\r\\n or \\r", () => {
    assert.deepEqual(["a\n\n", "a\r\n", "a\r", "a"].map(chomp), ["a\n", "a", "a", "a"]);
  });
});

describe("secrets/dotenv Shellwords and `kamal secrets` commands", () => {
  it("escapes like Ruby's Shellwords.escape and splits back to the same word", () => {
    assert.equal(shellEscape(""), "''");
    assert.equal(shellEscape("abc-1.2,3:+/@_"), "abc-1.2,3:+/@_");
    assert.equal(shellEscape('{"a":"b c"}'), '\\{\\"a\\":\\"b\\ c\\"\\}');
    assert.equal(shellEscape("a\nb"), "a'\n'b");
    for (const word of ['{"DB":"p=w \\"q\\" \'s\' $HOME \\\\ ()","中文":"x\\ny"}', "", "a\nb", "tab\there", "文中_)("]) {
      assert.deepEqual(shellSplit(`kamal secrets extract K ${shellEscape(word)}`), ["kamal", "secrets", "extract", "K", word]);
    }
  });

  it("splits like Ruby's Shellwords.split: quotes, escapes, adjacent parts, errors", () => {
    assert.deepEqual(shellSplit(`a 'b c' "d \\" e" f\\ g h"i"'j'`), ["a", "b c", 'd " e', "f g", "hij"]);
    assert.deepEqual(shellSplit('"a\\b"'), ["a\\b"]);
    assert.deepEqual(shellSplit("  "), []);
    assert.throws(() => shellSplit("a 'b"), /Unmatched quote/);
  });

  it("recognizes `kamal secrets …` as Kamal does (/\\A\\s*kamal\\s*secrets\\s+/)", () => {
    assert.equal(isKamalSecretsCommand(" kamal secrets fetch x"), true);
    assert.equal(isKamalSecretsCommand("kamal secrets"), false);
    assert.equal(isKamalSecretsCommand("bin/kamal secrets fetch"), false);
  });

  it("parses fetch (-a/--adapter, --account, --from, with = or a separate value) and extract", () => {
    assert.deepEqual(parseKamalSecretsCommand(shellSplit("kamal secrets fetch --adapter 1password --account=acme --from Vault/Item A B")), {
      kind: "fetch",
      adapter: "1password",
      account: "acme",
      from: "Vault/Item",
      names: ["A", "B"],
    });
    assert.deepEqual(parseKamalSecretsCommand(["kamal", "secrets", "fetch", "-a", "doppler", "X", "-c", "config/deploy.yml"]), { kind: "fetch", adapter: "doppler", names: ["X"] });
    assert.deepEqual(parseKamalSecretsCommand(["kamal", "secrets", "extract", "K", "{}"]), { kind: "extract", name: "K", json: "{}" });
    assert.throws(() => parseKamalSecretsCommand(["kamal", "secrets", "fetch", "X"]), /needs `--adapter`/);
    assert.throws(() => parseKamalSecretsCommand(["kamal", "secrets", "print"]), /only `kamal secrets fetch` and `kamal secrets extract`/);
    assert.throws(() => parseKamalSecretsCommand(["kamal", "secrets", "fetch", "-a", "x", "--bogus"]), /has the option `--bogus`/);
  });

  it("extract takes the exact key, else the first key ending in /NAME (Kamal's `extract`)", () => {
    assert.equal(extractSecret("foo", { foo: "oof", bar: "rab" }), "oof");
    assert.equal(extractSecret("foo", { "abc/foo": "oof" }), "oof");
    assert.equal(extractSecret("foo", { "abc/foobar": "x" }), undefined);
  });
});
