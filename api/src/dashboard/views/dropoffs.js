import { useReport } from "../api.js";
import { BarChart } from "../charts.js";
import { Empty, Figures, Freshness, html, ReportState, Section, Table } from "../components.js";
import { count, percent } from "../format.js";

const SEVERITY = { low: "Low", medium: "Medium", high: "High" };

export function DropoffsView({ client, funnel, range, timeZone }) {
  const report = useReport(client, `/api/v1/analytics/funnels/${funnel.id}/dropoffs`, {
    ...range,
    tz: timeZone,
  });
  return html`<div data-view="dropoffs">
    <h2 class="view-title">Drop-offs in ${funnel.name}</h2>
    <${ReportState} report=${report} what="the drop-offs">
      ${(data) => html`
        <${Freshness} through=${data.data_through} timeZone=${timeZone} />
        <${Figures} items=${[
          {
            label: "Overall drop-off rate",
            field: "overall_drop_off_rate",
            value: percent(data.overall_drop_off_rate),
          },
        ]} />
        <${Section} title="Where visitors are lost" id="drop-off-funnel">
          <${BarChart}
            title="Visitors per step and the share lost up to it"
            name="drop-off-funnel"
            rows=${data.drop_off_funnel}
            label=${(s) => s.step_name}
            value=${(s) => s.visitors}
            text=${(s) => `${count(s.visitors)} · ${percent(s.cumulative_drop_off_rate)} lost`}
            columns=${[
              { label: "Step", field: "step_name", value: (s) => s.step_name },
              { label: "Visitors", field: "visitors", numeric: true, value: (s) => count(s.visitors) },
              { label: "Drop-offs", field: "drop_offs", numeric: true, value: (s) => count(s.drop_offs) },
              {
                label: "Lost up to here",
                field: "cumulative_drop_off_rate",
                numeric: true,
                value: (s) => percent(s.cumulative_drop_off_rate),
              },
            ]}
          />
        <//>
        ${data.steps_with_drop_off.length === 0 ? html`<${Empty}>No step lost visitors in this period.<//>` : null}
        ${data.steps_with_drop_off.map(
          (
            step,
          ) => html`<section class="card" aria-labelledby=${`drop-${step.step_id}`} data-step=${step.step_id}>
            <h2 id=${`drop-${step.step_id}`}>
              ${step.step_name}
              <span class=${`severity severity-${step.severity}`} data-field="severity">${SEVERITY[step.severity] ?? step.severity} severity</span>
            </h2>
            <${Figures} items=${[
              { label: "Drop-offs", field: "drop_offs", value: count(step.drop_offs) },
              { label: "Drop-off rate", field: "drop_off_rate", value: percent(step.drop_off_rate) },
            ]} />
            <${Table}
              caption="Most common exit reasons"
              name="exit-reasons"
              rows=${step.common_exit_reasons}
              columns=${[
                { label: "Reason", field: "reason", value: (r) => r.reason.replaceAll("_", " ") },
                { label: "Visitors", field: "count", numeric: true, value: (r) => count(r.count) },
                { label: "Share", field: "percentage", numeric: true, value: (r) => percent(r.percentage) },
              ]}
            />
            <h3>Suggestions</h3>
            ${
              step.suggestions.length === 0
                ? html`<p class="muted">No suggestion for this step.</p>`
                : html`<ul class="suggestions">${step.suggestions.map((s) => html`<li>${s}</li>`)}</ul>`
            }
          </section>`,
        )}
      `}
    <//>
  </div>`;
}
