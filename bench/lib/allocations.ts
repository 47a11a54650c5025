// Summarises a V8 sampling heap profile (HeapProfiler.startSampling, as bench/servers/child.ts
// records it): bytes allocated per request, and where. With the collected objects included, each
// node's selfSize is V8's estimate of the V8-heap bytes it allocated while sampled, garbage
// included (not Buffer contents or native memory), so the figure is a count of work rather than
// a time: a change to the hot path shows in it even where the CPU time of a noisy machine cannot.
import { readFileSync } from 'node:fs';

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
}
export interface SamplingNode {
  callFrame: CallFrame;
  selfSize: number;
  children: SamplingNode[];
}

export interface AllocationSite {
  /** The nearest frame up the stack outside Node core and V8: the code that asked for the work. */
  site: string;
  bytesPerRequest: number;
  share: number;
}

export interface AllocationSummary {
  requests: number;
  bytesPerRequest: number;
  top: AllocationSite[];
}

const isCore = (url: string) => url === '' || url.startsWith('node:');

function frameName({ functionName, url, lineNumber }: CallFrame): string {
  const nm = url.lastIndexOf('/node_modules/');
  let where = nm !== -1 ? url.slice(nm + '/node_modules/'.length) : url;
  const own = /\/((?:src|bench)\/.*)$/.exec(where);
  if (nm === -1 && own) where = own[1]!;
  return `${functionName || '(anonymous)'} ${where}:${lineNumber + 1}`;
}

/** Bytes per request and the `top` sites, each allocation charged to the nearest frame outside Node core. */
export function summarizeAllocations(head: SamplingNode, requests: number, top = 12): AllocationSummary {
  const bySite = new Map<string, number>();
  let total = 0;
  const walk = (node: SamplingNode, owner: string | undefined) => {
    const here = isCore(node.callFrame.url) ? owner : frameName(node.callFrame);
    if (node.selfSize > 0) {
      total += node.selfSize;
      const site = here ?? `${frameName(node.callFrame)} (Node core only)`;
      bySite.set(site, (bySite.get(site) ?? 0) + node.selfSize);
    }
    for (const child of node.children) walk(child, here);
  };
  walk(head, undefined);
  const n = Math.max(1, requests);
  return {
    requests,
    bytesPerRequest: total / n,
    top: [...bySite]
      .sort((a, b) => b[1] - a[1])
      .slice(0, top)
      .map(([site, bytes]) => ({ site, bytesPerRequest: bytes / n, share: total > 0 ? bytes / total : 0 })),
  };
}

export function summarizeAllocationFile(file: string, requests: number, top?: number): AllocationSummary {
  const profile = JSON.parse(readFileSync(file, 'utf8')) as { head: SamplingNode };
  return summarizeAllocations(profile.head, requests, top);
}
