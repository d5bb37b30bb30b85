import { describe, expect, it } from "vitest";
import { journeySessionState, planJourneyPage, SESSION_TIMEOUT_MS } from "./journey";

const NOW = new Date("2026-03-10T12:00:00.000Z");
const at = (minutesBeforeNow: number, seconds = 0) =>
  new Date(NOW.getTime() - minutesBeforeNow * 60_000 + seconds * 1000);

describe("journeySessionState", () => {
  it("ends a session 30 minutes after its last event, with its last page as exit", () => {
    const figures = {
      startedAt: at(300),
      lastEventAt: at(290),
      firstPageUrl: "https://x.example/a",
      lastPageUrl: "https://x.example/c",
    };
    expect(journeySessionState(figures, NOW)).toEqual({
      endedAt: at(290),
      entryPage: "https://x.example/a",
      exitPage: "https://x.example/c",
      timeSpentSeconds: 600,
    });
    const edge = { ...figures, lastEventAt: new Date(NOW.getTime() - SESSION_TIMEOUT_MS) };
    expect(journeySessionState(edge, NOW).endedAt).toEqual(edge.lastEventAt);
  });

  it("leaves ended_at and exit_page null while the last event is less than 30 minutes old", () => {
    const state = journeySessionState(
      {
        startedAt: at(40),
        lastEventAt: at(30, 1),
        firstPageUrl: "https://x.example/a",
        lastPageUrl: "https://x.example/b",
      },
      NOW,
    );
    // 10 min 1 s between the two events, rounded half away from zero.
    expect(state).toEqual({
      endedAt: null,
      entryPage: "https://x.example/a",
      exitPage: null,
      timeSpentSeconds: 601,
    });
  });

  it("has no entry or exit page without a page_view, and rounds time half away from zero", () => {
    const state = journeySessionState(
      {
        startedAt: at(60),
        lastEventAt: new Date(at(60).getTime() + 2_500),
        firstPageUrl: null,
        lastPageUrl: null,
      },
      NOW,
    );
    expect(state).toMatchObject({ entryPage: null, exitPage: null, timeSpentSeconds: 3 });
  });
});

describe("planJourneyPage", () => {
  const sessions = (...remaining: number[]) => remaining.map((r) => ({ remaining: r }));

  it("fills a page with whole sessions in order while they fit", () => {
    expect(planJourneyPage(sessions(2, 3, 1), 10)).toEqual({ takes: [2, 3, 1], more: false });
    expect(planJourneyPage(sessions(2, 3, 5), 10)).toEqual({ takes: [2, 3, 5], more: false });
  });

  it("cuts the session that does not fit, and says more remain", () => {
    expect(planJourneyPage(sessions(4, 9, 1), 10)).toEqual({ takes: [4, 6], more: true });
    expect(planJourneyPage(sessions(12_000), 200)).toEqual({ takes: [200], more: true });
  });

  it("says more remain when a full page is followed by another session", () => {
    expect(planJourneyPage(sessions(4, 6, 1), 10)).toEqual({ takes: [4, 6], more: true });
    expect(planJourneyPage(sessions(1, 1, 1, 1), 3)).toEqual({ takes: [1, 1, 1], more: true });
  });

  it("never plans more than the limit, whatever the sessions", () => {
    for (let seed = 1; seed < 200; seed++) {
      const remaining = Array.from({ length: 1 + (seed % 13) }, (_, i) => 1 + ((seed * 7 + i * 13) % 17));
      const limit = 1 + (seed % 29);
      const plan = planJourneyPage(sessions(...remaining), limit);
      const total = plan.takes.reduce((n, t) => n + t, 0);
      expect(total).toBe(
        Math.min(
          limit,
          remaining.reduce((n, r) => n + r, 0),
        ),
      );
      expect(plan.more).toBe(total < remaining.reduce((n, r) => n + r, 0));
      plan.takes.forEach((t, i) => {
        expect(t).toBeGreaterThan(0);
        expect(t).toBeLessThanOrEqual(remaining[i] as number);
      });
    }
  });
});
