// `download-package images list|export|import|push`: offline image delivery for a Helm
// application. list finds every image; export saves them as files with checksums; import
// loads them into a node's containerd or Docker, one failure never stopping the rest;
// push puts them into a private registry.

import fs from "node:fs";
import { parse, parseAllDocuments } from "yaml";
import { ExitCode, UsageError } from "../errors.ts";
import { dedupe, imagesInManifests, imagesInValues, normalizeRef, type Found, type Listed } from "../images/refs.ts";
import { exportImages } from "../images/export.ts";
import { importImages } from "../images/import.ts";
import { pushImages } from "../images/push.ts";
import { runHook, type HookOptions } from "../images/hook.ts";
import { inCluster, SA_DIR } from "../images/kube.ts";
import { parseDuration } from "../units.ts";
import { chartFlag, gatherListed, printListing, type ChartArgs } from "../images/chart/cli.ts";
import { FileProblem, readRegular } from "../images/store.ts";
import { mirrorConfig, mirrorFlag, planOf, refsFromExport, type MirrorArgs } from "../images/mirror-config.ts";

export const IMAGES_HELP = `Usage: download-package images COMMAND [options]

  list    --chart PATH [-f FILE...] [--set K=V...] [--set-string K=V...] [--set-json K=JSON...]
          [--release-name NAME] [--namespace NS] [--kube-version 1.30] [--api-versions G/V...]
          [--render auto|helm|builtin] [--all] [--json]
          every image the chart's install pulls: rendered with helm template (helm on PATH) or
          the built-in engine, read from the manifests, each with where it came from; --all adds
          disabled subcharts' and helm test images, marked. Warnings go to stderr.
          Without --chart: --values FILE... [--manifests FILE...] [--image REF...] (values scanned
          for image-like keys, a guess; rendered manifests read as above)
  export  --out DIR (same inputs as list) [--mirrors "R1 R2"] [--platform linux/amd64] [--use-local]
          pull each (from each mirror in order, as build.sh does, BASE_IMAGE_MIRRORS; then the image's
          own registry), copy the registry's own manifest and blobs (skopeo --preserve-digests) to
          DIR/<name>_<tag>.tar.gz (OCI layout + docker manifest.json), check it holds the pulled image,
          record its image ID and digests in index.json, every file in SHA256SUMS; valid files are
          skipped. --use-local: ship the local image when no source answers (never by default)
  import  --from DIR [--runtime auto|containerd|docker] [--address SOCKET] [--namespace k8s.io]
          [--ctr PATH] [--platform linux/amd64] [--policy continue|fail]
          verify each file (SHA256SUMS, index.json, the image ID inside the archive), skip images the
          runtime already holds with the same image ID, import the rest, check the runtime then holds
          that image ID under the reference, print a table; policy continue (default) exits 0 even
          when some failed. auto: Docker when /run/cri-dockerd.sock exists, else
          /run/containerd/containerd.sock, /run/k3s/containerd/containerd.sock, then /var/run/docker.sock
  push    --from DIR --registry HOST[:PORT][/PATH] [--layout flat|by-registry] [--registry-map SRC=DEST...]
          (REGISTRY_USERNAME with REGISTRY_PASSWORD_FILE or REGISTRY_PASSWORD, or an existing docker login)
          verify and copy every image into a private registry with its original manifest (skopeo
          --preserve-digests): the same digests, so pinned references resolve there; prints digests.
          Targets as mirror-config maps them (flat: REGISTRY/library/nginx:1.27; by-registry:
          REGISTRY/docker.io/library/nginx:1.27); two images on one target: exit 2, nothing pushed
  hook    --pod-template FILE --name-prefix NAME --run-id ID [--timeout 25m] [--pod-namespace NS]
          [--api URL --token-file FILE --ca-file FILE (default: the Pod's service account)]
          the Helm hook's controller: list the nodes now, select the Ready, schedulable ones that
          match the template's nodeSelector and tolerate their taints, create one importer Pod bound
          to each by name, wait, print a table; fails naming every node that did not get the images
  mirror-config --registry HOST[:PORT][/PATH] [--layout flat|by-registry] [--registry-map SRC=DEST...]
          [--format containerd|k3s] [--plain-http] (--from DIR | the inputs of list)
          the node configuration (containerd hosts.toml, k3s/RKE2 registries.yaml) that makes the
          cluster pull each image from the registry; flat (default) drops the source registry from
          the path, by-registry keeps it; two images landing on the same target are an error

Exit codes: 0 ok, 2 usage (bad flag, unreadable input or password file, YAML error),
6 local I/O (--out not writable), 7 some images failed (the table says which and why; import only
with --policy fail; hook: a node did not get the images), 8 the container runtime, Docker or
(hook) the Kubernetes API cannot be reached or used,
130/143 stopped by SIGINT/SIGTERM.`;

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
  useLocal: boolean;
  hook: Record<string, string>;
}

