// Where each image goes in a private registry, and the node-side configuration that makes the
// cluster pull from there without touching the chart. Pure.
//
// Layouts: `flat` (the default, what OFFLINE-IMAGES.md and global.imageRegistry rely on) drops the
// source registry: docker.io/library/nginx:1.27 → REGISTRY/library/nginx:1.27. `by-registry` keeps
// it: REGISTRY/docker.io/library/nginx:1.27. `--registry-map SRC=DEST` sends one source registry to
// DEST (host[:port][/path]) instead. Two sources that land on the same target are an error.

import { UsageError } from "../errors.ts";
import { parseImageRef } from "./refs.ts";

export type Layout = "flat" | "by-registry";

export interface MirrorPlan {
  /** host[:port][/path] */
  registry: string;
  layout: Layout;
  /** source registry → host[:port][/path] */
  maps: Map<string, string>;
}

export function parseLayout(v: string): Layout {
  if (v !== "flat" && v !== "by-registry") throw new UsageError(`--layout must be flat or by-registry, not ${v}`);
  return v;
}

const HOST_PATH = /^[a-zA-Z0-9.-]+(:\d+)?(\/[a-z0-9._/-]*[a-z0-9])?$/;

export function checkRegistry(v: string, flag = "--registry"): string {
  const r = v.replace(/^https?:\/\//, "").replace(/\/+$/, "");
  if (!HOST_PATH.test(r)) throw new UsageError(`${flag} ${JSON.stringify(v)} is not HOST[:PORT][/PATH]`, "e.g. registry.example.internal:5000 or registry.example.internal/mirror");
  return r;
}

/** SRC=DEST pairs; docker.io stands for Docker Hub (index.docker.io and registry-1.docker.io too). */
export function parseRegistryMap(specs: string[]): Map<string, string> {
  const m = new Map<string, string>();
  for (const s of specs) {
    const eq = s.indexOf("=");
    if (eq <= 0) throw new UsageError(`--registry-map ${JSON.stringify(s)}: expected SOURCE=DEST`, "e.g. --registry-map quay.io=registry.example.internal/quay");
    let src = s.slice(0, eq).trim().toLowerCase();
    if (src === "index.docker.io" || src === "registry-1.docker.io") src = "docker.io";
    const dest = checkRegistry(s.slice(eq + 1).trim(), "--registry-map destination");
    if (m.has(src) && m.get(src) !== dest) throw new UsageError(`--registry-map gives ${src} twice (${m.get(src)} and ${dest})`);
    m.set(src, dest);
  }
  return m;
}

/** Where a source registry's images go: the registry (with path) they are pushed under. */
export function destinationFor(source: string, plan: MirrorPlan): string {
  return plan.maps.get(source) ?? (plan.layout === "by-registry" ? `${plan.registry}/${source}` : plan.registry);
}

/** The reference an image gets in the mirror (tag kept; digest kept when there is no tag). */
export function mirrorTarget(ref: string, plan: MirrorPlan): string {
  const r = parseImageRef(ref);
  if (!r) throw new UsageError(`${JSON.stringify(ref)} is not an image reference`);
  const tag = r.tag ?? (r.digest ? undefined : "latest");
  return `${destinationFor(r.registry, plan)}/${r.repository}${tag ? `:${tag}` : `@${r.digest}`}`;
}

export interface Collision {
  target: string;
  sources: string[];
}

/** Targets that two different source images would share (one would silently overwrite the other). */
export function collisions(refs: string[], plan: MirrorPlan): Collision[] {
  const by = new Map<string, Set<string>>();
  for (const ref of refs) {
    const r = parseImageRef(ref);
    if (!r) continue;
    const source = `${r.registry}/${r.repository}${r.tag ? `:${r.tag}` : ""}${r.digest ? `@${r.digest}` : ""}`;
    const t = mirrorTarget(ref, plan);
    by.set(t, (by.get(t) ?? new Set()).add(source));
  }
  return [...by].filter(([, s]) => s.size > 1).map(([target, s]) => ({ target, sources: [...s].sort() }));
}

export function assertNoCollision(refs: string[], plan: MirrorPlan): void {
  const c = collisions(refs, plan)[0];
  if (c) {
    throw new UsageError(`${c.sources.join(" and ")} would both be pushed as ${c.target}`, "use --layout by-registry (keeps the source registry in the path) or --registry-map SOURCE=DEST for one of them");
  }
}

const upstream = (source: string) => (source === "docker.io" ? "https://registry-1.docker.io" : `https://${source}`);

function splitDest(dest: string): { host: string; path: string } {
  const i = dest.indexOf("/");
  return i < 0 ? { host: dest, path: "" } : { host: dest.slice(0, i), path: dest.slice(i + 1) };
}

export interface ConfigFile {
  path: string;
  content: string;
}

/**
 * containerd (1.5+, CRI `config_path = "/etc/containerd/certs.d"`): one hosts.toml per source
 * registry. A destination with a path uses override_path, so containerd asks /v2/PATH/REPO/...
 */
export function containerdHosts(sources: string[], plan: MirrorPlan, scheme: "https" | "http"): ConfigFile[] {
  return [...new Set(sources)].sort().map((source) => {
    const { host, path } = splitDest(destinationFor(source, plan));
    const url = path ? `${scheme}://${host}/v2/${path}` : `${scheme}://${host}`;
    const lines = [
      `server = "${upstream(source)}"`,
      "",
      `[host."${url}"]`,
      `  capabilities = ["pull", "resolve"]`,
      ...(path ? ["  override_path = true"] : []),
    ];
    return { path: `/etc/containerd/certs.d/${source}/hosts.toml`, content: `${lines.join("\n")}\n` };
  });
}

/** k3s / RKE2 registries.yaml: a mirror per source registry, a rewrite for the path prefix. */
export function k3sRegistries(sources: string[], plan: MirrorPlan, scheme: "https" | "http"): ConfigFile {
  const out = ["mirrors:"];
  for (const source of [...new Set(sources)].sort()) {
    const { host, path } = splitDest(destinationFor(source, plan));
    out.push(`  ${JSON.stringify(source)}:`, "    endpoint:", `      - ${JSON.stringify(`${scheme}://${host}`)}`);
    if (path) out.push("    rewrite:", `      ${JSON.stringify("^(.*)$")}: ${JSON.stringify(`${path}/$1`)}`);
  }
  const dir = "/etc/rancher/{k3s,rke2}/registries.yaml";
  return { path: dir, content: `${out.join("\n")}\n` };
}
