import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import type { FunnelFixture } from "@funnel/fixtures";

/**
 * A demo funnel site on its own origin: the first two steps of a fixture funnel, each page loading
 * the edge's t.js, and a thank-you page without it. Step 1 links forward to step 2; step 2's "Buy"
 * converts and goes on to /thanks. The step exits are sent by t.js on pagehide.
 */
export interface DemoSite {
  url: string;
  paths: { first: string; second: string; thanks: string };
  close(): Promise<void>;
}

export async function serveDemoFunnel(funnel: FunnelFixture, edgeUrl: string): Promise<DemoSite> {
  const [first, second] = funnel.steps;
  if (!first || !second) throw new Error(`${funnel.name} needs two steps`);
  const paths = { first: "/step-1", second: "/step-2", thanks: "/thanks" };
  const page = (title: string, pageId: string, body: string) => `<!doctype html>
<html><head><title>${title}</title>
<script src="${edgeUrl}/t.js" data-funnel="${funnel.id}" data-page="${pageId}"></script>
</head><body><h1>${title}</h1>${body}</body></html>`;
  const pages: Record<string, string> = {
    [paths.first]: page(
      first.name,
      first.page_id,
      `<script>funnel.enterStep(${JSON.stringify(first.id)});</script>
<a id="next" href="${paths.second}" onclick="funnel.exitStep('forward', ${JSON.stringify(second.id).replaceAll('"', "'")})">Continue</a>`,
    ),
    [paths.second]: page(
      second.name,
      second.page_id,
      `<script>funnel.enterStep(${JSON.stringify(second.id)}, ${JSON.stringify(first.id)});</script>
<button id="buy" onclick="funnel.convert('purchase', { value_cents: 4900, order_id: 'order-e2e-1',
  products: [{ product_id: 'sku-1', product_name: 'Spring bundle', quantity: 1, price_cents: 4900 }] });
  funnel.exitStep('forward'); location.href = '${paths.thanks}';">Buy</button>`,
    ),
    [paths.thanks]: "<!doctype html><html><head><title>Thanks</title></head><body>Thanks!</body></html>",
  };
  const server: Server = createServer((req, res) => {
    const html = pages[new URL(req.url ?? "/", "http://x").pathname];
    res.writeHead(html ? 200 : 404, { "content-type": "text/html; charset=utf-8" });
    res.end(html ?? "not found");
  });
  await new Promise<void>((done) => server.listen(0, "127.0.0.1", done));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    paths,
    close: () => new Promise((done) => server.close(() => done())),
  };
}
