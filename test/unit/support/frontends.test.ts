import assert from 'node:assert/strict';
import net from 'node:net';
import { freePort } from '../../support/free-port.js';
import { startFrontends } from '../../support/frontends.js';

/** Whether something still accepts connections on the port. */
const accepts = (port: number) =>
  new Promise<boolean>((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });

describe('test support: startFrontends', () => {
  it('a BFF_CONFIG file that does not load rejects the start and leaves no IdP running (a broken before fails the run instead of hanging it)', async () => {
    const ports = { a: await freePort(), b: await freePort() };
    await assert.rejects(
      startFrontends({ shop: { hostname: '127.0.0.1', idp: 'a', fields: { noSuchField: true } } }, { idpA: { port: ports.a }, idpB: { port: ports.b } }),
      /noSuchField/,
    );
    assert.equal(await accepts(ports.a), false, 'IdP a still listens after the failed start');
    assert.equal(await accepts(ports.b), false, 'IdP b still listens after the failed start');
  });
});
