// Two images never share a file (issue 15, item 1): `a_b:1` and `a/b:1` used to map to the
// same a_b_1.tar.gz, the second overwriting the first while both rows said "exported".

import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { dockerMissing } from "./helpers/docker.ts";
import { buildImage, CONTAINERD, ctrIn, dp, dropNamespace, pushTo, rmi } from "./helpers/images.ts";
import { startRegistry, type Registry } from "./helpers/registry.ts";
import { tmpdir } from "./helpers/run.ts";

const T = `n${process.pid}`;
const UNDERSCORE = `dp-names_x:${T}`;
const SLASH = `dp-names/x:${T}`;
const NS = `dp-names-${process.pid}`;

describe("export file names are one-to-one with references", { skip: dockerMissing() }, () => {
  let mirror: Registry;
  const ids: Record<string, string> = {};

  before(async () => {
    mirror = await startRegistry();
    ids[UNDERSCORE] = buildImage(UNDERSCORE);
    pushTo(mirror.host, UNDERSCORE);
    ids[SLASH] = buildImage(SLASH);
    pushTo(mirror.host, SLASH, SLASH);
    rmi(UNDERSCORE, SLASH);
  });
  after(async () => {
    await mirror.close();
    dropNamespace(NS);
    rmi(UNDERSCORE, SLASH);
  });

  it("a_b:1 and a/b:1 get two files, both exported, both imported with their own content", async () => {
    const out = tmpdir("dp-names-out-");
    const r = await dp(["images", "export", "--out", out, "--image", UNDERSCORE, "--image", SLASH], { BASE_IMAGE_MIRRORS: mirror.host });
    assert.equal(r.status, 0, r.stdout + r.stderr);
    const files = fs.readdirSync(out).filter((f) => f.endsWith(".tar.gz")).sort();
    assert.deepEqual(files, [`dp-names__x_${T}.tar.gz`, `dp-names_x_${T}.tar.gz`]);
    const imp = await dp(["images", "import", "--from", out, "--runtime", "containerd", "--address", CONTAINERD, "--namespace", NS]);
    assert.equal(imp.status, 0, imp.stderr);
    assert.match(imp.stdout, /imported 2, skipped 0, failed 0 of 2/);
    const ctr = ctrIn(NS);
    for (const [ref, id] of [[`docker.io/library/${UNDERSCORE}`, ids[UNDERSCORE]], [`docker.io/${SLASH}`, ids[SLASH]]]) {
      const line = ctr("images", "ls").stdout.split("\n").find((l) => l.startsWith(`${ref} `));
      assert.ok(line, ref);
      let doc = JSON.parse(ctr("content", "get", line.trim().split(/\s+/)[2]).stdout);
      if (doc.manifests) doc = JSON.parse(ctr("content", "get", doc.manifests[0].digest).stdout);
      assert.equal(doc.config.digest, id, ref);
    }
  });

  it("a file index.json already gives to another reference is refused, naming both", async () => {
    const out = tmpdir("dp-names-clash-");
    const file = `dp-names__x_${T}.tar.gz`;
    fs.writeFileSync(path.join(out, "index.json"), JSON.stringify([{ ref: "docker.io/library/other:1", file, size: 1, id: "sha256:" + "0".repeat(64), platform: "linux/amd64" }]));
    const r = await dp(["images", "export", "--out", out, "--image", UNDERSCORE], { BASE_IMAGE_MIRRORS: mirror.host });
    assert.equal(r.status, 7, r.stdout + r.stderr);
    assert.match(r.stdout, new RegExp(`docker.io/library/${UNDERSCORE}\\s+${file}\\s+failed\\s+same file name as docker.io/library/other:1: both refused`));
  });
});
