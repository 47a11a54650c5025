import net from 'node:net';

// Below Linux's ephemeral range (32768-60999 by default): servers that bind port 0 can never be
// handed one of these, and each is given out once per process, so tests never race for a port.
const LOW = 20_000;
const HIGH = 32_000;
const given = new Set<number>();

/** A port that was free a moment ago on 127.0.0.1, for servers that need their port before they start. */
export async function freePort(): Promise<number> {
  for (;;) {
    const port = LOW + Math.floor(Math.random() * (HIGH - LOW));
    if (given.has(port)) continue;
    given.add(port);
    if (await bindable(port)) return port;
  }
}

function bindable(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}