const HOOK_FLAGS = ["--api", "--token-file", "--ca-file", "--pod-namespace", "--pod-template", "--name-prefix", "--run-id", "--timeout", "--poll-interval"];

function pullTimeout(env: NodeJS.ProcessEnv): number {
  const s = Number(env.MIRROR_TIMEOUT ?? 60);
  if (!Number.isFinite(s) || s <= 0) throw new UsageError(`MIRROR_TIMEOUT must be a number of seconds, not ${JSON.stringify(env.MIRROR_TIMEOUT)}`);
  return s * 1000;
}

function duration(flag: string, v: string | undefined, dflt: number): number {
  if (v === undefined) return dflt;
  const ms = parseDuration(v);
  if (ms === undefined || ms <= 0) throw new UsageError(`${flag} must be a duration such as 25m or 90s, not ${JSON.stringify(v)}`);
  return ms;
}

function hookOptions(h: Record<string, string>, env: NodeJS.ProcessEnv): HookOptions {
  const server = h["--api"] ?? inCluster(env);
  if (!server) throw new UsageError("images hook runs inside the cluster (KUBERNETES_SERVICE_HOST is not set)", "run it as the chart's hook Job, or pass --api URL --token-file --ca-file");
  if (!h["--pod-template"] || !h["--name-prefix"] || !h["--run-id"]) throw new UsageError("images hook needs --pod-template FILE, --name-prefix NAME and --run-id ID", "the chart's hook Job passes them");
  let namespace = h["--pod-namespace"];
  if (!namespace) {
    try {
      namespace = fs.readFileSync(`${SA_DIR}/namespace`, "utf8").trim();
    } catch {
      throw new UsageError("images hook needs --pod-namespace (no service account namespace file)");
    }
  }
  return {
    server, namespace, tokenFile: h["--token-file"] ?? `${SA_DIR}/token`, caFile: h["--ca-file"] ?? `${SA_DIR}/ca.crt`,
    templateFile: h["--pod-template"], prefix: h["--name-prefix"], runId: h["--run-id"],
    timeoutMs: duration("--timeout", h["--timeout"], 25 * 60_000), pollMs: duration("--poll-interval", h["--poll-interval"], 2000),
  };
}

function parseArgs(argv: string[], env: NodeJS.ProcessEnv): Args | "help" {
  const [cmd, ...rest] = argv;
  if (!cmd || cmd === "--help" || cmd === "-h") return "help";
  if (!["list", "export", "import", "push", "hook", "mirror-config"].includes(cmd)) throw new UsageError(`unknown images command ${JSON.stringify(cmd)}`, "use list, export, import, push, hook or mirror-config (download-package images --help)");
  const arch = process.arch === "x64" ? "amd64" : process.arch;
  const a: Args = {
    cmd, values: [], manifests: [], images: [], json: false, mirrors: (env.BASE_IMAGE_MIRRORS ?? "").split(/[\s,]+/).filter(Boolean),
    platform: `linux/${arch}`, runtime: "auto", namespace: "k8s.io", ctr: "ctr", policy: "continue", pullTimeout: pullTimeout(env), useLocal: false, hook: {},
    charts: [], set: [], setString: [], setJson: [], apiVersions: [], render: "auto", all: false,
    layout: "flat", registryMap: [], format: "containerd", plainHttp: false,
  };
  // --namespace is the release's namespace where a chart is rendered, containerd's for import.
  const chartInput = cmd === "list" || cmd === "export" || cmd === "mirror-config";
  const one: Record<string, (v: string) => void> = {
    "--values": (v) => a.values.push(v), "-f": (v) => a.values.push(v), "--manifests": (v) => a.manifests.push(v), "--image": (v) => a.images.push(v),
    "--out": (v) => (a.out = v), "--from": (v) => (a.from = v), "--mirrors": (v) => (a.mirrors = v.split(/[\s,]+/).filter(Boolean)),
    "--platform": (v) => (a.platform = v), "--runtime": (v) => (a.runtime = v), "--address": (v) => (a.address = v),
    ...Object.fromEntries(HOOK_FLAGS.map((f) => [f, (v: string) => (a.hook[f] = v)])),
    "--namespace": (v) => (a.namespace = v), "--ctr": (v) => (a.ctr = v), "--policy": (v) => (a.policy = v), "--registry": (v) => (a.registry = v),
  };
  for (let i = 0; i < rest.length; i++) {
    const arg = rest[i];
    if (arg === "--help" || arg === "-h") return "help";
    if (arg === "--json") { a.json = true; continue; }
    if (arg === "--use-local") { a.useLocal = true; continue; }
    if (chartInput && arg === "--all") { a.all = true; continue; }
    if (cmd === "mirror-config" && arg === "--plain-http") { a.plainHttp = true; continue; }
    const eq = arg.indexOf("=");
    const name = arg.startsWith("--") && eq > 0 ? arg.slice(0, eq) : arg;
    const set = (chartInput && chartFlag(a, name)) || ((cmd === "mirror-config" || cmd === "push") && mirrorFlag(a, name, cmd)) || one[name];
    if (!set) throw new UsageError(`unknown flag ${arg} for images ${cmd}`, "run download-package images --help");
    const v = eq > 0 && arg.startsWith("--") ? arg.slice(eq + 1) : rest[++i];
    if (v === undefined) throw new UsageError(`${name} needs a value`);
    set(v);
  }
  if (!["continue", "fail"].includes(a.policy)) throw new UsageError(`--policy must be continue or fail, not ${a.policy}`);
  if (!["auto", "containerd", "docker"].includes(a.runtime)) throw new UsageError(`--runtime must be auto, containerd or docker, not ${a.runtime}`);
  return a;
}

