// A family compared (issue 25, rules 66-67), pure: the initial x-range that makes the part
// after a fork readable, the y range fitted to what it shows, a fork's difference from its
// parent at the same step, and whether values span enough decades for a log y. The Python side
// applies the same rules (nbrun/widgets/_compare.py). Unit-tested in js/test/compare.test.js.

// The initial x-range starts this fraction of the span after the earliest fork before it.
export const FOCUS_LEAD = 0.1;

// Values that are all positive and span at least this many decades start on log y.
export const LOG_DECADES = 3;

/**
 * The initial x-range of a chart over [x0, x1] where forks start at `forkXs` (rule 66): from
 * the earliest fork inside (x0, x1) less FOCUS_LEAD of the span after it, to x1; null (the
 * whole run) without such a fork or when that range would begin at x0 anyway.
 * @param {number} x0
 * @param {number} x1
 * @param {number[]} forkXs
 * @returns {number[] | null}
 */
export function focusRange(x0, x1, forkXs) {
  const inside = forkXs.filter((x) => Number.isFinite(x) && x > x0 && x < x1);
  if (!inside.length) return null;
  const first = Math.min(...inside);
  const lo = Math.max(x0, first - FOCUS_LEAD * (x1 - first));
  return lo > x0 ? [lo, x1] : null;
}

/**
 * Whether `values` go on a log y at first: every finite one positive, the largest at least
 * 10^decades times the smallest.
 * @param {Iterable<number>} values
 * @param {number} [decades]
 */
export function spansDecades(values, decades = LOG_DECADES) {
  let lo = Infinity;
  let hi = -Infinity;
  for (const v of values) {
    if (!Number.isFinite(v)) continue;
    if (v <= 0) return false;
    if (v < lo) lo = v;
    if (v > hi) hi = v;
  }
  return lo !== Infinity && hi / lo >= 10 ** decades;
}

/**
 * The y range of the points `[x, y]` whose x is in `xdom` (all when null), padded by `pad` of
 * its span (in decades with `log`); null when there is none. With `log`, values <= 0 are left
 * out.
 * @param {number[][][]} lines
 * @param {number[] | null} xdom
 * @param {boolean} log
 * @param {number} [pad]
 * @returns {number[] | null}
 */
export function fittedY(lines, xdom, log, pad = 0.04) {
  const [a, b] = xdom || [-Infinity, Infinity];
  let lo = Infinity;
  let hi = -Infinity;
  for (const pts of lines) {
    for (const [x, y] of pts) {
      if (x < a || x > b || !Number.isFinite(y) || (log && y <= 0)) continue;
      const v = log ? Math.log10(y) : y;
      if (v < lo) lo = v;
      if (v > hi) hi = v;
    }
  }
  if (lo === Infinity) return null;
  let d = (hi - lo) * pad;
  if (hi === lo) d = log ? 0.5 : Math.abs(lo) * 0.05 || 1;
  const out = [lo - d, hi + d];
  return log ? out.map((v) => 10 ** v) : out;
}

/**
 * `values` at `step` (`steps` ascending): the value logged there, else linearly interpolated
 * between its neighbours; null outside the steps' range.
 * @param {number[]} steps
 * @param {number[]} values
 * @param {number} step
 * @returns {number | null}
 */
export function valueAt(steps, values, step) {
  const n = steps.length;
  if (!n || step < steps[0] || step > steps[n - 1]) return null;
  let lo = 0;
  let hi = n - 1;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (steps[mid] < step) lo = mid + 1;
    else hi = mid;
  }
  if (steps[lo] === step) return values[lo];
  const [s0, s1, v0, v1] = [steps[lo - 1], steps[lo], values[lo - 1], values[lo]];
  return v0 + ((v1 - v0) * (step - s0)) / (s1 - s0);
}

/**
 * A fork's difference from its parent (rule 67): `[step, fork - parent]` at each of the fork's
 * steps from `start` on that the parent's line covers (the parent's value there, or
 * interpolated between its neighbouring points). Points are `[step, value]`, ascending.
 * @param {number[][]} fork
 * @param {number[][]} parent
 * @param {number} start
 * @returns {number[][]}
 */
export function difference(fork, parent, start) {
  const steps = parent.map((p) => p[0]);
  const values = parent.map((p) => p[1]);
  /** @type {number[][]} */
  const out = [];
  for (const [s, v] of fork) {
    if (s < start) continue;
    const p = valueAt(steps, values, s);
    if (p !== null && Number.isFinite(p) && Number.isFinite(v)) out.push([s, v - p]);
  }
  return out;
}
