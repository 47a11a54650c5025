// Summarises a V8 .cpuprofile (node --cpu-prof): self time per function, and per component —
// each sample charged to the first frame up its stack that is not Node core or native (so a
// socket write made by ioredis counts for ioredis, one made by undici for undici).
import { readFileSync } from 'node:fs';

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
}
interface ProfileNode {
  id: number;
  callFrame: CallFrame;
  children?: number[];
}
interface CpuProfile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples?: number[];
  timeDeltas?: number[];
}

export interface ProfileEntry {
  name: string;
  where: string;
  /** For Node-core and native frames: the first caller outside Node core. */
  caller: string;
  selfMs: number;
  /** Share of the busy (non-idle) time of the main thread. */
  share: number;
  /** Self time divided by the requests the process served while profiled. */
  usPerReq: number;
}

export interface ProfileSummary {
  file: string;
  requests: number;
  totalMs: number;
  busyMs: number;
  topFunctions: ProfileEntry[];
  /** Self time where it is spent: a package, an oidc-bff directory, a Node module, V8. */
  byArea: ProfileEntry[];
  /** Self time charged to the first frame outside Node core: which component made the work. */
  byComponent: ProfileEntry[];
}

// llhttp (wasm) only ever runs under undici, which the stack shows; it is not Node core either way.
const isCore = (url: string) => url === '' || url.startsWith('node:');

/** A package name, an oidc-bff directory, a bench server, a Node module, or a V8 pseudo-frame. */
export function area(url: string, name: string): string {
  if (!url) return name.startsWith('(') ? name : '(native / V8 builtins)';
  if (url.startsWith('wasm://')) return 'undici llhttp (wasm)';
  const nm = url.lastIndexOf('/node_modules/');
  if (nm !== -1) {
    const rest = url.slice(nm + '/node_modules/'.length).split('/');
    return rest[0]!.startsWith('@') ? `${rest[0]}/${rest[1]}` : rest[0]!;
  }
  if (url.startsWith('node:')) {
    const mod = url.slice(5);
    return mod.startsWith('internal/') ? `node:${mod.split('/').slice(0, 2).join('/')}` : `node:${mod}`;
  }
  const src = url.indexOf('/src/');
  if (src !== -1)
    return `oidc-bff ${url
      .slice(src + 1)
      .split('/')
      .slice(0, 2)
      .join('/')}`;
  const bench = url.indexOf('/bench/');
  if (bench !== -1) return url.slice(bench + 1).replace(/\.[jt]s$/, '');
  return url.replace(/^file:\/\//, '');
}

function shortUrl(url: string, line: number): string {
  if (!url) return '';
  const nm = url.lastIndexOf('/node_modules/');
  let s = nm !== -1 ? url.slice(nm + '/node_modules/'.length) : url;
  const m = /\/((?:src|bench)\/.*)$/.exec(s);
  if (nm === -1 && m) s = m[1]!;
  return `${s}:${line + 1}`;
}

export function summarizeProfile(file: string, requests: number, top = 25): ProfileSummary {
  const profile = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const selfUs = new Map<number, number>();
  const samples = profile.samples ?? [];
  const deltas = profile.timeDeltas ?? [];
  // timeDeltas[i] is the time before sample i: the interval after sample i belongs to sample i.
  for (let i = 0; i < samples.length; i++) {
    const id = samples[i]!;
    selfUs.set(id, (selfUs.get(id) ?? 0) + Math.max(0, deltas[i + 1] ?? 0));
  }
  const callerCache = new Map<number, CallFrame | undefined>();
  const firstNonCore = (id: number): CallFrame | undefined => {
    if (callerCache.has(id)) return callerCache.get(id);
    let cur: number | undefined = id;
    let found: CallFrame | undefined;
    while (cur !== undefined) {
      const f: CallFrame | undefined = byId.get(cur)?.callFrame;
      if (f && !isCore(f.url)) {
        found = f;
        break;
      }
      cur = parent.get(cur);
    }
    callerCache.set(id, found);
    return found;
  };

  const fns = new Map<string, ProfileEntry>();
  const areas = new Map<string, ProfileEntry>();
  const components = new Map<string, ProfileEntry>();
  const add = (m: Map<string, ProfileEntry>, key: string, init: () => Omit<ProfileEntry, 'selfMs' | 'share' | 'usPerReq'>, us: number) => {
    const e = m.get(key) ?? { ...init(), selfMs: 0, share: 0, usPerReq: 0 };
    e.selfMs += us / 1000;
    m.set(key, e);
  };
  let total = 0;
  let idle = 0;
  for (const [id, us] of selfUs) {
    const node = byId.get(id);
    if (!node) continue;
    const { functionName, url, lineNumber } = node.callFrame;
    const name = functionName || '(anonymous)';
    total += us;
    if (name === '(idle)') {
      idle += us;
      continue;
    }
    const pseudo = url === '' && name.startsWith('(');
    const owner = isCore(url) && !pseudo ? firstNonCore(id) : undefined;
    const caller = owner ? `${owner.functionName || '(anonymous)'} ${shortUrl(owner.url, owner.lineNumber)}` : isCore(url) && !pseudo ? '(Node core only)' : '';
    add(fns, `${name}\u0000${url}\u0000${lineNumber}\u0000${caller}`, () => ({ name, where: shortUrl(url, lineNumber), caller }), us);
    const a = area(url, name);
    add(areas, a, () => ({ name: a, where: '', caller: '' }), us);
    const comp = pseudo
      ? name
      : owner
        ? area(owner.url, owner.functionName)
        : isCore(url)
          ? 'Node core (no caller outside it: http server, sockets, timers)'
          : a;
    add(components, comp, () => ({ name: comp, where: '', caller: '' }), us);
  }
  const busy = total - idle;
  const rank = (m: Map<string, ProfileEntry>) =>
    [...m.values()]
      .map((e) => ({ ...e, share: busy > 0 ? (e.selfMs * 1000) / busy : 0, usPerReq: requests > 0 ? (e.selfMs * 1000) / requests : NaN }))
      .sort((a, b) => b.selfMs - a.selfMs);
  return {
    file,
    requests,
    totalMs: total / 1000,
    busyMs: busy / 1000,
    topFunctions: rank(fns).slice(0, top),
    byArea: rank(areas).slice(0, top),
    byComponent: rank(components).slice(0, top),
  };
}
