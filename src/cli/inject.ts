// Flags and I/O for `download-package inject`; the transformation is in src/inject/.

import fs from "node:fs";
import { UsageError } from "../errors.ts";
import { inject, type InjectOptions } from "../inject/inject.ts";
import { checkEnvName, checkPodPatchOptions, parseResources } from "../inject/options.ts";
import { parseSelect, parseSelector, type Selection } from "../inject/select.ts";

export const INJECT_HELP = `Usage: download-package inject [FILE|-] --package-url URL --image IMAGE [options]

Adds the download-package init container to Kubernetes workloads (Pod, Deployment,
StatefulSet, DaemonSet, ReplicaSet, ReplicationController, Job, CronJob; also inside
kind: List and *List documents) read from FILE or stdin, and writes the YAML to stdout: an
emptyDir volume, the init container (first, non-root, read-only root filesystem,
PACKAGE_URL and PACKAGE_DEST set), and a read-only mount of the volume in every main
container. The change is written as insertions: every other line stays byte for byte as it
was (comments, quotes, indentation, CRLF). Other documents pass through unchanged; running
it again changes nothing. A node shared through a YAML alias is given its own copy before
it is changed, and stderr says so.

Options:
  --package-url URL        package URL(s) (PACKAGE_URL); http or https
  --url-secret NAME/KEY    take PACKAGE_URL from a Secret instead (URLs with credentials)
  --image IMAGE            the init container image
  --sha256 HEX             expected digest (PACKAGE_SHA256)
  --sha256-secret NAME/KEY take PACKAGE_SHA256 from a Secret
  --token-secret NAME/KEY  mount a bearer token from a Secret and set PACKAGE_TOKEN_FILE
  --env NAME=VALUE         more environment for the init container (repeatable): a variable
                           download-package reads, e.g. --env PACKAGE_STRIP_COMPONENTS=1
  --select KIND/NAME       only this workload (repeatable); kinds as kubectl writes them:
                           deployment, deploy, sts, ds, rs, rc, job, cj, po ...
  -l, --selector SELECTOR  only workloads whose labels match (kubectl syntax: a=b, a!=b,
                           a in (x,y), a notin (x), a, !a; commas mean AND)
  -n, --namespace NS       only workloads in this namespace (none given in the document = default)
  --size-limit QUANTITY    sizeLimit of the emptyDir, e.g. 2Gi
  --image-pull-secret NAME add to the pod's imagePullSecrets (repeatable)
  --requests LIST          init container requests [default: cpu=100m,memory=192Mi]
  --limits LIST            init container limits [default: memory=384Mi]
  --mount-init             also mount the package read-only into the existing init containers
                           (they run after ours)
  --volume-name NAME       shared volume name [default: package-data]
  --mount-path PATH        where the volume is mounted in every container [default: /shared-data]
  --dest PATH              PACKAGE_DEST [default: MOUNT-PATH/diff-var-files]
  --container-name NAME    init container name [default: download-package]
  --image-pull-policy P    Always, IfNotPresent or Never
  --help                   this text`;

export function parseInjectArgs(argv: string[]): { file: string; opts: InjectOptions } | "help" {
  const selection: Selection = { select: [], selector: [] };
  const opts: InjectOptions = { image: "", containerName: "download-package", volumeName: "package-data", mountPath: "/shared-data", env: [], imagePullSecrets: [], mountInit: false, selection };
  let file = "-";
  const takes: Record<string, (v: string) => void> = {
    "--package-url": (v) => (opts.packageUrl = v),
    "--url-secret": (v) => (opts.urlSecret = v),
    "--image": (v) => (opts.image = v),
    "--sha256": (v) => (opts.sha256 = v),
    "--sha256-secret": (v) => (opts.sha256Secret = v),
    "--token-secret": (v) => (opts.tokenSecret = v),
    "--volume-name": (v) => (opts.volumeName = v),
    "--mount-path": (v) => (opts.mountPath = v),
    "--dest": (v) => (opts.dest = v),
    "--container-name": (v) => (opts.containerName = v),
    "--image-pull-policy": (v) => (opts.imagePullPolicy = v),
    "--size-limit": (v) => (opts.sizeLimit = v),
    "--image-pull-secret": (v) => opts.imagePullSecrets.push(v),
    "--requests": (v) => (opts.requests = parseResources(v, "--requests")),
    "--limits": (v) => (opts.limits = parseResources(v, "--limits")),
    "--select": (v) => selection.select.push(parseSelect(v)),
    "--selector": (v) => selection.selector.push(...parseSelector(v)),
    "-l": (v) => selection.selector.push(...parseSelector(v)),
    "--namespace": (v) => (selection.namespace = v),
    "-n": (v) => (selection.namespace = v),
    "--env": (v) => {
      const i = v.indexOf("=");
      if (i <= 0) throw new UsageError(`--env ${JSON.stringify(v)} is not NAME=VALUE`, "write --env NAME=VALUE");
      checkEnvName(v.slice(0, i));
      opts.env.push([v.slice(0, i), v.slice(i + 1)]);
    },
    "--file": (v) => (file = v),
    "-f": (v) => (file = v),
  };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === "--help" || arg === "-h") return "help";
    if (arg === "--mount-init") {
      opts.mountInit = true;
      continue;
    }
    const eq = arg.startsWith("--") ? arg.indexOf("=") : -1;
    const name = eq > 0 ? arg.slice(0, eq) : arg;
    const set = takes[name];
    if (set) {
      const value = eq > 0 ? arg.slice(eq + 1) : argv[++i];
      if (value === undefined) throw new UsageError(`${name} needs a value`, `write ${name} VALUE`);
      set(value);
    } else if (!arg.startsWith("-") || arg === "-") file = arg;
    else throw new UsageError(`unknown inject flag ${arg}`, "run download-package inject --help");
  }
  if (!opts.image) throw new UsageError("inject needs --image", "give the init container image, e.g. --image registry.example.internal/package-init-container:0.1.0");
  if (!opts.packageUrl && !opts.urlSecret) throw new UsageError("inject needs --package-url or --url-secret", "give the package URL, or a Secret holding it");
  checkPodPatchOptions(opts);
  return { file, opts };
}

export async function runInject(argv: string[], out: (s: string) => Promise<void> | void, err: (s: string) => void): Promise<void> {
  const parsed = parseInjectArgs(argv);
  if (parsed === "help") return out(INJECT_HELP + "\n");
  let source: string;
  try {
    source = fs.readFileSync(parsed.file === "-" ? 0 : parsed.file, "utf8");
  } catch (e) {
    throw new UsageError(`cannot read ${parsed.file === "-" ? "stdin" : parsed.file}: ${(e as NodeJS.ErrnoException).code ?? e}`, "give a readable YAML file, or pipe YAML into stdin");
  }
  const withCredentials = (parsed.opts.packageUrl ?? "").split(/[\s,]+/).some((u) => URL.canParse(u) && (new URL(u).username || new URL(u).password));
  if (withCredentials) err("warning: --package-url carries credentials (user:password@), which end up in the manifest: use --url-secret NAME/KEY\n");
  const result = inject(source, parsed.opts);
  await out(result.text);
  for (const n of result.notes) err(`${n}\n`);
  err(result.changed.length ? `injected the init container into ${result.changed.map((c) => `${c.kind}/${c.name}`).join(", ")}\n` : "nothing to change\n");
}
