// SVG charts of our own: the rate on a log axis with a metric beneath it on the same epoch axis,
// and the jobs list's sparklines. Long histories are reduced to the min and max of each pixel
// column, so 10,000 epochs draw as fast as 1,000 and every spike stays visible.

import { s, num } from "./dom.js";

const DEFAULT_WIDTH = 900;
const MARGIN = { left: 64, right: 16, top: 18, bottom: 26 };
const RATE_HEIGHT = 220;
const METRIC_HEIGHT = 150;
const GAP = 26;

/** log10 of a rate, with zero and negatives held just below the smallest positive rate. */
function logOf(value, floor) {
  return Math.log10(value > 0 ? value : floor);
}

/** Points [x, y] reduced to at most two per pixel column (its lowest and highest), plus the
 * first and the last point. */
export function reduceToColumns(points, columns) {
  if (points.length <= columns * 2) return points;
  const [x0, x1] = [points[0][0], points[points.length - 1][0]];
  const span = x1 - x0 || 1;
  const out = [];
  let column = -1;
  let low = null;
  let high = null;
  const flush = () => {
    if (low === null) return;
    if (low[0] <= high[0]) out.push(low, high);
    else out.push(high, low);
  };
  for (const point of points) {
    const c = Math.floor(((point[0] - x0) / span) * (columns - 1));
    if (c !== column) {
      flush();
      column = c;
      low = high = point;
    } else {
      if (point[1] < low[1]) low = point;
      if (point[1] > high[1]) high = point;
    }
  }
  flush();
  // The ends stay exact, so the reduced line spans the same epochs as the data.
  if (out[0] !== points[0]) out.unshift(points[0]);
  if (out[out.length - 1] !== points[points.length - 1]) out.push(points[points.length - 1]);
  return out;
}

/** A step path: a rate holds for its whole epoch and changes where the next one starts. */
function stepPathOf(points, toX, toY) {
  let d = "";
  for (let i = 0; i < points.length; i++) {
    const x = toX(points[i][0]).toFixed(1);
    const y = toY(points[i][1]).toFixed(1);
    d += i ? `H${x}V${y}` : `M${x},${y}`;
  }
  return d;
}

function pathOf(points, toX, toY) {
  let d = "";
  for (let i = 0; i < points.length; i++) {
    d += `${i ? "L" : "M"}${toX(points[i][0]).toFixed(1)},${toY(points[i][1]).toFixed(1)}`;
  }
  return d;
}

/** Ticks for a log axis between 10^lo and 10^hi: powers of ten, plus 2 and 5 for short spans. */
function logTicks(lo, hi) {
  const ticks = [];
  const steps = hi - lo < 1.5 ? [1, 2, 5] : [1];
  for (let power = Math.floor(lo); power <= Math.ceil(hi); power++) {
    for (const step of steps) {
      const value = step * 10 ** power;
      const at = Math.log10(value);
      if (at >= lo - 1e-9 && at <= hi + 1e-9) ticks.push(value);
    }
  }
  return ticks;
}

function linearTicks(lo, hi, count = 4) {
  if (hi === lo) return [lo];
  const raw = (hi - lo) / count;
  const magnitude = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * magnitude).find((m) => m >= raw) || raw;
  const ticks = [];
  for (let value = Math.ceil(lo / step) * step; value <= hi + step * 1e-9; value += step) ticks.push(value);
  return ticks;
}

function epochTicks(first, last) {
  return linearTicks(first, last, 8).filter((t) => Number.isInteger(t) || last - first < 8);
}

/**
 * Draw the rate (log axis) and, beneath it, `metric` on the same epochs.
 * series: {epochs: number[], rates: number[], metric: (number|null)[] | null, metricName,
 *          marks: [{epoch, kind: "reduction"|"override"|"switch"|"pause"|"scale"|"stop", label}]}
 * `width`: the drawing's width in SVG units (a narrow column draws a narrower chart, so its text
 * stays legible). Returns the <svg>.
 */
