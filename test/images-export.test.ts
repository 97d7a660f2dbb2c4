// Export never ships a stale local image silently (issue 15, item 4): it pulls, compares,
// tries each mirror then the image's own registry, survives a mirror equal to that
// registry, and reports each source's real answer.

import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { docker, dockerMissing } from "./helpers/docker.ts";
import { buildImage, dp, pushTo, rmi } from "./helpers/images.ts";
import { freePort, startRegistry, type Registry } from "./helpers/registry.ts";
import { tmpdir } from "./helpers/run.ts";

const T = `e${process.pid}`;
const indexOf = (dir: string) => JSON.parse(fs.readFileSync(path.join(dir, "index.json"), "utf8")) as { ref: string; id: string; digest?: string }[];

describe("export pulls, compares and says where from", { skip: dockerMissing() }, () => {
  let mirror: Registry;
  let empty: Registry;
  let origin: Registry;
  let dead: number;
  const made: string[] = [];

  before(async () => {
    [mirror, empty, origin] = await Promise.all([startRegistry(), startRegistry(), startRegistry()]);
    dead = await freePort();
  });
  after(async () => {
    await Promise.all([mirror.close(), empty.close(), origin.close()]);
    rmi(...made);
  });

  it("a stale local image of the same name is replaced by the mirror's, and the table says so", async () => {
    const ref = `dp-exp-stale:${T}`;
    made.push(ref);
    const fresh = buildImage(ref, "fresh");
    const digest = pushTo(mirror.host, ref);
    const stale = buildImage(ref, "stale");
    assert.notEqual(stale, fresh);
    const out = tmpdir("dp-exp-");
    const r = await dp(["images", "export", "--out", out, "--image", ref], { BASE_IMAGE_MIRRORS: mirror.host });
    assert.equal(r.status, 0, r.stdout + r.stderr);
    assert.match(r.stdout, new RegExp(`exported\\s+.* from mirror ${mirror.host}, replaced the stale local ${stale.slice(0, 19)}`));
    assert.deepEqual([indexOf(out)[0].id, indexOf(out)[0].digest], [fresh, digest], "the mirror's image and its digest, not the local one");
  });

  it("a mirror equal to the image's own registry: pulled once, kept, exported", async () => {
    const ref = `${origin.host}/dp-exp-same:${T}`;
    made.push(ref);
    const id = buildImage(ref);
    docker(["push", ref]);
    rmi(ref);
    const out = tmpdir("dp-exp-");
    const r = await dp(["images", "export", "--out", out, "--image", ref], { BASE_IMAGE_MIRRORS: origin.host });
    assert.equal(r.status, 0, r.stdout + r.stderr);
    assert.equal(indexOf(out)[0].id, id);
  });

  it("with mirrors set, the image's own registry is still tried, after them", async () => {
    const ref = `${origin.host}/dp-exp-origin:${T}`;
    made.push(ref);
    const id = buildImage(ref);
    docker(["push", ref]);
    rmi(ref);
    const out = tmpdir("dp-exp-");
    const r = await dp(["images", "export", "--out", out, "--image", ref], { BASE_IMAGE_MIRRORS: `127.0.0.1:${dead} ${empty.host}` });
    assert.equal(r.status, 0, r.stdout + r.stderr);
    assert.match(r.stdout, new RegExp(`exported\\s+.* from registry ${origin.host}`));
    assert.equal(indexOf(out)[0].id, id);
  });

  it("nobody has it: each source's own answer is in the row; a local image is not shipped unchecked without --use-local", async () => {
    const ref = `127.0.0.1:${dead}/dp-exp-local:${T}`;
    made.push(ref);
    const id = buildImage(ref);
    const out = tmpdir("dp-exp-");
    const r = await dp(["images", "export", "--out", out, "--image", ref], { BASE_IMAGE_MIRRORS: `${empty.host}` });
    assert.equal(r.status, 7, r.stdout + r.stderr);
    assert.match(r.stdout, new RegExp(`mirror ${empty.host}: .*(not found|manifest unknown)`, "i"));
    assert.match(r.stdout, new RegExp(`registry 127.0.0.1:${dead}: .*(refused|connect)`, "i"));
    assert.match(r.stdout, /a local image sha256:\S+ has this name; it was not exported unchecked: --use-local ships it/);
    assert.ok(!fs.existsSync(path.join(out, "index.json")));
    const local = await dp(["images", "export", "--out", out, "--image", ref, "--use-local"], { BASE_IMAGE_MIRRORS: `${empty.host}` });
    assert.equal(local.status, 0, local.stdout + local.stderr);
    assert.match(local.stdout, /exported\s+.* from local image \(--use-local: not checked against a registry\)/);
    assert.equal(indexOf(out)[0].id, id);
  });
});
