import { useState } from "preact/hooks";
import { useReport } from "../api.js";
import { countSeries, moneySeries, TimeChart } from "../charts.js";
import { Empty, Figures, Freshness, html, ReportState, Section, Table } from "../components.js";
import { count, dateTime, money, percent } from "../format.js";

const PAGE_SIZE = 25;

export function ConversionsView({ client, funnel, range, timeZone, granularity }) {
  const [page, setPage] = useState(1);
  const report = useReport(client, `/api/v1/analytics/funnels/${funnel.id}/conversions`, {
    ...range,
    tz: timeZone,
    granularity,
    page,
    page_size: PAGE_SIZE,
  });
  return html`<div data-view="conversions">
    <h2 class="view-title">Conversions in ${funnel.name}</h2>
    <${ReportState} report=${report} what="the conversions">
      ${(data) => {
        const pages = Math.max(1, Math.ceil(data.pagination.total / data.pagination.page_size));
        return html`
          <${Freshness} through=${data.data_through} timeZone=${timeZone} />
          <${Figures} items=${[
            {
              label: "Conversions",
              field: "summary.total_conversions",
              value: count(data.summary.total_conversions),
            },
            {
              label: "Conversion rate",
              field: "summary.conversion_rate",
              value: percent(data.summary.conversion_rate),
            },
            {
              label: "Total value",
              field: "summary.total_value_cents",
              value: money(data.summary.total_value_cents),
            },
            {
              label: "Average value",
              field: "summary.avg_value_cents",
              value: money(data.summary.avg_value_cents),
            },
          ]} />
          <${Section} title="Over time" id="conversions-over-time">
            <${TimeChart}
              title="Conversions and their value over time"
              name="conversions-over-time"
              rows=${data.over_time}
              timeZone=${timeZone}
              granularity=${data.granularity}
              series=${[countSeries("conversions", "Conversions"), moneySeries("value_cents", "Value", "money")]}
            />
          <//>
          <div class="grid">
            <${Section} title="By type" id="by-type">
              <${Table}
                caption="Conversions by type"
                name="by-type"
                rows=${data.by_type}
                columns=${[
                  {
                    label: "Type",
                    field: "conversion_type",
                    value: (t) => t.conversion_type.replaceAll("_", " "),
                  },
                  { label: "Conversions", field: "count", numeric: true, value: (t) => count(t.count) },
                  { label: "Rate", field: "rate", numeric: true, value: (t) => percent(t.rate) },
                  { label: "Value", field: "value_cents", numeric: true, value: (t) => money(t.value_cents) },
                ]}
              />
            <//>
            <${Section} title="By step" id="by-step">
              <${Table}
                caption="Conversions by step"
                name="by-step"
                rows=${data.by_step}
                columns=${[
                  { label: "Step", field: "step_name", value: (s) => s.step_name },
                  {
                    label: "Conversions",
                    field: "conversions",
                    numeric: true,
                    value: (s) => count(s.conversions),
                  },
                  {
                    label: "Rate",
                    field: "conversion_rate",
                    numeric: true,
                    value: (s) => percent(s.conversion_rate),
                  },
                ]}
              />
            <//>
          </div>
          <${Section} title="Converting visitors" id="converting-visitors">
            ${
              data.converting_visitors.length === 0
                ? html`<${Empty}>No visitor converted in this period.<//>`
                : html`<${Table}
                    caption=${`Converting visitors, page ${data.pagination.page} of ${pages}`}
                    name="converting-visitors"
                    rows=${data.converting_visitors}
                    rowKey=${(v) => v.visitor_id}
                    columns=${[
                      {
                        label: "Visitor",
                        field: "visitor_id",
                        value: (v) => html`<a href=${`#/visitor/${v.visitor_id}`}>${v.visitor_id}</a>`,
                      },
                      {
                        label: "Conversions",
                        field: "conversions",
                        numeric: true,
                        value: (v) => count(v.conversions),
                      },
                      {
                        label: "Value",
                        field: "total_value_cents",
                        numeric: true,
                        value: (v) => money(v.total_value_cents),
                      },
                      {
                        label: "First",
                        field: "first_conversion_at",
                        value: (v) => dateTime(v.first_conversion_at, timeZone),
                      },
                      {
                        label: "Last",
                        field: "last_conversion_at",
                        value: (v) => dateTime(v.last_conversion_at, timeZone),
                      },
                    ]}
                  />`
            }
            <div class="pager">
              <button type="button" disabled=${page <= 1} onClick=${() => setPage(page - 1)}>Previous page</button>
              <span data-field="pagination">Page ${count(data.pagination.page)} of ${count(pages)} · ${count(data.pagination.total)} visitors</span>
              <button type="button" disabled=${page >= pages} onClick=${() => setPage(page + 1)}>Next page</button>
            </div>
          <//>
        `;
      }}
    <//>
  </div>`;
}
