import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { createFrontendsApp, reloadFrontendsFile } from '../../src/frontends-app.js';
import type { Tracing } from '../../src/observability/otel.js';
import { rawGet, startFrontends, type Frontends } from '../support/frontends.js';
import { startTestRedis, type TestRedis } from '../support/redis.js';
import { UserAgent } from '../support/user-agent.js';

describe('SIGHUP reloads BFF_CONFIG without dropping live sessions', () => {
  let redis: TestRedis;
  let f: Frontends;
  before(async () => {
    redis = await startTestRedis();
    f = await startFrontends({ one: { hostname: '127.0.0.1', idp: 'a' }, two: { hostname: 'localhost', idp: 'b' } }, { redis, initially: ['one'] });
  });
  after(async () => {
    await f?.close();
    await redis?.close();
  });

  it('a good file adds a frontend; a bad file changes nothing and logs each of its problems', async () => {
    const ua = new UserAgent();
    await f.login(ua, 'one');
    assert.equal((await rawGet(f.port, '/session', { host: new URL(f.url['two']!).host })).status, 404, 'two is served before the reload');

    writeFileSync(f.file, JSON.stringify(f.document));
    assert.equal(await reloadFrontendsFile(f.service, f.base, f.logs.log), true);
    assert.equal((await ua.get(`${f.url['one']}/session`)).status, 200, "the reload dropped one's live session");
    await f.service.units.find((u) => u.config.frontend?.id === 'two')!.bff.idp.whenReady();
    assert.equal((await f.login(ua, 'two')).status, 302);
    assert.equal((await ua.get(`${f.url['two']}/session`)).status, 200);
    assert.ok(f.logs.events().filter((e) => e.event === 'config.reloaded').length === 1);

    writeFileSync(f.file, JSON.stringify({ ...f.document, frontends: { one: { provider: 'nobody' }, three: { provider: 'nobody_either' } } }));
    assert.equal(await reloadFrontendsFile(f.service, f.base, f.logs.log), false);
    const problems = f.logs
      .events()
      .filter((e) => e.event === 'config.reload_failed')
      .map((e) => String(e['reason']));
    assert.ok(
      problems.some((p) => /frontends\.one: provider "nobody"/.test(p)) && problems.some((p) => /frontends\.three: provider "nobody_either"/.test(p)),
      problems.join(' | '),
    );
    assert.equal((await ua.get(`${f.url['one']}/session`)).status, 200, 'a bad file changed what is served');
    assert.equal((await ua.get(`${f.url['two']}/session`)).status, 200, 'a bad file changed what is served');
  });

  it('a unit retired by a reload does not stop the trace export of the others: only the service closes it, once', async () => {
    let shutdowns = 0;
    const tracing: Tracing = {
      step: (_ctx, next) => next(),
      httpCall: () => undefined,
      storeCall: () => undefined,
      shutdown: () => Promise.resolve(void shutdowns++),
    };
    const service = createFrontendsApp(f.base, [f.configs['one']!], { log: f.logs.log, tracing });
    await service.units[0]!.bff.close(); // what a retired unit's close does
    assert.equal(shutdowns, 0, "closing one frontend's unit stopped the process's trace export");
    await service.close();
    assert.equal(shutdowns, 1);
  });
});
