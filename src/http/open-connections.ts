import type { Socket } from 'node:net';

interface Link {
  socket: Socket | undefined;
  prev: Link | undefined;
  next: Link | undefined;
}

/**
 * The listener's open connections, for a drain to walk. A linked list whose links are cut
 * when a connection closes, not a Set: a Set that gains and loses an entry per connection (a
 * client without keep-alive: per request) makes V8 rebuild its table again and again; once a
 * full GC had run, what it pointed at outlived the young-generation collections until the next
 * one (57 MB promoted over 30 000 connections against 0.17 MB: test/ops/listener-gc.test.ts). A
 * removed link is emptied, so it holds nothing up whatever generation it is in.
 */
export class OpenConnections {
  private head: Link | undefined;

  /** Tracks `socket` until it closes. */
  add(socket: Socket): void {
    const link: Link = { socket, prev: undefined, next: this.head };
    if (this.head) this.head.prev = link;
    this.head = link;
    socket.once('close', () => this.remove(link));
  }

  /** Every open connection, newest first (walk a copy to close them: a close cuts links). */
  *[Symbol.iterator](): IterableIterator<Socket> {
    for (let link = this.head; link;) {
      const next = link.next;
      if (link.socket) yield link.socket;
      link = next;
    }
  }

  private remove(link: Link): void {
    if (link.prev) link.prev.next = link.next;
    else if (this.head === link) this.head = link.next;
    if (link.next) link.next.prev = link.prev;
    link.prev = undefined;
    link.next = undefined;
    link.socket = undefined;
  }
}
