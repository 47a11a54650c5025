/**
 * Visits `value` and every form that decoding it again gives, at most `maxRounds` decodings: a
 * reverse proxy, a router or the SPA may decode once more, so each form must be as harmless as
 * the raw one. False when `accept` refuses a form, when a form does not decode (a malformed
 * escape), or when the value still changes after `maxRounds` decodings.
 */
export function everyDecodedForm(value: string, maxRounds: number, accept: (form: string, round: number) => boolean): boolean {
  let current = value;
  for (let round = 0; ; round++) {
    if (!accept(current, round)) return false;
    // A string with no '%' is a fixed point of decodeURIComponent; one with a '%' either
    // decodes to something different or throws.
    if (current.indexOf('%') === -1) return true;
    if (round === maxRounds) return false;
    try {
      current = decodeURIComponent(current);
    } catch {
      return false;
    }
  }
}
