// One config object, parsed once from flags and environment. Every environment variable
// has a flag twin; a flag wins over its variable. Pure: takes argv and env, returns Config.

import { UsageError } from "../errors.ts";
import { parseDuration, parseSize } from "../units.ts";
import { checkOciConfig } from "../transfer/oci/config-check.ts";
import { unsafeFileName } from "../archive/file-name.ts";
import { parseExpectedDigest } from "../verify/digest.ts";

type Kind = "string" | "list" | "int" | "bool" | "duration" | "size" | "mode" | "headers";

interface OptionSpec {
  key: keyof Config;
  env: string;
  flag: string;
  kind: Kind;
  def?: string;
  /** What --help shows as the default when `def` is an internal value (-1 = the running user). */
  shownDefault?: string;
  help: string;
}

export const TRANSPORT_NAMES = ["undici", "node", "curl", "wget"] as const;
export type TransportName = (typeof TRANSPORT_NAMES)[number];

export interface Config {
  urls: string[];
  dest: string;
  logFormat: "text" | "json";
  sha256: string;
  checksumUrl: string;
  transports: TransportName[];
  retries: number;
  backoffBase: number;
  backoffMax: number;
  connectTimeout: number;
  idleTimeout: number;
  timeout: number;
  lockTimeout: number;
  maxRedirects: number;
  caFile: string;
  certFile: string;
  keyFile: string;
  insecure: boolean;
  tokenFile: string;
  basicAuthFile: string;
  headers: [string, string][];
  stripComponents: number;
  uid: number;
  gid: number;
  fileMode: number;
  dirMode: number;
  maxBytes: number;
  maxEntries: number;
  maxEntryBytes: number;
  maxPathLength: number;
  maxRatio: number;
  force: boolean;
  progressInterval: number;
  terminationLog: string;
  registryConfig: string;
  ociLayer: string;
  platform: string;
  plainHttp: boolean;
  format: PackageFormat;
  filename: string;
}

/** PACKAGE_FORMAT's values: `auto` detects by magic bytes, the others must match them. */
export const PACKAGE_FORMATS = ["auto", "tar", "tar.gz", "tar.zst", "tar.xz", "tar.bz2", "file"] as const;
export type PackageFormat = (typeof PACKAGE_FORMATS)[number];

