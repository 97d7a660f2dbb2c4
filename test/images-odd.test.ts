// Odd files in the images directory (issue 15, item 6): only regular files are read, each
// failure is a row, the table always prints, nothing hangs (a FIFO, a symlink to /dev/zero)
// and nothing gives exit 1 or a stack trace.

import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { dockerMissing } from "./helpers/docker.ts";
import { buildImage, CONTAINERD, dp, dropNamespace, fileOf, pushTo, rmi } from "./helpers/images.ts";
import { startRegistry, type Registry } from "./helpers/registry.ts";
import { runDp, tmpdir } from "./helpers/run.ts";

const A = `dp-odd-a:o${process.pid}`;
const B = `dp-odd-b:o${process.pid}`;
const NS = `dp-odd-${process.pid}`;

describe("odd files never stop or hang import and push", { skip: dockerMissing() }, () => {
  let mirror: Registry;
  let out: string;

  before(async () => {
    mirror = await startRegistry();
    for (const n of [A, B]) {
      buildImage(n);
      pushTo(mirror.host, n);
      rmi(n);
    }
    out = tmpdir("dp-odd-out-");
    const r = await dp(["images", "export", "--out", out, "--image", A, "--image", B], { BASE_IMAGE_MIRRORS: mirror.host });
    assert.equal(r.status, 0, r.stdout + r.stderr);
  });
  after(async () => {
    await mirror.close();
    dropNamespace(NS);
    rmi(A, B);
  });

  function copy(): string {
    const dir = tmpdir("dp-odd-");
    for (const f of fs.readdirSync(out)) fs.copyFileSync(path.join(out, f), path.join(dir, f));
    return dir;
  }
  const imp = (dir: string, more: string[] = []) =>
    runDp({}, ["images", "import", "--from", dir, "--runtime", "containerd", "--address", CONTAINERD, "--namespace", NS, ...more], { timeoutMs: 30_000 });

  for (const [what, make, detail] of [
    ["a dangling symlink", (f: string) => fs.symlinkSync("/nonexistent/image.tar.gz", f), "missing \\(or a dangling symlink\\)"],
    ["a symlink to /dev/zero", (f: string) => fs.symlinkSync("/dev/zero", f), "a device, not a regular file"],
    ["a FIFO", (f: string) => spawnSync("mkfifo", [f]), "a FIFO, not a regular file"],
    ["a directory", (f: string) => fs.mkdirSync(f), "a directory, not a regular file"],
  ] as const) {
    it(`${what} in place of a listed file is a failed row; the other image is imported`, async () => {
      const dir = copy();
      const victim = path.join(dir, fileOf(A));
      fs.rmSync(victim);
      make(victim);
      const r = await imp(dir);
      assert.equal(r.signal, null, "not killed by the test's timeout (no hang)");
      assert.equal(r.code, 0, r.stdout + r.stderr);
      assert.match(r.stdout, new RegExp(`${fileOf(A)}\\s+failed\\s+${detail}`));
      assert.match(r.stdout, new RegExp(`${fileOf(B)}\\s+(imported|skipped)`));
    });
  }

  for (const [what, text, detail] of [
    ["{}", "{}", "index.json is not a list of images"],
    ["[null]", "[null]", "index.json entry 0 lacks ref, file or id"],
    ["not JSON", "{", "index.json is not JSON"],
  ] as const) {
    it(`index.json ${what}: a row for index.json and one per file, exit 7 under --policy fail, never 1`, async () => {
      const dir = copy();
      fs.writeFileSync(path.join(dir, "index.json"), text);
      // Re-listed in SHA256SUMS, so that the content itself is what is judged.
      const sums = fs.readFileSync(path.join(dir, "SHA256SUMS"), "utf8").split("\n").filter((l) => !l.endsWith("  index.json")).join("\n");
      fs.writeFileSync(path.join(dir, "SHA256SUMS"), sums);
      const r = await imp(dir, ["--policy", "fail"]);
      assert.equal(r.code, 7, r.stdout + r.stderr);
      assert.match(r.stdout, new RegExp(`index\\.json\\s+failed\\s+${detail.replace(/[.[\]{}]/g, "\\$&")}`));
      assert.match(r.stdout, new RegExp(`${fileOf(A)}\\s+failed\\s+not in index.json`));
      assert.doesNotMatch(r.stderr, /internal error|    at /);
    });
  }

  it("SHA256SUMS as a FIFO: a row, no hang", async () => {
    const dir = copy();
    fs.rmSync(path.join(dir, "SHA256SUMS"));
    spawnSync("mkfifo", [path.join(dir, "SHA256SUMS")]);
    const r = await imp(dir);
    assert.equal(r.signal, null);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /SHA256SUMS\s+failed\s+a FIFO, not a regular file/);
    assert.match(r.stdout, new RegExp(`${fileOf(A)}\\s+failed\\s+not listed in SHA256SUMS`));
  });

  it("--from naming a file, or nothing: exit 2 with one line", async () => {
    for (const from of [path.join(out, "SHA256SUMS"), path.join(out, "nope")]) {
      const r = await imp(from);
      assert.equal(r.code, 2, r.stderr);
      assert.match(r.stderr, /is not a directory|does not exist/);
      assert.doesNotMatch(r.stderr, /    at /);
    }
  });

  it("export into a directory whose index.json is damaged: exit 2 naming it, nothing overwritten", async () => {
    const dir = tmpdir("dp-odd-out-");
    fs.writeFileSync(path.join(dir, "index.json"), "[null]");
    const r = await runDp({ BASE_IMAGE_MIRRORS: mirror.host }, ["images", "export", "--out", dir, "--image", A], { timeoutMs: 60_000 });
    assert.equal(r.code, 2, r.stdout + r.stderr);
    assert.match(r.stderr, /index\.json entry 0 lacks ref, file or id/);
    assert.equal(fs.readFileSync(path.join(dir, "index.json"), "utf8"), "[null]");
  });

  it("push: a symlink to /dev/zero is a failed row, no hang", async () => {
    const reg = await startRegistry();
    try {
      const dir = copy();
      fs.rmSync(path.join(dir, fileOf(A)));
      fs.symlinkSync("/dev/zero", path.join(dir, fileOf(A)));
      const r = await runDp({}, ["images", "push", "--from", dir, "--registry", reg.host], { timeoutMs: 60_000 });
      assert.equal(r.signal, null);
      assert.equal(r.code, 7, r.stdout + r.stderr);
      assert.match(r.stdout, new RegExp(`${fileOf(A)}\\s+failed\\s+a device, not a regular file`));
      assert.match(r.stdout, /pushed\s+sha256:/);
    } finally {
      await reg.close();
    }
  });
});
