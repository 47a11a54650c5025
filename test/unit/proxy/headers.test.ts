import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer, request as httpRequest, type IncomingHttpHeaders, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';

import { request } from 'undici';

import { clientResponseHeaders, upstreamRequestHeaders, type RequestHeaderOptions } from '../../../src/proxy/headers.js';

const OWN_COOKIES = new Set(['bff_session', 'bff_login']);
function isOwnCookie(name: string): boolean {
  return OWN_COOKIES.has(name) || name.startsWith('bff_session.');
}

function options(overrides: Partial<RequestHeaderOptions> = {}): RequestHeaderOptions {
  return {
    isOwnCookie,
    dropHeaders: ['x-csrf'],
    forwarded: { for: '203.0.113.7', proto: 'https', host: 'app.example.com' },
    trustProxy: false,
    requestId: 'req-bff-1',
    ...overrides,
  };
}

function forward(incoming: IncomingHttpHeaders, overrides: Partial<RequestHeaderOptions> = {}): Record<string, string | string[]> {
  return upstreamRequestHeaders(incoming, options(overrides));
}

describe('upstreamRequestHeaders', () => {
  it('an incoming Authorization header never reaches the upstream', () => {
    const out = forward({ authorization: 'Bearer stolen-or-forged', accept: 'application/json' });
    assert.equal(out['authorization'], undefined);
    assert.equal(out['accept'], 'application/json');
  });

  it('a mixed-case header key (odd input) cannot slip past the drop rules', () => {
    const out = forward({ Authorization: 'Bearer x', 'X-CSRF': '1', Host: 'evil.example', Cookie: 'bff_session=s' } as IncomingHttpHeaders);
    for (const name of Object.keys(out)) assert.equal(name, name.toLowerCase());
    assert.equal(out['authorization'], undefined);
    assert.equal(out['x-csrf'], undefined);
    assert.equal(out['host'], undefined);
    assert.equal(out['cookie'], undefined);
  });

  it('a header named in Connection is dropped (hop-by-hop smuggling)', () => {
    const out = forward({ connection: 'close, X-User-Role , x-tenant', 'x-user-role': 'admin', 'x-tenant': 'other', 'x-kept': '1' });
    assert.equal(out['x-user-role'], undefined);
    assert.equal(out['x-tenant'], undefined);
    assert.equal(out['connection'], undefined);
    assert.equal(out['x-kept'], '1');
  });

  it('Connection cannot strip the headers the BFF adds itself (hop-by-hop abuse)', () => {
    const out = forward({
      connection: 'x-forwarded-for, x-forwarded-proto, x-forwarded-host, x-request-id',
      'x-forwarded-for': '10.0.0.1',
    });
    assert.equal(out['x-forwarded-for'], '203.0.113.7');
    assert.equal(out['x-forwarded-proto'], 'https');
    assert.equal(out['x-forwarded-host'], 'app.example.com');
    assert.equal(out['x-request-id'], 'req-bff-1');
  });

  it('hop-by-hop headers are not forwarded (connection-level smuggling: TE, Upgrade, Transfer-Encoding)', () => {
    const out = forward({
      connection: 'keep-alive',
      'keep-alive': 'timeout=5',
      'proxy-connection': 'keep-alive',
      'proxy-authenticate': 'Basic',
      'proxy-authorization': 'Basic YWRtaW46YWRtaW4=',
      te: 'trailers',
      trailer: 'x-checksum',
      'transfer-encoding': 'chunked',
      upgrade: 'websocket',
      'http2-settings': 'AAMAAABkAAQAAP__',
    });
    assert.deepEqual(Object.keys(out).sort(), ['x-forwarded-for', 'x-forwarded-host', 'x-forwarded-proto', 'x-request-id']);
  });

  it('the client Host header is not forwarded (upstream virtual-host confusion)', () => {
    assert.equal(forward({ host: 'internal-admin.local' })['host'], undefined);
  });

  it('the BFF session cookie never reaches the upstream; other cookies do', () => {
    const out = forward({ cookie: 'bff_session=abc; theme=dark;  lang=en' });
    assert.equal(out['cookie'], 'theme=dark; lang=en');
  });

  it('chunked session cookies and the login cookie are removed too', () => {
    const out = forward({ cookie: 'bff_session.0=part0; bff_session.1=part1; bff_login=state; a=1' });
    assert.equal(out['cookie'], 'a=1');
  });

  it('cookie parsing tolerates odd spacing, empty pairs and pairs without "="', () => {
    const out = forward({ cookie: ' a=1;;  b = 2 ;flag; ;c=x=y ' });
    assert.equal(out['cookie'], 'a=1; b = 2; flag; c=x=y');
  });

  it('an own cookie with whitespace around its name is still recognised', () => {
    assert.equal(forward({ cookie: 'a=1;  bff_session  =abc' })['cookie'], 'a=1');
  });

  it('a nameless cookie spelling an own cookie name is not forwarded (lenient upstream parsers)', () => {
    assert.equal(forward({ cookie: 'bff_session; a=1' })['cookie'], 'a=1');
  });

  it('an own cookie in a second Cookie header (joined by Node with "; ") is removed', () => {
    assert.equal(forward({ cookie: 'a=1; b=2; bff_session=abc; c=3' })['cookie'], 'a=1; b=2; c=3');
  });

  it('the Cookie header is dropped when only own cookies were sent', () => {
    const out = forward({ cookie: 'bff_session=abc; bff_login=xyz' });
    assert.equal('cookie' in out, false);
    assert.equal('cookie' in forward({ cookie: ' ; ; ' }), false);
  });

  it('the anti-CSRF header and other configured headers do not reach the upstream', () => {
    const out = forward({ 'x-csrf': '1', 'x-debug': 'on', 'x-other': 'ok' }, { dropHeaders: ['x-csrf', 'X-Debug'] });
    assert.equal(out['x-csrf'], undefined);
    assert.equal(out['x-debug'], undefined);
    assert.equal(out['x-other'], 'ok');
  });

  it('a client-supplied X-Request-Id cannot replace the BFF request id (log forging)', () => {
    assert.equal(forward({ 'x-request-id': 'forged\u00e9' })['x-request-id'], 'req-bff-1');
  });

  it('a client cannot spoof its IP through X-Forwarded-For when no proxy is trusted', () => {
    const out = forward({ 'x-forwarded-for': '127.0.0.1' });
    assert.equal(out['x-forwarded-for'], '203.0.113.7');
  });

  it('behind a trusted proxy the client IP is appended to the X-Forwarded-For chain', () => {
    const out = forward({ 'x-forwarded-for': '198.51.100.1, 10.0.0.2' }, { trustProxy: true });
    assert.equal(out['x-forwarded-for'], '198.51.100.1, 10.0.0.2, 203.0.113.7');
    assert.equal(forward({}, { trustProxy: true })['x-forwarded-for'], '203.0.113.7');
  });

  it('X-Forwarded-Proto and X-Forwarded-Host always come from the BFF (scheme/host spoofing)', () => {
    for (const trustProxy of [false, true]) {
      const out = forward({ 'x-forwarded-proto': 'http', 'x-forwarded-host': 'evil.example' }, { trustProxy });
      assert.equal(out['x-forwarded-proto'], 'https');
      assert.equal(out['x-forwarded-host'], 'app.example.com');
    }
  });

  it('without a trusted proxy, Forwarded, X-Real-IP and other X-Forwarded-* are dropped (client identity spoofing)', () => {
    const out = forward({ forwarded: 'for=127.0.0.1', 'x-real-ip': '127.0.0.1', 'x-forwarded-port': '443', 'x-forwarded-prefix': '/admin' });
    assert.equal(out['forwarded'], undefined);
    assert.equal(out['x-real-ip'], undefined);
    assert.equal(out['x-forwarded-port'], undefined);
    assert.equal(out['x-forwarded-prefix'], undefined);
  });

  it('behind a trusted proxy, its Forwarded header is kept, but no other X-Forwarded-* than ours', () => {
    const out = forward({ forwarded: 'for=198.51.100.1;proto=https', 'x-forwarded-port': '443' }, { trustProxy: true });
    assert.equal(out['forwarded'], 'for=198.51.100.1;proto=https');
    assert.equal(out['x-forwarded-port'], undefined);
  });

  it('a browser cannot assert an identity to the upstream (X-Forwarded-User, X-Auth-Request-*, X-Remote-User)', () => {
    for (const trustProxy of [false, true]) {
      const out = forward(
        {
          'x-forwarded-user': 'admin',
          'x-forwarded-email': 'admin@example.test',
          'x-forwarded-groups': 'admins',
          'x-auth-request-user': 'admin',
          'x-auth-request-email': 'admin@example.test',
          'x-remote-user': 'admin',
        },
        { trustProxy },
      );
      for (const name of ['x-forwarded-user', 'x-forwarded-email', 'x-forwarded-groups', 'x-auth-request-user', 'x-auth-request-email', 'x-remote-user']) {
        assert.equal(out[name], undefined, `${name} with trustProxy=${trustProxy}`);
      }
    }
  });

  it('X-Original-URL / X-Rewrite-URL cannot override the checked upstream path', () => {
    const out = forward({ 'x-original-url': '/admin/delete', 'x-rewrite-url': '/../admin' });
    assert.equal(out['x-original-url'], undefined);
    assert.equal(out['x-rewrite-url'], undefined);
  });

  it('Expect is not forwarded (Node already answered 100-continue; undici would throw)', () => {
    assert.equal(forward({ expect: '100-continue' })['expect'], undefined);
  });

  it('body framing and ordinary end-to-end headers pass through unchanged', () => {
    const out = forward({
      'content-type': 'application/json; charset=utf-8',
      'content-length': '17',
      accept: '*/*',
      'accept-language': 'en',
      'if-none-match': '"abc"',
      'user-agent': 'test',
    });
    assert.equal(out['content-type'], 'application/json; charset=utf-8');
    assert.equal(out['content-length'], '17');
    assert.equal(out['accept'], '*/*');
    assert.equal(out['accept-language'], 'en');
    assert.equal(out['if-none-match'], '"abc"');
    assert.equal(out['user-agent'], 'test');
  });

  it('a malformed Content-Length (odd input) is dropped rather than forwarded (request desync)', () => {
    assert.equal(forward({ 'content-length': '5, 6' })['content-length'], undefined);
    assert.equal(forward({ 'content-length': '-1' })['content-length'], undefined);
    assert.equal(forward({ 'content-length': ['5', '6'] } as unknown as IncomingHttpHeaders)['content-length'], undefined);
  });

  it('values containing CR, LF or NUL are dropped (header injection)', () => {
    const out = forward({ 'x-a': 'ok\r\nx-injected: 1', 'x-b': 'nul\0', 'x-c': ['fine', 'bad\n'], 'x-d': 'tab\tis fine' } as unknown as IncomingHttpHeaders);
    assert.equal(out['x-a'], undefined);
    assert.equal(out['x-b'], undefined);
    assert.equal(out['x-c'], 'fine');
    assert.equal(out['x-d'], 'tab\tis fine');
    assert.equal(out['x-injected'], undefined);
  });

  it('odd input (non-string values, empty or invalid names, __proto__) never throws', () => {
    const incoming = JSON.parse('{"__proto__": "x"}') as Record<string, unknown>;
    Object.assign(incoming, {
      '': 'empty name',
      'bad name': 'space',
      'bad:name': 'colon',
      'x-num': 42,
      'x-nan': Number.NaN,
      'x-null': null,
      'x-undef': undefined,
      'x-obj': { a: 1 },
      'x-arr-mixed': [1, 'two', null],
      cookie: 42,
      connection: ['x-num'],
    });
    const out = upstreamRequestHeaders(incoming as IncomingHttpHeaders, options());
    assert.equal(Object.getPrototypeOf(out), Object.prototype);
    assert.deepEqual(Object.keys(out).sort(), ['x-arr-mixed', 'x-forwarded-for', 'x-forwarded-host', 'x-forwarded-proto', 'x-request-id']);
    assert.equal(out['x-arr-mixed'], 'two');
    assert.doesNotThrow(() => upstreamRequestHeaders(null as unknown as IncomingHttpHeaders, options()));
    assert.doesNotThrow(() => upstreamRequestHeaders({}, options({ dropHeaders: [1, null] as unknown as string[] })));
  });

  it('an invalid request id or forwarded value from options is omitted, not injected', () => {
    const out = forward({}, { requestId: 'a\r\nx-evil: 1', forwarded: { for: '', proto: 'https', host: 'h\n' } });
    assert.equal(out['x-request-id'], undefined);
    assert.equal(out['x-forwarded-for'], undefined);
    assert.equal(out['x-forwarded-host'], undefined);
  });

  it('returns a fresh object: mutating it leaves req.headers untouched', () => {
    const incoming: IncomingHttpHeaders = { accept: 'a', 'x-list': ['1', '2'] } as unknown as IncomingHttpHeaders;
    const out = forward(incoming);
    out['accept'] = 'changed';
    (out['x-list'] as string[]).push('3');
    assert.equal(incoming.accept, 'a');
    assert.deepEqual(incoming['x-list'], ['1', '2']);
  });

  it('what a real client sends through node:http arrives at the upstream filtered and undici accepts it', async () => {
    let received: IncomingHttpHeaders = {};
    const upstream = createServer((req, res) => {
      received = req.headers;
      res.end('ok');
    });
    const front = createServer((req, res) => {
      const headers = upstreamRequestHeaders(req.headers, options());
      const { port } = upstream.address() as AddressInfo;
      request(`http://127.0.0.1:${port}/`, { method: 'POST', headers, body: req })
        .then(async (r) => {
          await r.body.text();
          res.end(String(r.statusCode));
        })
        .catch((error: unknown) => {
          res.statusCode = 500;
          res.end(String(error));
        });
    });
    upstream.listen(0, '127.0.0.1');
    front.listen(0, '127.0.0.1');
    await Promise.all([once(upstream, 'listening'), once(front, 'listening')]);
    try {
      const { port } = front.address() as AddressInfo;
      // node:http rather than undici as the browser stand-in: undici consumes
      // a Connection header instead of sending it.
      const client = httpRequest({
        host: '127.0.0.1',
        port,
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          'content-length': '7',
          authorization: 'Bearer forged',
          cookie: 'bff_session=secret; theme=dark',
          connection: 'keep-alive, x-secret',
          'x-secret': 'hop',
          'x-csrf': '1',
          'x-forwarded-for': '127.0.0.1',
          'x-request-id': 'forged',
        },
      });
      client.end('{"a":1}');
      const [response] = (await once(client, 'response')) as [IncomingMessage];
      let text = '';
      for await (const chunk of response) text += String(chunk);
      assert.equal(text, '200');
      assert.equal(received.authorization, undefined);
      assert.equal(received.cookie, 'theme=dark');
      assert.equal(received['x-secret'], undefined);
      assert.equal(received['x-csrf'], undefined);
      assert.equal(received['x-forwarded-for'], '203.0.113.7');
      assert.equal(received['x-request-id'], 'req-bff-1');
      assert.equal(received['content-type'], 'application/json');
      assert.equal(received['content-length'], '7');
      assert.equal(received.host, `127.0.0.1:${(upstream.address() as AddressInfo).port}`);
    } finally {
      upstream.close();
      front.close();
      upstream.closeAllConnections();
      front.closeAllConnections();
    }
  });
});

