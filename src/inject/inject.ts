// `download-package inject`: add the init container to existing workloads. Pure: YAML text
// in, YAML text out. Every workload document (Pod, Deployment, StatefulSet, DaemonSet,
// ReplicaSet, Job, CronJob) gets the emptyDir volume, the init container, and a read-only
// mount in every main container; other documents pass through byte for byte, comments
// are kept, and a second run changes nothing.

import { isMap, isSeq, parseDocument, YAMLMap, YAMLSeq, type Document } from "yaml";

export interface InjectOptions {
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
}

export const POD_SPEC_PATHS: Record<string, string[]> = {
  Pod: ["spec"],
  Deployment: ["spec", "template", "spec"],
  StatefulSet: ["spec", "template", "spec"],
  DaemonSet: ["spec", "template", "spec"],
  ReplicaSet: ["spec", "template", "spec"],
  Job: ["spec", "template", "spec"],
  CronJob: ["spec", "jobTemplate", "spec", "template", "spec"],
};

export const TOKEN_DIR = "/var/run/secrets/download-package";

function secretRef(ref: string, what: string): { name: string; key: string } {
  const m = /^([a-z0-9]([-a-z0-9.]*[a-z0-9])?)\/([-._a-zA-Z0-9]+)$/.exec(ref);
  if (!m) throw new Error(`${what} must be SECRET/KEY, not ${JSON.stringify(ref)}`);
  return { name: m[1], key: m[3] };
}

/** The init container, as plain data. */
export function initContainer(o: InjectOptions): Record<string, unknown> {
  const env: Record<string, unknown>[] = [];
  if (o.urlSecret) env.push({ name: "PACKAGE_URL", valueFrom: { secretKeyRef: secretRef(o.urlSecret, "--url-secret") } });
  else env.push({ name: "PACKAGE_URL", value: o.packageUrl });
  env.push({ name: "PACKAGE_DEST", value: o.dest ?? `${o.mountPath.replace(/\/$/, "")}/diff-var-files` });
  if (o.sha256Secret) env.push({ name: "PACKAGE_SHA256", valueFrom: { secretKeyRef: secretRef(o.sha256Secret, "--sha256-secret") } });
  else if (o.sha256) env.push({ name: "PACKAGE_SHA256", value: o.sha256 });
  if (o.tokenSecret) env.push({ name: "PACKAGE_TOKEN_FILE", value: `${TOKEN_DIR}/token` });
  for (const [name, value] of o.env) env.push({ name, value });
  const mounts: Record<string, unknown>[] = [{ name: o.volumeName, mountPath: o.mountPath }];
  if (o.tokenSecret) mounts.push({ name: `${o.volumeName}-token`, mountPath: TOKEN_DIR, readOnly: true });
  const c: Record<string, unknown> = { name: o.containerName, image: o.image };
  if (o.imagePullPolicy) c.imagePullPolicy = o.imagePullPolicy;
  Object.assign(c, {
    env,
    volumeMounts: mounts,
    // Sized from `npm run bench`: peak RSS 120-180 MiB for packages from 256 MiB to 2 GiB.
    resources: { requests: { cpu: "100m", memory: "192Mi" }, limits: { memory: "384Mi" } },
    securityContext: { runAsNonRoot: true, runAsUser: 65532, runAsGroup: 65532, readOnlyRootFilesystem: true, allowPrivilegeEscalation: false, capabilities: { drop: ["ALL"] } },
    terminationMessagePolicy: "FallbackToLogsOnError",
  });
  return c;
}

function getIn(node: unknown, path: string[]): YAMLMap | undefined {
  let cur = node;
  for (const p of path) {
    if (!isMap(cur)) return undefined;
    cur = cur.get(p, true);
  }
  return isMap(cur) ? cur : undefined;
}

