// skopeo, for the one thing Docker cannot do: move an image between a registry and a file
// without re-making its manifest (`--preserve-digests`), so a digest survives export → file →
// push. Registries are reached as the local Docker reaches them: a registry Docker treats as
// insecure (plain HTTP, `insecure-registries`, 127.0.0.0/8) gets `--*-tls-verify=false`.
// Credentials go in an authfile in a private directory (mode 0600), never on the command line.

import fs from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { lastLine, run } from "./proc.ts";
import { RuntimeUnreachable } from "./runtime.ts";

/** Throws RuntimeUnreachable when skopeo cannot be run. */
export async function requireSkopeo(why: string, signal: AbortSignal): Promise<void> {
  const r = await run("skopeo", ["--version"], { signal });
  if (r.status !== 0) throw new RuntimeUnreachable(`skopeo cannot be run (${lastLine(r.stderr) || `exit ${r.status}`}): ${why}`, "install skopeo (apt-get install skopeo) on this machine");
}

interface DockerRegistryConfig {
  IndexConfigs?: Record<string, { Secure?: boolean }>;
  InsecureRegistryCIDRs?: string[];
}

/** Pure: is HOST[:PORT] insecure for Docker, given its RegistryConfig? */
export function insecureFor(config: DockerRegistryConfig, hostPort: string): boolean {
  const secure = config.IndexConfigs?.[hostPort]?.Secure;
  if (secure !== undefined) return !secure;
  const host = hostPort.replace(/:\d+$/, "").replace(/^\[(.*)\]$/, "$1");
  const ip = host === "localhost" ? "127.0.0.1" : host;
  const family = net.isIP(ip);
  if (!family) return false;
  const list = new net.BlockList();
  for (const cidr of config.InsecureRegistryCIDRs ?? []) {
    const [addr, bits] = cidr.split("/");
    const f = net.isIP(addr);
    if (f) list.addSubnet(addr, Number(bits), f === 6 ? "ipv6" : "ipv4");
  }
  return list.check(ip, family === 6 ? "ipv6" : "ipv4");
}

/** The local Docker's view of which registries are insecure; none when Docker does not say. */
export async function dockerInsecurity(signal: AbortSignal): Promise<(hostPort: string) => boolean> {
  const r = await run("docker", ["info", "--format", "{{json .RegistryConfig}}"], { signal });
  let config: DockerRegistryConfig = {};
  try {
    if (r.status === 0) config = JSON.parse(r.stdout) as DockerRegistryConfig;
  } catch {
    /* no config: every registry is secure */
  }
  return (hostPort) => insecureFor(config, hostPort);
}

/** A private directory (0700) for one skopeo run's files; removed by the caller. */
export function privateDir(prefix: string): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}

/** A docker-style authfile for one registry, mode 0600, in DIR. */
export function writeAuthfile(dir: string, host: string, username: string, password: string): string {
  const file = path.join(dir, "auth.json");
  const auth = Buffer.from(`${username}:${password}`).toString("base64");
  fs.writeFileSync(file, JSON.stringify({ auths: { [host]: { auth } } }), { mode: 0o600 });
  return file;
}

export interface CopyOptions {
  src: string;
  dest: string;
  /** --all: every image of an index (the index's digest is kept only with all of them). */
  all: boolean;
  platform?: string;
  srcInsecure?: boolean;
  destInsecure?: boolean;
  authfile?: string;
  digestfile?: string;
  env: NodeJS.ProcessEnv;
  signal: AbortSignal;
  timeoutMs?: number;
}

/** skopeo copy --preserve-digests SRC DEST; throws with skopeo's own last line. */
export async function skopeoCopy(o: CopyOptions): Promise<void> {
  const args = ["copy", "--quiet", "--preserve-digests"];
  if (o.all) args.push("--all");
  if (o.platform) {
    const [osName, arch, variant] = o.platform.split("/");
    args.push("--override-os", osName, "--override-arch", arch, ...(variant ? ["--override-variant", variant] : []));
  }
  if (o.srcInsecure) args.push("--src-tls-verify=false");
  if (o.destInsecure) args.push("--dest-tls-verify=false");
  if (o.authfile) args.push("--authfile", o.authfile);
  if (o.digestfile) args.push("--digestfile", o.digestfile);
  const r = await run("skopeo", [...args, o.src, o.dest], { env: o.env, signal: o.signal, timeoutMs: o.timeoutMs });
  if (r.status !== 0) throw new Error(`skopeo copy failed: ${lastLine(r.stderr) || `exit ${r.status}`}`);
}
