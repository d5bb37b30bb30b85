import { useEffect, useState } from "preact/hooks";
import { ErrorNotice, Figures, html, Loading, Table } from "../components.js";
import { count, dateTime, duration } from "../format.js";

const PAGE_EVENTS = 200;

/** One visitor's sessions in this funnel, page after page of events (the journey's cursor). */
export function JourneyView({ client, funnel, timeZone, argument: visitorId }) {
  const [pages, setPages] = useState([]);
  const [state, setState] = useState({ loading: true });
  const load = (cursor) => {
    setState({ loading: true });
    client
      .get(`/api/v1/analytics/visitors/${encodeURIComponent(visitorId)}/journey`, {
        funnel_id: funnel.id,
        limit: PAGE_EVENTS,
        cursor,
      })
      .then(
        (page) => {
          setPages((previous) => (cursor ? [...previous, page] : [page]));
          setState({});
        },
        (error) => setState({ error, cursor }),
      );
  };
  useEffect(() => load(undefined), [visitorId, funnel.id]);
  const first = pages[0];
  const last = pages.at(-1);
  const stepName = (id) => funnel.steps.find((s) => s.id === id)?.name ?? id;
  // A session cut by a page boundary continues on the next page: shown once, its events together.
  const sessions = [];
  for (const page of pages) {
    for (const session of page.sessions) {
      const previous = sessions.at(-1);
      if (previous && previous.session_id === session.session_id) previous.events.push(...session.events);
      else sessions.push({ ...session, events: [...session.events] });
    }
  }
  return html`<div data-view="journey">
    <h2 class="view-title">Journey of visitor <code>${visitorId}</code></h2>
    <p><a href="#/conversions">Back to conversions</a></p>
    ${
      first
        ? html`<${Figures} items=${[
            { label: "First seen", field: "first_seen_at", value: dateTime(first.first_seen_at, timeZone) },
            { label: "Last seen", field: "last_seen_at", value: dateTime(first.last_seen_at, timeZone) },
            { label: "Sessions", field: "total_sessions", value: count(first.total_sessions) },
            { label: "Page views", field: "total_page_views", value: count(first.total_page_views) },
            { label: "Conversions", field: "total_conversions", value: count(first.total_conversions) },
            { label: "Events", field: "total_events", value: count(first.total_events) },
          ]} />`
        : null
    }
    ${sessions.map(
      (
        session,
      ) => html`<section class="card" aria-label=${`Session ${session.session_id}`} data-session=${session.session_id}>
        <h3>Session from ${dateTime(session.started_at, timeZone)}</h3>
        <p class="muted">
          ${[
            duration(session.time_spent_seconds),
            `${count(session.page_views)} page views`,
            `${count(session.conversions)} conversions`,
            `entered on ${session.entry_page}`,
            ...(session.exit_page ? [`left from ${session.exit_page}`] : []),
          ].join(" · ")}
        </p>
        <${Table}
          caption="Events of this session"
          hiddenCaption=${true}
          name="journey-events"
          rows=${session.events}
          rowKey=${(e) => e.event_id}
          columns=${[
            { label: "Time", field: "timestamp", value: (e) => dateTime(e.timestamp, timeZone) },
            { label: "Event", field: "event_type", value: (e) => e.event_type.replaceAll("_", " ") },
            {
              label: "Step or page",
              field: "step_id",
              value: (e) => (e.step_id ? stepName(e.step_id) : (e.url ?? "")),
            },
          ]}
        />
      </section>`,
    )}
    ${state.loading ? html`<${Loading} what="the journey" />` : null}
    ${state.error ? html`<${ErrorNotice} error=${state.error} onRetry=${() => load(state.cursor)} />` : null}
    ${
      !state.loading && last?.next_cursor
        ? html`<button type="button" onClick=${() => load(last.next_cursor)}>Load more events</button>`
        : null
    }
  </div>`;
}
