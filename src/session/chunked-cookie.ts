/**
 * A value too large for one cookie travels as numbered chunks: `name`, `name.1`, `name.2`…
 * Browsers keep at most about 4096 bytes per cookie (name, value and attributes together),
 * so each chunk's value stays under {@link CHUNK_SIZE}. The chunks carry no integrity of their
 * own: the value is sealed (AEAD) as a whole, so a chunk that is altered, dropped, reordered
 * or added makes the whole value fail to unseal.
 */
export const CHUNK_SIZE = 3900;
/** More chunks than this are never written, and never read. */
export const MAX_CHUNKS = 16;

const chunkName = (name: string, i: number) => (i === 0 ? name : `${name}.${i}`);

/** Splits `value` into `[cookieName, chunk]` pairs. */
export function splitIntoChunks(name: string, value: string, chunkSize = CHUNK_SIZE): Array<[string, string]> {
  const out: Array<[string, string]> = [];
  for (let i = 0; i * chunkSize < value.length || i === 0; i++) out.push([chunkName(name, i), value.slice(i * chunkSize, (i + 1) * chunkSize)]);
  return out;
}

/** Every cookie in the header, by name; a name sent twice is left out (see readCookie). */
export function cookieMap(header: string | undefined): Map<string, string> {
  const map = new Map<string, string>();
  if (!header) return map;
  const twice = new Set<string>();
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq === -1) continue;
    const key = part.slice(0, eq).trim();
    if (map.has(key)) twice.add(key);
    else map.set(key, part.slice(eq + 1).trim());
  }
  for (const key of twice) map.delete(key);
  return map;
}

/** The value reassembled from `name`, `name.1`… up to the first gap; undefined without `name`. */
export function readChunks(cookies: Map<string, string>, name: string): string | undefined {
  const first = cookies.get(name);
  if (first === undefined) return undefined;
  let value = first;
  for (let i = 1; i < MAX_CHUNKS; i++) {
    const next = cookies.get(chunkName(name, i));
    if (next === undefined) break;
    value += next;
  }
  return value;
}

/** Names of the chunk cookies of `name` present in the browser (to delete stale ones). */
export function presentChunkNames(cookies: Map<string, string>, name: string): string[] {
  const names: string[] = [];
  for (let i = 0; i < MAX_CHUNKS; i++) if (cookies.has(chunkName(name, i))) names.push(chunkName(name, i));
  return names;
}
