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

/** The values between powers of ten a log axis spanning `span` decades labels: 2 and 5 (and
 * 2.5) in a short span, 3 in a span of a few decades, none in a long one. */
function logSteps(span) {
  return span <= 1.2 ? [1, 2, 2.5, 5] : span <= 2.5 ? [1, 2, 5] : span <= 4.5 ? [1, 3] : [1];
}

/** Ticks for a log axis between 10^lo and 10^hi: every power of ten, and the `steps` between. */
export function logTicks(lo, hi, steps = logSteps(hi - lo)) {
  const ticks = [];
  for (let power = Math.floor(lo) - 1; power <= Math.ceil(hi); power++) {
    for (const step of steps) {
      const value = step * 10 ** power;
      const at = Math.log10(value);
      if (at >= lo - 1e-9 && at <= hi + 1e-9) ticks.push(value);
    }
  }
  return ticks;
}

/** A log axis around the rates minRate..maxRate: [lo, hi] (log10), widened to the nearest ticks
 * so that both ends are labelled (and to at least a third of a decade), and its ticks. */
export function logAxis(minRate, maxRate) {
  let lo = Math.log10(minRate);
  let hi = Math.log10(maxRate);
  if (hi - lo < 0.3) { lo -= 0.15; hi += 0.15; }
  const steps = logSteps(hi - lo);
  const candidates = (x) => [...steps, 10].map((step) => Math.log10(step) + Math.floor(x + 1e-9));
  lo = Math.max(...candidates(lo).filter((at) => at <= lo + 1e-9));
  hi = Math.min(...candidates(hi - 1e-9).filter((at) => at >= hi - 1e-9));
  return { lo, hi, ticks: logTicks(lo, hi, steps) };
}

/** One format for every label of an axis: plain decimals when all of them read well so
 * (0.001 to 9999), else all in exponent form (`1e-4`, `2.5e-4`); never a mix. */
export function tickFormat(ticks) {
  const plain = ticks.every((t) => t === 0 || (Math.abs(t) >= 1e-3 && Math.abs(t) < 1e4));
  if (plain) return (value) => String(+value.toPrecision(3));
  return (value) => {
    if (value === 0) return "0";
    const power = Math.floor(Math.log10(Math.abs(value)) + 1e-9);
    return `${+(value / 10 ** power).toPrecision(3)}e${power}`;
  };
}

export function linearTicks(lo, hi, count = 4) {
  if (hi === lo) return [lo];
  const raw = (hi - lo) / count;
  const magnitude = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * magnitude).find((m) => m >= raw) || raw;
  const ticks = [];
  // Multiples of the step, rounded to its digits (0.1 + 0.2 draws as 0.3, not 0.30000000000000004).
  const digits = Math.max(0, -Math.floor(Math.log10(step)) + 1);
  for (let i = Math.ceil(lo / step); i * step <= hi + step * 1e-9; i++) ticks.push(+(i * step).toFixed(digits));
  return ticks;
}

function epochTicks(first, last) {
  return linearTicks(first, last, 8).filter((t) => Number.isInteger(t) || last - first < 8);
}

/** A metric smoothed as TensorBoard does: an exponential moving average with weight `weight`
 * (0 leaves it as it is, 0.99 smooths hard), debiased so the first values are not pulled to 0;
 * a gap (null) stays a gap. */
export function smooth(values, weight) {
  if (!(weight > 0)) return values;
  let average = 0;
  let seen = 0;
  return values.map((value) => {
    if (value === null || value === undefined) return null;
    seen += 1;
    average = average * weight + (1 - weight) * value;
    return average / (1 - weight ** seen);
  });
}

/** Marks of one kind closer than `gap` pixels drawn as one, labelled with all of them: dense
 * reductions stay one readable mark instead of a smear of letters. */
export function groupMarks(marks, toX, gap = 10) {
  const groups = [];
  const last = {};
  for (const mark of [...marks].sort((a, b) => a.epoch - b.epoch)) {
    const x = toX(mark.epoch);
    const open = last[mark.kind];
    if (open && x - open.x < gap) {
      open.marks.push(mark);
    } else {
      last[mark.kind] = { kind: mark.kind, x, marks: [mark] };
      groups.push(last[mark.kind]);
    }
  }
  return groups;
}

/** The colour of the i-th job of a comparison: ten distinct ones, then hues spread apart. */
export function seriesColor(index) {
  const palette = ["#2f5bd3", "#d9480f", "#2b8a3e", "#9c36b5", "#e67700", "#0c8599", "#c2255c", "#5c940d", "#495057", "#1864ab"];
  return index < palette.length ? palette[index] : `hsl(${Math.round((index * 137.508) % 360)}, 65%, 42%)`;
}