export function rateChart({ epochs, rates, metric = null, metricName = "", marks = [], width = DEFAULT_WIDTH }) {
  const hasMetric = metric !== null && metric.some((v) => v !== null);
  const height = MARGIN.top + RATE_HEIGHT + (hasMetric ? GAP + METRIC_HEIGHT : 0) + MARGIN.bottom;
  const svg = s("svg", {
    viewBox: `0 0 ${width} ${height}`, class: "chart", role: "img",
    "aria-label": `learning rate${hasMetric ? ` and ${metricName}` : ""} per epoch`,
  });
  const plotWidth = width - MARGIN.left - MARGIN.right;
  if (epochs.length === 0) {
    svg.append(s("text", { x: width / 2, y: height / 2, class: "chart-empty", "text-anchor": "middle" },
      "no epochs decided yet"));
    svg.dataset.epochs = "0";
    return svg;
  }
  const first = epochs[0];
  const last = epochs[epochs.length - 1];
  const toX = (epoch) => MARGIN.left + (last === first ? plotWidth / 2 : ((epoch - first) / (last - first)) * plotWidth);

  // The rate panel: log10 of the rate.
  const positive = rates.filter((r) => r > 0);
  const floor = positive.length ? Math.min(...positive) / 10 : 1e-8;
  let lo = Math.log10(positive.length ? Math.min(...positive) : floor);
  let hi = Math.log10(positive.length ? Math.max(...positive) : 1);
  if (rates.some((r) => !(r > 0))) lo = Math.log10(floor);
  if (hi - lo < 0.3) { lo -= 0.15; hi += 0.15; }
  const rateTop = MARGIN.top;
  const toRateY = (logRate) => rateTop + RATE_HEIGHT - ((logRate - lo) / (hi - lo)) * RATE_HEIGHT;

  const grid = s("g", { class: "grid" });
  for (const tick of logTicks(lo, hi)) {
    const y = toRateY(Math.log10(tick));
    grid.append(s("line", { x1: MARGIN.left, x2: width - MARGIN.right, y1: y, y2: y }));
    grid.append(s("text", { x: MARGIN.left - 6, y: y + 4, "text-anchor": "end" }, num(tick)));
  }
  svg.append(grid);
  svg.append(s("text", { x: MARGIN.left, y: rateTop - 5, class: "axis-title" }, "learning rate (log)"));

  const allRatePoints = epochs.map((e, i) => [e, logOf(rates[i], floor)]);
  const ratePoints = reduceToColumns(allRatePoints, plotWidth);
  // Reduced to pixel columns, the steps are narrower than a pixel: a plain line draws the same.
  const ratePath = ratePoints === allRatePoints ? stepPathOf : pathOf;
  svg.append(s("path", { d: ratePath(ratePoints, toX, toRateY), class: "line-rate" }));

  let metricTop = 0;
  if (hasMetric) {
    metricTop = rateTop + RATE_HEIGHT + GAP;
    const values = metric.filter((v) => v !== null);
    let mlo = Math.min(...values);
    let mhi = Math.max(...values);
    if (mhi === mlo) { mlo -= 0.5; mhi += 0.5; }
    const toMetricY = (v) => metricTop + METRIC_HEIGHT - ((v - mlo) / (mhi - mlo)) * METRIC_HEIGHT;
    const metricGrid = s("g", { class: "grid" });
    for (const tick of linearTicks(mlo, mhi)) {
      const y = toMetricY(tick);
      metricGrid.append(s("line", { x1: MARGIN.left, x2: width - MARGIN.right, y1: y, y2: y }));
      metricGrid.append(s("text", { x: MARGIN.left - 6, y: y + 4, "text-anchor": "end" }, num(tick)));
    }
    svg.append(metricGrid);
    svg.append(s("text", { x: MARGIN.left, y: metricTop - 5, class: "axis-title" }, metricName));
    const known = [];
    epochs.forEach((e, i) => { if (metric[i] !== null) known.push([e, metric[i]]); });
    svg.append(s("path", { d: pathOf(reduceToColumns(known, plotWidth), toX, toMetricY), class: "line-metric" }));
  }

  // The epoch axis, under the lowest panel.
  const bottom = height - MARGIN.bottom;
  const axis = s("g", { class: "grid" });
  for (const tick of epochTicks(first, last)) {
    axis.append(s("text", { x: toX(tick), y: bottom + 16, "text-anchor": "middle" }, String(tick)));
  }
  axis.append(s("line", { x1: MARGIN.left, x2: width - MARGIN.right, y1: bottom, y2: bottom, class: "axis" }));
  svg.append(axis);

  // Marks where a change took effect: a line through both panels and a letter on top.
  const markGroup = s("g", { class: "marks" });
  for (const mark of marks) {
    const x = toX(mark.epoch);
    const g = s("g", { class: `mark mark-${mark.kind}` },
      s("title", {}, `epoch ${mark.epoch}: ${mark.label}`),
      s("line", { x1: x, x2: x, y1: rateTop, y2: bottom }),
      s("text", { x, y: rateTop + 10, "text-anchor": "middle" }, MARK_LETTERS[mark.kind] || "•"));
    markGroup.append(g);
  }
  svg.append(markGroup);
  svg.dataset.epochs = String(epochs.length);
  svg.dataset.lastEpoch = String(last);
  return svg;
}

export const MARK_LETTERS = { reduction: "R", override: "O", switch: "S", pause: "P", scale: "×", stop: "■" };

/** A 120×28 sparkline of `rates` (log scale). */
export function sparkline(rates) {
  const svg = s("svg", { viewBox: "0 0 120 28", class: "spark", role: "img", "aria-label": "rate curve" });
  const positive = rates.filter((r) => r > 0);
  if (positive.length < 2) return svg;
  const floor = Math.min(...positive) / 10;
  const logs = rates.map((r) => logOf(r, floor));
  let lo = Math.min(...logs);
  let hi = Math.max(...logs);
  if (hi - lo < 1e-9) { lo -= 0.5; hi += 0.5; }
  const points = reduceToColumns(logs.map((v, i) => [i, v]), 120);
  const n = rates.length - 1;
  svg.append(s("path", { d: pathOf(points, (i) => 1 + (i / n) * 118, (v) => 26 - ((v - lo) / (hi - lo)) * 24), class: "line-rate" }));
  return svg;
}

/** Marks where a plateau rule lowered the rate: the epochs whose decision made a reduction
 * (the service counts them: `reductions` of history items, series and previews). */
export function reductionMarks(epochs, reductions, reasons) {
  const marks = [];
  for (let i = 0; i < epochs.length; i++) {
    if (reductions[i] > 0) marks.push({ epoch: epochs[i], kind: "reduction", label: reasons[i] });
  }
  return marks;
}
