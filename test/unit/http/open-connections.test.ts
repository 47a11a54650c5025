import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import type { Socket } from 'node:net';
import { OpenConnections } from '../../../src/http/open-connections.js';

const fakeSocket = (name: string) => Object.assign(new EventEmitter(), { name }) as unknown as Socket & { name: string };
const names = (list: OpenConnections) => [...list].map((s) => (s as Socket & { name: string }).name);

describe("the listener's open connections (src/http/open-connections.ts)", () => {
  it('lists each connection until it closes, whichever closes first', () => {
    const list = new OpenConnections();
    const [a, b, c] = [fakeSocket('a'), fakeSocket('b'), fakeSocket('c')];
    list.add(a);
    list.add(b);
    list.add(c);
    assert.deepEqual(names(list), ['c', 'b', 'a']);
    b.emit('close');
    assert.deepEqual(names(list), ['c', 'a']);
    c.emit('close');
    assert.deepEqual(names(list), ['a']);
    a.emit('close');
    assert.deepEqual(names(list), []);
    list.add(b);
    assert.deepEqual(names(list), ['b']);
  });

  it('a connection that closes while the list is walked does not end the walk', () => {
    const list = new OpenConnections();
    const [a, b] = [fakeSocket('a'), fakeSocket('b')];
    list.add(a);
    list.add(b);
    const seen: string[] = [];
    for (const socket of list) {
      seen.push((socket as Socket & { name: string }).name);
      socket.emit('close');
    }
    assert.deepEqual(seen, ['b', 'a']);
    assert.deepEqual(names(list), []);
  });
});
