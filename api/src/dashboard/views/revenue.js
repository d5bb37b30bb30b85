import { useReport } from "../api.js";
import { BarChart, countSeries, moneySeries, TimeChart } from "../charts.js";
import { Empty, Figures, Freshness, html, ReportState, Section, Table } from "../components.js";
import { count, money, percent } from "../format.js";

export function RevenueView({ client, funnel, range, timeZone, granularity }) {
  const report = useReport(client, `/api/v1/analytics/funnels/${funnel.id}/revenue`, {
    ...range,
    tz: timeZone,
    granularity,
  });
  return html`<div data-view="revenue">
    <h2 class="view-title">Revenue of ${funnel.name}</h2>
    <${ReportState} report=${report} what="the revenue">
      ${(data) => html`
        <${Freshness} through=${data.data_through} timeZone=${timeZone} />
        <${Figures} items=${[
          {
            label: "Revenue",
            field: "summary.total_revenue_cents",
            value: money(data.summary.total_revenue_cents),
          },
          {
            label: "Net of refunds",
            field: "summary.net_revenue_cents",
            value: money(data.summary.net_revenue_cents),
          },
          { label: "Refund rate", field: "summary.refund_rate", value: percent(data.summary.refund_rate) },
          {
            label: "Per visitor",
            field: "summary.revenue_per_visitor_cents",
            value: money(data.summary.revenue_per_visitor_cents),
          },
          {
            label: "Per conversion",
            field: "summary.revenue_per_conversion_cents",
            value: money(data.summary.revenue_per_conversion_cents),
          },
        ]} />
        <${Section} title="Over time" id="revenue-over-time">
          <${TimeChart}
            title="Revenue and orders over time"
            name="revenue-over-time"
            rows=${data.over_time}
            timeZone=${timeZone}
            granularity=${data.granularity}
            series=${[moneySeries("revenue_cents", "Revenue"), countSeries("orders", "Orders", "orders")]}
          />
        <//>
        <div class="grid">
          <${Section} title="By source" id="revenue-by-source">
            ${
              data.by_source.length === 0
                ? html`<${Empty}>No revenue in this period.<//>`
                : html`<${BarChart}
                    title="Revenue by traffic source"
                    name="by-source"
                    rows=${data.by_source}
                    label=${(s) => s.source}
                    value=${(s) => s.revenue_cents}
                    text=${(s) => `${money(s.revenue_cents)} (${percent(s.percentage)})`}
                    columns=${[
                      { label: "Source", field: "source", value: (s) => s.source },
                      {
                        label: "Revenue",
                        field: "revenue_cents",
                        numeric: true,
                        value: (s) => money(s.revenue_cents),
                      },
                      {
                        label: "Share",
                        field: "percentage",
                        numeric: true,
                        value: (s) => percent(s.percentage),
                      },
                    ]}
                  />`
            }
          <//>
          <${Section} title="Top products" id="top-products">
            <${Table}
              caption="Products by revenue"
              name="top-products"
              rows=${data.top_products}
              columns=${[
                { label: "Product", field: "product_name", value: (p) => p.product_name ?? p.product_id },
                {
                  label: "Revenue",
                  field: "revenue_cents",
                  numeric: true,
                  value: (p) => money(p.revenue_cents),
                },
                {
                  label: "Units sold",
                  field: "units_sold",
                  numeric: true,
                  value: (p) => count(p.units_sold),
                },
              ]}
            />
          <//>
        </div>
        <${Section} title="By step" id="revenue-by-step">
          <${Table}
            caption="Revenue by step"
            name="revenue-by-step"
            rows=${data.by_step}
            columns=${[
              { label: "Step", field: "step_name", value: (s) => s.step_name },
              {
                label: "Revenue",
                field: "revenue_cents",
                numeric: true,
                value: (s) => money(s.revenue_cents),
              },
              { label: "Orders", field: "orders", numeric: true, value: (s) => count(s.orders) },
              {
                label: "Average order",
                field: "avg_order_value_cents",
                numeric: true,
                value: (s) => money(s.avg_order_value_cents),
              },
            ]}
          />
        <//>
      `}
    <//>
  </div>`;
}
