import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { createMemoryStore } from '../../src/store/memory-store.js';
import type { SessionStore } from '../../src/store/store.js';
import { testClock } from '../support/clock.js';
import { startHarness, type Harness } from '../support/harness.js';
import { routesFile, type RoutesFile } from '../support/routes-file.js';
import { startEchoUpstream, type EchoUpstream } from '../support/upstream-echo.js';

const PATH = '/gateway/introspect';
const GW = { id: 'orders-gw', secret: 'orders-gateway-secret-0123456789-abcdefgh' };

/** The memory store, recording the key of every read (`get`). */
function countingStore(): { store: SessionStore; reads: string[] } {
  const inner = createMemoryStore();
  const reads: string[] = [];
  const store = new Proxy(inner, {
    get(target, property) {
      const value: unknown = Reflect.get(target, property);
      if (typeof value !== 'function') return value;
      if (property === 'get')
        return (key: string) => {
          reads.push(key);
          return inner.get(key);
        };
      return (value as (...args: unknown[]) => unknown).bind(target);
    },
  });
  return { store, reads };
}

const introspect = (h: Harness, handle: string) =>
  fetch(`${h.url}${PATH}`, {
    method: 'POST',
    headers: {
      authorization: `Basic ${Buffer.from(`${GW.id}:${GW.secret}`).toString('base64')}`,
      'content-type': 'application/x-www-form-urlencoded',
      accept: 'application/jwt',
    },
    body: new URLSearchParams({ token: handle }),
  });

describe('gateway handles: a handle route reuses the handle it made from memory, while the introspection endpoint still reads the store', () => {
  let h: Harness;
  let orders: EchoUpstream;
  let routes: RoutesFile;
  const counting = countingStore();
  const clock = testClock();
  // Handle index keys (`hi:`) and handle records (`hd:`), by their prefixes in the store.
  const indexReads = () => counting.reads.filter((k) => k.startsWith('hi:')).length;
  const recordReads = () => counting.reads.filter((k) => k.startsWith('hd:')).length;
  const handleAt = () => String(orders.received.at(-1)!.headers['authorization']).replace(/^Bearer /, '');

  before(async () => {
    orders = await startEchoUpstream();
    routes = routesFile([{ path: '/api/orders', upstream: orders.url, token: 'user', handle: GW.id }]);
    h = await startHarness({
      store: counting.store,
      now: clock.now,
      env: { API_ROUTES: routes.path, GATEWAY_INTROSPECTION_PATH: PATH, GATEWAY_CLIENTS: `${GW.id}:${GW.secret}` },
    });
  });
  after(async () => {
    await h.close();
    await orders.close();
    routes.remove();
  });

  it('one store read of the handle index for many requests with the same token; logout still makes the handle inactive at once', async () => {
    const ua = h.browser();
    await h.login(ua);
    assert.equal((await h.api(ua, '/orders/1')).status, 200);
    const handle = handleAt();
    const afterFirst = indexReads();
    for (let i = 0; i < 20; i++) assert.equal((await h.api(ua, `/orders/${i}`)).status, 200);
    assert.equal(indexReads(), afterFirst, 'no store read of the handle index after the first request');
    assert.equal(new Set(orders.received.map((r) => String(r.headers['authorization']))).size, 1, 'the same handle every time');

    // The introspection endpoint reads the store at every call: revocation is seen at once.
    const recordsBefore = recordReads();
    assert.equal((await introspect(h, handle)).status, 200);
    assert.equal((await introspect(h, handle)).status, 200);
    assert.equal(recordReads(), recordsBefore + 2);
    assert.equal((await ua.request('POST', `${h.url}/logout`, { headers: { 'x-csrf': '1' } })).status, 200);
    assert.equal((await introspect(h, handle)).status, 204, 'inactive right after logout');
  });

  it('a refreshed token gets a new handle, not the remembered one', async () => {
    const ua = h.browser();
    await h.login(ua);
    assert.equal((await h.api(ua, '/orders/1')).status, 200);
    const before = handleAt();
    assert.equal((await ua.request('POST', `${h.url}/refresh`, { headers: { 'x-csrf': '1' } })).status, 200);
    assert.equal((await h.api(ua, '/orders/2')).status, 200);
    assert.notEqual(handleAt(), before);
    assert.equal((await introspect(h, handleAt())).status, 200);
  });

  it('a handle the store lost (a flush, an eviction) is remembered for 30 s at most, then made anew', async () => {
    const ua = h.browser();
    await h.login(ua);
    assert.equal((await h.api(ua, '/orders/1')).status, 200);
    const lost = handleAt();
    const hash = createHash('sha256').update(lost).digest('base64url');
    const index = counting.reads.filter((k) => k.startsWith('hi:')).at(-1)!;
    await counting.store.delete(`hd:${hash}`);
    await counting.store.delete(index);
    assert.equal((await introspect(h, lost)).status, 204);
    assert.equal((await h.api(ua, '/orders/2')).status, 200);
    assert.equal(handleAt(), lost, 'still remembered within 30 s');
    clock.advance(31_000);
    assert.equal((await h.api(ua, '/orders/3')).status, 200);
    assert.notEqual(handleAt(), lost);
    assert.equal((await introspect(h, handleAt())).status, 200, 'the new handle resolves');
  });
});