describe('clientResponseHeaders', () => {
  it('an upstream Set-Cookie cannot overwrite the session cookie; other cookies pass', () => {
    const out = clientResponseHeaders(
      {
        'set-cookie': ['bff_session=attacker; Path=/; HttpOnly', 'theme=dark; Path=/', 'bff_login=; Max-Age=0', 'bff_session.1=chunk; Path=/'],
      },
      isOwnCookie,
    );
    assert.deepEqual(out['set-cookie'], ['theme=dark; Path=/']);
  });

  it('an upstream Set-Cookie with whitespace around the own name is still dropped', () => {
    const out = clientResponseHeaders({ 'set-cookie': ['  bff_session  =x; Path=/', 'a=1'] }, isOwnCookie);
    assert.deepEqual(out['set-cookie'], ['a=1']);
  });

  it('an upstream Set-Cookie without a name ("=bff-session=x") is dropped: some clients read it back as bff-session', () => {
    const out = clientResponseHeaders({ 'set-cookie': ['=bff-session=evil; Path=/', 'ok=1'] }, (n) => n.startsWith('bff-'));
    assert.deepEqual(out['set-cookie'], ['ok=1']);
  });

  it('the cookie name ends at the first ";": a nameless "bff_session; Path=/" is dropped', () => {
    const out = clientResponseHeaders({ 'set-cookie': ['bff_session; Path=/', 'flag; Path=/'] }, isOwnCookie);
    assert.deepEqual(out['set-cookie'], ['flag; Path=/']);
  });

  it('a single Set-Cookie string is filtered the same way and returned as an array', () => {
    assert.equal('set-cookie' in clientResponseHeaders({ 'set-cookie': 'bff_session=x' }, isOwnCookie), false);
    assert.deepEqual(clientResponseHeaders({ 'set-cookie': 'a=1' }, isOwnCookie)['set-cookie'], ['a=1']);
  });

  it('hop-by-hop response headers are not copied to the client (response framing confusion)', () => {
    const out = clientResponseHeaders(
      {
        connection: 'keep-alive',
        'keep-alive': 'timeout=5',
        'transfer-encoding': 'chunked',
        upgrade: 'h2c',
        trailer: 'x-checksum',
        te: 'trailers',
        'proxy-authenticate': 'Basic realm="internal"',
        'proxy-connection': 'keep-alive',
        'content-type': 'text/plain',
      },
      isOwnCookie,
    );
    assert.deepEqual(Object.keys(out), ['content-type']);
  });

  it("a header named in the upstream's Connection is dropped (hop-by-hop smuggling)", () => {
    const out = clientResponseHeaders({ connection: 'close, X-Internal-Debug', 'x-internal-debug': 'stack', etag: '"1"' }, isOwnCookie);
    assert.deepEqual(out, { etag: '"1"' });
  });

  it('end-to-end response headers pass through unchanged', () => {
    const upstream = {
      'content-type': 'application/json',
      'content-length': '2',
      'content-encoding': 'gzip',
      'cache-control': 'no-store',
      'www-authenticate': 'Bearer error="invalid_token"',
      vary: ['accept', 'origin'],
    };
    assert.deepEqual(clientResponseHeaders(upstream, isOwnCookie), upstream);
  });

  it('undefined values, CR/LF values and invalid names are dropped without throwing (response splitting)', () => {
    const upstream = JSON.parse('{"__proto__": ["x"]}') as Record<string, string | string[] | undefined>;
    Object.assign(upstream, {
      'x-undef': undefined,
      'x-split': 'a\r\nset-cookie: bff_session=x',
      '': 'empty',
      'bad name': 'x',
      'x-num': 5 as unknown as string,
      'x-ok': 'ok',
      'set-cookie': ['ok=1', 'bad=\n', 42 as unknown as string],
    });
    const out = clientResponseHeaders(upstream, isOwnCookie);
    assert.deepEqual(out, { 'x-num': '5', 'x-ok': 'ok', 'set-cookie': ['ok=1'] });
    assert.doesNotThrow(() => clientResponseHeaders(null as unknown as Record<string, string>, isOwnCookie));
  });
});
