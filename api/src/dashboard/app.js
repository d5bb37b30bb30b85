import { render } from "preact";
import { useEffect, useMemo, useState } from "preact/hooks";
import { createClient } from "./api.js";
import { ErrorNotice, html, Loading } from "./components.js";
import { plainDate } from "./format.js";
import { browserTimeZone, granularityFor, PRESETS, periodRange, timeZones } from "./period.js";
import { AbTestsView } from "./views/ab-tests.js";
import { ConversionsView } from "./views/conversions.js";
import { DropoffsView } from "./views/dropoffs.js";
import { ExportView } from "./views/export.js";
import { JourneyView } from "./views/journey.js";
import { OverviewView } from "./views/overview.js";
import { RealtimeView } from "./views/realtime.js";
import { RevenueView } from "./views/revenue.js";
import { StepView } from "./views/step.js";

/** The key lives in this tab's sessionStorage only: closing the tab signs out. */
const KEY_ITEM = "funnel-dashboard-key";

/** The funnel, period and zone picked, kept for a reload of the tab. */
const SETTINGS_ITEM = "funnel-dashboard-settings";

function readSettings() {
  try {
    return JSON.parse(sessionStorage.getItem(SETTINGS_ITEM) ?? "{}") ?? {};
  } catch {
    return {};
  }
}

const VIEWS = [
  { path: "overview", label: "Overview", component: OverviewView },
  { path: "steps", label: "Steps", component: StepView },
  { path: "dropoffs", label: "Drop-offs", component: DropoffsView },
  { path: "conversions", label: "Conversions", component: ConversionsView },
  { path: "revenue", label: "Revenue", component: RevenueView },
  { path: "ab-tests", label: "A/B tests", component: AbTestsView },
  { path: "realtime", label: "Real time", component: RealtimeView },
  { path: "export", label: "Export", component: ExportView },
];

