// The dashboard's pure functions under node's test runner (run by test_modules.py).
import assert from "node:assert/strict";
import { test } from "node:test";

// api.js reads the token at import: a tab's empty sessionStorage, for the modules that import it.
globalThis.sessionStorage = { getItem: () => null, setItem() {}, removeItem() {} };
const STATIC = "../../../../service/src/lrhub/service/ui/static/js";
const { reduceToColumns, reductionMarks } = await import(`${STATIC}/charts.js`);
const { sseParser } = await import(`${STATIC}/stream.js`);
const { parseMetricValues } = await import(`${STATIC}/schedules.js`);
const { pickedSelection, selectionOf } = await import(`${STATIC}/jobs.js`);

test("SSE text split anywhere parses to the same events, comments skipped", () => {
  const text = ": lrhub event stream\n\nid: 7\nevent: decision\ndata: {\"epoch\": 1}\n\n: keep-alive\n\r\nid: 8\r\nevent: status\r\ndata: {\"a\":\r\ndata: 2}\r\n\r\n";
  for (let cut = 0; cut <= text.length; cut++) {
    const events = [];
    const feed = sseParser((event) => events.push(event));
    feed(text.slice(0, cut));
    feed(text.slice(cut));
    assert.deepEqual(events, [
      { id: "7", event: "decision", data: "{\"epoch\": 1}" },
      { id: "8", event: "status", data: "{\"a\":\n2}" },
    ]);
  }
});

test("an event without its blank line is not delivered yet", () => {
  const events = [];
  const feed = sseParser((event) => events.push(event));
  feed("id: 1\nevent: change\ndata: {}\n");
  assert.equal(events.length, 0);
  feed("\n");
  assert.equal(events.length, 1);
});

test("reducing to pixel columns keeps each column's lowest and highest point", () => {
  const points = Array.from({ length: 10000 }, (_, i) => [i, i === 4321 ? 100 : i === 8765 ? -100 : Math.sin(i)]);
  const reduced = reduceToColumns(points, 800);
  assert.ok(reduced.length <= 1602);
  assert.ok(reduced.some(([x, y]) => x === 4321 && y === 100));
  assert.ok(reduced.some(([x, y]) => x === 8765 && y === -100));
  assert.deepEqual(reduced[0], points[0]);
  assert.deepEqual(reduced.at(-1), points.at(-1));
  const xs = reduced.map(([x]) => x);
  assert.deepEqual(xs, [...xs].sort((a, b) => a - b));
  const short = points.slice(0, 100);
  assert.equal(reduceToColumns(short, 800), short);
});

test("a reduction is marked at each epoch whose decision made one, labelled with its reason", () => {
  const reasons = ["no metrics reported yet", "loss did not improve (1/2)", "plateau: 0.1 -> 0.05", "cosine decay", "x"];
  const marks = reductionMarks([0, 1, 2, 5, 7], [0, 0, 1, 0, 2], reasons);
  assert.deepEqual(marks.map((m) => [m.epoch, m.label]), [[2, "plateau: 0.1 -> 0.05"], [7, "x"]]);
  // The rate alone never makes a mark: falling rates of a decay are no reductions.
  assert.deepEqual(reductionMarks([0, 1], [0, 0], ["did not improve", "did not improve"]), []);
});

test("what-if values and selections", () => {
  assert.deepEqual(parseMetricValues("1.0, 0.8 0.7,,"), { values: [1, 0.8, 0.7] });
  assert.deepEqual(parseMetricValues("1, x"), { error: "'x' is not a number" });
  assert.equal(selectionOf(" team=vision ", "running"), "team=vision,status=running");
  assert.equal(selectionOf("", ""), "");
  assert.equal(selectionOf("", "stopped"), "status=stopped");
  assert.equal(pickedSelection(["b-2", "a:1"]), "job_id in (a:1,b-2)");
  assert.equal(pickedSelection([]), "");
});

test("a series page becomes one history item per epoch, aligned column by column", async () => {
  const { seriesPageItems } = await import(`${STATIC}/job.js`);
  const page = {
    epochs: [0, 1, 3],
    learning_rates: [0.1, 0.05, 0.025],
    reasons: ["start", "val_loss did not improve", "rewound"],
    reductions: [0, 1, 0],
    decided_at: ["2026-01-01T00:00:00Z", "2026-01-01T00:00:01Z", "2026-01-01T00:00:03Z"],
    metrics: [{ loss: 1 }, null, { loss: 0.5, acc: 0.9 }],
    applied_learning_rates: [0.1, 0.5, null],
    drift: [false, true, null],
    next_cursor: null,
  };
  assert.deepEqual(seriesPageItems(page), [
    { epoch: 0, learning_rate: 0.1, reason: "start", reductions: 0, decided_at: "2026-01-01T00:00:00Z", metrics: { loss: 1 }, applied_learning_rate: 0.1, drift: false },
    { epoch: 1, learning_rate: 0.05, reason: "val_loss did not improve", reductions: 1, decided_at: "2026-01-01T00:00:01Z", metrics: null, applied_learning_rate: 0.5, drift: true },
    { epoch: 3, learning_rate: 0.025, reason: "rewound", reductions: 0, decided_at: "2026-01-01T00:00:03Z", metrics: { loss: 0.5, acc: 0.9 }, applied_learning_rate: null, drift: null },
  ]);
});

