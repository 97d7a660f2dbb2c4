// build.sh and save-base-image.sh against a real engine and real registries on loopback:
// mirrors that are down, empty, or have the image; saved tars good and bad; pushes with
// and without credentials. The password must never show in ps, logs or image history.

import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { docker, dockerMissing, standInBase } from "./helpers/docker.ts";
import { freePort, startRegistry, type Registry } from "./helpers/registry.ts";
import { exec, ROOT, tmpdir, watchCommandLines } from "./helpers/run.ts";

const PASSWORD = "Tr0ub4dor-registry-pw";
let n = 0;

describe("build.sh and save-base-image.sh", { skip: dockerMissing() }, () => {
  let empty: Registry;
  let holder: Registry;
  let priv: Registry;
  let deadPort: number;
  const made: string[] = [];

  before(async () => {
    standInBase();
    [empty, holder, priv] = await Promise.all([startRegistry(), startRegistry(), startRegistry({ user: "ci", password: PASSWORD })]);
    deadPort = await freePort();
  });
  after(async () => {
    await Promise.all([empty.close(), holder.close(), priv.close()]);
    if (made.length) spawnSync("docker", ["rmi", "-f", ...made]);
  });

  /** A base image name of this test's own, made from the stand-in, absent locally unless asked. */
  function base(present: boolean): string {
    const ref = `dp-base-${process.pid}-${++n}:t${n}`;
    docker(["tag", standInBase(), ref]);
    made.push(ref);
    if (!present) docker(["rmi", ref]);
    return ref;
  }
  const imageName = () => `dp-build-test-${process.pid}-${++n}`;

  async function build(env: Record<string, string>, args: string[] = []) {
    const r = await exec("bash", [path.join(ROOT, "build.sh"), ...args], { env: { ...process.env, MIRROR_TIMEOUT: "30", BASE_IMAGES_DIR: tmpdir("dp-base-images-"), ...env } });
    if (env.IMAGE_NAME) made.push(`${env.IMAGE_NAME}:${env.IMAGE_TAG ?? "0.1.0"}`);
    return r;
  }

  it("--help documents the variables; shellcheck is clean", async () => {
    const h = await exec("bash", [path.join(ROOT, "build.sh"), "--help"]);
    assert.equal(h.status, 0);
    for (const v of ["BASE_IMAGE_MIRRORS", "PRIVATE_REGISTRY", "REGISTRY_PASSWORD_FILE", "PUSH_TO_REGISTRY", "--dry-run"]) assert.match(h.stdout, new RegExp(v));
    const sc = await exec("shellcheck", ["-x", "build.sh", "save-base-image.sh", "save-pkg-base.sh", "scripts/image-lib.sh", "scripts/export-helm-images.sh", ".ci/run"], { cwd: ROOT });
    assert.equal(sc.status, 0, sc.stdout);
  });

  it("unreachable mirror, then one without the image, then one with it: pulled from the third", async () => {
    const ref = base(true);
    const [reg, repoTag] = [holder.host, `library/${ref}`];
    docker(["tag", ref, `${reg}/${repoTag}`]);
    docker(["push", `${reg}/${repoTag}`]);
    docker(["rmi", ref, `${reg}/${repoTag}`]);
    const name = imageName();
    const r = await build({ BASE_IMAGE: ref, BASE_IMAGE_MIRRORS: `127.0.0.1:${deadPort}, ${empty.host} ${holder.host}`, IMAGE_NAME: name, PUSH_TO_REGISTRY: "false" });
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stderr, new RegExp(`mirror 127.0.0.1:${deadPort}: not reachable`));
    assert.match(r.stderr, new RegExp(`pulled ${ref} from mirror ${holder.host}`));
    assert.ok(JSON.parse(docker(["image", "inspect", `${name}:0.1.0`])).length === 1);
  });

  it("all mirrors fail: the saved tar is loaded (checked against its .sha256)", async () => {
    const ref = base(true);
    const dir = tmpdir("dp-base-images-");
    const file = path.join(dir, `${ref.replace(":", "_")}.tar.gz`);
    fs.writeFileSync(file, spawnSync("sh", ["-c", `docker save ${ref} | gzip`], { maxBuffer: 1 << 28 }).stdout);
    fs.writeFileSync(`${file}.sha256`, spawnSync("sha256sum", [path.basename(file)], { cwd: dir, encoding: "utf8" }).stdout);
    docker(["rmi", ref]);
    const r = await build({ BASE_IMAGE: ref, BASE_IMAGE_MIRRORS: `127.0.0.1:${deadPort},${empty.host}`, BASE_IMAGES_DIR: dir, IMAGE_NAME: imageName(), PUSH_TO_REGISTRY: "false" });
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stderr, /matches its \.sha256/);
    assert.match(r.stderr, new RegExp(`loading ${ref} from .*\\.tar\\.gz`));
  });

  it("a saved tar with a wrong .sha256 is refused, exit 4", async () => {
    const ref = base(true);
    const dir = tmpdir("dp-base-images-");
    const file = path.join(dir, `${ref.replace(":", "_")}.tar`);
    fs.writeFileSync(file, spawnSync("docker", ["save", ref], { maxBuffer: 1 << 28 }).stdout);
    fs.writeFileSync(`${file}.sha256`, `${"0".repeat(64)}  ${path.basename(file)}\n`);
    docker(["rmi", ref]);
    const r = await build({ BASE_IMAGE: ref, BASE_IMAGE_MIRRORS: `127.0.0.1:${deadPort}`, BASE_IMAGES_DIR: dir, IMAGE_NAME: imageName(), PUSH_TO_REGISTRY: "false" });
    assert.equal(r.status, 4);
    assert.match(r.stderr, /does not match its \.sha256/);
    assert.ok(spawnSync("docker", ["image", "inspect", ref]).status !== 0, "the refused tar was loaded anyway");
  });

  it("nothing anywhere: a clear error that says to run save-base-image.sh, exit 3", async () => {
    const ref = base(false);
    const r = await build({ BASE_IMAGE: ref, BASE_IMAGE_MIRRORS: `127.0.0.1:${deadPort}`, IMAGE_NAME: imageName(), PUSH_TO_REGISTRY: "false" });
    assert.equal(r.status, 3);
    assert.match(r.stderr, /is not present, no mirror in BASE_IMAGE_MIRRORS has it/);
    assert.match(r.stderr, new RegExp(`save-base-image.sh ${ref}`));
  });

  it("pushes with credentials, prints the digest, the image pulls back by digest; the password shows nowhere", async () => {
    const ref = base(true);
    const name = imageName();
    const pwFile = path.join(tmpdir(), "pw");
    fs.writeFileSync(pwFile, PASSWORD);
    const watch = watchCommandLines();
    const r = await build({ BASE_IMAGE: ref, IMAGE_NAME: name, IMAGE_TAG: "1.2.3", PRIVATE_REGISTRY: priv.host, REGISTRY_USERNAME: "ci", REGISTRY_PASSWORD_FILE: pwFile });
    const cmdlines = await watch.stop();
    made.push(`${priv.host}/${name}:1.2.3`);
    assert.equal(r.status, 0, r.stderr);
    const printed = r.stdout.trim().split("\n").pop()!;
    assert.match(printed, new RegExp(`^${priv.host}/${name}@sha256:[0-9a-f]{64}$`));
    assert.ok(cmdlines.length > 50 && cmdlines.some((c) => c.includes("docker") && c.includes("login")), "ps snapshots were taken during the login");
    assert.ok(!cmdlines.some((c) => c.includes(PASSWORD)), "password on a command line");
    assert.ok(!(r.stdout + r.stderr).includes(PASSWORD), "password in the logs");
    const history = docker(["history", "--no-trunc", `${name}:1.2.3`]) + docker(["image", "inspect", `${name}:1.2.3`]);
    assert.ok(!history.includes(PASSWORD), "password in the image");
    // Pull it back by digest into a clean state, with a login of our own.
    docker(["rmi", `${priv.host}/${name}:1.2.3`]);
    const cfg = tmpdir("dp-docker-config-");
    const login = await exec("docker", ["--config", cfg, "login", "-u", "ci", "--password-stdin", priv.host], { input: PASSWORD });
    assert.equal(login.status, 0, login.stderr);
    const pull = await exec("docker", ["--config", cfg, "pull", printed]);
    assert.equal(pull.status, 0, pull.stderr);
    made.push(printed);
  });

  it("a wrong password is a clear error, exit 7", async () => {
    const ref = base(true);
    const r = await build({ BASE_IMAGE: ref, IMAGE_NAME: imageName(), PRIVATE_REGISTRY: priv.host, REGISTRY_USERNAME: "ci", REGISTRY_PASSWORD: "not-the-password" });
    assert.equal(r.status, 7);
    assert.match(r.stderr, /docker login to .* as ci failed/);
    assert.ok(!r.stderr.includes("not-the-password"));
  });

  it("no PRIVATE_REGISTRY with a push: a clear error before anything is built, exit 2", async () => {
    const r = await build({ BASE_IMAGE: base(true), IMAGE_NAME: imageName() });
    assert.equal(r.status, 2);
    assert.match(r.stderr, /PRIVATE_REGISTRY is not set/);
  });

  it("PUSH_TO_REGISTRY=false builds and tags but pushes nothing", async () => {
    const name = imageName();
    const r = await build({ BASE_IMAGE: base(true), IMAGE_NAME: name, PRIVATE_REGISTRY: empty.host, PUSH_TO_REGISTRY: "false" });
    assert.equal(r.status, 0, r.stderr);
    made.push(`${empty.host}/${name}:0.1.0`);
    docker(["image", "inspect", `${name}:0.1.0`, `${empty.host}/${name}:0.1.0`]);
    const catalog = await (await fetch(`http://${empty.host}/v2/_catalog`)).json();
    assert.ok(!catalog.repositories.includes(name), JSON.stringify(catalog));
  });

  it("--dry-run changes nothing", async () => {
    const name = imageName();
    const r = await build({ BASE_IMAGE: base(false), IMAGE_NAME: name, PRIVATE_REGISTRY: empty.host, REGISTRY_USERNAME: "ci", REGISTRY_PASSWORD: PASSWORD }, ["--dry-run"]);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stderr, /dry-run: docker build/);
    assert.match(r.stderr, /dry-run: docker push/);
    assert.doesNotMatch(r.stderr, /\] (built|logged in|pushed) /, "a dry run claims nothing was done");
    assert.ok(!r.stderr.includes(PASSWORD));
    assert.ok(spawnSync("docker", ["image", "inspect", `${name}:0.1.0`]).status !== 0);
  });

  it("save-base-image.sh pulls through the mirrors, writes .tar.gz and .sha256, and is idempotent", async () => {
    const ref = base(true);
    docker(["tag", ref, `${holder.host}/library/${ref}`]);
    docker(["push", `${holder.host}/library/${ref}`]);
    docker(["rmi", ref, `${holder.host}/library/${ref}`]);
    const dir = tmpdir("dp-base-images-");
    const env = { ...process.env, BASE_IMAGES_DIR: dir, BASE_IMAGE_MIRRORS: `127.0.0.1:${deadPort} ${holder.host}` };
    const first = await exec("bash", [path.join(ROOT, "save-base-image.sh"), ref], { env });
    assert.equal(first.status, 0, first.stderr);
    const file = path.join(dir, `${ref.replace(":", "_")}.tar.gz`);
    assert.ok(fs.statSync(file).size > 100_000);
    assert.equal(spawnSync("sha256sum", ["-c", `${path.basename(file)}.sha256`], { cwd: dir }).status, 0);
    const second = await exec("bash", [path.join(ROOT, "save-base-image.sh"), ref], { env });
    assert.equal(second.status, 0);
    assert.match(second.stderr, /already saved .* skipped/);
    // And build.sh can use what it saved, offline.
    docker(["rmi", ref]);
    const r = await build({ BASE_IMAGE: ref, BASE_IMAGE_MIRRORS: `127.0.0.1:${deadPort}`, BASE_IMAGES_DIR: dir, IMAGE_NAME: imageName(), PUSH_TO_REGISTRY: "false" });
    assert.equal(r.status, 0, r.stderr);
  });

  it("an invalid IMAGE_NAME or IMAGE_TAG is a usage error (exit 2) before anything is built", async () => {
    for (const env of [{ IMAGE_NAME: "Bad Name" }, { IMAGE_NAME: imageName(), IMAGE_TAG: "no:colons" }] as Record<string, string>[]) {
      const r = await build({ BASE_IMAGE: base(false), PUSH_TO_REGISTRY: "false", ...env });
      assert.equal(r.status, 2, r.stderr);
      assert.match(r.stderr, /is not a valid (image name|tag)/);
      assert.doesNotMatch(r.stderr, /base image/);
    }
  });

  it("no Docker engine: says so, exit 8, and does not blame the base image", async () => {
    const r = await build({ BASE_IMAGE: base(false), IMAGE_NAME: imageName(), PUSH_TO_REGISTRY: "false", DOCKER_HOST: "unix:///nonexistent/docker.sock" });
    assert.equal(r.status, 8, r.stderr);
    assert.match(r.stderr, /no Docker engine answers/);
    assert.doesNotMatch(r.stderr, /base image .* is not present/);
  });

  it("save-base-image.sh keeps a pinned digest: pulls that digest through the mirror, and build.sh builds on it offline", async () => {
    // An image of this test's own (never the shared stand-in's ID, which other tests use).
    const ref = `dp-pinned-${process.pid}:p${++n}`;
    docker(["build", "-q", "-t", ref, "-"], { input: `FROM ${standInBase()}\nLABEL pinned=${ref}\n` });
    const id = JSON.parse(docker(["image", "inspect", ref]))[0].Id;
    docker(["tag", ref, `${holder.host}/library/${ref}`]);
    const digest = /digest: (sha256:[0-9a-f]{64})/.exec(docker(["push", `${holder.host}/library/${ref}`]))![1];
    docker(["rmi", ref, `${holder.host}/library/${ref}`]);
    const pinned = `${ref.split(":")[0]}@${digest}`;
    const dir = tmpdir("dp-base-images-");
    const env = { ...process.env, BASE_IMAGES_DIR: dir, BASE_IMAGE_MIRRORS: holder.host };
    const r = await exec("bash", [path.join(ROOT, "save-base-image.sh"), pinned], { env });
    assert.equal(r.status, 0, r.stderr);
    const file = path.join(dir, `${ref.split(":")[0]}@${digest.replace(":", "-")}.tar.gz`);
    assert.ok(fs.existsSync(file), fs.readdirSync(dir).join(", "));
    assert.doesNotMatch(r.stderr, /:latest/);
    spawnSync("docker", ["rmi", `${holder.host}/library/${pinned}`]);
    assert.notEqual(spawnSync("docker", ["image", "inspect", id]).status, 0, "the pinned image is gone before the offline build");
    const name = imageName();
    const b = await build({ BASE_IMAGE: pinned, BASE_IMAGE_MIRRORS: `127.0.0.1:${deadPort}`, BASE_IMAGES_DIR: dir, IMAGE_NAME: name, PUSH_TO_REGISTRY: "false" });
    assert.equal(b.status, 0, b.stderr);
    const layers = JSON.parse(docker(["image", "inspect", `${name}:0.1.0`]))[0].RootFS.Layers as string[];
    const baseLayers = JSON.parse(docker(["image", "inspect", id]))[0].RootFS.Layers as string[];
    assert.deepEqual(layers.slice(0, baseLayers.length), baseLayers, "built on the pinned image");
    made.push(id);
  });
});