/** `#/<view>/<argument>`, e.g. `#/steps/<step id>` or `#/visitor/<visitor id>`. */
function readRoute() {
  const [view = "overview", argument] = location.hash.replace(/^#\/?/, "").split("/");
  return { view: decodeURIComponent(view), argument: argument ? decodeURIComponent(argument) : undefined };
}

function useRoute() {
  const [route, setRoute] = useState(readRoute);
  useEffect(() => {
    const changed = () => setRoute(readRoute());
    addEventListener("hashchange", changed);
    return () => removeEventListener("hashchange", changed);
  }, []);
  return route;
}

function SignIn({ onKey, reason }) {
  const [value, setValue] = useState("");
  const [state, setState] = useState({});
  async function submit(event) {
    event.preventDefault();
    const key = value.trim();
    if (!key) return setState({ message: "Paste an API key first." });
    setState({ checking: true });
    try {
      await createClient(key).get("/api/v1/funnels");
      onKey(key);
    } catch (error) {
      setState({ error });
    }
  }
  return html`<main class="centered sign-in">
    <h1>Funnel analytics</h1>
    <form onSubmit=${submit} aria-describedby="sign-in-help">
      <label for="api-key">API key</label>
      <input id="api-key" name="api-key" type="password" autocomplete="off" spellcheck="false"
        placeholder="fa_live_…" value=${value} onInput=${(e) => setValue(e.currentTarget.value)} />
      <button type="submit" disabled=${state.checking}>${state.checking ? "Checking…" : "Sign in"}</button>
      <p id="sign-in-help" class="muted">
        The key stays in this browser tab only (session storage) and is sent to this server alone.
      </p>
    </form>
    ${reason ? html`<${ErrorNotice} error=${reason} />` : null}
    ${state.error ? html`<${ErrorNotice} error=${state.error} />` : null}
    ${state.message ? html`<p class="notice error" role="alert">${state.message}</p>` : null}
  </main>`;
}

function PeriodPicker({ period, onChange, range }) {
  const [from, setFrom] = useState(range.date_from);
  const [to, setTo] = useState(range.date_to);
  const [invalid, setInvalid] = useState("");
  useEffect(() => {
    setFrom(range.date_from);
    setTo(range.date_to);
  }, [range]);
  function apply(event) {
    event.preventDefault();
    if (!from || !to) return setInvalid("Choose both dates.");
    if (from > to) return setInvalid("The first day comes after the last.");
    setInvalid("");
    onChange({ preset: "custom", from, to });
  }
  return html`<fieldset class="period">
    <legend>Period</legend>
    ${PRESETS.map(
      (days) => html`<button type="button" aria-pressed=${period.preset === days}
        onClick=${() => onChange({ preset: days })}>Last ${days} days</button>`,
    )}
    <form class="custom-period" onSubmit=${apply}>
      <label>From <input type="date" name="date_from" value=${from} onInput=${(e) => setFrom(e.currentTarget.value)} /></label>
      <label>To <input type="date" name="date_to" value=${to} onInput=${(e) => setTo(e.currentTarget.value)} /></label>
      <button type="submit" aria-pressed=${period.preset === "custom"}>Apply dates</button>
      ${invalid ? html`<span role="alert" class="error-text">${invalid}</span>` : null}
    </form>
  </fieldset>`;
}

function Dashboard({ apiKey, onSignOut }) {
  const client = useMemo(() => createClient(apiKey, (error) => onSignOut(error)), [apiKey, onSignOut]);
  const route = useRoute();
  const [funnels, setFunnels] = useState({ loading: true });
  const saved = useMemo(readSettings, []);
  const [funnelId, setFunnelId] = useState(saved.funnelId ?? "");
  const [period, setPeriod] = useState(saved.period ?? { preset: 30 });
  const [timeZone, setTimeZone] = useState(saved.timeZone ?? browserTimeZone());
  const [attempt, setAttempt] = useState(0);

  useEffect(() => {
    setFunnels({ loading: true });
    client.get("/api/v1/funnels").then(
      (body) => setFunnels({ list: body.funnels }),
      (error) => setFunnels({ error }),
    );
  }, [client, attempt]);

  const list = funnels.list ?? [];
  const funnel = list.find((f) => f.id === funnelId) ?? list[0];
  useEffect(() => {
    sessionStorage.setItem(SETTINGS_ITEM, JSON.stringify({ funnelId: funnel?.id, period, timeZone }));
  }, [funnel, period, timeZone]);
  const range = useMemo(() => periodRange(period, timeZone), [period, timeZone]);
  const granularity = granularityFor(range);
  const view = route.view === "visitor" ? null : (VIEWS.find((v) => v.path === route.view) ?? VIEWS[0]);

  let content;
  if (funnels.error) {
    content = html`<${ErrorNotice} error=${funnels.error} onRetry=${() => setAttempt((n) => n + 1)} />`;
  } else if (funnels.loading) {
    content = html`<${Loading} what="the funnels" />`;
  } else if (!funnel) {
    content = html`<p class="notice empty" role="status">
      This account has no funnel yet: push one with <code>PUT /api/v1/funnels/{id}</code> (see /docs).
    </p>`;
  } else {
    const props = { client, funnel, range, timeZone, granularity, argument: route.argument };
    content =
      route.view === "visitor"
        ? html`<${JourneyView} ...${props} />`
        : html`<${view.component} key=${`${view.path}:${funnel.id}`} ...${props} />`;
  }

  return html`<div class="layout">
    <header class="top">
      <h1>Funnel analytics</h1>
      <div class="controls">
        <label>Funnel
          <select name="funnel" value=${funnel?.id ?? ""} onChange=${(e) => setFunnelId(e.currentTarget.value)}>
            ${list.map((f) => html`<option value=${f.id}>${f.name}</option>`)}
          </select>
        </label>
        <label>Time zone
          <select name="tz" value=${timeZone} onChange=${(e) => setTimeZone(e.currentTarget.value)}>
            ${timeZones().map((z) => html`<option value=${z}>${z}</option>`)}
          </select>
        </label>
        <button type="button" class="secondary" onClick=${() => onSignOut()}>Sign out</button>
      </div>
      <${PeriodPicker} period=${period} onChange=${setPeriod} range=${range} />
      <p class="muted period-said" data-period=${`${range.date_from}/${range.date_to}`}>
        ${plainDate(range.date_from)} to ${plainDate(range.date_to)}, whole days in ${timeZone}
      </p>
      <nav aria-label="Reports">
        <ul>
          ${VIEWS.map(
            (v) =>
              html`<li><a href=${`#/${v.path}`} aria-current=${view === v ? "page" : undefined}>${v.label}</a></li>`,
          )}
        </ul>
      </nav>
    </header>
    <main id="report" tabindex="-1">${content}</main>
  </div>`;
}

function App() {
  const [apiKey, setApiKey] = useState(() => sessionStorage.getItem(KEY_ITEM));
  const [reason, setReason] = useState(undefined);
  const signIn = (key) => {
    sessionStorage.setItem(KEY_ITEM, key);
    setReason(undefined);
    setApiKey(key);
  };
  const [signOut] = useState(() => (error) => {
    sessionStorage.removeItem(KEY_ITEM);
    setReason(error);
    setApiKey(null);
  });
  return apiKey
    ? html`<${Dashboard} apiKey=${apiKey} onSignOut=${signOut} />`
    : html`<${SignIn} onKey=${signIn} reason=${reason} />`;
}

const root = document.getElementById("app");
// The static "Loading the dashboard…" placeholder goes: Preact renders into an empty element.
root.replaceChildren();
render(html`<${App} />`, root);
