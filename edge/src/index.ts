import { createApp } from "./app";
import { type Bindings, loadConfig } from "./config";
import { consumeBatch } from "./forward/consumer";
import type { ForwardMessage } from "./forward/messages";

export { IpRateLimiter } from "./rate-limit/ip-rate-limiter";

const app = createApp();

/** HTTP (routes in app.ts) and the forwarding queue's consumer (forward/consumer.ts). */
const worker: ExportedHandler<Bindings, ForwardMessage> = {
  fetch: (request, env, ctx) => app.fetch(request, env, ctx),
  queue: (batch, env) => consumeBatch(batch, loadConfig(env)),
};

export default worker;
