// `images mirror-config`: the node-side configuration (containerd hosts.toml, or k3s/RKE2
// registries.yaml) that makes the cluster pull every listed image from the private registry,
// for the chosen layout; and the collision check push needs. Prints; writes nothing.

import { UsageError } from "../errors.ts";
import { parseImageRef } from "./refs.ts";
import { readIndex } from "./store.ts";
import { assertNoCollision, checkRegistry, containerdHosts, k3sRegistries, mirrorTarget, parseLayout, parseRegistryMap, type MirrorPlan } from "./mirror-map.ts";

export interface MirrorArgs {
  registry?: string;
  layout: string;
  registryMap: string[];
  format: string;
  plainHttp: boolean;
  from?: string;
}

/** The setter of a mirror-config flag (push takes the mapping ones, not --format), or undefined. */
export function mirrorFlag(a: MirrorArgs, name: string, cmd = "mirror-config"): ((v: string) => void) | undefined {
  const flags: Record<string, (v: string) => void> = {
    "--layout": (v) => (a.layout = v),
    "--registry-map": (v) => a.registryMap.push(v),
    ...(cmd === "mirror-config" ? { "--format": (v: string) => (a.format = v) } : {}),
  };
  return flags[name];
}

/** The mapping of mirror-config and push: one function, so both always agree. */
export function planOf(a: Pick<MirrorArgs, "registry" | "layout" | "registryMap">, cmd = "mirror-config"): MirrorPlan {
  if (!a.registry) throw new UsageError(`images ${cmd} needs --registry HOST[:PORT][/PATH]`);
  return { registry: checkRegistry(a.registry), layout: parseLayout(a.layout), maps: parseRegistryMap(a.registryMap) };
}

export function mirrorConfig(a: MirrorArgs, refs: string[], out: (s: string) => void): void {
  const plan = planOf(a);
  if (!["containerd", "k3s"].includes(a.format)) throw new UsageError(`--format must be containerd or k3s, not ${a.format}`);
  if (refs.length === 0) throw new UsageError("no images: nothing to configure", "give --from DIR (what images export wrote) or the inputs of images list (--chart ...)");
  assertNoCollision(refs, plan);
  const sources = refs.map((r) => parseImageRef(r)?.registry).filter((x): x is string => !!x);
  const scheme = a.plainHttp ? "http" : "https";
  const files = a.format === "k3s" ? [k3sRegistries(sources, plan, scheme)] : containerdHosts(sources, plan, scheme);
  out(`# images as pushed (${plan.layout}${plan.maps.size ? ", with --registry-map" : ""}):\n`);
  for (const r of [...new Set(refs)].sort()) out(`#   ${r} -> ${mirrorTarget(r, plan)}\n`);
  if (a.format === "containerd") out("# containerd: set config_path = \"/etc/containerd/certs.d\" under [plugins.\"io.containerd.grpc.v1.cri\".registry], then restart containerd\n");
  else out("# k3s / RKE2: this file on every node, then restart k3s / rke2-server / rke2-agent\n");
  for (const f of files) out(`\n# ${f.path}\n${f.content}`);
}

/** References from an export directory's index.json. */
export function refsFromExport(dir: string): string[] {
  return readIndex(dir).map((e) => e.ref);
}
