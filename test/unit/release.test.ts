/**
 * One version per role: the in-process release that holds a role's host updates together
 * (`sdk/provider/app-host.ts`), with its waits shortened. What the real tier cannot easily show:
 * a host of the boot groups whose update never starts is counted out after the join window, and
 * the order of groups when a later or an earlier group fails.
 */
import * as assert from "node:assert/strict";
import { earlierGroups, joinRelease, releaseTiming, settle } from "../../sdk/provider/app-host";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
let n = 0;
/** A host of a fresh release (each test its own service). */
function member(host: string, bootGroups?: string[][], service = `svc${n}`) {
  return { owner: "p/s", service, role: "web", destination: "production", version: "v2", host, bootGroups };
}

describe("provider: the release of a role's hosts (one version per role)", function () {
  this.timeout(10_000);
  const saved = { ...releaseTiming };
  beforeEach(() => {
    n += 1;
    Object.assign(releaseTiming, { groupJoinMs: 600, joinGraceMs: 100 });
  });
  after(() => Object.assign(releaseTiming, saved));

  it("a host of the boot groups whose update never starts is counted out after the join window: the others commit", async function () {
    const groups = [["a"], ["b"]];
    const r = joinRelease(member("a", groups));
    assert.deepEqual(await earlierGroups(r, "a", 5000), [], "the first group never waits");
    const t0 = Date.now();
    assert.deepEqual(await settle(r, "a", true, 5000), [], "b never joined: nothing of it changed, so a keeps the new version");
    const waited = Date.now() - t0;
    assert.ok(waited >= 500 && waited < 2000, `waited for b to join for about the join window (${waited} ms)`);
  });

  it("a later group waits for the earlier one to switch; when it then fails, the earlier group learns it and switches back", async function () {
    const groups = [["a"], ["b"]];
    const ra = joinRelease(member("a", groups));
    const rb = joinRelease(member("b", groups));
    assert.equal(ra, rb, "one release for the role's hosts");
    let bStarted = 0;
    const b = (async () => {
      const blocked = await earlierGroups(rb, "b", 5000);
      bStarted = Date.now();
      await sleep(50); // b switches, and its health check fails
      await settle(rb, "b", false, 0);
      return blocked;
    })();
    await sleep(200); // a switches
    const aSwitched = Date.now();
    const aFailed = await settle(ra, "a", true, 5000);
    assert.deepEqual(await b, [], "b was not blocked: a had switched");
    assert.ok(bStarted >= aSwitched, "b started only after a switched");
    assert.deepEqual(aFailed, ["b"], "a is told b failed, so it switches back");
  });

  it("when an earlier group fails, a later one is not deployed at all", async function () {
    const groups = [["a"], ["b", "c"]];
    const r = joinRelease(member("a", groups));
    joinRelease(member("b", groups));
    joinRelease(member("c", groups));
    const later = earlierGroups(r, "b", 5000);
    await settle(r, "a", false, 0);
    assert.deepEqual(await later, ["a"]);
  });

  it("without boot groups: each host waits for every host that joined, and hears of a failure", async function () {
    const r = joinRelease(member("a"));
    joinRelease(member("b"));
    const a = settle(r, "a", true, 5000);
    await sleep(150);
    await settle(r, "b", false, 0);
    assert.deepEqual(await a, ["b"]);
  });
});
