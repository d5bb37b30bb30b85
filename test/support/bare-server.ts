import { type ChildProcess, spawn } from "node:child_process";
import { once } from "node:events";

/**
 * A Node HTTP server that does nothing but read each request's body and answer 202 with a small
 * JSON body, in a process of its own: what a load measures against it is this machine's floor
 * (the client, the loopback and one Node event loop), to read the API's figures against.
 */
const SERVER = `
const http = require("node:http");
const server = http.createServer((req, res) => {
  req.resume();
  req.on("end", () => {
    res.writeHead(req.method === "POST" ? 202 : 200, { "content-type": "application/json" });
    res.end('{"accepted":1,"rejected":[]}');
  });
});
server.listen(0, "127.0.0.1", () => process.stdout.write(server.address().port + "\\n"));
`;

export async function startBareServer(): Promise<{
  url: string;
  child: ChildProcess;
  stop(): Promise<void>;
}> {
  const child = spawn(process.execPath, ["-e", SERVER], { stdio: ["ignore", "pipe", "inherit"] });
  const [chunk] = (await once(child.stdout as NodeJS.ReadableStream, "data")) as [Buffer];
  const port = Number(chunk.toString().trim());
  return {
    url: `http://127.0.0.1:${port}`,
    child,
    stop: async () => {
      if (child.exitCode !== null) return;
      child.kill("SIGTERM");
      await once(child, "exit");
    },
  };
}
