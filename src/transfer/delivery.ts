// The receiving end of a transfer: the current sink, the resume state that says what it
// holds, and the counters. Starting over drops the sink (what was extracted is discarded)
// and opens a fresh one, so a package is never assembled from two versions.

import type { Writable } from "node:stream";
import type { Logger } from "../log.ts";
import { freshState, parseContentRange, restarted, startedFresh, type ResumeState } from "./resume.ts";

export interface TransferStats {
  attempts: number;
  transports: string[];
  bytesTransferred: number;
  size?: number;
  restarts: number;
  resumes: number;
  etag?: string;
  lastModified?: string;
  /** PACKAGE_FORMAT=file names its file from it. */
  contentDisposition?: string;
}

export const newStats = (): TransferStats => ({ attempts: 0, transports: [], bytesTransferred: 0, restarts: 0, resumes: 0 });

export interface SinkFactory<S extends Writable> {
  open(): S;
  drop(sink: S): Promise<void>;
}

export class Delivery<S extends Writable> {
  state: ResumeState = freshState();
  sink: S;
  private readonly sinks: SinkFactory<S>;
  readonly stats: TransferStats;
  private readonly log: Logger;
  private readonly what: string;

  constructor(sinks: SinkFactory<S>, stats: TransferStats, log: Logger, what: string) {
    this.sinks = sinks;
    this.stats = stats;
    this.log = log;
    this.what = what;
    this.sink = sinks.open();
  }

  /** Drop what was received and begin again from byte 0 with a fresh sink. */
  async restart(reason: string): Promise<void> {
    this.log.warn(`starting the ${this.what} over from byte 0`, { reason });
    await this.sinks.drop(this.sink);
    this.sink = this.sinks.open();
    this.state = restarted(this.state);
    this.stats.restarts++;
  }

  /** A 200 (first answer, or a restart with its body): what later requests resume against. */
  started(headers: Record<string, string>): void {
    this.state = startedFresh(this.state, headers);
    this.stats.etag = headers.etag;
    this.stats.lastModified = headers["last-modified"];
    this.stats.contentDisposition = headers["content-disposition"];
    this.stats.size = this.state.total;
  }

  /** An accepted 206: the bytes continue where they stopped. */
  resumed(headers: Record<string, string>): void {
    this.state = { ...this.state, total: this.state.total ?? parseContentRange(headers["content-range"])?.total };
    this.stats.size = this.state.total;
    this.stats.resumes++;
  }

  /** Count bytes written to the sink. */
  delivered(n: number): void {
    this.state = { ...this.state, offset: this.state.offset + n };
    this.stats.bytesTransferred += n;
  }

  /** True when the furthest point ever reached moved (a replay after a restart is not progress). */
  progressed(): boolean {
    const moved = this.state.offset > this.state.highWater;
    if (moved) this.state = { ...this.state, highWater: this.state.offset };
    return moved;
  }

  /** The whole body, when its size is known, has arrived. */
  complete(): boolean {
    return this.state.total === undefined || this.state.offset >= this.state.total;
  }
}
