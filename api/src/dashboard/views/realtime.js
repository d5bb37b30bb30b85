import { useEffect, useState } from "preact/hooks";
import { StepVisitorsChart } from "../charts.js";
import { ErrorNotice, Figures, html, Loading, Section, Table } from "../components.js";
import { count, money, time } from "../format.js";

const REFRESH_MS = 5_000;

/** The last 30 minutes, asked again every 5 seconds; the last good figures stay while a refresh fails. */
export function RealtimeView({ client, funnel, timeZone }) {
  const [state, setState] = useState({});
  useEffect(() => {
    let stopped = false;
    let timer;
    const refresh = () =>
      client
        .get(`/api/v1/analytics/funnels/${funnel.id}/realtime`)
        .then(
          (data) => !stopped && setState({ data }),
          (error) => !stopped && setState((previous) => ({ data: previous.data, error })),
        )
        .finally(() => {
          if (!stopped) timer = setTimeout(refresh, REFRESH_MS);
        });
    refresh();
    return () => {
      stopped = true;
      clearTimeout(timer);
    };
  }, [client, funnel.id]);
  const { data, error } = state;
  const stepName = (id) => funnel.steps.find((s) => s.id === id)?.name ?? "—";
  return html`<div data-view="realtime">
    <h2 class="view-title">Real time: ${funnel.name}</h2>
    ${error ? html`<${ErrorNotice} error=${error} />` : null}
    ${!data && !error ? html`<${Loading} what="real-time figures" />` : null}
    ${
      data
        ? html`
          <p class="muted" data-field="timestamp" data-timestamp=${data.timestamp}>
            Updated ${time(data.timestamp, timeZone)}; refreshed every 5 seconds.
          </p>
          <${Figures} items=${[
            {
              label: "Active visitors (30 min)",
              field: "active_visitors.total",
              value: count(data.active_visitors.total),
            },
            {
              label: "Conversions (5 min)",
              field: "conversions_last_5min.count",
              value: count(data.conversions_last_5min.count),
            },
            {
              label: "Their value (5 min)",
              field: "conversions_last_5min.value_cents",
              value: money(data.conversions_last_5min.value_cents),
            },
          ]} />
          <${Section} title="Active visitors by step" id="active-by-step">
            <${StepVisitorsChart}
              title="Visitors active on each step"
              name="active-by-step"
              rows=${data.active_visitors.by_step}
            />
          <//>
          <${Section} title="Recent events" id="recent-events">
            <${Table}
              caption="The last events of this funnel"
              hiddenCaption=${true}
              name="recent-events"
              rows=${data.recent_events}
              columns=${[
                { label: "Time", field: "timestamp", value: (e) => time(e.timestamp, timeZone) },
                { label: "Event", field: "event_type", value: (e) => e.event_type.replaceAll("_", " ") },
                { label: "Step", field: "step_id", value: (e) => (e.step_id ? stepName(e.step_id) : "—") },
                { label: "Session", field: "session_id", value: (e) => e.session_id },
              ]}
            />
          <//>
        `
        : null
    }
  </div>`;
}
