// Failures are AppErrors: a stable exit code, a one-line message naming what failed, and a
// hint saying how to fix it. The classes here are the install's (exit 2 to 6, signals); the
// images commands add theirs (exit 8: src/images/runtime.ts, src/images/kube.ts) and use
// ExitCode.partial (7) directly. Anything that is not an AppError is a bug: exit 1.

export const ExitCode = {
  ok: 0,
  internal: 1,
  usage: 2,
  download: 3,
  integrity: 4,
  archive: 5,
  localIO: 6,
  /** images commands: some images failed (the others were processed). */
  partial: 7,
  /** images commands: the container runtime (Docker, containerd, ctr) cannot be reached or used. */
  runtime: 8,
} as const;

export class AppError extends Error {
  readonly exitCode: number;
  readonly hint: string;
  constructor(exitCode: number, message: string, hint = "", options?: { cause?: unknown }) {
    super(message, options);
    this.exitCode = exitCode;
    this.hint = hint;
  }
}

/** Bad flags, environment or input files: nothing was downloaded. */
export class UsageError extends AppError {
  constructor(message: string, hint = "run with --help to see every option") {
    super(ExitCode.usage, message, hint);
    this.name = "UsageError";
  }
}

/** Fetching failed: an HTTP answer, the network, TLS, a proxy, a timeout, a redirect loop, a registry (oci://). */
export class DownloadError extends AppError {
  /** false when retrying cannot help (a 404, a redirect loop). */
  readonly retryable: boolean;
  /** HTTP status when the failure was an HTTP answer. */
  readonly status?: number;
  /** How long the server asked us to wait (Retry-After), in milliseconds. */
  readonly retryAfterMs?: number;
  constructor(
    message: string,
    opts: { hint?: string; retryable?: boolean; status?: number; retryAfterMs?: number; cause?: unknown } = {},
  ) {
    super(ExitCode.download, message, opts.hint ?? "check the URL, the network path to the server and the proxy settings", { cause: opts.cause });
    this.name = "DownloadError";
    this.retryable = opts.retryable ?? true;
    this.status = opts.status;
    this.retryAfterMs = opts.retryAfterMs;
  }
}

/** The bytes did not match the expected checksum. */
export class IntegrityError extends AppError {
  constructor(message: string, hint = "check PACKAGE_SHA256 / PACKAGE_CHECKSUM_URL against the published package; a mirror may serve a different file") {
    super(ExitCode.integrity, message, hint);
    this.name = "IntegrityError";
  }
}

/** The body is not a supported archive, is corrupt, unsafe, or over a limit. */
export class ArchiveError extends AppError {
  constructor(message: string, hint = "rebuild the package as a plain .tar, .tar.gz or .tar.zst with relative paths") {
    super(ExitCode.archive, message, hint);
    this.name = "ArchiveError";
  }
}

/** The local filesystem refused: permissions, disk full, read-only mount. */
export class LocalIOError extends AppError {
  constructor(message: string, hint = "check that the destination is writable by this user and has free space", options?: { cause?: unknown }) {
    super(ExitCode.localIO, message, hint, options);
    this.name = "LocalIOError";
  }
}

/** Stopped by SIGTERM/SIGINT: exit 128+signal number, as a shell would. */
export class SignalError extends AppError {
  constructor(signal: NodeJS.Signals) {
    const num = signal === "SIGINT" ? 2 : signal === "SIGTERM" ? 15 : signal === "SIGHUP" ? 1 : 15;
    super(128 + num, `stopped by ${signal}`, "nothing was installed; the previous content, if any, is intact");
    this.name = "SignalError";
  }
}

/** Turn a Node.js filesystem error into a LocalIOError with a useful hint. */
export function fromFsError(err: unknown, what: string): AppError {
  if (err instanceof AppError) return err;
  const e = err as NodeJS.ErrnoException;
  switch (e?.code) {
    case "ENOSPC":
    case "EDQUOT":
      return new LocalIOError(`${what}: no space left on device`, "free space on the destination volume or raise its sizeLimit; the previous content is intact", { cause: err });
    case "EACCES":
    case "EPERM":
      return new LocalIOError(`${what}: permission denied`, "make the destination writable by this user (fsGroup / securityContext), or run with another --dest", { cause: err });
    case "EROFS":
      return new LocalIOError(`${what}: read-only filesystem`, "mount a writable volume (an emptyDir) at the destination", { cause: err });
    case "ENOTDIR":
    case "EEXIST":
      return new LocalIOError(`${what}: ${e.message}`, "the destination path is not a directory; point --dest at a directory", { cause: err });
    default:
      return new LocalIOError(`${what}: ${e?.message ?? String(err)}`, undefined, { cause: err });
  }
}
