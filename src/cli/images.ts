// `download-package images list|export|import|push`: offline image delivery for a Helm
// application. list finds every image; export saves them as files with checksums; import
// loads them into a node's containerd or Docker, one failure never stopping the rest;
// push puts them into a private registry.

import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { parse, parseAllDocuments } from "yaml";
import { AppError, ExitCode, UsageError } from "../errors.ts";
import { dedupe, fileNameFor, imagesInManifests, imagesInValues, normalizeRef, type Found, type Listed } from "../images/refs.ts";
import { lastLine, run } from "../images/proc.ts";
import { containerd, CONTAINERD_SOCKETS, docker, DOCKER_SOCKET, type Runtime } from "../images/runtime.ts";
import { readIndex, readSums, sha256File, writeIndex, writeSums, type IndexEntry } from "../images/store.ts";
import { createGzip } from "node:zlib";
import { pipeline } from "node:stream/promises";
import { spawn } from "node:child_process";
import { chartFlag, gatherListed, printListing, type ChartArgs } from "../images/chart/cli.ts";
import { mirrorConfig, mirrorFlag, refsFromExport, type MirrorArgs } from "../images/mirror-config.ts";

export const IMAGES_HELP = `Usage: download-package images COMMAND [options]

  list    --chart PATH [-f FILE...] [--set K=V...] [--set-string K=V...] [--set-json K=JSON...]
          [--release-name NAME] [--namespace NS] [--kube-version 1.30] [--api-versions G/V...]
          [--render auto|helm|builtin] [--all] [--json]
          every image the chart's install pulls: rendered with helm template (helm on PATH) or
          the built-in engine, read from the manifests, each with where it came from; --all adds
          disabled subcharts' and helm test images, marked. Warnings go to stderr.
          Without --chart: --values FILE... [--manifests FILE...] [--image REF...] (values scanned
          for image-like keys, a guess; rendered manifests read as above)
  export  --out DIR (same inputs as list) [--mirrors "R1 R2"] [--platform linux/amd64]
          pull each (through the mirrors, as build.sh does; BASE_IMAGE_MIRRORS), save
          DIR/<name>_<tag>.tar.gz, SHA256SUMS and index.json; valid files are skipped
  import  --from DIR [--runtime auto|containerd|docker] [--address SOCKET] [--namespace k8s.io]
          [--ctr PATH] [--policy continue|fail]
          verify each file against SHA256SUMS, skip images already present, import the rest,
          print a table; policy continue (default) exits 0 even when some failed
  push    --from DIR --registry HOST[:PORT][/PATH]
          (REGISTRY_USERNAME with REGISTRY_PASSWORD_FILE or REGISTRY_PASSWORD, or an existing docker login)
          load, tag and push every verified image into a private registry; prints digests

  mirror-config --registry HOST[:PORT][/PATH] [--layout flat|by-registry] [--registry-map SRC=DEST...]
          [--format containerd|k3s] [--plain-http] (--from DIR | the inputs of list)
          the node configuration (containerd hosts.toml, k3s/RKE2 registries.yaml) that makes the
          cluster pull each image from the registry; flat (default) drops the source registry from
          the path, by-registry keeps it; two images landing on the same target are an error

Exit codes: 0 ok, 2 usage, 4 a file failed its checksum (push), 7 some images failed.`;

interface Args extends ChartArgs, MirrorArgs {
  cmd: string;
  values: string[];
  manifests: string[];
  images: string[];
  json: boolean;
  out?: string;
  from?: string;
  mirrors: string[];
  platform: string;
  runtime: string;
  address?: string;
  namespace: string;
  ctr: string;
  policy: string;
  registry?: string;
  pullTimeout: number;
}