/**
 * The one chart of the dashboard: the rate (log axis) of one or more series and, beneath it,
 * a metric on the same epochs. Each epoch's rate holds from its start to the next epoch's (the
 * last one too, so it ends with its width, not a bare drop); a metric is drawn at its epoch's end.
 * series: [{epochs: number[], rates: number[], metric: (number|null)[] | null, color?, label?}]
 * marks: [{epoch, kind: "reduction"|"override"|"switch"|"pause"|"scale"|"stop"|..., label}]
 * `smoothing`: the metric's moving-average weight (0 to 0.99). `width`: the drawing's width in
 * SVG units (a narrow column draws a narrower chart, so its text stays legible). Returns the <svg>.
 */
export function chart({ series, metricName = "", marks = [], width = DEFAULT_WIDTH, smoothing = 0, label = "learning rate" }) {
  const drawn = series.filter((one) => one.epochs.length > 0);
  const metrics = drawn.map((one) => (one.metric ? smooth(one.metric, smoothing) : null));
  const hasMetric = metrics.some((values) => values !== null && values.some((v) => v !== null));
  const height = MARGIN.top + RATE_HEIGHT + (hasMetric ? GAP + METRIC_HEIGHT : 0) + MARGIN.bottom;
  const svg = s("svg", {
    viewBox: `0 0 ${width} ${height}`, class: "chart", role: "img",
    "aria-label": `${label}${hasMetric ? ` and ${metricName}` : ""} per epoch`,
  });
  svg.dataset.series = String(drawn.length);
  const plotWidth = width - MARGIN.left - MARGIN.right;
  if (drawn.length === 0) {
    svg.append(s("text", { x: width / 2, y: height / 2, class: "chart-empty", "text-anchor": "middle" },
      "no epochs decided yet"));
    svg.dataset.epochs = "0";
    return svg;
  }
  const first = Math.min(...drawn.map((one) => one.epochs[0]));
  const last = Math.max(...drawn.map((one) => one.epochs[one.epochs.length - 1]));
  const end = last + 1; // the last epoch's rate holds until its end
  const toX = (epoch) => MARGIN.left + ((epoch - first) / (end - first)) * plotWidth;

  // The rate panel: log10 of the rate, on bounds every series shares.
  let minRate = Infinity;
  let maxRate = -Infinity;
  let nonPositive = false;
  for (const one of drawn) {
    for (const rate of one.rates) {
      if (rate > 0) {
        if (rate < minRate) minRate = rate;
        if (rate > maxRate) maxRate = rate;
      } else nonPositive = true;
    }
  }
  if (minRate === Infinity) { minRate = 1e-8; maxRate = 1; }
  const floor = minRate / 10;
  const { lo, hi, ticks } = logAxis(nonPositive ? floor : minRate, maxRate);
  const rateTop = MARGIN.top;
  const toRateY = (logRate) => rateTop + RATE_HEIGHT - ((logRate - lo) / (hi - lo)) * RATE_HEIGHT;

  const grid = s("g", { class: "grid rate-ticks" });
  const format = tickFormat(ticks);
  for (const tick of ticks) {
    const y = toRateY(Math.log10(tick));
    grid.append(s("line", { x1: MARGIN.left, x2: width - MARGIN.right, y1: y, y2: y, class: Number.isInteger(Math.log10(tick)) ? "decade" : null }));
    grid.append(s("text", { x: MARGIN.left - 6, y: y + 4, "text-anchor": "end" }, format(tick)));
  }
  svg.append(grid);
  svg.append(s("text", { x: MARGIN.left, y: rateTop - 5, class: "axis-title" }, `${label} (log)`));

  const single = drawn.length === 1;
  drawn.forEach((one, index) => {
    const allRatePoints = one.epochs.map((e, i) => [e, logOf(one.rates[i], floor)]);
    const ratePoints = reduceToColumns(allRatePoints, plotWidth);
    // Reduced to pixel columns, the steps are narrower than a pixel: a plain line draws the same.
    const ratePath = ratePoints === allRatePoints ? stepPathOf : pathOf;
    const lastEpoch = one.epochs[one.epochs.length - 1];
    svg.append(s("path", {
      d: `${ratePath(ratePoints, toX, toRateY)}H${toX(lastEpoch + 1).toFixed(1)}`,
      class: "line-rate", stroke: single ? null : one.color || seriesColor(index),
      "data-label": one.label || null,
    }));
  });

  let metricTop = 0;
  if (hasMetric) {
    metricTop = rateTop + RATE_HEIGHT + GAP;
    let mlo = Infinity;
    let mhi = -Infinity;
    for (const values of metrics) {
      for (const v of values || []) {
        if (v === null) continue;
        if (v < mlo) mlo = v;
        if (v > mhi) mhi = v;
      }
    }
    if (mhi === mlo) { mlo -= 0.5; mhi += 0.5; }
    const toMetricY = (v) => metricTop + METRIC_HEIGHT - ((v - mlo) / (mhi - mlo)) * METRIC_HEIGHT;
    const metricGrid = s("g", { class: "grid metric-ticks" });
    const metricTicks = linearTicks(mlo, mhi);
    const metricFormat = tickFormat(metricTicks);
    for (const tick of metricTicks) {
      const y = toMetricY(tick);
      metricGrid.append(s("line", { x1: MARGIN.left, x2: width - MARGIN.right, y1: y, y2: y }));
      metricGrid.append(s("text", { x: MARGIN.left - 6, y: y + 4, "text-anchor": "end" }, metricFormat(tick)));
    }
    svg.append(metricGrid);
    svg.append(s("text", { x: MARGIN.left, y: metricTop - 5, class: "axis-title" },
      smoothing > 0 ? `${metricName} (smoothed ${smoothing})` : metricName));
    drawn.forEach((one, index) => {
      const values = metrics[index];
      if (!values) return;
      const known = [];
      one.epochs.forEach((e, i) => { if (values[i] !== null) known.push([e + 1, values[i]]); });
      if (!known.length) return;
      svg.append(s("path", {
        d: pathOf(reduceToColumns(known, plotWidth), toX, toMetricY),
        class: "line-metric", stroke: single ? null : one.color || seriesColor(index),
      }));
    });
  }

  // The epoch axis, under the lowest panel.
  const bottom = height - MARGIN.bottom;
  const axis = s("g", { class: "grid" });
  for (const tick of epochTicks(first, end)) {
    axis.append(s("text", { x: toX(tick), y: bottom + 16, "text-anchor": "middle" }, String(tick)));
  }
  axis.append(s("line", { x1: MARGIN.left, x2: width - MARGIN.right, y1: bottom, y2: bottom, class: "axis" }));
  svg.append(axis);

  // Marks where a change took effect: a line through both panels and a letter on top, a row of
  // letters per kind; marks of a kind closer than a letter's width are one mark.
  const markGroup = s("g", { class: "marks" });
  const kinds = Object.keys(MARK_LETTERS);
  for (const group of groupMarks(marks, toX)) {
    const x = group.x;
    const row = Math.max(0, kinds.indexOf(group.kind));
    const many = group.marks.length > 1;
    const title = many
      ? `${group.marks.length} × ${group.kind}, epochs ${group.marks[0].epoch}–${group.marks.at(-1).epoch}: ${group.marks.map((m) => m.label).join("; ")}`
      : `epoch ${group.marks[0].epoch}: ${group.marks[0].label}`;
    const g = s("g", { class: `mark mark-${group.kind}`, "data-count": group.marks.length },
      s("title", {}, title),
      s("line", { x1: x, x2: x, y1: rateTop, y2: bottom }),
      s("text", { x: x + 2, y: rateTop + 10 + row * 11, "text-anchor": "start" },
        `${MARK_LETTERS[group.kind] || "•"}${many ? group.marks.length : ""}`));
    markGroup.append(g);
  }
  svg.append(markGroup);
  svg.dataset.epochs = String(Math.max(...drawn.map((one) => one.epochs.length)));
  svg.dataset.lastEpoch = String(last);
  return svg;
}

/** One job's rate and `metric` (a `chart` of one series); arguments as `chart`'s series plus
 * metricName, marks and width. */
export function rateChart({ epochs, rates, metric = null, metricName = "", marks = [], width = DEFAULT_WIDTH, smoothing = 0 }) {
  return chart({ series: [{ epochs, rates, metric }], metricName, marks, width, smoothing });
}

export const MARK_LETTERS = { reduction: "R", override: "O", switch: "S", pause: "P", scale: "×", cooldown: "C", stop: "■", drift: "D" };

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

/** Marks where the rate the job applied was not the one answered (`drift` of history items
 * and series: another scheduler, a callback, a user's edit or an outage under "hold"). */
export function driftMarks(items) {
  return items.filter((item) => item.drift).map((item) => ({
    epoch: item.epoch, kind: "drift",
    label: `drift: applied ${item.applied_learning_rate}, answered ${item.learning_rate}`,
  }));
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
