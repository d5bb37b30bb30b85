import { describe, expect, it } from "vitest";
import { type JourneyEventInput, journeySessions, journeyTotals, SESSION_TIMEOUT_MS } from "./journey";

const NOW = new Date("2026-03-10T12:00:00.000Z");
const at = (minutesBeforeNow: number, seconds = 0) =>
  new Date(NOW.getTime() - minutesBeforeNow * 60_000 + seconds * 1000);

function ev(
  sessionId: string,
  eventType: string,
  createdAt: Date,
  url: string | null = null,
  funnelId = "f1",
) {
  return { funnelId, sessionId, eventType, url, createdAt } satisfies JourneyEventInput;
}

describe("journeySessions", () => {
  it("groups by funnel and session, newest session first, events oldest first", () => {
    const sessions = journeySessions(
      [
        ev("s1", "page_view", at(300), "https://x.example/a"),
        ev("s2", "page_view", at(100), "https://x.example/b"),
        ev("s1", "conversion", at(290)),
        ev("s1", "page_view", at(295), "https://x.example/c"),
        ev("s1", "page_view", at(200), "https://x.example/z", "f2"),
      ],
      NOW,
    );
    expect(sessions.map((s) => [s.funnelId, s.sessionId])).toEqual([
      ["f1", "s2"],
      ["f2", "s1"],
      ["f1", "s1"],
    ]);
    const s1 = sessions[2];
    expect(s1?.events.map((e) => e.eventType)).toEqual(["page_view", "page_view", "conversion"]);
    expect(s1).toMatchObject({
      startedAt: at(300),
      endedAt: at(290),
      entryPage: "https://x.example/a",
      exitPage: "https://x.example/c",
      pageViews: 2,
      conversions: 1,
      timeSpentSeconds: 600,
    });
  });

  it("leaves ended_at and exit_page null while the last event is less than 30 minutes old", () => {
    const [open] = journeySessions(
      [
        ev("s", "page_view", at(40), "https://x.example/a"),
        ev("s", "page_view", at(30, 1), "https://x.example/b"),
      ],
      NOW,
    );
    expect(open).toMatchObject({ endedAt: null, exitPage: null, entryPage: "https://x.example/a" });
    // 10 min 1 s between the two events, rounded half away from zero.
    expect(open?.timeSpentSeconds).toBe(601);
    const [ended] = journeySessions(
      [ev("s", "page_view", new Date(NOW.getTime() - SESSION_TIMEOUT_MS))],
      NOW,
    );
    expect(ended?.endedAt).toEqual(new Date(NOW.getTime() - SESSION_TIMEOUT_MS));
  });

  it("has no entry or exit page without a page_view, and rounds time half away from zero", () => {
    const [s] = journeySessions(
      [
        ev("s", "step_entry", new Date(at(60).getTime())),
        ev("s", "step_exit", new Date(at(60).getTime() + 2_500)),
      ],
      NOW,
    );
    expect(s).toMatchObject({ entryPage: null, exitPage: null, pageViews: 0, timeSpentSeconds: 3 });
  });
});

describe("journeyTotals", () => {
  it("adds up sessions, page views and conversions, first and last seen", () => {
    const sessions = journeySessions(
      [
        ev("s1", "page_view", at(300)),
        ev("s1", "conversion", at(290)),
        ev("s2", "page_view", at(10)),
        ev("s2", "page_view", at(5)),
      ],
      NOW,
    );
    expect(journeyTotals(sessions)).toEqual({
      sessions: 2,
      pageViews: 3,
      conversions: 1,
      firstSeenAt: at(300),
      lastSeenAt: at(5),
    });
    expect(journeyTotals([])).toEqual({
      sessions: 0,
      pageViews: 0,
      conversions: 0,
      firstSeenAt: null,
      lastSeenAt: null,
    });
  });
});
