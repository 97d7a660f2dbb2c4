// `download-package package push SOURCE oci://REGISTRY/REPO:TAG [flags]` and
// `download-package package pull oci://REF DIR [flags]`: publish a package as an OCI artifact,
// and install one into a directory exactly as the init container would.

import fs from "node:fs";
import { parseConfig, type Config } from "./config.ts";
import { DownloadError, ExitCode, UsageError } from "../errors.ts";
import { bytesField, createLogger, type Logger } from "../log.ts";
import { runInstall } from "../run.ts";
import { tlsSettings } from "../transfer/tls.ts";
import { existingArchive, packDirectory, pushArtifact, type Layer } from "../transfer/oci/push.ts";
import { isOciUrl, parseReference } from "../transfer/oci/reference.ts";
import { openSession, registryHttp } from "../transfer/oci/resolve.ts";

export const PACKAGE_HELP = `Usage:
  download-package package push DIR|ARCHIVE oci://REGISTRY[:PORT]/REPO:TAG [flags]
      Publish a directory (as a reproducible .tar.gz: sorted entries, mtime SOURCE_DATE_EPOCH or 0,
      owner 0:0, modes 0644/0755) or an existing .tar/.tar.gz/.tar.zst as an OCI artifact
      (artifactType application/vnd.download-package.package.v1, ORAS conventions).
      Prints the pushed manifest digest on stdout.
      Credentials: PACKAGE_REGISTRY_CONFIG (docker config.json), or REGISTRY_USERNAME with
      REGISTRY_PASSWORD_FILE (or REGISTRY_PASSWORD), environment only.
  download-package package pull oci://REGISTRY[:PORT]/REPO[:TAG][@sha256:DIGEST] DIR [flags]
      Install the package into DIR exactly as PACKAGE_URL=oci://… PACKAGE_DEST=DIR would.

Flags: the main command's (--plain-http, --registry-config, --ca-file, --platform, --oci-layer,
--timeout, ...; see download-package --help). Exit codes as the main command's.`;

export interface PackageIO {
  env: NodeJS.ProcessEnv;
  signal: AbortSignal;
  out: (s: string) => void;
  /** The logger the caller reports failures with, once the log format is known. */
  useLogger: (log: Logger) => void;
}

function configFor(flags: string[], url: string, dest: string | undefined, env: NodeJS.ProcessEnv): Config | undefined {
  const action = parseConfig([...flags, "--url", url, ...(dest ? ["--dest", dest] : [])], env);
  if (action.kind !== "run") return undefined;
  return action.result.config;
}

/** The run's deadline (PACKAGE_TIMEOUT) and signals, as one AbortSignal. */
function withDeadline(signal: AbortSignal, timeout: number): { signal: AbortSignal; clear: () => void } {
  if (timeout <= 0) return { signal, clear: () => {} };
  const ac = new AbortController();
  const t = setTimeout(() => ac.abort(new DownloadError(`total deadline of ${timeout / 1000}s exceeded (PACKAGE_TIMEOUT)`, { retryable: false, hint: "raise PACKAGE_TIMEOUT or check the network" })), timeout);
  t.unref();
  const onOuter = () => ac.abort(signal.reason);
  signal.addEventListener("abort", onOuter, { once: true });
  return { signal: ac.signal, clear: () => (clearTimeout(t), signal.removeEventListener("abort", onOuter)) };
}

async function layerOf(source: string, env: NodeJS.ProcessEnv): Promise<Layer> {
  let st: fs.Stats;
  try {
    st = fs.statSync(source);
  } catch (e) {
    throw new UsageError(`cannot read ${source}: ${(e as NodeJS.ErrnoException).code ?? e}`, "give an existing directory or .tar/.tar.gz/.tar.zst file");
  }
  return st.isDirectory() ? packDirectory(source, env) : existingArchive(source);
}

async function push(args: string[], io: PackageIO): Promise<number> {
  const [source, ref, ...flags] = args;
  if (!source || !ref || source.startsWith("--") || !isOciUrl(ref)) throw new UsageError("package push needs a source and an oci:// reference", "download-package package push DIR oci://REGISTRY/REPO:TAG");
  const config = configFor(flags, ref, undefined, io.env);
  if (!config) return (io.out(PACKAGE_HELP + "\n"), ExitCode.ok);
  const log = createLogger(config.logFormat);
  io.useLogger(log);
  const { signal, clear } = withDeadline(io.signal, config.timeout);
  const layer = await layerOf(source, io.env);
  const http = registryHttp({ config, env: io.env, log, signal }, tlsSettings(config, io.env));
  try {
    log.info("pushing", { source, layer: layer.title, mediaType: layer.mediaType, digest: layer.digest, size: bytesField(layer.size) });
    const session = openSession(parseReference(ref), config, http, "pull,push", io.env);
    const pushed = await pushArtifact(session, layer, io.env, log);
    log.info("pushed", { reference: pushed.reference, layer: layer.digest });
    io.out(`${pushed.digest}\n`);
    return ExitCode.ok;
  } finally {
    clear();
    await http.close();
    if (layer.temporary) fs.rmSync(layer.file.replace(/\/[^/]+$/, ""), { recursive: true, force: true });
  }
}

async function pull(args: string[], io: PackageIO): Promise<number> {
  const [ref, dest, ...flags] = args;
  if (!ref || !dest || dest.startsWith("--") || !isOciUrl(ref)) throw new UsageError("package pull needs an oci:// reference and a directory", "download-package package pull oci://REGISTRY/REPO:TAG DIR");
  const config = configFor(flags, ref, dest, io.env);
  if (!config) return (io.out(PACKAGE_HELP + "\n"), ExitCode.ok);
  const log = createLogger(config.logFormat);
  io.useLogger(log);
  const { signal, clear } = withDeadline(io.signal, config.timeout);
  try {
    process.umask(0); // modes come from the archive (or --file-mode/--dir-mode), as in the init container
    await runInstall({ config, env: io.env, log, signal, deadlineAt: config.timeout > 0 ? Date.now() + config.timeout : undefined });
    return ExitCode.ok;
  } finally {
    clear();
  }
}

export async function runPackage(argv: string[], io: PackageIO): Promise<number> {
  const [sub, ...rest] = argv;
  if (!sub || sub === "--help" || sub === "-h" || sub === "help") return (io.out(PACKAGE_HELP + "\n"), ExitCode.ok);
  if (sub === "push") return push(rest, io);
  if (sub === "pull") return pull(rest, io);
  throw new UsageError(`unknown package command ${JSON.stringify(sub)}`, "use package push or package pull (download-package package --help)");
}