/** A --values or --manifests file: regular files only (a FIFO or /dev/zero would block or never end). */
function readYamlFile(file: string, flag: string): string {
  try {
    return readRegular(file);
  } catch (e) {
    const why = e instanceof FileProblem ? e.message : String((e as NodeJS.ErrnoException).code ?? e);
    throw new UsageError(`cannot read ${flag} ${file}: ${why}`, "give a regular YAML file (a FIFO, a device or a directory is not read)");
  }
}

/** The same one line for --values and --manifests: file, line, what is wrong. */
function yamlError(file: string, e: unknown): UsageError {
  const err = e as { message?: string; linePos?: { line: number; col: number }[] };
  const at = err.linePos?.[0] ? `:${err.linePos[0].line}:${err.linePos[0].col}` : "";
  const what = (err.message ?? String(e)).split("\n")[0].replace(/ at line \d+, column \d+:?$/, "");
  return new UsageError(`${file}${at}: not valid YAML: ${what}`, "fix the YAML at that line (helm template output can be checked with helm lint)");
}

export function collect(a: Pick<Args, "values" | "manifests" | "images">): Listed[] {
  const found: Found[] = [];
  for (const f of a.values) {
    const text = readYamlFile(f, "--values");
    let tree: unknown;
    try {
      // failsafe: every scalar stays a string, so tag 1.10 is not read as the number 1.1.
      tree = parse(text, { schema: "failsafe" });
    } catch (e) {
      throw yamlError(f, e);
    }
    found.push(...imagesInValues(tree, f));
  }
  for (const f of a.manifests) {
    const docs = parseAllDocuments(readYamlFile(f, "--manifests"), { schema: "failsafe" });
    const list = Array.isArray(docs) ? docs : [docs];
    // A broken document would silently drop every image after it: refuse, as for --values.
    const broken = list.flatMap((d) => d.errors)[0];
    if (broken) throw yamlError(f, broken);
    found.push(...imagesInManifests(list.map((d) => d.toJS()), f));
  }
  for (const r of a.images) found.push({ ref: normalizeRef(r), file: "(command line)", path: "--image" });
  return dedupe(found);
}

export async function runImages(argv: string[], env: NodeJS.ProcessEnv, out: (s: string) => void, log: (s: string) => void, signal: AbortSignal = new AbortController().signal): Promise<number> {
  const a = parseArgs(argv, env);
  if (a === "help") {
    out(IMAGES_HELP + "\n");
    return ExitCode.ok;
  }
  switch (a.cmd) {
    case "list":
      printListing(await gatherListed(a, collect, env, log), a.json, out);
      return ExitCode.ok;
    case "mirror-config":
      mirrorConfig(a, a.from ? refsFromExport(a.from) : (await gatherListed(a, collect, env, log)).map((l) => l.ref), out);
      return ExitCode.ok;
    case "export": {
      if (!a.out) throw new UsageError("images export needs --out DIR");
      const refs = (await gatherListed(a, collect, env, log)).map((l) => l.ref);
      if (refs.length === 0) throw new UsageError("no images found", "give --values, --manifests or --image");
      return exportImages({ out: a.out, refs, mirrors: a.mirrors, platform: a.platform, pullTimeoutMs: a.pullTimeout, useLocal: a.useLocal }, { out, log, signal });
    }
    case "import":
      if (!a.from) throw new UsageError("images import needs --from DIR");
      return importImages({ ...a, from: a.from }, { out, log, signal });
    case "hook":
      return runHook(hookOptions(a.hook, env), { out, log, signal });
    default:
      if (!a.from || !a.registry) throw new UsageError("images push needs --from DIR and --registry HOST[:PORT][/PATH]");
      return pushImages({ from: a.from, plan: planOf(a, "push") }, env, { out, log, signal });
  }
}
