// What went wrong in an attempt, as a cause a person can act on. Every transport's failures
// (Node/undici error codes, curl and wget exit codes and messages) are sorted into the same
// few causes, so the final line names the root cause whichever transport saw it last.

import { DownloadError } from "../errors.ts";
import { redactText } from "../redact.ts";

export type Cause = "http" | "certificate" | "proxy" | "dns" | "refused" | "timeout" | "stall" | "tls" | "reset" | "unknown";

/** Higher is more informative: when attempts fail differently, the final line names the highest. */
const RANK: Record<Cause, number> = { unknown: 0, reset: 1, tls: 2, timeout: 3, stall: 3, refused: 4, dns: 5, proxy: 6, certificate: 7, http: 8 };

export function moreInformative(a: Cause, b: Cause): boolean {
  return RANK[a] > RANK[b];
}

/** A DownloadError that knows its cause. */
export class TransferFailure extends DownloadError {
  readonly causeKind: Cause;
  constructor(causeKind: Cause, message: string, opts: ConstructorParameters<typeof DownloadError>[1] = {}) {
    super(message, opts);
    this.causeKind = causeKind;
  }
}

export interface FailureContext {
  transport: string;
  url: URL;
  proxy?: URL;
}

const hostPort = (u: URL) => `${u.hostname}:${u.port || (u.protocol === "https:" ? "443" : "80")}`;

function hintFor(cause: Cause, ctx: FailureContext): string | undefined {
  switch (cause) {
    case "refused":
      return `nothing accepts connections at ${hostPort(ctx.url)}: check the host and port in PACKAGE_URL and that the server is running`;
    case "dns":
      return `the host name ${ctx.url.hostname} does not resolve: check PACKAGE_URL and the Pod's DNS (or set HTTPS_PROXY/HTTP_PROXY when only the proxy can resolve it)`;
    case "certificate":
      return `the certificate of ${ctx.url.hostname} is not trusted or does not match: give its CA with PACKAGE_CA_FILE (PEM), or check the host name`;
    case "proxy":
      return `the proxy${ctx.proxy ? ` ${hostPort(ctx.proxy)}` : ""} could not be used: check HTTPS_PROXY/HTTP_PROXY, NO_PROXY and the proxy's credentials`;
    case "timeout":
      return "the server did not answer in time: check the network path, or raise PACKAGE_CONNECT_TIMEOUT";
    case "stall":
      return "the server or the network stalled (no byte for PACKAGE_IDLE_TIMEOUT): check the server, or raise PACKAGE_IDLE_TIMEOUT";
    case "tls":
      return "the TLS handshake failed: check that the URL's port speaks TLS, and the client certificate (PACKAGE_CERT_FILE/PACKAGE_KEY_FILE)";
    default:
      return undefined;
  }
}

const LABEL: Record<Cause, string> = {
  http: "HTTP error",
  certificate: "untrusted certificate",
  proxy: "proxy failure",
  dns: "unknown host",
  refused: "connection refused",
  timeout: "timed out",
  stall: "stalled",
  tls: "TLS handshake failed",
  reset: "connection reset",
  unknown: "transfer failed",
};

/** Node and undici error codes (on the error or anywhere down its cause chain). */
function causeOfCode(code: string): Cause | undefined {
  if (code === "ECONNREFUSED") return "refused";
  if (code === "ENOTFOUND" || code === "EAI_AGAIN" || code === "EAI_FAIL" || code === "EAI_NONAME") return "dns";
  if (/^(CERT_|UNABLE_TO_|SELF_SIGNED|DEPTH_ZERO|ERR_TLS_CERT_ALTNAME|HOSTNAME_MISMATCH)/.test(code)) return "certificate";
  if (code === "ETIMEDOUT" || code === "UND_ERR_CONNECT_TIMEOUT" || code === "ECONNABORTED") return "timeout";
  if (/^ERR_SSL|^EPROTO$/.test(code)) return "tls";
  if (code === "ECONNRESET" || code === "EPIPE" || code === "UND_ERR_SOCKET" || code === "ERR_STREAM_PREMATURE_CLOSE") return "reset";
  return undefined;
}

function nodeCause(err: unknown): Cause | undefined {
  for (let e = err as { code?: unknown; cause?: unknown; message?: unknown } | undefined, depth = 0; e && depth < 5; e = e.cause as typeof e, depth++) {
    if (typeof e.code === "string") {
      const c = causeOfCode(e.code);
      if (c) return c;
    }
    const m = typeof e.message === "string" ? e.message : "";
    if (/certificate|self.signed/i.test(m)) return "certificate";
    if (/proxy/i.test(m) && /refused|407|403|CONNECT/i.test(m)) return "proxy";
  }
  return undefined;
}

/** The one place an attempt's error becomes a TransferFailure with its cause, message and hint. */
export function toFailure(err: unknown, ctx: FailureContext): TransferFailure {
  let cause: Cause = err instanceof TransferFailure ? err.causeKind : (nodeCause(err) ?? "unknown");
  if (cause === "http") return err as TransferFailure;
  // Through a proxy, the only connection made is to the proxy: failing to reach it is the proxy's failure.
  if (ctx.proxy && (cause === "refused" || cause === "dns")) cause = "proxy";
  const raw = redactText((err as Error)?.message ?? String(err));
  const detail = (err as { cause?: Error })?.cause?.message;
  const words = `${raw}${detail && !raw.includes(detail) && !(err instanceof TransferFailure) ? ` (${redactText(detail)})` : ""}`;
  const own = raw.startsWith(ctx.transport) ? words : `${ctx.transport}: ${words}`;
  const message = cause === "unknown" || cause === "reset" ? own : `${LABEL[cause]}: ${own}`;
  const d = err instanceof DownloadError ? err : undefined;
  return new TransferFailure(cause, message, { retryable: d?.retryable, status: d?.status, retryAfterMs: d?.retryAfterMs, hint: hintFor(cause, ctx) ?? d?.hint, cause: err });
}

/** curl's exit codes (man curl, EXIT CODES). */
export function curlCause(code: number): Cause {
  switch (code) {
    case 5:
    case 97:
      return "proxy";
    case 6:
      return "dns";
    case 7:
      return "refused";
    case 28:
      return "timeout";
    case 51:
    case 60:
    case 77:
    case 83:
      return "certificate";
    case 35:
    case 58:
    case 59:
    case 66:
    case 90:
    case 91:
      return "tls";
    case 52:
    case 55:
    case 56:
      return "reset";
    default:
      return "unknown";
  }
}

/** wget (GNU and busybox) says little in its exit code (4 = network); its stderr says the rest. */
export function wgetCause(code: number, stderr: string): Cause {
  if (/unable to resolve|failed: (Name or service not known|Temporary failure in name resolution|No address associated)|bad address/i.test(stderr)) return "dns";
  if (/proxy/i.test(stderr) && /refused|error|failed|407|403/i.test(stderr)) return "proxy";
  if (/certificate|cert verify|self.signed|ERROR: cannot verify/i.test(stderr) || code === 5) return "certificate";
  if (/connection refused/i.test(stderr)) return "refused";
  if (/timed out/i.test(stderr)) return "timeout";
  if (/GnuTLS|SSL|TLS/.test(stderr)) return "tls";
  if (/reset by peer|connection closed|Read error/i.test(stderr)) return "reset";
  return "unknown";
}
