// Entry point: parse once, run, and turn every failure into one line, an exit code, and
// (in Kubernetes) the termination message.

import fs from "node:fs";
import { helpText, parseConfig } from "./config.ts";
import { AppError, DownloadError, ExitCode, SignalError } from "../errors.ts";
import { createLogger, type Logger } from "../log.ts";
import { redactText } from "../redact.ts";
import { packaging, REVISION, VERSION } from "../version.ts";

// Loaded on first use: `--version`, `--help` and one subcommand's start-up do not pay for the
// others' modules (undici, tar, yaml...). esbuild keeps them in the one bundle, initialised lazily.
const runImages: typeof import("./images.ts").runImages = async (...a) => (await import("./images.ts")).runImages(...a);
const runInject = async (...a: Parameters<typeof import("./inject.ts").runInject>) => (await import("./inject.ts")).runInject(...a);
const runPackage: typeof import("./package.ts").runPackage = async (...a) => (await import("./package.ts")).runPackage(...a);
const runWebhook: typeof import("./webhook.ts").runWebhook = async (...a) => (await import("./webhook.ts")).runWebhook(...a);
const runInstall: typeof import("../run.ts").runInstall = async (...a) => (await import("../run.ts")).runInstall(...a);

function writeTerminationLog(file: string, line: string) {
  // Only where Kubernetes (or a test) provided the file: never create one in /dev.
  try {
    if (file && fs.existsSync(file)) fs.writeFileSync(file, line.slice(0, 4000) + "\n");
  } catch {
    /* best effort */
  }
}

/** Time a run gets to stop cleanly after SIGTERM or its deadline before the process is ended anyway. */
const GRACE_MS = 1500;

/** Report `err` as the run's failure and end the process now: the run did not stop within GRACE_MS. */
function endNow(log: Logger, terminationLog: string, err: AppError): void {
  const t = setTimeout(() => {
    log.error(`${redactText(err.message)} (the run did not stop within ${GRACE_MS / 1000}s; ending it)`, { hint: err.hint || undefined, exitCode: err.exitCode });
    writeTerminationLog(terminationLog, `${redactText(err.message)}${err.hint ? ` (hint: ${err.hint})` : ""}`);
    process.exit(err.exitCode);
  }, GRACE_MS);
  t.unref();
}

export async function main(argv: string[], env: NodeJS.ProcessEnv): Promise<number> {
  let log: Logger = createLogger(env.LOG_FORMAT === "json" ? "json" : "text");
  let terminationLog = env.PACKAGE_TERMINATION_LOG || "/dev/termination-log";
  const ac = new AbortController();
  const stop = (reason: AppError) => {
    if (ac.signal.aborted) return;
    ac.abort(reason);
    endNow(log, terminationLog, reason);
  };
  const onSignal = (sig: NodeJS.Signals) => {
    log.warn(`received ${sig}, stopping`);
    stop(new SignalError(sig));
  };
  process.on("SIGTERM", onSignal);
  process.on("SIGINT", onSignal);
  let deadline: NodeJS.Timeout | undefined;
  try {
    if (argv[0] === "images") {
      return await runImages(argv.slice(1), env, (s) => process.stdout.write(s), (s) => log.info(s), ac.signal);
    }
    if (argv[0] === "package") {
      return await runPackage(argv.slice(1), { env, signal: ac.signal, out: (s) => process.stdout.write(s), useLogger: (l) => (log = l) });
    }
    if (argv[0] === "webhook") return await runWebhook(argv.slice(1), env, (s) => process.stdout.write(s), ac.signal);
    if (argv[0] === "inject") {
      // Wait until stdout has taken it all: the exit timer must not cut a large manifest short.
      await runInject(argv.slice(1), (s) => new Promise<void>((done) => process.stdout.write(s, () => done())), (s) => process.stderr.write(s));
      return ExitCode.ok;
    }
    const action = parseConfig(argv, env);
    if (action.kind === "help") {
      process.stdout.write(helpText(VERSION) + "\n");
      return ExitCode.ok;
    }
    if (action.kind === "version") {
      process.stdout.write(`download-package ${VERSION} (${REVISION}) node ${process.versions.node}, ${await packaging()}\n`);
      return ExitCode.ok;
    }
    const { config, warnings } = action.result;
    log = createLogger(config.logFormat);
    terminationLog = config.terminationLog;
    for (const w of warnings) log.warn(w);
    const deadlineAt = config.timeout > 0 ? Date.now() + config.timeout : undefined;
    if (config.timeout > 0) {
      deadline = setTimeout(() => stop(new DownloadError(`total deadline of ${config.timeout / 1000}s exceeded (PACKAGE_TIMEOUT)`, { retryable: false, hint: "raise PACKAGE_TIMEOUT or check the network" })), config.timeout);
      deadline.unref();
    }
    process.umask(0); // modes come from the archive (or --file-mode/--dir-mode), exactly
    await runInstall({ config, env, log, signal: ac.signal, deadlineAt });
    return ExitCode.ok;
  } catch (e) {
    const err = ac.signal.aborted && ac.signal.reason instanceof SignalError ? ac.signal.reason : e;
    if (err instanceof AppError) {
      log.error(redactText(err.message), { hint: err.hint || undefined, exitCode: err.exitCode });
      writeTerminationLog(terminationLog, `${redactText(err.message)}${err.hint ? ` (hint: ${err.hint})` : ""}`);
      return err.exitCode;
    }
    const msg = redactText((err as Error)?.stack ?? String(err));
    log.error(`internal error: ${msg}`, { hint: "please report this with the log above", exitCode: ExitCode.internal });
    writeTerminationLog(terminationLog, `internal error: ${redactText((err as Error)?.message ?? String(err))}`);
    return ExitCode.internal;
  } finally {
    clearTimeout(deadline);
    process.off("SIGTERM", onSignal);
    process.off("SIGINT", onSignal);
  }
}
