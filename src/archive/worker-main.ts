// The extraction worker: runs the unchanged ArchiveSink (sniff → [gunzip | zstd] → tar parse →
// Extractor) on its own thread, fed raw package bytes by WorkerSink. Each chunk is acknowledged
// once the sink has taken it (the sink's own backpressure included), which is what bounds the
// bytes in flight between the threads. Bundled on its own by scripts/build.mjs.

import { parentPort, workerData } from "node:worker_threads";
import { ArchiveSink } from "./sink.ts";
import { serializeError, type FromWorker, type ToWorker, type WorkerInit } from "./worker-protocol.ts";

function start(port: NonNullable<typeof parentPort>, init: WorkerInit) {
  const sink = new ArchiveSink(init.stagingDir, init.opts);
  let reported = false;
  const post = (m: FromWorker) => port.postMessage(m);
  const report = (e: unknown) => {
    if (reported) return;
    reported = true;
    post({ t: "error", error: serializeError(sink.errored ?? e) });
  };
  sink.on("error", report);
  port.on("message", (m: ToWorker) => {
    if (reported) return;
    if (m.t === "data") {
      const chunk = Buffer.from(m.ab);
      sink.write(chunk, (err) => {
        if (err) return report(err);
        post({ t: "ack", bytes: chunk.length, files: sink.progress().files });
      });
      return;
    }
    sink.end(() => {
      if (sink.errored) return report(sink.errored);
      const { digest: _d, rawBytes: _r, ...result } = sink.result();
      post({ t: "done", result });
    });
  });
}

if (parentPort) start(parentPort, workerData as WorkerInit);
