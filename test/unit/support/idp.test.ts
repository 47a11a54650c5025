import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { startIdp } from '../../../dev/idp.js';
import type { IdpClient, RunningIdp } from '../../../dev/idp.js';
import { UserAgent } from '../../support/user-agent.js';

const b64url = (bytes: Buffer) => bytes.toString('base64url');

interface TokenResponse {
  access_token: string;
  refresh_token?: string;
  id_token?: string;
  error?: string;
}

describe('dev IdP and test UserAgent', () => {
  let rp: http.Server;
  let client: IdpClient;
  const idps: RunningIdp[] = [];

  // A stand-in relying party: it only needs to answer the redirect to /callback.
  before(async () => {
    rp = http.createServer((req, res) => {
      res.writeHead(req.url?.startsWith('/callback') ? 200 : 404).end('rp');
    });
    await new Promise<void>((resolve) => rp.listen(0, '127.0.0.1', resolve));
    const { port } = rp.address() as AddressInfo;
    client = {
      client_id: 'bff',
      client_secret: 'bff-secret',
      redirect_uris: [`http://127.0.0.1:${port}/callback`],
    };
  });

  after(async () => {
    await Promise.all(idps.map((idp) => idp.close()));
    rp.closeAllConnections();
    await new Promise((resolve) => rp.close(resolve));
  });

  async function idp(options: Omit<Parameters<typeof startIdp>[0], 'clients'> = {}) {
    const started = await startIdp({ clients: [client], ...options });
    idps.push(started);
    return started;
  }

  function authorizationRequest(op: RunningIdp, loginHint?: string) {
    const verifier = b64url(randomBytes(32));
    const state = b64url(randomBytes(16));
    const url = new URL('/auth', op.issuer);
    url.search = new URLSearchParams({
      response_type: 'code',
      client_id: client.client_id,
      redirect_uri: client.redirect_uris[0] ?? '',
      scope: 'openid profile email offline_access',
      state,
      nonce: b64url(randomBytes(16)),
      code_challenge: b64url(createHash('sha256').update(verifier).digest()),
      code_challenge_method: 'S256',
      ...(loginHint ? { login_hint: loginHint } : {}),
    }).toString();
    return { url: url.href, verifier, state };
  }

  // Confidential-client POST (client_secret_basic) to an IdP endpoint.
  async function post(op: RunningIdp, path: string, params: Record<string, string>) {
    const res = await fetch(`${op.issuer}${path}`, {
      method: 'POST',
      headers: {
        authorization: `Basic ${Buffer.from(`${client.client_id}:${client.client_secret}`).toString('base64')}`,
        'content-type': 'application/x-www-form-urlencoded',
      },
      body: new URLSearchParams(params).toString(),
    });
    return { status: res.status, body: (await res.json()) as TokenResponse };
  }

  const token = (op: RunningIdp, params: Record<string, string>) => post(op, '/token', params);

  async function redeem(op: RunningIdp, callbackUrl: string, request: { verifier: string; state: string }) {
    const params = new URL(callbackUrl).searchParams;
    assert.equal(params.get('state'), request.state);
    assert.equal(params.get('iss'), op.issuer);
    const code = params.get('code');
    assert.ok(code, `no code in ${callbackUrl}`);
    const { status, body } = await token(op, {
      grant_type: 'authorization_code',
      code,
      redirect_uri: client.redirect_uris[0] ?? '',
      code_verifier: request.verifier,
    });
    assert.equal(status, 200, JSON.stringify(body));
    return body;
  }

  function subject(idToken: string | undefined) {
    assert.ok(idToken, 'no id_token');
    const payload = JSON.parse(Buffer.from(idToken.split('.')[1] ?? '', 'base64url').toString()) as Record<string, unknown>;
    return payload['sub'];
  }

  describe('auto mode (no pages)', () => {
    let op: RunningIdp;
    let refreshToken: string;

    before(async () => {
      op = await idp();
    });

    it('logs in as login_hint through redirects only and issues all three tokens', async () => {
      const request = authorizationRequest(op, 'bob');
      const { response, chain } = await new UserAgent().follow(request.url);

      assert.equal(response.status, 200, chain.join('\n'));
      assert.ok(response.url.startsWith(client.redirect_uris[0] ?? '-'), response.url);
      const tokens = await redeem(op, response.url, request);

      assert.equal(subject(tokens.id_token), 'bob');
      assert.ok(tokens.refresh_token, 'no refresh_token');
      refreshToken = tokens.refresh_token;
      assert.deepEqual(
        { authorization: op.counts.authorization, token: op.counts.token, authorizationCode: op.counts.authorizationCode },
        { authorization: 1, token: 1, authorizationCode: 1 },
      );
      for (const issued of [tokens.access_token, tokens.refresh_token, tokens.id_token]) {
        assert.ok(op.issued.has(issued ?? '-'), 'token missing from issued');
      }
    });

    it('rotates refresh tokens and refuses the used one afterwards', async () => {
      const first = await token(op, { grant_type: 'refresh_token', refresh_token: refreshToken });
      assert.equal(first.status, 200, JSON.stringify(first.body));
      assert.ok(first.body.refresh_token && first.body.refresh_token !== refreshToken, 'refresh token not rotated');
      assert.equal(op.counts.refresh, 1);
      assert.ok(op.issued.has(first.body.access_token));

      const reused = await token(op, { grant_type: 'refresh_token', refresh_token: refreshToken });
      assert.equal(reused.status, 400);
      assert.equal(reused.body.error, 'invalid_grant');
    });

    it('defaults the user to alice without a login_hint', async () => {
      const request = authorizationRequest(op);
      const { response } = await new UserAgent().follow(request.url);
      assert.equal(subject((await redeem(op, response.url, request)).id_token), 'alice');
    });
  });

  describe('interactive mode (dev login and consent pages)', () => {
    let op: RunningIdp;

    before(async () => {
      op = await idp({ interactive: true });
    });

    it('logs in through the login and consent forms', async () => {
      const ua = new UserAgent();
      const request = authorizationRequest(op);
      const { callback, chain } = await ua.login(request.url, {
        username: 'carol',
        stopAtOrigin: new URL(client.redirect_uris[0] ?? '').origin,
      });

      assert.equal(callback.status, 200);
      assert.ok(
        chain.some((url) => url.includes('/interaction/')),
        chain.join('\n'),
      );
      const tokens = await redeem(op, callback.url, request);
      assert.equal(subject(tokens.id_token), 'carol');
      assert.ok(tokens.refresh_token);
      assert.equal(op.counts.authorizationCode, 1);
      assert.ok(ua.cookie(new URL(op.issuer).host, '_session'), 'no IdP session cookie kept');
    });
  });

  describe('options', () => {
    const discover = async (op: RunningIdp) => (await (await fetch(`${op.issuer}/.well-known/openid-configuration`)).json()) as Record<string, unknown>;

    it('advertises PAR only when enabled, and counts pushes', async () => {
      const parOp = await idp({ par: true });
      const withPar = await discover(parOp);
      const withoutPar = await discover(await idp({ par: false }));
      assert.equal(withPar['pushed_authorization_request_endpoint'], `${parOp.issuer}/request`);
      assert.equal(withoutPar['pushed_authorization_request_endpoint'], undefined);

      const pushed = await post(parOp, '/request', Object.fromEntries(new URL(authorizationRequest(parOp).url).searchParams));
      assert.equal(pushed.status, 201, JSON.stringify(pushed.body));
      assert.equal(parOp.counts.par, 1);
    });

    it('keeps a refresh token usable when rotation is off', async () => {
      const op = await idp({ rotateRefreshToken: false });
      const request = authorizationRequest(op);
      const { response } = await new UserAgent().follow(request.url);
      const { refresh_token: refreshToken = '' } = await redeem(op, response.url, request);
      for (let i = 0; i < 2; i++) {
        const refreshed = await token(op, { grant_type: 'refresh_token', refresh_token: refreshToken });
        assert.equal(refreshed.status, 200, JSON.stringify(refreshed.body));
        assert.equal(refreshed.body.refresh_token, refreshToken);
      }
      assert.equal(op.counts.refresh, 2);
    });
  });
});
