import { type AddressInfo, connect, createServer, type Socket } from "node:net";

export interface TcpProxy {
  /** `target` with this proxy's host and port in its place. */
  url: string;
  /**
   * Stops passing bytes either way, connections left open: a server that stopped answering or a
   * network dropping packets, as the processes on both sides see it. New connections are accepted
   * and frozen too.
   */
  freeze(): void;
  thaw(): void;
  /** Resets every open connection (TCP RST to both sides); new ones go through. */
  reset(): void;
  /** Connections opened through the proxy so far. */
  connections(): number;
  close(): Promise<void>;
}

/** A TCP proxy to the host and port of `target` (a URL such as postgres://…), on a free loopback port. */
export async function tcpProxy(target: string): Promise<TcpProxy> {
  const to = new URL(target);
  const open = new Set<Socket>();
  let frozen = false;
  let opened = 0;
  const track = (socket: Socket) => {
    open.add(socket);
    socket.on("error", () => {});
    socket.on("close", () => open.delete(socket));
    if (frozen) socket.pause();
  };
  const server = createServer((client) => {
    opened++;
    const upstream = connect(Number(to.port), to.hostname);
    track(client);
    track(upstream);
    client.pipe(upstream);
    upstream.pipe(client);
    client.on("close", () => upstream.destroy());
    upstream.on("close", () => client.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const url = new URL(target);
  url.hostname = "127.0.0.1";
  url.port = String((server.address() as AddressInfo).port);
  return {
    url: url.toString(),
    freeze() {
      frozen = true;
      for (const socket of open) socket.pause();
    },
    thaw() {
      frozen = false;
      for (const socket of open) socket.resume();
    },
    reset() {
      for (const socket of open) socket.resetAndDestroy();
    },
    connections: () => opened,
    async close() {
      for (const socket of open) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
