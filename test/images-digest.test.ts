// Digest-pinned references end to end (issue 15, item 2): exported with their image ID and
// digest, resolvable by digest in containerd after import, refused (with the reason) by
// Docker, which cannot name a loaded image by digest, and pushable to a private registry.

import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { docker, dockerMissing } from "./helpers/docker.ts";
import { buildImage, CONTAINERD, ctrIn, dp, dropNamespace, pushTo, rmi } from "./helpers/images.ts";
import { startRegistry, type Registry } from "./helpers/registry.ts";
import { tmpdir } from "./helpers/run.ts";

const NAME = `dp-digest-${process.pid}`;
const NS = `dp-digest-${process.pid}`;
const ctr = ctrIn(NS);

describe("digest-pinned references", { skip: dockerMissing() }, () => {
  let mirror: Registry;
  let priv: Registry;
  let out: string;
  let ref: string;
  let id: string;
  let digest: string;

  before(async () => {
    [mirror, priv] = await Promise.all([startRegistry(), startRegistry()]);
    id = buildImage(`${NAME}:build`);
    digest = pushTo(mirror.host, `${NAME}:build`, `library/${NAME}:build`);
    rmi(`${NAME}:build`);
    ref = `docker.io/library/${NAME}@${digest}`;
    out = tmpdir("dp-digest-out-");
  });
  after(async () => {
    await Promise.all([mirror.close(), priv.close()]);
    dropNamespace(NS);
    rmi(`${mirror.host}/library/${NAME}@${digest}`);
  });

  it("export pulls by digest through the mirror and records the digest and image ID", async () => {
    const r = await dp(["images", "export", "--out", out, "--image", `${NAME}@${digest}`], { BASE_IMAGE_MIRRORS: mirror.host });
    assert.equal(r.status, 0, r.stdout + r.stderr);
    const [entry] = JSON.parse(fs.readFileSync(path.join(out, "index.json"), "utf8"));
    assert.deepEqual([entry.ref, entry.id, entry.digest], [ref, id, digest]);
    assert.equal(entry.file, `${NAME}@${digest.replace(":", "-")}.tar.gz`);
  });

  it("import into containerd: the reference resolves by digest to the exported image", async () => {
    const r = await dp(["images", "import", "--from", out, "--runtime", "containerd", "--address", CONTAINERD, "--namespace", NS]);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, new RegExp(`${ref.replace(/[.]/g, "\\.")}\\s+\\S+\\s+imported`));
    const line = ctr("images", "ls").stdout.split("\n").find((l) => l.startsWith(`${ref} `));
    assert.ok(line, "containerd names the image by digest");
    let doc = JSON.parse(ctr("content", "get", line.trim().split(/\s+/)[2]).stdout);
    if (doc.manifests) doc = JSON.parse(ctr("content", "get", doc.manifests[0].digest).stdout);
    assert.equal(doc.config.digest, id);
    const again = await dp(["images", "import", "--from", out, "--runtime", "containerd", "--address", CONTAINERD, "--namespace", NS]);
    assert.match(again.stdout, /skipped\s+already present, same image ID/);
  });

  it("import into Docker: reported as failed with the reason, never 'imported'", async () => {
    const r = await dp(["images", "import", "--from", out, "--runtime", "docker", "--policy", "fail"]);
    assert.equal(r.status, 7, r.stdout + r.stderr);
    assert.match(r.stdout, /failed\s+Docker cannot name an image by digest/);
  });

  it("push: the image reaches the registry under a tag derived from the digest; the pushed digest is reported", async () => {
    const r = await dp(["images", "push", "--from", out, "--registry", priv.host]);
    assert.equal(r.status, 0, r.stdout + r.stderr);
    const target = `${priv.host}/library/${NAME}:${digest.replace(":", "-")}`;
    const m = new RegExp(`${target.replace(/[.]/g, "\\.")}\\s+pushed\\s+(sha256:[0-9a-f]{64})`).exec(r.stdout);
    assert.ok(m, r.stdout);
    // The target tag is not left behind in the local Docker.
    assert.notEqual(spawnStatus(["image", "inspect", target]), 0);
    const pulled = `${priv.host}/library/${NAME}@${m[1]}`;
    docker(["pull", "-q", pulled]);
    assert.equal(JSON.parse(docker(["image", "inspect", pulled]))[0].Id, id);
    rmi(pulled);
  });
});

function spawnStatus(args: string[]) {
  try {
    docker(args);
    return 0;
  } catch {
    return 1;
  }
}
