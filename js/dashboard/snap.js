// Which media step a panel shows for the step selected on the charts (pure, unit-tested in
// js/test/snap.test.js): the last step with media at or before it; the first one when the
// selection is earlier than every media step; the last one when nothing is selected.
export function snapStep(steps, step) {
  if (!steps.length) return null;
  if (step === null || step === undefined) return steps[steps.length - 1];
  if (step < steps[0]) return steps[0];
  let lo = 0;
  let hi = steps.length - 1;
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1;
    if (steps[mid] <= step) lo = mid;
    else hi = mid - 1;
  }
  return steps[lo];
}
