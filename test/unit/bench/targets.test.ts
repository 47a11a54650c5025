import assert from 'node:assert/strict';
import {
  plainStore,
  revisionOf,
  sessionStore,
  settingsOf,
  slug,
  storeLabel,
  twoFrontends,
  withoutRevision,
  withoutSettings,
  withRedis,
} from '../../../bench/lib/targets.js';

describe('bench: a target name says one store, revision and set of settings, whichever way it is read', () => {
  const table = [
    { name: 'redis', store: 'redis', plain: 'redis', rev: undefined, settings: [], two: false, redis: true, here: 'redis', bare: 'redis' },
    {
      name: 'cookie+redis',
      store: 'cookie',
      plain: 'cookie+redis',
      rev: undefined,
      settings: [],
      two: false,
      redis: true,
      here: 'cookie+redis',
      bare: 'cookie+redis',
    },
    { name: 'cookie', store: 'cookie', plain: 'cookie', rev: undefined, settings: [], two: false, redis: false, here: 'cookie', bare: 'cookie' },
    {
      name: 'redis+2fe@abc123',
      store: 'redis',
      plain: 'redis+2fe',
      rev: 'abc123',
      settings: [],
      two: true,
      redis: true,
      here: 'redis+2fe',
      bare: 'redis+2fe@abc123',
    },
    {
      name: 'redis@main~2%HEAP_GROWTH_PERCENT=20%NODE_OPTIONS=--max-semi-space-size=4',
      store: 'redis',
      plain: 'redis',
      rev: 'main~2',
      settings: [
        ['HEAP_GROWTH_PERCENT', '20'],
        ['NODE_OPTIONS', '--max-semi-space-size=4'],
      ],
      two: false,
      redis: true,
      here: 'redis%HEAP_GROWTH_PERCENT=20%NODE_OPTIONS=--max-semi-space-size=4',
      bare: 'redis@main~2',
    },
    // An @ in a value is not a revision: the settings come last and a revision stops at the first %.
    {
      name: 'cookie%A=b@c',
      store: 'cookie',
      plain: 'cookie',
      rev: undefined,
      settings: [['A', 'b@c']],
      two: false,
      redis: false,
      here: 'cookie%A=b@c',
      bare: 'cookie',
    },
  ];
  for (const t of table) {
    it(`reads ${t.name}`, () => {
      assert.equal(sessionStore(t.name), t.store);
      assert.equal(plainStore(t.name), t.plain);
      assert.equal(revisionOf(t.name), t.rev);
      assert.deepEqual(settingsOf(t.name), t.settings);
      assert.equal(twoFrontends(t.name), t.two);
      assert.equal(withRedis(t.name), t.redis);
      assert.equal(withoutRevision(t.name), t.here);
      assert.equal(withoutSettings(t.name), t.bare);
    });
  }

  it('labels a target with its revision and settings', () => {
    assert.equal(storeLabel('redis+2fe@abc%A=1%B=2'), 'oidc-bff, redis store, 2 frontends (BFF_CONFIG) at abc (A=1, B=2)');
    assert.equal(storeLabel('cookie+redis'), 'oidc-bff, cookie store with redis');
  });

  it('refuses a malformed setting, and one that would replace what the bench sets for each BFF', () => {
    for (const bad of ['redis%', 'redis%A', 'redis%=1', 'redis%1A=2']) assert.throws(() => settingsOf(bad), /a setting after % is NAME=value/, bad);
    assert.throws(() => settingsOf('redis%A=x|y'), /may not hold "\|"/);
    for (const own of ['REDIS_KEY_PREFIX', 'SESSION_STORE', 'PORT']) assert.throws(() => settingsOf(`redis%${own}=x`), /set by the bench for each BFF/, own);
  });

  it('gives every target a file-name and key-prefix slug of its own, safe and short', () => {
    const names = ['redis', 'redis%A=1', 'redis@main~2', 'redis@main^2', 'redis%A=x/y', 'redis%A=x-y', `redis%NODE_OPTIONS=${'--x'.repeat(100)}`];
    const slugs = names.map(slug);
    assert.equal(new Set(slugs).size, names.length);
    for (const s of slugs) {
      assert.match(s, /^[\w+@%=.-]+$/);
      assert.ok(s.length <= 109, s);
    }
    assert.equal(slug('redis%HEAP_GROWTH_PERCENT=20'), 'redis%HEAP_GROWTH_PERCENT=20');
  });
});