test("a decision gives the epoch before it the metrics it was made from, when unknown", async () => {
  const { takeEndMetrics } = await import(`${STATIC}/job.js`);
  const history = new Map([
    [3, { epoch: 3, learning_rate: 0.1, metrics: { loss: 0.7 } }],
    [4, { epoch: 4, learning_rate: 0.1, metrics: null }],
  ]);
  takeEndMetrics(history, { epoch: 5, input_metrics: { loss: 0.6 } });
  assert.deepEqual(history.get(4).metrics, { loss: 0.6 });
  // Known metrics stay (a rewound epoch's decision does not rewrite the epoch before it), and a
  // decision made without metrics, or after a gap, gives nothing.
  takeEndMetrics(history, { epoch: 4, input_metrics: { loss: 9 } });
  assert.deepEqual(history.get(3).metrics, { loss: 0.7 });
  history.set(4, { epoch: 4, metrics: null });
  takeEndMetrics(history, { epoch: 5, input_metrics: null });
  takeEndMetrics(history, { epoch: 9, input_metrics: { loss: 0.1 } });
  assert.equal(history.get(4).metrics, null);
  assert.equal(history.size, 2);
});

test("a drifted epoch is marked where it trained, with what was applied", async () => {
  const { driftMarks } = await import(`${STATIC}/charts.js`);
  const items = [
    { epoch: 4, learning_rate: 0.1, applied_learning_rate: 0.1, drift: false },
    { epoch: 5, learning_rate: 0.1, applied_learning_rate: 0.5, drift: true },
    { epoch: 6, learning_rate: 0.1, applied_learning_rate: null, drift: null },
  ];
  assert.deepEqual(driftMarks(items), [{ epoch: 5, kind: "drift", label: "drift: applied 0.5, answered 0.1" }]);
});

test("a log axis has a tick at every power of ten it spans and one label format", async () => {
  const { logAxis, tickFormat } = await import(`${STATIC}/charts.js`);
  for (const [low, high] of [[1e-4, 0.1], [7e-5, 0.1], [0.0125, 0.1], [1e-6, 1], [3e-5, 2e-4], [0.1, 0.1]]) {
    const { lo, hi, ticks } = logAxis(low, high);
    assert.ok(10 ** lo <= low * (1 + 1e-9) && 10 ** hi >= high * (1 - 1e-9), `${low}..${high} inside the axis`);
    assert.ok(Math.abs(ticks[0] - 10 ** lo) < 1e-12 && Math.abs(ticks.at(-1) - 10 ** hi) < 1e-12, "both ends labelled");
    for (let power = Math.ceil(lo - 1e-9); power <= Math.floor(hi + 1e-9); power++) {
      assert.ok(ticks.some((t) => Math.abs(Math.log10(t) - power) < 1e-9), `decade ${power} of ${low}..${high}`);
    }
    const labels = ticks.map(tickFormat(ticks));
    const exponent = labels.map((label) => label.includes("e"));
    assert.ok(exponent.every(Boolean) || !exponent.some(Boolean), labels.join(" "));
    assert.deepEqual(labels.map(Number).map((v, i) => Math.abs(v - ticks[i]) / ticks[i] < 1e-9), labels.map(() => true));
  }
  // 0.025, where a rate of 0.025 starts, is labelled, next to 0.01 (not 1.000e-2).
  assert.deepEqual(logAxis(0.0125, 0.1).ticks.map(tickFormat(logAxis(0.0125, 0.1).ticks)), ["0.01", "0.02", "0.025", "0.05", "0.1"]);
  assert.deepEqual(tickFormat([1e-4, 1e-3])(1e-4), "1e-4");
});

test("smoothing, grouped marks and the latest metrics", async () => {
  const { smooth, groupMarks } = await import(`${STATIC}/charts.js`);
  const { latestMetrics, jobsOf } = await import(`${STATIC}/compare.js`);
  const { byValue, metricColumnsOf } = await import(`${STATIC}/jobs.js`);
  assert.deepEqual(smooth([1, 2, 3], 0), [1, 2, 3]);
  assert.deepEqual(smooth([5, 5, null, 5], 0.9), [5, 5, null, 5]); // debiased: a constant stays
  const smoothed = smooth([0, 10, 0, 10, 0, 10], 0.6);
  assert.ok(Math.max(...smoothed) - Math.min(...smoothed.slice(2)) < 10);
  const marks = [0, 1, 2, 30, 31].map((epoch) => ({ epoch, kind: "reduction", label: `r${epoch}` }))
    .concat([{ epoch: 1, kind: "override", label: "o" }]);
  const groups = groupMarks(marks, (epoch) => epoch * 4, 10);
  assert.deepEqual(groups.map((g) => [g.kind, g.marks.map((m) => m.epoch)]),
    [["reduction", [0, 1, 2]], ["override", [1]], ["reduction", [30, 31]]]);
  assert.deepEqual(latestMetrics([{ loss: 3, acc: 0.1 }, null, { loss: 1 }, null]), { loss: 1, acc: 0.1 });
  assert.deepEqual(jobsOf(" a, b,,a ,c"), ["a", "b", "c"]);
  assert.deepEqual(metricColumnsOf("val_loss, acc,val_loss"), ["val_loss", "acc"]);
  assert.deepEqual([3, null, 1, 2].sort(byValue("ascending")), [1, 2, 3, null]);
  assert.deepEqual([3, null, 1, 2].sort(byValue("descending")), [3, 2, 1, null]);
});
