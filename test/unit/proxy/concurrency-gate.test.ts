import assert from 'node:assert/strict';
import { BffError } from '../../../src/errors/bff-error.js';
import { ConcurrencyGate } from '../../../src/proxy/concurrency-gate.js';

const refusal = (code: string) => (err: unknown) => err instanceof BffError && err.code === code;

describe('the upstream concurrency gate (src/proxy/concurrency-gate.ts)', () => {
  it("admits up to the instance limit and each client's limit, and counts a slot free again after leave", () => {
    const gate = new ConcurrencyGate(3, 2);
    gate.enter('u:a');
    gate.enter('u:a');
    assert.throws(() => gate.enter('u:a'), refusal('too_many_in_flight'));
    gate.enter('u:b');
    assert.throws(() => gate.enter('u:c'), refusal('upstream_busy'));
    gate.leave('u:a');
    gate.enter('u:a');
    gate.leave('u:b');
    gate.enter('u:c');
  });

  // An entry added and deleted per call made V8 rebuild the map's table again and again
  // (docs/development.md, "Code on the hot path"): idle clients stay at 0 until a bulk sweep.
  it("keeps an idle client's entry across calls and sweeps idle entries in bulk once there are enough", () => {
    const gate = new ConcurrencyGate(2, 2, 'test', 4);
    for (const client of ['a', 'b', 'c', 'd']) {
      gate.enter(client);
      gate.leave(client);
    }
    assert.equal(gate.tracked, 4);
    gate.enter('a'); // a returning client: no sweep
    assert.equal(gate.tracked, 4);
    gate.enter('e'); // a new one with the map full: the idle entries go, the busy one stays
    assert.equal(gate.tracked, 2);
    assert.throws(() => gate.enter('f'), refusal('upstream_busy'));
    gate.leave('a');
    gate.leave('e');
    gate.enter('a');
    gate.enter('a');
    assert.throws(() => gate.enter('a'), refusal('upstream_busy'));
  });
});
