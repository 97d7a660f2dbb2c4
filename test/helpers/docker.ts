// The real Docker engine for image tests. In CI (`bash .ci/run` sets REQUIRE_DOCKER=1) a
// missing engine is a failure; elsewhere the tests are skipped with the reason shown.

import { execFileSync, spawnSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { it } from "node:test";
import { ROOT, tmpdir } from "./run.ts";

/**
 * false when a Docker engine answers; else the reason, for a suite's `skip` option. node:test
 * shows a skipped suite but counts none of it, so a skipped test is registered beside it: the
 * run's summary then counts every suite that did not run ("skipped N").
 */
export function dockerMissing(suite = path.basename(process.argv[1] ?? "this file")): string | false {
  const r = spawnSync("docker", ["info", "--format", "{{.ServerVersion}}"], { encoding: "utf8" });
  if (r.status === 0) return false;
  const why = "skipped: no Docker engine here (bash .ci/run installs and starts one)";
  if (process.env.REQUIRE_DOCKER === "1") throw new Error(why);
  it(`${suite}: needs Docker`, { skip: why }, () => {});
  return why;
}

export const docker = (args: string[], opts: { input?: string; cwd?: string } = {}) =>
  execFileSync("docker", args, { encoding: "utf8", input: opts.input, cwd: opts.cwd ?? ROOT, stdio: ["pipe", "pipe", "pipe"], env: { ...process.env, DOCKER_BUILDKIT: "0" } });

/** No base image can be pulled here: a stand-in made from Debian's busybox-static, named as what it is. */
export const STANDIN_BASE = "busybox-standin:local";

export function standInBase(): string {
  if (spawnSync("docker", ["image", "inspect", STANDIN_BASE]).status === 0) return STANDIN_BASE;
  const dir = tmpdir("dp-standin-");
  fs.chmodSync(dir, 0o755); // the root directory of an image is world-readable
  fs.mkdirSync(path.join(dir, "bin"));
  fs.mkdirSync(path.join(dir, "tmp"), { mode: 0o1777 });
  fs.mkdirSync(path.join(dir, "etc"));
  fs.copyFileSync("/bin/busybox", path.join(dir, "bin/busybox"));
  fs.chmodSync(path.join(dir, "bin/busybox"), 0o755);
  for (const app of ["sh", "ls", "cat", "test", "id", "find", "stat", "grep", "wc"]) fs.symlinkSync("busybox", path.join(dir, "bin", app));
  fs.writeFileSync(path.join(dir, "etc/passwd"), "root:x:0:0:root:/root:/bin/sh\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n");
  fs.writeFileSync(path.join(dir, "etc/group"), "root:x:0:\nnonroot:x:65532:\n");
  const tar = execFileSync("tar", ["-C", dir, "-cf", "-", "."], { maxBuffer: 1 << 28 });
  execFileSync("docker", ["import", "--change", "ENV PATH=/bin", "-", STANDIN_BASE], { input: tar });
  return STANDIN_BASE;
}