export const OPTIONS: OptionSpec[] = [
  { key: "urls", env: "PACKAGE_URL", flag: "--url", kind: "list", help: "package URL(s); several mirrors separated by spaces or commas, tried in order (required)" },
  { key: "dest", env: "PACKAGE_DEST", flag: "--dest", kind: "string", def: "/shared-data/diff-var-files", help: "directory that receives the package's files" },
  { key: "logFormat", env: "LOG_FORMAT", flag: "--log-format", kind: "string", def: "text", help: "text or json (one JSON object per line)" },
  { key: "sha256", env: "PACKAGE_SHA256", flag: "--sha256", kind: "string", def: "", help: "expected digest of the downloaded bytes: hex SHA-256, or sha256:HEX / sha512:HEX" },
  { key: "checksumUrl", env: "PACKAGE_CHECKSUM_URL", flag: "--checksum-url", kind: "string", def: "", help: "URL of a sha256sum/sha512sum-style file listing the package's digest" },
  { key: "transports", env: "PACKAGE_TRANSPORTS", flag: "--transports", kind: "list", def: "undici,node,curl,wget", help: "transports in the order they are tried (undici, node, curl, wget)" },
  { key: "retries", env: "PACKAGE_RETRIES", flag: "--retries", kind: "int", def: "5", help: "failed rounds in a row before giving up; a round tries every mirror and transport (a round that delivered new bytes resets the count)" },
  { key: "backoffBase", env: "PACKAGE_BACKOFF", flag: "--backoff", kind: "duration", def: "1s", help: "first retry delay; doubles per failed round, with full jitter" },
  { key: "backoffMax", env: "PACKAGE_BACKOFF_MAX", flag: "--backoff-max", kind: "duration", def: "30s", help: "longest retry delay" },
  { key: "connectTimeout", env: "PACKAGE_CONNECT_TIMEOUT", flag: "--connect-timeout", kind: "duration", def: "10s", help: "time allowed to open a connection" },
  { key: "idleTimeout", env: "PACKAGE_IDLE_TIMEOUT", flag: "--idle-timeout", kind: "duration", def: "30s", help: "time allowed without receiving a byte (headers or body)" },
  { key: "timeout", env: "PACKAGE_TIMEOUT", flag: "--timeout", kind: "duration", def: "1h", help: "total deadline for the whole run, retries included (0 = none)" },
  { key: "lockTimeout", env: "PACKAGE_LOCK_TIMEOUT", flag: "--lock-timeout", kind: "duration", def: "10m", help: "time to wait for another run holding the destination's lock, within PACKAGE_TIMEOUT (0 = do not wait)" },
  { key: "maxRedirects", env: "PACKAGE_MAX_REDIRECTS", flag: "--max-redirects", kind: "int", def: "10", help: "redirects followed per request" },
  { key: "caFile", env: "PACKAGE_CA_FILE", flag: "--ca-file", kind: "string", def: "", help: "PEM bundle of extra trusted CAs (added to the system ones; NODE_EXTRA_CA_CERTS also works)" },
  { key: "certFile", env: "PACKAGE_CERT_FILE", flag: "--cert-file", kind: "string", def: "", help: "PEM client certificate for mutual TLS" },
  { key: "keyFile", env: "PACKAGE_KEY_FILE", flag: "--key-file", kind: "string", def: "", help: "PEM private key of the client certificate" },
  { key: "insecure", env: "PACKAGE_INSECURE", flag: "--insecure", kind: "bool", def: "false", help: "skip TLS certificate verification (logged loudly; use a checksum)" },
  { key: "tokenFile", env: "PACKAGE_TOKEN_FILE", flag: "--token-file", kind: "string", def: "", help: "file holding a bearer token (re-read on every attempt)" },
  { key: "basicAuthFile", env: "PACKAGE_BASIC_AUTH_FILE", flag: "--basic-auth-file", kind: "string", def: "", help: "file holding user:password for basic auth (re-read on every attempt)" },
  { key: "headers", env: "PACKAGE_HEADERS", flag: "--header", kind: "headers", def: "", help: "extra request header 'Name: value'; flag repeatable, variable newline-separated" },
  { key: "format", env: "PACKAGE_FORMAT", flag: "--format", kind: "string", def: "auto", help: "package format: auto (by magic bytes), tar, tar.gz, tar.zst, tar.xz, tar.bz2, or file (saved as it is); a declared format must match the bytes" },
  { key: "filename", env: "PACKAGE_FILENAME", flag: "--filename", kind: "string", def: "", help: "PACKAGE_FORMAT=file: the file's name (default: the response's Content-Disposition filename, else the URL's last path segment)" },
  { key: "stripComponents", env: "PACKAGE_STRIP_COMPONENTS", flag: "--strip-components", kind: "int", def: "0", help: "leading path components removed from every entry" },
  { key: "uid", env: "PACKAGE_UID", flag: "--uid", kind: "int", def: "-1", shownDefault: "the running user", help: "owner given to every extracted file" },
  { key: "gid", env: "PACKAGE_GID", flag: "--gid", kind: "int", def: "-1", shownDefault: "the running user's group", help: "group given to every extracted file" },
  { key: "fileMode", env: "PACKAGE_FILE_MODE", flag: "--file-mode", kind: "mode", def: "", help: "octal mode forced on every file, e.g. 0644 (default: the archive's, minus setuid/setgid/sticky)" },
  { key: "dirMode", env: "PACKAGE_DIR_MODE", flag: "--dir-mode", kind: "mode", def: "", help: "octal mode forced on every directory, e.g. 0755 (default: the archive's)" },
  { key: "maxBytes", env: "PACKAGE_MAX_BYTES", flag: "--max-bytes", kind: "size", def: "20GiB", help: "limit on total uncompressed bytes" },
  { key: "maxEntries", env: "PACKAGE_MAX_ENTRIES", flag: "--max-entries", kind: "int", def: "1000000", help: "limit on the number of archive entries" },
  { key: "maxEntryBytes", env: "PACKAGE_MAX_ENTRY_BYTES", flag: "--max-entry-bytes", kind: "size", def: "20GiB", help: "limit on one entry's size" },
  { key: "maxPathLength", env: "PACKAGE_MAX_PATH_LENGTH", flag: "--max-path-length", kind: "int", def: "4096", help: "limit on an entry's path length in bytes" },
  { key: "maxRatio", env: "PACKAGE_MAX_RATIO", flag: "--max-ratio", kind: "int", def: "1000", help: "limit on uncompressed/compressed size, checked past 64 MiB (0 = off)" },
  { key: "force", env: "PACKAGE_FORCE", flag: "--force", kind: "bool", def: "false", help: "install even when the same digest is already installed" },
  { key: "progressInterval", env: "PACKAGE_PROGRESS_INTERVAL", flag: "--progress-interval", kind: "duration", def: "5s", help: "time between progress lines (0 = none)" },
  { key: "terminationLog", env: "PACKAGE_TERMINATION_LOG", flag: "--termination-log", kind: "string", def: "/dev/termination-log", help: "file that receives the one-line failure reason (Kubernetes terminationMessagePath)" },
  { key: "registryConfig", env: "PACKAGE_REGISTRY_CONFIG", flag: "--registry-config", kind: "string", def: "", help: "oci://: docker config.json (a kubernetes.io/dockerconfigjson Secret's .dockerconfigjson) with the registry's credentials" },
  { key: "ociLayer", env: "PACKAGE_OCI_LAYER", flag: "--oci-layer", kind: "string", def: "", help: "oci://: the layer to install when the artifact has several (its org.opencontainers.image.title or media type)" },
  { key: "platform", env: "PACKAGE_PLATFORM", flag: "--platform", kind: "string", def: "", help: "oci://: os/arch[/variant] picked from an image index (default: this node's, e.g. linux/amd64)" },
  { key: "plainHttp", env: "PACKAGE_PLAIN_HTTP", flag: "--plain-http", kind: "bool", def: "false", help: "oci://: talk to the registry over plain HTTP instead of HTTPS" },
];

