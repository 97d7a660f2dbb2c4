// `images push`: every verified file into the private registry. A file export wrote (an OCI
// layout with the registry's own manifest) goes up through skopeo --preserve-digests: the
// registry then holds the very same manifest, so a digest-pinned reference resolves there. A
// `docker save` file (--use-local) is loaded into the local Docker, tagged, pushed, and the
// target tag removed again. The password reaches skopeo in an authfile (0600, in a private
// directory removed after) and docker only on stdin, in a throw-away Docker config.

import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { AppError, ExitCode, SignalError, UsageError } from "../errors.ts";
import type { Io } from "./import.ts";
import { assertNoCollision, checkRegistry, mirrorTarget, type MirrorPlan } from "./mirror-map.ts";
import { lastLine, run } from "./proc.ts";
import { count, errorText, rowsTable, type Row } from "./report.ts";
import { RuntimeUnreachable } from "./runtime.ts";
import { dockerInsecurity, requireSkopeo, skopeoCopy, writeAuthfile } from "./skopeo.ts";
import { FileProblem, readRegular } from "./store.ts";
import { readDirectory, verifyFile, type Candidate } from "./verify.ts";

export interface PushOptions {
  from: string;
  /** Where each image goes: the same mapping `images mirror-config` prints for the nodes. */
  plan: MirrorPlan;
}

/** The password: REGISTRY_PASSWORD_FILE (its content minus trailing newlines, as build.sh reads it) or REGISTRY_PASSWORD. */
export function registryPassword(env: NodeJS.ProcessEnv): string | undefined {
  const file = env.REGISTRY_PASSWORD_FILE;
  if (!file) return env.REGISTRY_PASSWORD;
  try {
    return readRegular(file, 1 << 20).replace(/\n+$/, "");
  } catch (e) {
    const why = e instanceof FileProblem ? e.message : errorText(e);
    throw new UsageError(`REGISTRY_PASSWORD_FILE ${file}: ${why}`, "point REGISTRY_PASSWORD_FILE at a readable file holding the password");
  }
}

/** skopeo reads ~/.docker/config.json by itself, not $DOCKER_CONFIG: name it when it is set. */
function existingDockerConfig(env: NodeJS.ProcessEnv): string | undefined {
  const file = env.DOCKER_CONFIG ? path.join(env.DOCKER_CONFIG, "config.json") : undefined;
  return file && fs.existsSync(file) ? file : undefined;
}

/** Where REF is pushed: its mirror target (mirror-map.ts), a digest-only one under the tag
 * sha256-<hex> (a registry needs a tag to push; the digest then resolves in the same repository). */
export function pushTarget(ref: string, plan: MirrorPlan): string {
  const t = mirrorTarget(ref, plan);
  const at = t.indexOf("@");
  return at < 0 ? t : `${t.slice(0, at)}:${t.slice(at + 1).replace(":", "-")}`;
}

/** The flat layout's target under REGISTRY (what push did before --layout). */
export function targetFor(registry: string, ref: string): string {
  return pushTarget(ref, { registry: checkRegistry(registry), layout: "flat", maps: new Map() });
}

/** What every push of the run shares: the environment for docker and skopeo, and their private files. */
interface Ctx {
  env: NodeJS.ProcessEnv;
  /** Private (0700) directory of this run: Docker config, authfile, digest file. */
  tmp: string;
  /** REGISTRY_USERNAME's authfile, for the --registry host only (credentials stay with their origin). */
  login?: { host: string; authfile: string };
  /** $DOCKER_CONFIG/config.json, for every other host (and for all without REGISTRY_USERNAME). */
  existing?: string;
  insecure: (hostPort: string) => boolean;
}

function authfileFor(ctx: Ctx, host: string): string | undefined {
  return ctx.login?.host === host ? ctx.login.authfile : ctx.existing;
}

/** The exported OCI layout, manifest and blobs byte for byte: the registry must then hold the exported digest. */
async function pushLayout(file: string, manifest: string, ref: string, target: string, ctx: Ctx, signal: AbortSignal): Promise<Pick<Row, "result" | "detail">> {
  const digestfile = path.join(ctx.tmp, "digest");
  fs.rmSync(digestfile, { force: true });
  await skopeoCopy({ src: `oci-archive:${file}`, dest: `docker://${target}`, all: true, destInsecure: ctx.insecure(target.split("/")[0]), authfile: authfileFor(ctx, target.split("/")[0]), digestfile, env: ctx.env, signal });
  const digest = fs.readFileSync(digestfile, "utf8").trim();
  if (digest !== manifest) return { result: "failed", detail: `the registry stored manifest ${digest}, not the exported ${manifest}` };
  const pinned = ref.includes("@") ? `, the pinned digest: ${target.replace(/:[^:/]*$/, "")}@${digest} resolves` : ", the registry's own manifest";
  return { result: "pushed", detail: `${digest}${pinned}` };
}

