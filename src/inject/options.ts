// Checks on what `inject` and the webhook put into the init container, made with the
// program's own rules: the environment the init container will get is parsed by the same
// parseConfig the init container runs, so a scheme it cannot fetch, a bad digest or a
// misspelt PACKAGE_* variable is refused here with the same message, before any Pod starts.

import { OPTIONS, parseConfig } from "../cli/config.ts";
import { UsageError } from "../errors.ts";
import { defaultDest, TOKEN_DIR, type PodPatchOptions } from "./pod-spec.ts";

/** Variables the program reads besides its own table. */
export const OTHER_VARIABLES = ["HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "http_proxy", "https_proxy", "no_proxy", "NODE_EXTRA_CA_CERTS"];

const SET_BY_FLAGS: Record<string, string> = {
  PACKAGE_URL: "--package-url (or --url-secret)",
  PACKAGE_DEST: "--dest",
  PACKAGE_SHA256: "--sha256 (or --sha256-secret)",
  PACKAGE_TOKEN_FILE: "--token-secret",
};

function editDistance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++) cur[j] = Math.min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
    prev = cur;
  }
  return prev[b.length];
}

export function closest(name: string, candidates: string[]): string | undefined {
  const [best] = candidates.map((c) => [c, editDistance(name.toUpperCase(), c.toUpperCase())] as const).sort((x, y) => x[1] - y[1]);
  return best && best[1] <= Math.max(3, Math.floor(name.length / 3)) ? best[0] : undefined;
}

/** An --env name must be a variable the program reads, and not one a dedicated flag sets. */
export function checkEnvName(name: string): void {
  if (SET_BY_FLAGS[name]) throw new UsageError(`--env ${name} is set by ${SET_BY_FLAGS[name]}`, `use ${SET_BY_FLAGS[name]} instead`);
  const known = [...OPTIONS.map((o) => o.env), ...OTHER_VARIABLES];
  if (known.includes(name)) return;
  const guess = closest(name, known);
  throw new UsageError(`--env ${name}: download-package does not read ${name}`, guess ? `did you mean ${guess}?` : "see download-package --help for the variables it reads");
}

/** The init container's environment, parsed as the init container will parse it. */
export function checkProgramSettings(o: PodPatchOptions): void {
  const env: Record<string, string> = {
    // A Secret's value is not known here: a placeholder stands for it.
    PACKAGE_URL: o.urlSecret ? "https://from-secret.invalid/package" : (o.packageUrl ?? ""),
    PACKAGE_DEST: defaultDest(o),
  };
  if (o.sha256 && !o.sha256Secret) env.PACKAGE_SHA256 = o.sha256;
  if (o.tokenSecret) env.PACKAGE_TOKEN_FILE = `${TOKEN_DIR}/token`;
  for (const [k, v] of o.env) {
    checkEnvName(k);
    env[k] = v;
  }
  parseConfig([], env);
}

const QUANTITY = /^[+]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+|[numkMGTPE]|[KMGTPE]i)?$/;

export function checkQuantity(text: string, what: string): string {
  if (!QUANTITY.test(text)) throw new UsageError(`${what}: ${JSON.stringify(text)} is not a Kubernetes quantity`, "write e.g. 100m, 0.5, 128Mi, 1Gi");
  return text;
}

/** "cpu=100m,memory=128Mi" → { cpu: "100m", memory: "128Mi" }. */
export function parseResources(text: string, flag: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const part of text.split(",").map((p) => p.trim()).filter(Boolean)) {
    const m = /^([a-z0-9]([-a-z0-9./]*[a-z0-9])?)=(.*)$/.exec(part);
    if (!m) throw new UsageError(`${flag} ${JSON.stringify(part)} is not RESOURCE=QUANTITY`, `write ${flag} cpu=100m,memory=128Mi`);
    out[m[1]] = checkQuantity(m[3], `${flag} ${m[1]}`);
  }
  if (!Object.keys(out).length) throw new UsageError(`${flag} is empty`, `write ${flag} cpu=100m,memory=128Mi`);
  return out;
}

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;
const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$/;

/** Everything the API server would refuse, refused here with the flag's name. */
export function checkPodPatchOptions(o: PodPatchOptions): void {
  if (!DNS_LABEL.test(o.containerName)) throw new UsageError(`--container-name ${JSON.stringify(o.containerName)} is not a valid container name`, "use lower-case letters, digits and '-', up to 63 characters");
  if (!DNS_LABEL.test(o.volumeName)) throw new UsageError(`--volume-name ${JSON.stringify(o.volumeName)} is not a valid volume name`, "use lower-case letters, digits and '-', up to 63 characters");
  if (o.tokenSecret && o.volumeName.length > 57) throw new UsageError("--volume-name is too long for the token volume (NAME-token)", "use at most 57 characters");
  if (!o.mountPath.startsWith("/") || o.mountPath.includes(":")) throw new UsageError(`--mount-path ${JSON.stringify(o.mountPath)} is not an absolute path`, "write e.g. --mount-path /shared-data");
  const dest = defaultDest(o);
  const root = o.mountPath.replace(/\/$/, "");
  if (dest !== root && !dest.startsWith(root + "/")) throw new UsageError(`--dest ${dest} is not inside --mount-path ${o.mountPath}`, "PACKAGE_DEST must be in the shared volume, or the main containers will not see the files");
  if (o.imagePullPolicy && !["Always", "IfNotPresent", "Never"].includes(o.imagePullPolicy))
    throw new UsageError(`--image-pull-policy ${o.imagePullPolicy} is not Always, IfNotPresent or Never`, "write one of Always, IfNotPresent, Never");
  if (o.sizeLimit) checkQuantity(o.sizeLimit, "--size-limit");
  for (const s of o.imagePullSecrets) if (!DNS_SUBDOMAIN.test(s)) throw new UsageError(`--image-pull-secret ${JSON.stringify(s)} is not a Secret name`, "give the name of a docker-registry Secret");
  if (/\s/.test(o.image) || !o.image) throw new UsageError(`--image ${JSON.stringify(o.image)} is not an image reference`, "write e.g. registry.example.internal/package-init-container:0.1.0");
  checkProgramSettings(o);
}