// Kubernetes injects service-link variables (a Service named "package" gives
// PACKAGE_SERVICE_HOST, PACKAGE_PORT_80_TCP...). They are not typos.
const SERVICE_LINK = /^PACKAGE_(SERVICE_HOST|SERVICE_PORT(_.+)?|PORT(_\d+_(TCP|UDP|SCTP)(_(PROTO|PORT|ADDR))?)?)$/;

function editDistance(a: string, b: string): number {
  const d = Array.from({ length: a.length + 1 }, (_, i) => [i, ...Array(b.length).fill(0)]);
  for (let j = 1; j <= b.length; j++) d[0][j] = j;
  for (let i = 1; i <= a.length; i++)
    for (let j = 1; j <= b.length; j++)
      d[i][j] = Math.min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
  return d[a.length][b.length];
}

function closest(name: string, candidates: string[]): string | undefined {
  let best: string | undefined;
  let bestD = Infinity;
  for (const c of candidates) {
    const dist = editDistance(name, c);
    if (dist < bestD) [best, bestD] = [c, dist];
  }
  return bestD <= Math.max(3, Math.floor(name.length / 3)) ? best : undefined;
}

function convert(spec: OptionSpec, raw: string, source: string): unknown {
  const bad = (what: string) => new UsageError(`${source}: ${JSON.stringify(raw)} is not ${what}`, `see --help for ${spec.flag}`);
  switch (spec.kind) {
    case "string":
      return raw.trim();
    case "list":
      return raw.split(/[\s,]+/).filter(Boolean);
    case "int": {
      if (!/^-?\d+$/.test(raw.trim())) throw bad("an integer");
      return Number(raw.trim());
    }
    case "bool": {
      const v = raw.trim().toLowerCase();
      if (["1", "true", "yes", "on"].includes(v)) return true;
      if (["0", "false", "no", "off", ""].includes(v)) return false;
      throw bad("true or false");
    }
    case "duration": {
      const ms = parseDuration(raw);
      if (ms === undefined) throw bad("a duration such as 30s, 5m or 500ms");
      return ms;
    }
    case "size": {
      const n = parseSize(raw);
      if (n === undefined) throw bad("a size such as 512MiB or 10GiB");
      return n;
    }
    case "mode": {
      if (raw.trim() === "") return -1;
      if (!/^0?[0-7]{3,4}$/.test(raw.trim())) throw bad("an octal mode such as 0644");
      return parseInt(raw.trim(), 8);
    }
    case "headers":
      return parseHeaders(raw.split(/\r?\n/), source);
  }
}

function parseHeaders(lines: string[], source: string): [string, string][] {
  const out: [string, string][] = [];
  for (const line of lines) {
    if (!line.trim()) continue;
    const i = line.indexOf(":");
    const name = i > 0 ? line.slice(0, i).trim() : "";
    if (!/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/.test(name)) throw new UsageError(`${source}: header ${JSON.stringify(line.slice(0, 40))} is not 'Name: value'`, "write headers as 'Name: value'");
    out.push([name, line.slice(i + 1).trim()]);
  }
  return out;
}