async function pushOne(dir: string, c: Candidate, sums: Map<string, string>, o: PushOptions, ctx: Ctx, signal: AbortSignal): Promise<Row> {
  const row: Row = { image: c.entry?.ref ?? "(unknown)", file: c.entry ? pushTarget(c.entry.ref, o.plan) : c.file, result: "failed", detail: "" };
  const problem = await verifyFile(dir, c, sums, signal);
  if (problem || !c.entry) return { ...row, detail: `${c.file}: ${problem}` };
  const target = row.file;
  if (c.entry.manifest) return { ...row, ...(await pushLayout(path.join(dir, c.file), c.entry.manifest, c.entry.ref, target, ctx, signal)) };
  const env = ctx.env;
  const load = await run("docker", ["load", "-q", "-i", path.join(dir, c.file)], { env, signal });
  if (load.status !== 0) return { ...row, detail: `docker load failed: ${lastLine(load.stderr)}` };
  const tag = await run("docker", ["tag", c.entry.id, target], { env, signal });
  if (tag.status !== 0) return { ...row, detail: `docker tag failed: ${lastLine(tag.stderr)}` };
  try {
    const push = await run("docker", ["push", target], { env, signal });
    if (push.status !== 0) return { ...row, detail: lastLine(push.stderr) || lastLine(push.stdout) };
    const digest = /digest: (sha256:[0-9a-f]{64})/.exec(push.stdout)?.[1] ?? "";
    const pinned = c.entry.ref.split("@")[1];
    const note = pinned && pinned !== digest ? ` (not the pinned ${pinned.slice(0, 19)}: docker push re-makes the manifest; pin the pushed digest)` : "";
    return { ...row, result: "pushed", detail: `${digest}${note}` };
  } finally {
    await run("docker", ["rmi", target], { env });
  }
}

export async function pushImages(o: PushOptions, env: NodeJS.ProcessEnv, io: Io): Promise<number> {
  const password = registryPassword(env);
  if (env.REGISTRY_USERNAME && !password) throw new UsageError("REGISTRY_USERNAME is set but no password", "set REGISTRY_PASSWORD_FILE (or REGISTRY_PASSWORD), or unset REGISTRY_USERNAME to use an existing docker login");
  const d = await readDirectory(o.from, io.signal);
  // Before anything is pushed: one target for two images would silently lose one of them.
  assertNoCollision(d.candidates.flatMap((c) => (c.entry ? [c.entry.ref] : [])), o.plan);
  const ping = await run("docker", ["version", "--format", "{{.Server.Version}}"], { signal: io.signal });
  if (ping.status !== 0) throw new RuntimeUnreachable(`Docker does not answer: ${lastLine(ping.stderr) || `exit ${ping.status}`}`, "push needs a running Docker engine (docker info)");
  if (d.candidates.some((c) => c.entry?.manifest)) await requireSkopeo("push copies each exported image with its registry manifest", io.signal);
  const dockerEnv: NodeJS.ProcessEnv = { ...env };
  delete dockerEnv.REGISTRY_PASSWORD;
  const insecure = await dockerInsecurity(io.signal);
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "dp-push-"));
  const ctx: Ctx = { env: dockerEnv, tmp, existing: existingDockerConfig(env), insecure };
  const rows: Row[] = [...d.problems];
  try {
    if (env.REGISTRY_USERNAME && password) {
      const host = o.plan.registry.split("/")[0];
      ctx.env = { ...dockerEnv, DOCKER_CONFIG: tmp };
      ctx.login = { host, authfile: writeAuthfile(tmp, host, env.REGISTRY_USERNAME, password) };
      const login = await run("docker", ["login", "--username", env.REGISTRY_USERNAME, "--password-stdin", host], { input: password, env: ctx.env, signal: io.signal });
      if (login.status !== 0) throw new AppError(ExitCode.partial, `docker login to ${host} as ${env.REGISTRY_USERNAME} failed: ${lastLine(login.stderr)}`, "check REGISTRY_USERNAME and the password");
    }
    try {
      for (const c of d.candidates) {
        if (io.signal.aborted) break;
        try {
          rows.push(await pushOne(o.from, c, d.sums, o, ctx, io.signal));
        } catch (e) {
          if (io.signal.aborted) break;
          rows.push({ image: c.entry?.ref ?? "(unknown)", file: c.file, result: "failed", detail: errorText(e) });
        }
      }
    } finally {
      io.out(rowsTable(rows, "PUSHED AS"));
    }
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
  if (io.signal.aborted) throw io.signal.reason instanceof SignalError ? io.signal.reason : new SignalError("SIGTERM");
  const failed = count(rows, "failed");
  if (failed) throw new AppError(ExitCode.partial, `${failed} of ${d.candidates.length} images could not be pushed`, "see the table above");
  return ExitCode.ok;
}
