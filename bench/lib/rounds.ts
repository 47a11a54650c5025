// The order the targets run in within each throughput round.

/**
 * Rotated by one every two rounds, and the odd round of each two runs the even one's order
 * backwards: each target takes each place in turn, and any two targets (an A/B pair) run in one
 * order in round 2k and in the other in round 2k + 1 (so an even number of rounds balances them).
 * With rotation alone a pair ran in the same order in most rounds (every round, with both shapes
 * and 3 rounds), and the sign test would have reported whatever a target's place in the round
 * does to it as a finding.
 */
export function roundOrder<T>(targets: readonly T[], round: number): T[] {
  const shift = Math.floor(round / 2) % Math.max(1, targets.length);
  const rotated = [...targets.slice(shift), ...targets.slice(0, shift)];
  return round % 2 === 1 ? rotated.reverse() : rotated;
}