export interface ParseResult {
  config: Config;
  /** Non-fatal notes for the log (e.g. the insecure switch). */
  warnings: string[];
}

export type Action = { kind: "help" } | { kind: "version" } | { kind: "run"; result: ParseResult };

/** Parse flags and environment into one Config, or ask for help/version. Throws UsageError. */
export function parseConfig(argv: string[], env: NodeJS.ProcessEnv): Action {
  const byFlag = new Map(OPTIONS.map((o) => [o.flag, o]));
  const fromFlags = new Map<OptionSpec, string[]>();
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === "-h" || arg === "--help") return { kind: "help" };
    if (arg === "-v" || arg === "--version") return { kind: "version" };
    if (!arg.startsWith("--")) throw new UsageError(`unexpected argument ${JSON.stringify(arg)}`, "options are flags such as --url URL; run with --help");
    const eq = arg.indexOf("=");
    const name = eq > 0 ? arg.slice(0, eq) : arg;
    const spec = byFlag.get(name);
    if (!spec) {
      const guess = closest(name, [...byFlag.keys()]);
      throw new UsageError(`unknown flag ${name}`, guess ? `did you mean ${guess}?` : "run with --help to see every flag");
    }
    let value: string;
    if (eq > 0) value = arg.slice(eq + 1);
    else if (spec.kind === "bool") value = "true";
    else {
      if (i + 1 >= argv.length) throw new UsageError(`flag ${name} needs a value`, `write ${name} VALUE or ${name}=VALUE`);
      value = argv[++i];
    }
    const list = fromFlags.get(spec) ?? [];
    list.push(value);
    fromFlags.set(spec, list);
  }

  const known = new Set(OPTIONS.map((o) => o.env));
  for (const name of Object.keys(env)) {
    if (!name.startsWith("PACKAGE_") || known.has(name) || SERVICE_LINK.test(name)) continue;
    const guess = closest(name, [...known]);
    throw new UsageError(`unknown environment variable ${name}`, guess ? `did you mean ${guess}? (unset ${name} if it is not meant for download-package)` : `unset it; download-package reads only the PACKAGE_* variables listed by --help`);
  }

  const config = {} as Record<string, unknown>;
  for (const spec of OPTIONS) {
    const flagValues = fromFlags.get(spec);
    let value: unknown;
    if (flagValues) {
      if (spec.kind === "headers") value = parseHeaders(flagValues, spec.flag);
      else if (spec.kind === "list") value = flagValues.flatMap((v) => convert(spec, v, spec.flag) as string[]);
      else value = convert(spec, flagValues[flagValues.length - 1], spec.flag);
    } else if (env[spec.env] !== undefined && env[spec.env] !== "") {
      value = convert(spec, env[spec.env]!, spec.env);
    } else {
      value = convert(spec, spec.def ?? "", spec.env);
    }
    config[spec.key] = value;
  }
  const c = config as unknown as Config;
  return { kind: "run", result: { config: c, warnings: validate(c) } };
}

