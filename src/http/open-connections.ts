import type { Socket } from 'node:net';

interface Link {
  readonly socket: Socket;
  prev: Link | undefined;
  next: Link | undefined;
}

/**
 * The listener's open connections, for a drain to walk. A linked list whose links are cut
 * when a connection closes, not a Set: a Set that gains and loses an entry per connection (a
 * client without keep-alive: per request) makes V8 rebuild its table again and again, and the
 * tables it leaves behind keep pointing at what they held. Once one of them is in the old
 * generation, everything it points at outlives the young-generation collections until the next
 * full GC, and so do the tables after it (test/ops/listener-gc.test.ts). A removed link points
 * at nothing, so it holds nothing up whatever generation it is in.
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

  /** Every open connection, newest first; safe against one closing while it is walked. */
  *[Symbol.iterator](): IterableIterator<Socket> {
    for (let link = this.head; link;) {
      const next = link.next;
      yield link.socket;
      link = next;
    }
  }

  private remove(link: Link): void {
    if (link.prev) link.prev.next = link.next;
    else if (this.head === link) this.head = link.next;
    if (link.next) link.next.prev = link.prev;
    link.prev = undefined;
    link.next = undefined;
  }
}
