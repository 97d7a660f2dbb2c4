// Replacing a file so that a reader sees the old content or the new, never a part: write a
// temporary file in the same directory, then rename it over the target (atomic on POSIX).

import fs from "node:fs";

export interface AtomicWriteOptions {
  mode?: number;
  /** The temporary file (same directory as the target); default FILE.tmp. Give a unique one when several writers may race. */
  tmp?: string;
}

function removeQuietly(file: string) {
  try {
    fs.rmSync(file, { force: true });
  } catch {
    /* the caller's error matters more; a leftover *.tmp is removed by the next run */
  }
}

export function writeFileAtomic(file: string, data: string | Uint8Array, opts: AtomicWriteOptions = {}): void {
  const tmp = opts.tmp ?? `${file}.tmp`;
  try {
    fs.writeFileSync(tmp, data, opts.mode === undefined ? undefined : { mode: opts.mode });
    fs.renameSync(tmp, file);
  } catch (e) {
    removeQuietly(tmp);
    throw e;
  }
}

/** The same for content that is streamed: `write` fills the temporary file it is given. */
export async function replaceFileAtomic(file: string, write: (tmp: string) => Promise<void>, opts: Pick<AtomicWriteOptions, "tmp"> = {}): Promise<void> {
  const tmp = opts.tmp ?? `${file}.tmp`;
  try {
    await write(tmp);
    fs.renameSync(tmp, file);
  } catch (e) {
    removeQuietly(tmp);
    throw e;
  }
}