function seqOf(doc: Document, map: YAMLMap, key: string): YAMLSeq {
  const found: unknown = map.get(key, true);
  if (isSeq(found)) return found;
  const s = doc.createNode([]) as unknown as YAMLSeq;
  map.set(key, s);
  return s;
}

function findByName(seq: YAMLSeq, name: string): number {
  return seq.items.findIndex((i) => isMap(i) && i.get("name") === name);
}

/** Apply the injection to one pod spec; returns true when something changed. */
function injectPodSpec(doc: Document, spec: YAMLMap, o: InjectOptions): boolean {
  const before = String(spec);
  const volumes = seqOf(doc, spec, "volumes");
  if (findByName(volumes, o.volumeName) < 0) volumes.add(doc.createNode({ name: o.volumeName, emptyDir: {} }));
  if (o.tokenSecret) {
    const { name, key } = secretRef(o.tokenSecret, "--token-secret");
    const v = doc.createNode({ name: `${o.volumeName}-token`, secret: { secretName: name, items: [{ key, path: "token" }] } });
    const i = findByName(volumes, `${o.volumeName}-token`);
    if (i < 0) volumes.add(v);
    else volumes.items[i] = v;
  }
  const inits = seqOf(doc, spec, "initContainers");
  const wanted = doc.createNode(initContainer(o));
  const i = findByName(inits, o.containerName);
  if (i < 0) inits.items.unshift(wanted); // first: the package is there for any other init container too
  else if (String(inits.items[i]) !== String(wanted)) inits.items[i] = wanted;
  const containers = spec.get("containers", true);
  if (isSeq(containers)) {
    for (const c of containers.items) {
      if (!isMap(c)) continue;
      const mounts = seqOf(doc, c, "volumeMounts");
      const j = findByName(mounts, o.volumeName);
      if (j < 0) mounts.add(doc.createNode({ name: o.volumeName, mountPath: o.mountPath, readOnly: true }));
      else {
        const m = mounts.items[j] as YAMLMap;
        m.set("readOnly", true); // main containers never write the package
      }
    }
  }
  return String(spec) !== before;
}

export interface InjectResult {
  text: string;
  changed: { kind: string; name: string }[];
}

/** Split a YAML stream at its document markers, keeping every byte (a column-0 '---' is always a marker). */
export function splitDocuments(source: string): { marker: string; body: string }[] {
  const parts: { marker: string; body: string }[] = [];
  let cur = { marker: "", body: "" };
  for (const line of source.match(/[^\n]*\n|[^\n]+$/g) ?? []) {
    if (/^---(\s|$)/.test(line)) {
      if (cur.marker || cur.body) parts.push(cur);
      cur = { marker: line, body: "" };
    } else cur.body += line;
  }
  if (cur.marker || cur.body) parts.push(cur);
  return parts;
}

export function inject(source: string, o: InjectOptions): InjectResult {
  if (!o.image) throw new Error("--image is required");
  if (!o.packageUrl && !o.urlSecret) throw new Error("--package-url (or --url-secret) is required");
  const changed: InjectResult["changed"] = [];
  let text = "";
  for (const { marker, body } of splitDocuments(source)) {
    // A marker line may carry content ("--- !tag" or "--- {a: 1}"): parse it with the body.
    const doc = parseDocument(marker + body);
    if (doc.errors.length) throw new Error(`YAML error: ${doc.errors[0].message.split("\n")[0]}`);
    const kind = String(isMap(doc.contents) ? (doc.contents.get("kind") ?? "") : "");
    const path = POD_SPEC_PATHS[kind];
    const spec = path ? getIn(doc.contents, path) : undefined;
    if (spec && injectPodSpec(doc, spec, o)) {
      const meta = isMap(doc.contents) ? doc.contents.get("metadata") : undefined;
      changed.push({ kind, name: String(isMap(meta) ? (meta.get("name") ?? "") : "") });
      text += doc.toString({ lineWidth: 0 });
    } else text += marker + body;
  }
  return { text, changed };
}
