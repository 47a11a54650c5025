// Small statistics helpers.

export function median(xs: readonly number[]): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

/** Nearest-rank percentile (p in 0–100). */
export function percentile(xs: readonly number[], p: number): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  const rank = Math.min(s.length, Math.max(1, Math.ceil((p / 100) * s.length)));
  return s[rank - 1]!;
}

export const fmt = (x: number, digits = 0): string => (Number.isFinite(x) ? x.toFixed(digits) : 'n/a');
export const fmtInt = (x: number): string => (Number.isFinite(x) ? Math.round(x).toLocaleString('en-US') : 'n/a');
export const pct = (x: number, digits = 1): string => (Number.isFinite(x) ? `${(x * 100).toFixed(digits)} %` : 'n/a');

/** Below 6 rounds a two-sided sign test cannot reach p < 0.05 (6 of 6: p = 2 / 64), whatever the builds do. */
export const SIGN_TEST_MIN_ROUNDS = 6;

/**
 * Two-sided sign test of per-round ratios against 1: in how many rounds the ratio was below and
 * above 1 (ties left out), and the probability of a split at least that uneven if neither side
 * were faster. On a noisy VM one run's median ratio can read 1.12 and the next 1.00 for the same
 * two builds; the rounds' signs say whether a run resolved the difference at all.
 */
export function signTest(ratios: readonly number[]): { lower: number; higher: number; p: number } {
  const lower = ratios.filter((x) => x < 1).length;
  const higher = ratios.filter((x) => x > 1).length;
  const n = lower + higher;
  const k = Math.min(lower, higher);
  let tail = 0;
  for (let i = 0; i <= k; i++) tail += binomial(n, i) / 2 ** n;
  return { lower, higher, p: n === 0 ? 1 : Math.min(1, 2 * tail) };
}

function binomial(n: number, k: number): number {
  let c = 1;
  for (let i = 1; i <= k; i++) c = (c * (n - i + 1)) / i;
  return c;
}

/**
 * A distribution-free 95 % confidence interval of the median of `xs` (the sign test's own order
 * statistics): [x(k), x(n + 1 − k)] for the largest k that still covers the median 95 % of the
 * time. Undefined below 6 values, where even the whole range covers it less often than that.
 */
export function medianInterval(xs: readonly number[]): [number, number] | undefined {
  const s = [...xs].sort((a, b) => a - b);
  const n = s.length;
  let k = 0;
  let below = 0; // P(Bin(n, 1/2) <= k - 1) as k grows
  for (let j = 1; j <= n / 2; j++) {
    const next = below + binomial(n, j - 1) / 2 ** n;
    if (1 - 2 * next < 0.95) break;
    below = next;
    k = j;
  }
  return k === 0 ? undefined : [s[k - 1]!, s[n - k]!];
}
