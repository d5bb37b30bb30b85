import { createTracker } from "./tracker";

/**
 * Entry of t.js. Configured by its script tag:
 * `<script async src="https://edge.example.com/t.js" data-funnel="…" data-page="…"></script>`
 * (optional `data-variant`, `data-endpoint`, `data-consent="required"`). Exposes `window.funnel`
 * and sends the page_view at once.
 */
const script = document.currentScript as HTMLScriptElement | null;
const data = script?.dataset ?? {};
if (script && data.funnel) {
  const tracker = createTracker({
    endpoint: data.endpoint ?? new URL("/api/v1/analytics/track", script.src).href,
    funnelId: data.funnel,
    pageId: data.page,
    variantId: data.variant,
    consentRequired: data.consent === "required",
  });
  (window as unknown as { funnel: typeof tracker }).funnel = tracker;
  tracker.pageView();
}
