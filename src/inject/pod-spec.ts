// The change to one pod spec, as plain data: the init container, the emptyDir volume and
// the read-only mounts, expressed as JSON-Patch-like operations. Shared by `inject` (which
// turns them into text insertions in the YAML) and the admission webhook (which sends them
// as an RFC 6902 JSONPatch). Pure: a pod spec in, a list of operations out.

import { isDeepStrictEqual } from "node:util";
import { UsageError } from "../errors.ts";

export type Path = (string | number)[];
/** Paths refer to the spec as it is before any operation; "-" appends to a list. */
export interface PatchOp {
  op: "add" | "replace";
  path: Path;
  value: unknown;
}

type Obj = Record<string, unknown>;

export interface PodPatchOptions {
  packageUrl?: string;
  /** PACKAGE_URL read from a Secret instead ("name/key"), for URLs that carry credentials. */
  urlSecret?: string;
  image: string;
  containerName: string;
  volumeName: string;
  mountPath: string;
  /** PACKAGE_DEST inside the init container; defaults to MOUNT/diff-var-files. */
  dest?: string;
  sha256?: string;
  /** PACKAGE_SHA256 from a Secret ("name/key"). */
  sha256Secret?: string;
  /** A bearer token from a Secret ("name/key"), mounted as a file for PACKAGE_TOKEN_FILE. */
  tokenSecret?: string;
  env: [string, string][];
  imagePullPolicy?: string;
  /** emptyDir sizeLimit, a Kubernetes quantity. */
  sizeLimit?: string;
  imagePullSecrets: string[];
  requests?: Record<string, string>;
  limits?: Record<string, string>;
  /** Also mount the package (read-only) into the init containers that run after ours. */
  mountInit: boolean;
}

export const TOKEN_DIR = "/var/run/secrets/download-package";

// Sized from `npm run bench`: peak RSS 120-180 MiB for packages from 256 MiB to 2 GiB.
export const DEFAULT_REQUESTS = { cpu: "100m", memory: "192Mi" };
export const DEFAULT_LIMITS = { memory: "384Mi" };

/** A pod spec that cannot take the injection as asked (a name or path already used otherwise). */
export class ConflictError extends UsageError {
  constructor(message: string, hint: string) {
    super(message, hint);
    this.name = "ConflictError";
  }
}

export function secretRef(ref: string, what: string): { name: string; key: string } {
  const m = /^([a-z0-9]([-a-z0-9.]*[a-z0-9])?)\/([-._a-zA-Z0-9]+)$/.exec(ref);
  if (!m) throw new UsageError(`${what} must be SECRET/KEY, not ${JSON.stringify(ref)}`, `write ${what} SECRET-NAME/KEY`);
  return { name: m[1], key: m[3] };
}

export function defaultDest(o: Pick<PodPatchOptions, "dest" | "mountPath">): string {
  return o.dest ?? `${o.mountPath.replace(/\/$/, "")}/diff-var-files`;
}

/** The init container, as plain data. */
export function initContainer(o: PodPatchOptions): Obj {
  const env: Obj[] = [];
  if (o.urlSecret) env.push({ name: "PACKAGE_URL", valueFrom: { secretKeyRef: secretRef(o.urlSecret, "--url-secret") } });
  else env.push({ name: "PACKAGE_URL", value: o.packageUrl });
  env.push({ name: "PACKAGE_DEST", value: defaultDest(o) });
  if (o.sha256Secret) env.push({ name: "PACKAGE_SHA256", valueFrom: { secretKeyRef: secretRef(o.sha256Secret, "--sha256-secret") } });
  else if (o.sha256) env.push({ name: "PACKAGE_SHA256", value: o.sha256 });
  if (o.tokenSecret) env.push({ name: "PACKAGE_TOKEN_FILE", value: `${TOKEN_DIR}/token` });
  for (const [name, value] of o.env) env.push({ name, value });
  const mounts: Obj[] = [{ name: o.volumeName, mountPath: o.mountPath }];
  if (o.tokenSecret) mounts.push({ name: `${o.volumeName}-token`, mountPath: TOKEN_DIR, readOnly: true });
  const c: Obj = { name: o.containerName, image: o.image };
  if (o.imagePullPolicy) c.imagePullPolicy = o.imagePullPolicy;
  Object.assign(c, {
    env,
    volumeMounts: mounts,
    resources: { requests: o.requests ?? DEFAULT_REQUESTS, limits: o.limits ?? DEFAULT_LIMITS },
    securityContext: { runAsNonRoot: true, runAsUser: 65532, runAsGroup: 65532, readOnlyRootFilesystem: true, allowPrivilegeEscalation: false, capabilities: { drop: ["ALL"] } },
    terminationMessagePolicy: "FallbackToLogsOnError",
  });
  return c;
}

