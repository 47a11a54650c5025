import { setFlagsFromString } from 'node:v8';

/**
 * Bounds how far V8 lets the old generation grow past what its last full collection kept
 * (HEAP_GROWTH_PERCENT). V8's own policy grows it by up to 4× on a machine with much memory
 * when collections are fast: a BFF whose live heap is ~35 MB then holds ~120 MB of old space
 * under load, most of it garbage waiting for the next full collection (bench/RESULTS.md,
 * "Memory: where it goes"). With a bound, RSS stays near the live data and full collections
 * come more often; each one is mostly concurrent marking of that small live heap.
 *
 * V8 reads this flag whenever it recomputes the limit after a collection, so setting it at start
 * (before any request) applies to the whole life of the process; 0 leaves V8's policy alone.
 */
export function applyHeapGrowth(percent: number): void {
  if (percent > 0) setFlagsFromString(`--heap-growing-percent=${percent}`);
}
