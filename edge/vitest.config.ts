import { cloudflareTest } from "@cloudflare/vitest-pool-workers";
import { defineConfig } from "vitest/config";

/**
 * The edge worker's tests run inside workerd (Miniflare) with the bindings of wrangler.jsonc: the
 * rate-limit Durable Object and the forwarding queue are the local implementations of the real ones.
 * Outbound fetches to the API are answered by a stub in the test (test/api-stub.ts).
 */
export default defineConfig({
  plugins: [
    cloudflareTest({
      wrangler: { configPath: "./wrangler.jsonc" },
      miniflare: {
        bindings: {
          API_URL: "http://api.test",
          EDGE_SIGNING_SECRET: "edge-test-secret-0123456789abcdef0123",
          FORWARD_RETRY_BASE_SECONDS: "0",
        },
      },
    }),
  ],
  test: {
    include: ["test/**/*.test.ts"],
    testTimeout: 20_000,
  },
});
