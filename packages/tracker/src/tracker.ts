import {
  forgetCookie,
  OPT_OUT_COOKIE,
  readCookie,
  SESSION_COOKIE,
  SESSION_MAX_AGE,
  VISITOR_COOKIE,
  VISITOR_MAX_AGE,
  writeCookie,
} from "./cookies";
import { uuid } from "./ids";
import { createSender, type Payload } from "./sender";

export type ExitOutcome = "forward" | "backward" | "bounce" | "close";
export type ConversionType = "form_submit" | "purchase" | "signup" | "custom";

export interface TrackerOptions {
  /** Full URL of the edge's (or the API's) POST /api/v1/analytics/track. */
  endpoint: string;
  funnelId: string;
  /** The page being viewed; without it no page_view is sent. */
  pageId?: string | undefined;
  /** The A/B variant this page is, sent with every event. */
  variantId?: string | undefined;
  /** When true, nothing is tracked and no cookie is set until `consent(true)`. */
  consentRequired?: boolean | undefined;
}

export interface ConversionDetails {
  value_cents?: number;
  order_id?: string;
  goal_id?: string;
  /** Reports read them as docs/metrics.md says: revenue = Σ quantity × price_cents per product_id. */
  products?: { product_id: string; product_name?: string; quantity: number; price_cents: number }[];
}

export interface Tracker {
  pageView(pageId?: string): void;
  enterStep(stepId: string, previousStepId?: string): void;
  /** Records how the current step is left; the step_exit itself is sent on pagehide. */
  exitStep(outcome?: ExitOutcome, nextStepId?: string): void;
  convert(type: ConversionType, details?: ConversionDetails): void;
  /** false: stop, drop what is queued and forget the cookies (remembered as an opt-out); true: resume. */
  consent(granted: boolean): void;
  flush(): void;
}

export function createTracker(options: TrackerOptions): Tracker {
  const sender = createSender(options.endpoint);
  let enabled = readCookie(OPT_OUT_COOKIE) !== "1" && !options.consentRequired;
  let step: { id: string; outcome: ExitOutcome; next?: string | undefined } | undefined;

  const visitorId = () => {
    const id = readCookie(VISITOR_COOKIE) ?? uuid();
    writeCookie(VISITOR_COOKIE, id, VISITOR_MAX_AGE);
    return id;
  };
  // Every event renews the session; 30 minutes without one and the cookie is gone.
  const sessionId = () => {
    const id = readCookie(SESSION_COOKIE) ?? uuid();
    writeCookie(SESSION_COOKIE, id, SESSION_MAX_AGE);
    return id;
  };

  const send = (type: string, fields: Payload) => {
    if (!enabled) return;
    sender.push({
      event_id: uuid(),
      event_type: type,
      funnel_id: options.funnelId,
      visitor_id: visitorId(),
      session_id: sessionId(),
      timestamp: new Date().toISOString(),
      url: location.href.slice(0, 2048),
      ...(options.variantId ? { variant_id: options.variantId } : {}),
      ...fields,
    });
  };

  const tracker: Tracker = {
    pageView(pageId = options.pageId) {
      if (!pageId) return;
      const fields: Payload = { page_id: pageId };
      if (document.referrer) fields.referrer = document.referrer.slice(0, 2048);
      const query = new URLSearchParams(location.search);
      for (const key of ["utm_source", "utm_medium", "utm_campaign"]) {
        const value = query.get(key);
        if (value) fields[key] = value.slice(0, 255);
      }
      send("page_view", fields);
    },
    enterStep(stepId, previousStepId) {
      step = { id: stepId, outcome: "close" };
      send("step_entry", {
        funnel_step_id: stepId,
        ...(previousStepId ? { previous_step_id: previousStepId } : {}),
      });
    },
    exitStep(outcome = "forward", nextStepId) {
      if (step) step = { id: step.id, outcome, next: nextStepId };
    },
    convert(type, details = {}) {
      const { goal_id, products, ...rest } = details;
      send("conversion", {
        conversion_type: type,
        ...rest,
        ...(goal_id ? { conversion_goal_id: goal_id } : {}),
        ...(products ? { metadata: { products } } : {}),
      });
    },
    consent(granted) {
      enabled = granted;
      if (granted) {
        forgetCookie(OPT_OUT_COOKIE);
        return;
      }
      sender.clear();
      step = undefined;
      forgetCookie(VISITOR_COOKIE);
      forgetCookie(SESSION_COOKIE);
      writeCookie(OPT_OUT_COOKIE, "1", VISITOR_MAX_AGE);
    },
    flush: () => sender.flush(),
  };

  addEventListener("pagehide", () => {
    if (step) {
      send("step_exit", {
        funnel_step_id: step.id,
        exit_outcome: step.outcome,
        ...(step.next ? { next_step_id: step.next } : {}),
      });
      step = undefined;
    }
    sender.beacon();
  });
  return tracker;
}