export function packageVolume(o: PodPatchOptions): Obj {
  return { name: o.volumeName, emptyDir: o.sizeLimit ? { sizeLimit: o.sizeLimit } : {} };
}

function tokenVolume(o: PodPatchOptions): Obj | undefined {
  if (!o.tokenSecret) return undefined;
  const { name, key } = secretRef(o.tokenSecret, "--token-secret");
  return { name: `${o.volumeName}-token`, secret: { secretName: name, items: [{ key, path: "token" }] } };
}

const asObj = (v: unknown): Obj | undefined => (v && typeof v === "object" && !Array.isArray(v) ? (v as Obj) : undefined);
const list = (v: unknown): unknown[] | undefined => (Array.isArray(v) ? v : undefined);
const byName = (items: unknown[] | undefined, name: string) => (items ?? []).findIndex((i) => asObj(i)?.name === name);

/** Add `item` to the list at `path` (creating the list when absent). */
function appendOp(key: string, path: Path, items: unknown[] | undefined, item: unknown): PatchOp {
  return items ? { op: "add", path: [...path, key, "-"], value: item } : { op: "add", path: [...path, key], value: [item] };
}

/** The read-only mount of the package in one container (main, or init with --mount-init). */
function mountOps(c: Obj, path: Path, o: PodPatchOptions): PatchOp[] {
  const mounts = list(c.volumeMounts);
  const j = byName(mounts, o.volumeName);
  const clash = (mounts ?? []).find((m) => asObj(m)?.mountPath === o.mountPath && asObj(m)?.name !== o.volumeName);
  if (clash) throw new ConflictError(`container ${String(c.name)} already mounts volume ${String(asObj(clash)?.name)} at ${o.mountPath}`, "choose another --mount-path");
  if (j < 0) return [appendOp("volumeMounts", path, mounts, { name: o.volumeName, mountPath: o.mountPath, readOnly: true })];
  // Already mounted: main containers never write the package.
  return asObj(mounts![j])?.readOnly === true ? [] : [{ op: "add", path: [...path, "volumeMounts", j, "readOnly"], value: true }];
}

/** The package volume (and the token's): added when missing, replaced when ours but different. */
function volumeOps(spec: Obj, wanted: { volume: Obj; isOurs: (v: Obj) => boolean }[]): PatchOp[] {
  const volumes = list(spec.volumes);
  const ops: PatchOp[] = [];
  const missing: Obj[] = [];
  for (const { volume, isOurs } of wanted) {
    const i = byName(volumes, String(volume.name));
    if (i < 0) {
      missing.push(volume);
      continue;
    }
    const have = asObj(volumes![i]) ?? {};
    if (isDeepStrictEqual(have, volume)) continue;
    if (!isOurs(have)) throw new ConflictError(`the pod already has a volume named ${String(volume.name)} of another type`, "choose another --volume-name");
    ops.push({ op: "replace", path: ["volumes", i], value: volume });
  }
  if (missing.length && !volumes) ops.push({ op: "add", path: ["volumes"], value: missing });
  else for (const v of missing) ops.push({ op: "add", path: ["volumes", "-"], value: v });
  return ops;
}

function pullSecretOps(spec: Obj, names: string[]): PatchOp[] {
  const have = list(spec.imagePullSecrets);
  const missing = names.filter((n) => byName(have, n) < 0);
  if (!missing.length) return [];
  if (!have) return [{ op: "add", path: ["imagePullSecrets"], value: missing.map((name) => ({ name })) }];
  return missing.map((name) => ({ op: "add", path: ["imagePullSecrets", "-"], value: { name } }));
}