function parseArgs(argv: string[], env: NodeJS.ProcessEnv): Args | "help" {
  const [cmd, ...rest] = argv;
  if (!cmd || cmd === "--help" || cmd === "-h") return "help";
  if (!["list", "export", "import", "push", "mirror-config"].includes(cmd)) throw new UsageError(`unknown images command ${JSON.stringify(cmd)}`, "use list, export, import, push or mirror-config (download-package images --help)");
  const arch = process.arch === "x64" ? "amd64" : process.arch;
  const a: Args = {
    cmd, values: [], manifests: [], images: [], json: false, mirrors: (env.BASE_IMAGE_MIRRORS ?? "").split(/[\s,]+/).filter(Boolean),
    platform: `linux/${arch}`, runtime: "auto", namespace: "k8s.io", ctr: "ctr", policy: "continue", pullTimeout: Number(env.MIRROR_TIMEOUT ?? 60) * 1000,
    charts: [], set: [], setString: [], setJson: [], apiVersions: [], render: "auto", all: false,
    layout: "flat", registryMap: [], format: "containerd", plainHttp: false,
  };
  const chartInput = cmd === "list" || cmd === "export" || cmd === "mirror-config";
  const one: Record<string, (v: string) => void> = {
    "--values": (v) => a.values.push(v), "-f": (v) => a.values.push(v), "--manifests": (v) => a.manifests.push(v), "--image": (v) => a.images.push(v),
    "--out": (v) => (a.out = v), "--from": (v) => (a.from = v), "--mirrors": (v) => (a.mirrors = v.split(/[\s,]+/).filter(Boolean)),
    "--platform": (v) => (a.platform = v), "--runtime": (v) => (a.runtime = v), "--address": (v) => (a.address = v),
    "--namespace": (v) => (a.namespace = v), "--ctr": (v) => (a.ctr = v), "--policy": (v) => (a.policy = v), "--registry": (v) => (a.registry = v),
  };
  for (let i = 0; i < rest.length; i++) {
    const arg = rest[i];
    if (arg === "--help" || arg === "-h") return "help";
    if (arg === "--json") { a.json = true; continue; }
    if (chartInput && arg === "--all") { a.all = true; continue; }
    if (cmd === "mirror-config" && arg === "--plain-http") { a.plainHttp = true; continue; }
    const eq = arg.indexOf("=");
    const name = arg.startsWith("--") && eq > 0 ? arg.slice(0, eq) : arg;
    const set = (chartInput && chartFlag(a, name)) || (cmd === "mirror-config" && mirrorFlag(a, name)) || one[name];
    if (!set) throw new UsageError(`unknown flag ${arg} for images ${cmd}`, "run download-package images --help");
    const v = eq > 0 && arg.startsWith("--") ? arg.slice(eq + 1) : rest[++i];
    if (v === undefined) throw new UsageError(`${name} needs a value`);
    set(v);
  }
  if (!["continue", "fail"].includes(a.policy)) throw new UsageError(`--policy must be continue or fail, not ${a.policy}`);
  if (!["auto", "containerd", "docker"].includes(a.runtime)) throw new UsageError(`--runtime must be auto, containerd or docker, not ${a.runtime}`);
  return a;
}

function readYamlFile(file: string): string {
  try {
    return fs.readFileSync(file, "utf8");
  } catch (e) {
    throw new UsageError(`cannot read ${file}: ${(e as NodeJS.ErrnoException).code ?? e}`, "check the path");
  }
}

export function collect(a: Pick<Args, "values" | "manifests" | "images">): Listed[] {
  const found: Found[] = [];
  for (const f of a.values) {
    let tree: unknown;
    try {
      // failsafe: every scalar stays a string, so tag 1.10 is not read as the number 1.1.
      tree = parse(readYamlFile(f), { schema: "failsafe" });
    } catch (e) {
      throw new UsageError(`${f} is not valid YAML: ${(e as Error).message.split("\n")[0]}`);
    }
    found.push(...imagesInValues(tree, f));
  }
  for (const f of a.manifests) {
    const docs = parseAllDocuments(readYamlFile(f), { schema: "failsafe" });
    const list = Array.isArray(docs) ? docs : [docs];
    found.push(...imagesInManifests(list.map((d) => d.toJS()), f));
  }
  for (const r of a.images) found.push({ ref: normalizeRef(r), file: "(command line)", path: "--image" });
  return dedupe(found);
}

function table(rows: string[][]): string {
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
  return rows.map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]))).join("  ")).join("\n") + "\n";
}