function validate(c: Config): string[] {
  const warnings: string[] = [];
  if (c.urls.length === 0) throw new UsageError("PACKAGE_URL is not set", "set PACKAGE_URL (or --url) to the package's http(s) URL");
  if (!checkOciConfig(c)) for (const u of c.urls) checkHttpUrl(u, "PACKAGE_URL");
  if (c.checksumUrl) checkHttpUrl(c.checksumUrl, "PACKAGE_CHECKSUM_URL");
  if (c.logFormat !== "text" && c.logFormat !== "json") throw new UsageError(`LOG_FORMAT must be text or json, not ${JSON.stringify(c.logFormat)}`, "set LOG_FORMAT=text or LOG_FORMAT=json");
  if (!c.dest) throw new UsageError("PACKAGE_DEST is empty", "set PACKAGE_DEST to the directory that receives the files");
  if (c.sha256 && c.checksumUrl) throw new UsageError("PACKAGE_SHA256 and PACKAGE_CHECKSUM_URL are both set", "give the digest one way only");
  if (c.sha256) parseExpectedDigest(c.sha256, "PACKAGE_SHA256");
  for (const t of c.transports) {
    if (!(TRANSPORT_NAMES as readonly string[]).includes(t)) throw new UsageError(`unknown transport ${JSON.stringify(t)} in PACKAGE_TRANSPORTS`, `use some of: ${TRANSPORT_NAMES.join(", ")}`);
  }
  if (c.transports.length === 0) throw new UsageError("PACKAGE_TRANSPORTS is empty", `use some of: ${TRANSPORT_NAMES.join(", ")}`);
  if (c.format === ("zip" as string)) throw new UsageError("PACKAGE_FORMAT=zip is not supported yet", `repackage as a tar archive, or use one of: ${PACKAGE_FORMATS.join(", ")}`);
  if (!(PACKAGE_FORMATS as readonly string[]).includes(c.format)) throw new UsageError(`unknown PACKAGE_FORMAT ${JSON.stringify(c.format)}`, `use one of: ${PACKAGE_FORMATS.join(", ")}`);
  if (c.filename && c.format !== "file") throw new UsageError("PACKAGE_FILENAME is set but PACKAGE_FORMAT is not file", "set PACKAGE_FORMAT=file to save the body as one file, or unset PACKAGE_FILENAME");
  const badName = c.filename ? unsafeFileName(c.filename) : undefined;
  if (badName) throw new UsageError(`PACKAGE_FILENAME ${JSON.stringify(c.filename)} ${badName}`, "give a plain file name such as app.jar");
  if (c.retries < 0) throw new UsageError("PACKAGE_RETRIES must be 0 or more");
  if (c.stripComponents < 0) throw new UsageError("PACKAGE_STRIP_COMPONENTS must be 0 or more");
  if (c.maxRedirects < 0) throw new UsageError("PACKAGE_MAX_REDIRECTS must be 0 or more");
  if (c.idleTimeout <= 0 || c.connectTimeout <= 0) throw new UsageError("PACKAGE_IDLE_TIMEOUT and PACKAGE_CONNECT_TIMEOUT must be more than 0");
  if ((c.certFile === "") !== (c.keyFile === "")) throw new UsageError("PACKAGE_CERT_FILE and PACKAGE_KEY_FILE go together", "set both for mutual TLS, or neither");
  if (c.tokenFile && c.basicAuthFile) throw new UsageError("PACKAGE_TOKEN_FILE and PACKAGE_BASIC_AUTH_FILE are both set", "use one kind of credentials");
  if (c.insecure) warnings.push("TLS CERTIFICATE VERIFICATION IS OFF (PACKAGE_INSECURE): any server can impersonate the package host; use a checksum");
  return warnings;
}

function checkHttpUrl(u: string, name: string) {
  let url: URL;
  try {
    url = new URL(u);
  } catch {
    throw new UsageError(`${name} has an invalid URL`, "write a full URL such as https://host/path/package.tar.gz");
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") throw new UsageError(`${name} must be http or https, not ${url.protocol.replace(":", "")}`, "serve the package over http(s)");
  // The path's file name and the user-info are percent-decoded later (checksum file lookup,
  // basic credentials): a malformed escape is a configuration error now, not a crash then.
  for (const [part, text] of [["path", url.pathname], ["user name", url.username], ["password", url.password]] as const) {
    try {
      decodeURIComponent(text);
    } catch {
      throw new UsageError(`${name} has a malformed percent-escape in its ${part} (a '%' not followed by two hex digits, or escapes that are not UTF-8)`, "write a literal '%' as %25 in the URL");
    }
  }
}

export function helpText(version: string): string {
  const rows = OPTIONS.map((o) => {
    const shown = o.shownDefault ?? o.def;
    const def = shown ? ` [default: ${shown}]` : "";
    return `  ${o.flag.padEnd(22)} ${o.env.padEnd(26)} ${o.help}${def}`;
  });
  return [
    `download-package ${version}: download a package and install it, verified and atomically, into a directory.`,
    "",
    "Usage: download-package [flags]        (every flag has an environment variable twin)",
    "       download-package inject --help  (add the init container to existing workloads)",
    "       download-package images --help  (list, export, import and push a chart's images offline)",
    "       download-package package --help (push a directory to an OCI registry, pull one into a directory)",
    "",
    `  ${"flag".padEnd(22)} ${"environment".padEnd(26)} meaning`,
    ...rows,
    `  ${"--help".padEnd(22)} ${"".padEnd(26)} this text`,
    `  ${"--version".padEnd(22)} ${"".padEnd(26)} version and how the executable was built`,
    "",
    "Also read: HTTP_PROXY, HTTPS_PROXY, NO_PROXY (any case), NODE_EXTRA_CA_CERTS.",
    "Exit codes: 0 ok, 1 internal error, 2 usage/config, 3 download, 4 integrity, 5 archive, 6 local I/O, 7 some images failed, 128+N signal N.",
  ].join("\n");
}
