// The smaller truths of issue 15 (item 11): a missing password file is a usage error, a full
// disk during export is a clear row with no .tmp left behind, and the exit codes in
// `images --help` are the code's.

import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import { after, before, describe, it } from "node:test";
import { dockerMissing } from "./helpers/docker.ts";
import { buildImage, dp, pushTo, rmi } from "./helpers/images.ts";
import { startRegistry, type Registry } from "./helpers/registry.ts";
import { tmpdir } from "./helpers/run.ts";

const A = `dp-small-a:s${process.pid}`;

describe("images: smaller truths", { skip: dockerMissing() }, () => {
  let mirror: Registry;
  let priv: Registry;
  let out: string;

  before(async () => {
    [mirror, priv] = await Promise.all([startRegistry(), startRegistry({ user: "ops", password: "small-pw" })]);
    buildImage(A);
    pushTo(mirror.host, A);
    rmi(A);
    out = tmpdir("dp-small-out-");
    const r = await dp(["images", "export", "--out", out, "--image", A], { BASE_IMAGE_MIRRORS: mirror.host });
    assert.equal(r.status, 0, r.stdout + r.stderr);
  });
  after(async () => {
    await Promise.all([mirror.close(), priv.close()]);
    rmi(A);
  });

  it("a missing REGISTRY_PASSWORD_FILE is exit 2 with one line, no stack trace", async () => {
    const r = await dp(["images", "push", "--from", out, "--registry", priv.host], { REGISTRY_USERNAME: "ops", REGISTRY_PASSWORD_FILE: "/nonexistent/pw" });
    assert.equal(r.status, 2, r.stderr);
    assert.match(r.stderr, /REGISTRY_PASSWORD_FILE \/nonexistent\/pw: missing/);
    assert.doesNotMatch(r.stderr, /    at /);
  });

  it("disk full during export: a row saying so, no .tmp left", async (t) => {
    const mnt = tmpdir("dp-small-full-");
    if (spawnSync("mount", ["-t", "tmpfs", "-o", "size=256k", "tmpfs", mnt]).status !== 0) return t.skip("cannot mount a tmpfs here");
    try {
      const r = await dp(["images", "export", "--out", mnt, "--image", A], { BASE_IMAGE_MIRRORS: mirror.host });
      assert.equal(r.status, 7, r.stdout + r.stderr);
      assert.match(r.stdout, /failed\s+writing \S+\.tar\.gz: no space left on device/);
      assert.deepEqual(fs.readdirSync(mnt).filter((f) => f.endsWith(".tmp")), []);
    } finally {
      spawnSync("umount", [mnt]);
    }
  });

  it("images --help lists the exit codes the code uses", async () => {
    const r = await dp(["images", "--help"]);
    assert.equal(r.status, 0);
    assert.match(r.stdout, /Exit codes: 0 ok, 2 usage .*\n6 local I\/O .*7 some images failed .*\n.*8 the container runtime, Docker or/);
    assert.doesNotMatch(r.stdout, /4 a file failed its checksum/);
  });
});
