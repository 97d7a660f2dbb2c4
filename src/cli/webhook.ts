// Flags and environment for `download-package webhook`, in the same table style as the
// program's own options (src/cli/config.ts): every variable has a flag twin, a flag wins,
// and an unknown WEBHOOK_* variable is an error with a suggestion.

import { UsageError } from "../errors.ts";
import { createLogger } from "../log.ts";
import { checkPodPatchOptions, checkQuantity, closest } from "../inject/options.ts";
import { parseDuration } from "../units.ts";
import { serveWebhook, type ServerSettings } from "../webhook/server.ts";

interface WebhookOption {
  key: string;
  env: string;
  flag: string;
  def: string;
  help: string;
}

export const WEBHOOK_OPTIONS: WebhookOption[] = [
  { key: "image", env: "WEBHOOK_IMAGE", flag: "--image", def: "", help: "the init container image (required)" },
  { key: "listen", env: "WEBHOOK_LISTEN", flag: "--listen", def: "0.0.0.0:8443", help: "HOST:PORT to serve HTTPS on" },
  { key: "certFile", env: "WEBHOOK_TLS_CERT_FILE", flag: "--tls-cert-file", def: "/etc/download-package-webhook/tls/tls.crt", help: "PEM certificate (re-read while running)" },
  { key: "keyFile", env: "WEBHOOK_TLS_KEY_FILE", flag: "--tls-key-file", def: "/etc/download-package-webhook/tls/tls.key", help: "PEM private key (re-read while running)" },
  { key: "reload", env: "WEBHOOK_TLS_RELOAD_INTERVAL", flag: "--tls-reload-interval", def: "30s", help: "how often the certificate files are checked for a new pair" },
  { key: "containerName", env: "WEBHOOK_CONTAINER_NAME", flag: "--container-name", def: "download-package", help: "init container name; a Pod that has it is left alone" },
  { key: "volumeName", env: "WEBHOOK_VOLUME_NAME", flag: "--volume-name", def: "package-data", help: "shared emptyDir volume name" },
  { key: "mountPath", env: "WEBHOOK_MOUNT_PATH", flag: "--mount-path", def: "/shared-data", help: "where the volume is mounted in every container" },
  { key: "sizeLimit", env: "WEBHOOK_SIZE_LIMIT", flag: "--size-limit", def: "", help: "sizeLimit of the emptyDir, e.g. 2Gi" },
  { key: "imagePullPolicy", env: "WEBHOOK_IMAGE_PULL_POLICY", flag: "--image-pull-policy", def: "", help: "Always, IfNotPresent or Never" },
  { key: "logFormat", env: "LOG_FORMAT", flag: "--log-format", def: "text", help: "text or json" },
];

export function webhookHelp(): string {
  const rows = WEBHOOK_OPTIONS.map((o) => `  ${o.flag.padEnd(22)} ${o.env.padEnd(28)} ${o.help}${o.def ? ` [default: ${o.def}]` : ""}`);
  return [
    "Usage: download-package webhook --image IMAGE [flags]   (every flag has an environment variable twin)",
    "",
    "A Kubernetes mutating admission webhook (admission.k8s.io/v1). A Pod created with the annotation",
    "download-package/url (and optionally download-package/sha256, download-package/dest) gets the",
    "download-package init container, the shared emptyDir and read-only mounts, as `inject` writes them.",
    "POST /mutate takes AdmissionReviews; GET /healthz answers ok. See deploy/webhook/.",
    "",
    `  ${"flag".padEnd(22)} ${"environment".padEnd(28)} meaning`,
    ...rows,
  ].join("\n");
}

/** Flags and environment into settings; "help" for --help. Throws UsageError. */
export function parseWebhookArgs(argv: string[], env: NodeJS.ProcessEnv): { settings: ServerSettings; logFormat: "text" | "json" } | "help" {
  const byFlag = new Map(WEBHOOK_OPTIONS.map((o) => [o.flag, o]));
  const v: Record<string, string> = {};
  for (const o of WEBHOOK_OPTIONS) v[o.key] = env[o.env] || o.def;
  for (const name of Object.keys(env)) {
    if (!name.startsWith("WEBHOOK_") || WEBHOOK_OPTIONS.some((o) => o.env === name)) continue;
    const guess = closest(name, WEBHOOK_OPTIONS.map((o) => o.env));
    throw new UsageError(`unknown environment variable ${name}`, guess ? `did you mean ${guess}?` : "see download-package webhook --help");
  }
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === "--help" || arg === "-h") return "help";
    const eq = arg.indexOf("=");
    const name = eq > 0 ? arg.slice(0, eq) : arg;
    const o = byFlag.get(name);
    if (!o) {
      const guess = closest(name, [...byFlag.keys()]);
      throw new UsageError(`unknown webhook flag ${name}`, guess ? `did you mean ${guess}?` : "run download-package webhook --help");
    }
    const value = eq > 0 ? arg.slice(eq + 1) : argv[++i];
    if (value === undefined) throw new UsageError(`${name} needs a value`, `write ${name} VALUE`);
    v[o.key] = value;
  }
  if (!v.image) throw new UsageError("the webhook needs --image (WEBHOOK_IMAGE)", "give the init container image, e.g. registry.example.internal/package-init-container:0.1.0");
  const m = /^(.*):(\d{1,5})$/.exec(v.listen);
  if (!m || Number(m[2]) > 65535) throw new UsageError(`--listen ${JSON.stringify(v.listen)} is not HOST:PORT`, "write e.g. --listen 0.0.0.0:8443");
  const reload = parseDuration(v.reload);
  if (reload === undefined || reload <= 0) throw new UsageError(`--tls-reload-interval ${JSON.stringify(v.reload)} is not a duration`, "write e.g. 30s");
  if (v.logFormat !== "text" && v.logFormat !== "json") throw new UsageError(`LOG_FORMAT must be text or json, not ${JSON.stringify(v.logFormat)}`, "set LOG_FORMAT=text or json");
  if (v.sizeLimit) checkQuantity(v.sizeLimit, "--size-limit");
  const inject = { image: v.image, containerName: v.containerName, volumeName: v.volumeName, mountPath: v.mountPath, imagePullPolicy: v.imagePullPolicy || undefined, sizeLimit: v.sizeLimit || undefined };
  // The same checks as inject's, with a stand-in URL: the real one comes from each Pod.
  checkPodPatchOptions({ ...inject, packageUrl: "https://example.invalid/p.tar.gz", env: [], imagePullSecrets: [], mountInit: false });
  const host = m[1].replace(/^\[(.*)\]$/, "$1") || "0.0.0.0";
  return { settings: { host, port: Number(m[2]), certFile: v.certFile, keyFile: v.keyFile, reloadIntervalMs: reload, inject }, logFormat: v.logFormat };
}

export async function runWebhook(argv: string[], env: NodeJS.ProcessEnv, out: (s: string) => void, signal: AbortSignal): Promise<number> {
  const parsed = parseWebhookArgs(argv, env);
  if (parsed === "help") {
    out(webhookHelp() + "\n");
    return 0;
  }
  return serveWebhook(parsed.settings, createLogger(parsed.logFormat), signal);
}
