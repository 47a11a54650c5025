// Summarises a V8 .cpuprofile (node --cpu-prof): self time per function and per package/area.
import { readFileSync } from 'node:fs';

interface CallFrame { functionName: string; url: string; lineNumber: number }
interface ProfileNode { id: number; callFrame: CallFrame; hitCount?: number; children?: number[] }
interface CpuProfile { nodes: ProfileNode[]; startTime: number; endTime: number; samples?: number[]; timeDeltas?: number[] }

export interface ProfileEntry { name: string; where: string; selfMs: number; share: number }
export interface ProfileSummary {
  file: string;
  totalMs: number;
  /** Time not idle: everything but the "(idle)" node. */
  busyMs: number;
  topFunctions: ProfileEntry[];
  byArea: ProfileEntry[];
}

/** Where a frame comes from: a package name, a src/ file, node internals, or V8 pseudo-frames. */
export function area(url: string, name: string): string {
  if (!url) return name.startsWith('(') ? name : '(native)';
  const nm = url.lastIndexOf('/node_modules/');
  if (nm !== -1) {
    const rest = url.slice(nm + '/node_modules/'.length).split('/');
    return rest[0]!.startsWith('@') ? `${rest[0]}/${rest[1]}` : rest[0]!;
  }
  if (url.startsWith('node:')) return `node:${url.slice(5).split('/')[0]}`;
  const src = url.indexOf('/src/');
  if (src !== -1) return `oidc-bff ${url.slice(src + 1).split('/').slice(0, 2).join('/')}`;
  return url.replace(/^file:\/\//, '');
}

function shortUrl(url: string, line: number): string {
  if (!url) return '';
  const nm = url.lastIndexOf('/node_modules/');
  const s = nm !== -1 ? url.slice(nm + '/node_modules/'.length) : url.replace(/^file:\/\/.*?\/(src|bench|test)\//, '$1/');
  return `${s}:${line + 1}`;
}

export function summarizeProfile(file: string, top = 25): ProfileSummary {
  const profile = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const selfUs = new Map<number, number>();
  const samples = profile.samples ?? [];
  const deltas = profile.timeDeltas ?? [];
  // timeDeltas[i] is the time before sample i; attribute it to the sample that ended it.
  for (let i = 0; i < samples.length; i++) {
    const id = samples[i]!;
    const dt = deltas[i + 1] ?? 0;
    selfUs.set(id, (selfUs.get(id) ?? 0) + Math.max(0, dt));
  }
  const fn = new Map<string, ProfileEntry>();
  const areas = new Map<string, ProfileEntry>();
  let total = 0;
  let idle = 0;
  for (const [id, us] of selfUs) {
    const node = byId.get(id);
    if (!node) continue;
    const { functionName, url, lineNumber } = node.callFrame;
    const name = functionName || '(anonymous)';
    total += us;
    if (name === '(idle)') idle += us;
    const key = `${name}\u0000${url}\u0000${lineNumber}`;
    const e = fn.get(key) ?? { name, where: shortUrl(url, lineNumber), selfMs: 0, share: 0 };
    e.selfMs += us / 1000;
    fn.set(key, e);
    const a = area(url, name);
    const ae = areas.get(a) ?? { name: a, where: '', selfMs: 0, share: 0 };
    ae.selfMs += us / 1000;
    areas.set(a, ae);
  }
  const busy = total - idle;
  const rank = (m: Map<string, ProfileEntry>) => [...m.values()]
    .filter((e) => e.name !== '(idle)')
    .map((e) => ({ ...e, share: busy > 0 ? e.selfMs / (busy / 1000) : 0 }))
    .sort((a, b) => b.selfMs - a.selfMs);
  return { file, totalMs: total / 1000, busyMs: busy / 1000, topFunctions: rank(fn).slice(0, top), byArea: rank(areas).slice(0, top) };
}
