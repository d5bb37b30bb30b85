import { connect, type Socket } from "node:net";
import { serve } from "@hono/node-server";
import type { OpenAPIHono } from "@hono/zod-openapi";
import type { AppEnv } from "../deps";

/**
 * The app behind a real Node HTTP server, and a client that writes HTTP/1.1 by hand: a body that
 * never ends, a Content-Length the client does not keep, an upload cut off mid-way. The server
 * counts the bytes it read from each connection, which is what a body limit must keep small.
 */

export interface RawServer {
  port: number;
  /** Bytes the server read from every connection so far (headers included). */
  bytesRead(): number;
  close(): Promise<void>;
}

export async function listenRaw(app: OpenAPIHono<AppEnv>): Promise<RawServer> {
  const server = serve({ fetch: app.fetch, port: 0, hostname: "127.0.0.1" });
  await new Promise<void>((resolve) => server.once("listening", resolve));
  const sockets: Socket[] = [];
  server.on("connection", (socket: Socket) => sockets.push(socket));
  const address = server.address();
  if (address === null || typeof address === "string") throw new Error("listenRaw: no port");
  return {
    port: address.port,
    bytesRead: () => sockets.reduce((sum, s) => sum + s.bytesRead, 0),
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

export interface RawRequest {
  method: string;
  path: string;
  headers?: Record<string, string>;
  /**
   * chunked: up to `bytes` of body in chunks, with no Content-Length, while no answer came.
   * declared: a Content-Length of `length`, of which only `send` bytes are sent.
   */
  body: { chunked: number } | { declared: number; send: number };
  /** Destroys the socket once this many body bytes are written, without waiting for an answer. */
  abortAfter?: number;
  /** Fails when no answer came by then (a server waiting for the rest of a body never answers). */
  timeoutMs?: number;
}

export interface RawResponse {
  status: number;
  body: string;
  /** Body bytes the client wrote before the answer came (or it stopped). */
  sent: number;
}

const CHUNK = Buffer.alloc(64 * 1024, 0x20);
const CRLF = Buffer.from("\r\n");
const chunkHead = (size: number) => Buffer.from(`${size.toString(16)}\r\n`);

/** Sends `request`; resolves with the answer, or `null` when the client aborted as asked. */
export function rawRequest(port: number, request: RawRequest): Promise<RawResponse | null> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, "127.0.0.1");
    const chunked = "chunked" in request.body;
    const head = [
      `${request.method} ${request.path} HTTP/1.1`,
      "host: 127.0.0.1",
      "content-type: application/json",
      ...Object.entries(request.headers ?? {}).map(([k, v]) => `${k}: ${v}`),
      "chunked" in request.body ? "transfer-encoding: chunked" : `content-length: ${request.body.declared}`,
      "",
      "",
    ].join("\r\n");
    const total = "chunked" in request.body ? request.body.chunked : request.body.send;
    let sent = 0;
    let received = Buffer.alloc(0);
    let settled = false;
    const timer = setTimeout(
      () => finish(new Error(`no answer within ${request.timeoutMs ?? 10_000} ms (${sent} bytes sent)`)),
      request.timeoutMs ?? 10_000,
    );
    const finish = (outcome: RawResponse | null | Error) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      if (outcome instanceof Error) reject(outcome);
      else resolve(outcome);
    };
    const answer = (): RawResponse | null => {
      const end = received.indexOf("\r\n\r\n");
      if (end < 0) return null;
      const lines = received.subarray(0, end).toString("latin1").split("\r\n");
      const status = Number(lines[0]?.split(" ")[1]);
      const length = lines.find((l) => /^content-length:/i.test(l))?.split(":")[1];
      const body = received.subarray(end + 4);
      if (length === undefined || body.length < Number(length)) return null;
      return { status, body: body.subarray(0, Number(length)).toString("utf8"), sent };
    };
    socket.on("data", (data: Buffer) => {
      received = Buffer.concat([received, data]);
      const response = answer();
      if (response) finish(response);
    });
    // A server that closes while the client still writes may reset the connection; what it
    // answered before is what counts.
    socket.on("error", () => finish(answer() ?? new Error(`connection reset (${sent} bytes sent)`)));
    socket.on("end", () => finish(answer() ?? new Error(`connection closed (${sent} bytes sent)`)));
    const until = Math.min(total, request.abortAfter ?? total);
    const pump = () => {
      while (!settled && sent < until) {
        const piece = CHUNK.subarray(0, Math.min(CHUNK.length, until - sent));
        sent += piece.length;
        const ok = chunked
          ? socket.write(Buffer.concat([chunkHead(piece.length), piece, CRLF]))
          : socket.write(piece);
        if (!ok) return void socket.once("drain", pump);
      }
      if (settled) return;
      // Flushed before the reset, so that the server has the part of the body the test means.
      if (request.abortAfter !== undefined) return void socket.end(() => finish(null));
      if (chunked) socket.write("0\r\n\r\n");
    };
    socket.once("connect", () => {
      socket.write(head);
      pump();
    });
  });
}