/** docker.io/library/nginx:1.25 → library/nginx:1.25 (the path a registry mirror serves it under). */
function pathInRegistry(ref: string): string {
  return normalizeRef(ref).replace(/^[^/]+\//, "");
}

async function pullOne(ref: string, a: Args, log: (s: string) => void): Promise<void> {
  const present = await run("docker", ["image", "inspect", "--format", "{{.Os}}/{{.Architecture}}", ref]);
  if (present.status === 0 && present.stdout.trim() === a.platform) return;
  if (a.mirrors.length === 0) {
    const r = await run("docker", ["pull", "-q", "--platform", a.platform, ref], { timeoutMs: a.pullTimeout });
    if (r.status !== 0) throw new Error(`pull failed: ${lastLine(r.stderr)}`);
    return;
  }
  for (const m of a.mirrors) {
    const candidate = `${m.replace(/\/$/, "")}/${pathInRegistry(ref)}`;
    const r = await run("docker", ["pull", "-q", "--platform", a.platform, candidate], { timeoutMs: a.pullTimeout });
    if (r.status === 0) {
      await run("docker", ["tag", candidate, ref]);
      await run("docker", ["rmi", candidate]);
      log(`pulled ${ref} from mirror ${m}`);
      return;
    }
  }
  throw new Error(`no mirror has it (${a.mirrors.join(", ")})`);
}

async function saveOne(ref: string, file: string): Promise<void> {
  const tmp = `${file}.tmp`;
  const child = spawn("docker", ["save", ref], { stdio: ["ignore", "pipe", "pipe"] });
  let err = "";
  child.stderr.on("data", (d) => (err += d));
  const exited = new Promise<number>((r) => child.on("close", (c) => r(c ?? 1)));
  await pipeline(child.stdout, createGzip({ level: 6 }), fs.createWriteStream(tmp));
  if ((await exited) !== 0) {
    fs.rmSync(tmp, { force: true });
    throw new Error(`docker save failed: ${lastLine(err)}`);
  }
  fs.renameSync(tmp, file);
}

async function exportImages(a: Args, env: NodeJS.ProcessEnv, out: (s: string) => void, log: (s: string) => void): Promise<number> {
  if (!a.out) throw new UsageError("images export needs --out DIR");
  const listed = await gatherListed(a, collect, env, log);
  if (listed.length === 0) throw new UsageError("no images found", "give --values, --manifests or --image");
  fs.mkdirSync(a.out, { recursive: true });
  const sums = readSums(a.out);
  const index = new Map(readIndex(a.out).map((e) => [e.ref, e]));
  const rows = [["IMAGE", "FILE", "RESULT", "DETAIL"]];
  let failed = 0;
  for (const { ref } of listed) {
    const fileName = fileNameFor(ref);
    const file = path.join(a.out, fileName);
    try {
      if (fs.existsSync(file) && sums.has(fileName) && index.get(ref)?.platform === a.platform && (await sha256File(file)) === sums.get(fileName)) {
        rows.push([ref, fileName, "skipped", "already exported, checksum valid"]);
        continue;
      }
      await pullOne(ref, a, log);
      await saveOne(ref, file);
      const inspect = JSON.parse((await run("docker", ["image", "inspect", ref])).stdout)[0] as { Id: string; RepoDigests?: string[] };
      const entry: IndexEntry = { ref, file: fileName, size: fs.statSync(file).size, id: inspect.Id, digest: inspect.RepoDigests?.[0]?.split("@")[1], platform: a.platform };
      sums.set(fileName, await sha256File(file));
      index.set(ref, entry);
      writeSums(a.out, sums);
      writeIndex(a.out, [...index.values()]);
      rows.push([ref, fileName, "exported", `${(entry.size / 1024 / 1024).toFixed(1)} MiB`]);
    } catch (e) {
      failed++;
      rows.push([ref, fileName, "failed", (e as Error).message]);
    }
  }
  out(table(rows));
  if (failed) throw new AppError(ExitCode.partial, `${failed} of ${listed.length} images could not be exported`, "see the table; fix the mirrors or the references and run export again (exported files are kept)");
  return ExitCode.ok;
}

async function detectRuntime(a: Args): Promise<Runtime> {
  const exists = (p: string) => fs.existsSync(p);
  if (a.runtime === "docker") return docker(a.address ?? DOCKER_SOCKET);
  if (a.runtime === "containerd" || a.address) {
    const addr = a.address ?? CONTAINERD_SOCKETS.find(exists);
    if (!addr) throw new UsageError("no containerd socket found", `mount it and pass --address (looked in ${CONTAINERD_SOCKETS.join(", ")})`);
    return containerd(addr, a.namespace, a.ctr);
  }
  const addr = CONTAINERD_SOCKETS.find(exists);
  if (addr) return containerd(addr, a.namespace, a.ctr);
  if (exists(DOCKER_SOCKET)) return docker(DOCKER_SOCKET);
  throw new UsageError("no container runtime socket found", `mount the containerd socket (${CONTAINERD_SOCKETS[0]}) or ${DOCKER_SOCKET}, or pass --runtime and --address`);
}

/** Files to import: every .tar/.tar.gz in DIR, each with its verdict against SHA256SUMS. */
async function verified(dir: string): Promise<{ file: string; ref?: string; problem?: string }[]> {
  if (!fs.existsSync(dir)) throw new UsageError(`${dir} does not exist`, "pass the directory that images export wrote");
  const sums = readSums(dir);
  const refs = new Map(readIndex(dir).map((e) => [e.file, e.ref]));
  const files = fs.readdirSync(dir).filter((f) => /\.tar(\.gz)?$/.test(f)).sort();
  const out = [];
  for (const f of files) {
    const want = sums.get(f);
    let problem: string | undefined;
    if (!want) problem = "not listed in SHA256SUMS";
    else if ((await sha256File(path.join(dir, f))) !== want) problem = "checksum mismatch against SHA256SUMS";
    out.push({ file: f, ref: refs.get(f), problem });
  }
  return out;
}

async function importImages(a: Args, out: (s: string) => void): Promise<number> {
  if (!a.from) throw new UsageError("images import needs --from DIR");
  const rt = await detectRuntime(a);
  const rows = [["IMAGE", "FILE", "RESULT", "DETAIL"]];
  let failed = 0;
  const items = await verified(a.from);
  for (const it of items) {
    const ref = it.ref ?? "(unknown)";
    if (it.problem) {
      failed++;
      rows.push([ref, it.file, "failed", it.problem]);
      continue;
    }
    try {
      if (it.ref && (await rt.has(it.ref))) {
        rows.push([ref, it.file, "skipped", "already present"]);
        continue;
      }
      await rt.load(path.join(a.from, it.file));
      rows.push([ref, it.file, "imported", ""]);
    } catch (e) {
      failed++;
      rows.push([ref, it.file, "failed", (e as Error).message]);
    }
  }
  out(`runtime: ${rt.name}\n` + table(rows));
  const n = (r: string) => rows.filter((x) => x[2] === r).length;
  out(`imported ${n("imported")}, skipped ${n("skipped")}, failed ${failed} of ${items.length} on ${os.hostname()}\n`);
  if (failed && a.policy === "fail") throw new AppError(ExitCode.partial, `${failed} of ${items.length} images failed to import (policy fail)`, "see the table above");
  return ExitCode.ok;
}

async function pushImages(a: Args, env: NodeJS.ProcessEnv, out: (s: string) => void): Promise<number> {
  if (!a.from || !a.registry) throw new UsageError("images push needs --from DIR and --registry HOST[:PORT][/PATH]");
  let dockerEnv = env;
  let tmpConfig: string | undefined;
  const password = env.REGISTRY_PASSWORD_FILE ? fs.readFileSync(env.REGISTRY_PASSWORD_FILE, "utf8").trim() : env.REGISTRY_PASSWORD;
  try {
    if (env.REGISTRY_USERNAME && password) {
      // A throw-away docker config: the password goes to docker on stdin and is not left behind.
      tmpConfig = fs.mkdtempSync(path.join(os.tmpdir(), "dp-docker-config-"));
      dockerEnv = { ...env, DOCKER_CONFIG: tmpConfig };
      delete dockerEnv.REGISTRY_PASSWORD;
      const host = a.registry.split("/")[0];
      const login = await run("docker", ["login", "--username", env.REGISTRY_USERNAME, "--password-stdin", host], { input: password, env: dockerEnv });
      if (login.status !== 0) throw new AppError(ExitCode.partial, `docker login to ${host} as ${env.REGISTRY_USERNAME} failed: ${lastLine(login.stderr)}`, "check REGISTRY_USERNAME and the password");
    }
    const rows = [["IMAGE", "PUSHED AS", "RESULT", "DETAIL"]];
    let failed = 0;
    const items = await verified(a.from);
    for (const it of items) {
      const ref = it.ref ?? "(unknown)";
      const target = it.ref ? `${a.registry.replace(/\/$/, "")}/${pathInRegistry(it.ref)}` : "";
      if (it.problem || !it.ref) {
        failed++;
        rows.push([ref, target, "failed", it.problem ?? "not in index.json"]);
        continue;
      }
      const load = await run("docker", ["load", "-q", "-i", path.join(a.from, it.file)], { env: dockerEnv });
      const steps = load.status === 0 ? await run("docker", ["tag", it.ref, target], { env: dockerEnv }) : load;
      const push = steps.status === 0 ? await run("docker", ["push", target], { env: dockerEnv }) : steps;
      if (push.status !== 0) {
        failed++;
        rows.push([ref, target, "failed", lastLine(push.stderr) || lastLine(push.stdout)]);
        continue;
      }
      const digest = /digest: (sha256:[0-9a-f]{64})/.exec(push.stdout)?.[1] ?? "";
      rows.push([ref, target, "pushed", digest]);
    }
    out(table(rows));
    if (failed) throw new AppError(ExitCode.partial, `${failed} of ${items.length} images could not be pushed`, "see the table above");
    return ExitCode.ok;
  } finally {
    if (tmpConfig) fs.rmSync(tmpConfig, { recursive: true, force: true });
  }
}

export async function runImages(argv: string[], env: NodeJS.ProcessEnv, out: (s: string) => void, log: (s: string) => void): Promise<number> {
  const a = parseArgs(argv, env);
  if (a === "help") {
    out(IMAGES_HELP + "\n");
    return ExitCode.ok;
  }
  switch (a.cmd) {
    case "list":
      printListing(await gatherListed(a, collect, env, log), a.json, out);
      return ExitCode.ok;
    case "export":
      return exportImages(a, env, out, log);
    case "mirror-config":
      mirrorConfig(a, a.from ? refsFromExport(a.from) : (await gatherListed(a, collect, env, log)).map((l) => l.ref), out);
      return ExitCode.ok;
    case "import":
      return importImages(a, out);
    default:
      return pushImages(a, env, out);
  }
}
