import assert from 'node:assert/strict';
import net from 'node:net';
import { startHarness, type Harness } from '../support/harness.js';
import type { UserAgent } from '../support/user-agent.js';

/** Sends one raw HTTP/1.1 request to the BFF and resolves with the raw answer once the connection ends. */
async function rawCall(h: Harness, request: string): Promise<string> {
  const url = new URL(h.url);
  const socket = net.connect(Number(url.port), url.hostname);
  const chunks: Buffer[] = [];
  socket.on('data', (c: Buffer) => chunks.push(c));
  await new Promise<void>((resolve, reject) => socket.once('connect', resolve).once('error', reject));
  socket.write(request);
  await new Promise<void>((resolve) => socket.once('close', () => resolve()));
  return Buffer.concat(chunks).toString('latin1');
}

describe('a request body always reaches the upstream framed', () => {
  let h: Harness;
  let attacker: UserAgent;
  let victim: UserAgent;
  before(async () => {
    h = await startHarness();
    attacker = h.browser();
    victim = h.browser();
    await h.login(attacker);
    await h.login(victim);
  });
  after(async () => h?.close());

  for (const method of ['GET', 'DELETE', 'OPTIONS']) {
    it(`attack: a chunked ${method} body smuggles no second request onto the pooled upstream connection`, async () => {
      const host = new URL(h.url).host;
      // Node frames a body of these methods only when told its length or encoding; the client's
      // Transfer-Encoding is hop-by-hop (dropped), so the body went out bare and the upstream
      // read it as the next request on the connection (past the BFF's route, path and CSRF rules).
      const smuggled = `GET /v1/smuggled-${method} HTTP/1.1\r\nhost: ${host}\r\n\r\n`;
      const chunk = `${Buffer.byteLength(smuggled).toString(16)}\r\n${smuggled}\r\n0\r\n\r\n`;
      const answer = await rawCall(
        h,
        `${method} /api/things HTTP/1.1\r\nhost: ${host}\r\ncookie: ${attacker.cookieHeader(host)}\r\nx-csrf: 1\r\n` +
          `transfer-encoding: chunked\r\nconnection: close\r\n\r\n${chunk}`,
      );
      assert.match(answer, /^HTTP\/1\.1 200 /);
      // The next call on the pool is another user's: it gets its own answer.
      const res = await h.api(victim, '/things?victim=1');
      assert.equal(res.status, 200);
      assert.match(res.text, /victim=1/, "the victim's call got another request's answer");
      assert.deepEqual(
        h.upstream.received.filter((r) => r.url.includes('smuggled')).map((r) => `${r.method} ${r.url}`),
        [],
        'the upstream received a request the BFF never checked',
      );
    });
  }
});
