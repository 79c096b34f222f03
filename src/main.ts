import { runCli } from "./cli.js";

// `npm start`, `node dist/main.js` (the image) and the `tollgate` bin all come through here.
runCli(process.argv.slice(2)).then((code) => {
  if (code === undefined) return; // a server: it runs until a signal stops it
  process.exitCode = code;
  // A failed start may leave a connection attempt (Redis) holding the event loop.
  if (code !== 0) process.exit(code);
});
