import { main } from "./main.ts";

main(process.argv.slice(2), process.env).then(
  (code) => {
    process.exitCode = code;
    // Keep-alive sockets or a lingering child must not hold the init container open.
    setTimeout(() => process.exit(code), 200).unref();
  },
  (e) => {
    process.stderr.write(`fatal: ${e}\n`);
    process.exit(1);
  },
);