/** Lists that are something else would be overwritten: refuse instead, naming the field. */
function checkShape(spec: Obj): void {
  const notList = (v: unknown) => v !== undefined && v !== null && !Array.isArray(v);
  const bad = (field: string) => new ConflictError(`${field} is not a list`, "fix the manifest: the API server would refuse it too");
  for (const key of ["containers", "initContainers", "volumes", "imagePullSecrets"]) if (notList(spec[key])) throw bad(`spec.${key}`);
  for (const key of ["containers", "initContainers"])
    for (const c of list(spec[key]) ?? []) if (asObj(c) && notList(asObj(c)!.volumeMounts)) throw bad(`spec.${key}[${String(asObj(c)!.name)}].volumeMounts`);
}

/** Does this pod spec already run our init container (by name)? */
export function hasInitContainer(spec: Obj, containerName: string): boolean {
  return byName(list(spec.initContainers), containerName) >= 0;
}

/**
 * The operations that give `spec` the init container, the volume and the mounts; none when
 * it already has them exactly. Mount operations come first, so every path refers to the
 * spec as it was (the init container is prepended last).
 */
export function podSpecPatch(spec: Obj, o: PodPatchOptions): PatchOp[] {
  checkShape(spec);
  const ops: PatchOp[] = [];
  const containers = list(spec.containers) ?? [];
  const inits = list(spec.initContainers);
  if (containers.some((c) => asObj(c)?.name === o.containerName))
    throw new ConflictError(`a main container is already named ${o.containerName}`, "choose another --container-name");
  containers.forEach((c, i) => {
    if (asObj(c)) ops.push(...mountOps(c as Obj, ["containers", i], o));
  });
  if (o.mountInit) {
    (inits ?? []).forEach((c, i) => {
      if (asObj(c) && asObj(c)!.name !== o.containerName) ops.push(...mountOps(c as Obj, ["initContainers", i], o));
    });
  }
  const token = tokenVolume(o);
  ops.push(...volumeOps(spec, [{ volume: packageVolume(o), isOurs: (v) => v.emptyDir !== undefined }, ...(token ? [{ volume: token, isOurs: (v: Obj) => v.secret !== undefined }] : [])]));
  ops.push(...pullSecretOps(spec, o.imagePullSecrets));
  const wanted = initContainer(o);
  const i = byName(inits, o.containerName);
  if (!inits) ops.push({ op: "add", path: ["initContainers"], value: [wanted] });
  else if (i < 0) ops.push({ op: "add", path: ["initContainers", 0], value: wanted }); // first: later init containers can use the package
  else if (!isDeepStrictEqual(inits[i], wanted)) ops.push({ op: "replace", path: ["initContainers", i], value: wanted });
  return ops;
}

/** Apply operations to plain data (a copy is returned): the meaning `inject` must produce. */
export function applyOps<T>(root: T, ops: PatchOp[]): T {
  // A JSON copy, not structuredClone: data read through YAML aliases shares objects, and
  // a change must land only where its path points.
  const copy = (v: unknown) => (v === undefined ? v : JSON.parse(JSON.stringify(v)));
  const out = copy(root);
  for (const { op, path, value } of ops) {
    const parent = path.slice(0, -1).reduce((x: any, k) => x?.[k], out);
    const last = path[path.length - 1];
    if (Array.isArray(parent)) {
      if (last === "-") parent.push(copy(value));
      else if (op === "add") parent.splice(Number(last), 0, copy(value));
      else parent[Number(last)] = copy(value);
    } else if (parent && typeof parent === "object") (parent as Obj)[String(last)] = copy(value);
    else throw new Error(`internal: no parent for ${path.join("/")}`);
  }
  return out as T;
}

/** RFC 6902 form, for the webhook: paths as JSON Pointers under `prefix`. */
export function toJsonPatch(ops: PatchOp[], prefix: Path): { op: string; path: string; value: unknown }[] {
  const esc = (k: string | number) => String(k).replace(/~/g, "~0").replace(/\//g, "~1");
  return ops.map(({ op, path, value }) => ({ op, path: "/" + [...prefix, ...path].map(esc).join("/"), value }));
}
