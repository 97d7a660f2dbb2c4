// Flags and I/O for `download-package inject`; the transformation is in src/inject.ts.

import fs from "node:fs";
import { UsageError } from "../errors.ts";
import { inject, type InjectOptions } from "../inject/inject.ts";

export const INJECT_HELP = `Usage: download-package inject [FILE|-] --package-url URL --image IMAGE [options]

Adds the download-package init container to Kubernetes workloads (Pod, Deployment,
StatefulSet, DaemonSet, ReplicaSet, Job, CronJob) read from FILE or stdin, and writes the
YAML to stdout: an emptyDir volume, the init container (non-root, read-only root
filesystem, PACKAGE_URL and PACKAGE_DEST set), and a read-only mount of the volume in
every main container. Other documents pass through unchanged; comments are kept; running
it again changes nothing.

Options:
  --package-url URL        package URL(s) (PACKAGE_URL)
  --url-secret NAME/KEY    take PACKAGE_URL from a Secret instead (URLs with credentials)
  --image IMAGE            the init container image
  --sha256 HEX             expected digest (PACKAGE_SHA256)
  --sha256-secret NAME/KEY take PACKAGE_SHA256 from a Secret
  --token-secret NAME/KEY  mount a bearer token from a Secret and set PACKAGE_TOKEN_FILE
  --env NAME=VALUE         extra environment for the init container (repeatable),
                           e.g. --env PACKAGE_STRIP_COMPONENTS=1 --env HTTPS_PROXY=...
  --volume-name NAME       shared volume name [default: package-data]
  --mount-path PATH        where the volume is mounted in every container [default: /shared-data]
  --dest PATH              PACKAGE_DEST [default: MOUNT-PATH/diff-var-files]
  --container-name NAME    init container name [default: download-package]
  --image-pull-policy P    Always, IfNotPresent or Never
  --help                   this text`;

export function parseInjectArgs(argv: string[]): { file: string; opts: InjectOptions } | "help" {
  const opts: InjectOptions = { image: "", containerName: "download-package", volumeName: "package-data", mountPath: "/shared-data", env: [] };
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
    "--env": (v) => {
      const i = v.indexOf("=");
      if (i <= 0) throw new UsageError(`--env ${JSON.stringify(v)} is not NAME=VALUE`, "write --env NAME=VALUE");
      opts.env.push([v.slice(0, i), v.slice(i + 1)]);
    },
    "--file": (v) => (file = v),
    "-f": (v) => (file = v),
  };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === "--help" || arg === "-h") return "help";
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
  return { file, opts };
}

export function runInject(argv: string[], out: (s: string) => void, err: (s: string) => void): void {
  const parsed = parseInjectArgs(argv);
  if (parsed === "help") return out(INJECT_HELP + "\n");
  let source: string;
  try {
    source = fs.readFileSync(parsed.file === "-" ? 0 : parsed.file, "utf8");
  } catch (e) {
    throw new UsageError(`cannot read ${parsed.file === "-" ? "stdin" : parsed.file}: ${(e as NodeJS.ErrnoException).code ?? e}`, "give a readable YAML file, or pipe YAML into stdin");
  }
  let result;
  try {
    result = inject(source, parsed.opts);
  } catch (e) {
    throw new UsageError((e as Error).message, "fix the input YAML or the flags");
  }
  out(result.text);
  err(result.changed.length ? `injected the init container into ${result.changed.map((c) => `${c.kind}/${c.name}`).join(", ")}\n` : "nothing to change\n");
}
