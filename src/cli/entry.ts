import { main } from "./main.ts";

main(process.argv.slice(2), process.env).then(
  (code) => {
    process.exitCode = code;
    // Keep-alive sockets or a lingering child must not hold the init container open; but the
    // timer starts only once stdout has taken everything written to it (a slow reader of a
    // large `images list` or `--help` must not be cut short). Writes complete in order, so
    // the callback of an empty write fires after all earlier ones.
    process.stdout.write("", () => setTimeout(() => process.exit(code), 200).unref());
  },
  (e) => {
    process.stderr.write(`fatal: ${e}\n`);
    process.exit(1);
  },
);
