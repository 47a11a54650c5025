/**
 * Readers for the container files at the top of the repository (Dockerfile, docker-compose.yml,
 * .dockerignore), enough for test/ops/compose-files.test.ts to check them and for
 * scripts/compose-native-lib.ts to run the compose services as local processes. Not general
 * parsers: they read what these files use and refuse what they do not understand.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parse as parseYaml } from 'yaml';

export const ROOT = fileURLToPath(new URL('../', import.meta.url));
export const COMPOSE_FILE = `${ROOT}docker-compose.yml`;
export const DOCKERFILE = `${ROOT}Dockerfile`;
export const DOCKERIGNORE = `${ROOT}.dockerignore`;

// ---------------------------------------------------------------------------------------------
// Dockerfile
// ---------------------------------------------------------------------------------------------

export interface DockerInstruction {
  /** Upper-case keyword: FROM, RUN, COPY, CMD... */
  keyword: string;
  /** Everything after the keyword, continuation lines joined with a space. */
  args: string;
  /** 1-based line of the keyword. */
  line: number;
}

export interface DockerStage {
  /** The `AS name`, if any. */
  name: string | undefined;
  /** The image or stage it starts from. */
  from: string;
  index: number;
  instructions: DockerInstruction[];
}

/** Stages with their instructions; comments, blank lines and `\` continuations handled. */
export function parseDockerfile(text: string): DockerStage[] {
  const stages: DockerStage[] = [];
  const lines = text.split(/\r?\n/);
  for (let i = 0; i < lines.length; i++) {
    const start = i;
    let line = lines[i]!;
    if (/^\s*(#|$)/.test(line)) continue;
    // A trailing backslash continues the instruction; comment lines inside it are dropped (as Docker does).
    while (/\\\s*$/.test(line) && i + 1 < lines.length) {
      line = line.replace(/\\\s*$/, ' ');
      i++;
      if (!/^\s*#/.test(lines[i]!)) line += lines[i]!.trim();
    }
    const m = /^\s*([A-Za-z]+)\s*(.*)$/.exec(line);
    if (!m) throw new Error(`Dockerfile line ${start + 1}: cannot read "${line}"`);
    const keyword = m[1]!.toUpperCase();
    const args = m[2]!.replace(/\s+/g, ' ').trim();
    if (keyword === 'FROM') {
      const from = /^(?:--platform=\S+\s+)?(\S+)(?:\s+AS\s+(\S+))?$/i.exec(args);
      if (!from) throw new Error(`Dockerfile line ${start + 1}: cannot read FROM ${args}`);
      stages.push({ name: from[2], from: from[1]!, index: stages.length, instructions: [] });
      continue;
    }
    const stage = stages.at(-1);
    if (!stage) throw new Error(`Dockerfile line ${start + 1}: ${keyword} before FROM`);
    stage.instructions.push({ keyword, args, line: start + 1 });
  }
  return stages;
}

/** The JSON (exec) form of CMD/ENTRYPOINT/HEALTHCHECK CMD/RUN, or undefined for the shell form. */
export function execForm(args: string): string[] | undefined {
  if (!args.startsWith('[')) return undefined;
  const parsed: unknown = JSON.parse(args);
  if (!Array.isArray(parsed) || !parsed.every((a) => typeof a === 'string')) throw new Error(`not an exec form: ${args}`);
  return parsed as string[];
}

/** argv of an exec or shell form, as Docker runs it. */
export function argv(args: string): string[] {
  return execForm(args) ?? ['/bin/sh', '-c', args];
}

export interface ResolvedStage {
  stage: DockerStage;
  /** This stage and the stages of this file it is built FROM, nearest first. */
  chain: DockerStage[];
  env: Record<string, string>;
  user: string | undefined;
  workdir: string | undefined;
  cmd: string[] | undefined;
  entrypoint: string[] | undefined;
  healthcheck: DockerHealthcheck | undefined;
  exposed: number[];
}

export interface DockerHealthcheck {
  /** undefined for HEALTHCHECK NONE. */
  test: string[] | undefined;
  options: Record<string, string>;
}

/** A stage (by name, default the last one) with what it inherits from the stages of this file it is built on. */
export function resolveStage(stages: readonly DockerStage[], name?: string): ResolvedStage {
  const stage = name === undefined ? stages.at(-1) : stages.find((s) => s.name === name);
  if (!stage) throw new Error(`Dockerfile has no stage ${name ?? '(none at all)'}`);
  const chain: DockerStage[] = [];
  for (let s: DockerStage | undefined = stage; s; s = stages.find((p) => p.name === s!.from && p.index < s!.index)) chain.push(s);
  const out: ResolvedStage = {
    stage,
    chain,
    env: {},
    user: undefined,
    workdir: undefined,
    cmd: undefined,
    entrypoint: undefined,
    healthcheck: undefined,
    exposed: [],
  };
  for (const s of [...chain].reverse()) {
    let cmdSetHere = false;
    for (const ins of s.instructions) {
      switch (ins.keyword) {
        case 'ENV':
          Object.assign(out.env, parseEnvArgs(ins.args));
          break;
        case 'USER':
          out.user = ins.args;
          break;
        case 'WORKDIR':
          out.workdir = ins.args;
          break;
        case 'CMD':
          out.cmd = argv(ins.args);
          cmdSetHere = true;
          break;
        case 'ENTRYPOINT':
          out.entrypoint = argv(ins.args);
          if (!cmdSetHere) out.cmd = undefined; // a new ENTRYPOINT drops the CMD inherited from the base
          break;
        case 'HEALTHCHECK':
          out.healthcheck = parseHealthcheck(ins.args);
          break;
        case 'EXPOSE':
          out.exposed.push(...ins.args.split(' ').map((p) => Number(p.split('/')[0])));
          break;
        default:
      }
    }
  }
  return out;
}

function parseEnvArgs(args: string): Record<string, string> {
  const out: Record<string, string> = {};
  // ENV a=b c="d e"  |  ENV a b (legacy single pair)
  const pairs = [...args.matchAll(/([A-Za-z_][A-Za-z0-9_]*)=("(?:[^"\\]|\\.)*"|\S*)/g)];
  if (pairs.length === 0) {
    const legacy = /^([A-Za-z_][A-Za-z0-9_]*)\s+(.*)$/.exec(args);
    if (legacy) out[legacy[1]!] = legacy[2]!;
    return out;
  }
  for (const [, k, v] of pairs) out[k!] = v!.startsWith('"') ? (JSON.parse(v!) as string) : v!;
  return out;
}

function parseHealthcheck(args: string): DockerHealthcheck {
  if (/^NONE$/i.test(args)) return { test: undefined, options: {} };
  const options: Record<string, string> = {};
  let rest = args;
  for (let m = /^--([a-z-]+)=(\S+)\s+/.exec(rest); m; m = /^--([a-z-]+)=(\S+)\s+/.exec(rest)) {
    options[m[1]!] = m[2]!;
    rest = rest.slice(m[0].length);
  }
  const cmd = /^CMD\s+(.*)$/i.exec(rest);
  if (!cmd) throw new Error(`cannot read HEALTHCHECK ${args}`);
  return { test: argv(cmd[1]!), options };
}

// ---------------------------------------------------------------------------------------------
// docker-compose.yml
// ---------------------------------------------------------------------------------------------

export interface PortMapping {
  hostIp: string | undefined;
  /** Host port; undefined when Docker picks one. */
  published: number | undefined;
  target: number;
  protocol: string;
}

export interface HealthcheckSpec {
  /** argv to run in the container, undefined for NONE / disable. */
  test: string[] | undefined;
  intervalMs: number | undefined;
  timeoutMs: number | undefined;
  retries: number | undefined;
  startPeriodMs: number | undefined;
}

export interface ComposeService {
  name: string;
  image: string | undefined;
  build: { context: string; target: string | undefined; dockerfile: string } | undefined;
  /** argv, when the service sets `command`. */
  command: string[] | undefined;
  environment: Record<string, string>;
  ports: PortMapping[];
  healthcheck: HealthcheckSpec | undefined;
  dependsOn: Record<string, { condition: string }>;
  networkMode: string | undefined;
  stopGracePeriodMs: number | undefined;
  raw: Record<string, unknown>;
}

export interface ComposeFile {
  services: Record<string, ComposeService>;
  raw: Record<string, unknown>;
}

/** Thrown for `${VAR:?message}` / `${VAR?message}` when VAR is missing, as compose refuses to start. */
export class InterpolationError extends Error {
  constructor(
    readonly variable: string,
    message: string,
  ) {
    super(message);
    this.name = 'InterpolationError';
  }
}

/**
 * Compose's variable interpolation of one value: $VAR, ${VAR}, ${VAR:-default}, ${VAR-default},
 * ${VAR:?error}, ${VAR?error}, ${VAR:+alt}, ${VAR+alt}, and $$ for a literal $.
 */
export function interpolate(value: string, vars: Record<string, string | undefined>): string {
  return value.replace(
    /\$(\$|\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?+])((?:[^}\\]|\\.)*))?\}|([A-Za-z_][A-Za-z0-9_]*))/g,
    (whole, dollar: string, braced: string | undefined, op: string | undefined, arg: string | undefined, bare: string | undefined) => {
      if (dollar === '$') return '$';
      const name = braced ?? bare!;
      const v = vars[name];
      const set = v !== undefined;
      const nonEmpty = set && v !== '';
      switch (op) {
        case undefined:
          return v ?? '';
        case ':-':
          return nonEmpty ? v : interpolate(arg ?? '', vars);
        case '-':
          return set ? v : interpolate(arg ?? '', vars);
        case ':+':
          return nonEmpty ? interpolate(arg ?? '', vars) : '';
        case '+':
          return set ? interpolate(arg ?? '', vars) : '';
        case ':?':
        case '?':
          if (op === ':?' ? nonEmpty : set) return v!;
          throw new InterpolationError(name, `required variable ${name} is missing a value: ${arg || name}`);
        default:
          throw new Error(`cannot interpolate ${whole}`);
      }
    },
  );
}

function interpolateDeep(node: unknown, vars: Record<string, string | undefined>): unknown {
  if (typeof node === 'string') return interpolate(node, vars);
  if (Array.isArray(node)) return node.map((n) => interpolateDeep(n, vars));
  if (node && typeof node === 'object') {
    return Object.fromEntries(Object.entries(node).map(([k, v]) => [k, interpolateDeep(v, vars)]));
  }
  return node;
}

/** Seconds-and-more durations of compose: 1m30s, 15s, 500ms, 1h. */
export function parseDuration(raw: unknown): number | undefined {
  if (raw === undefined || raw === null) return undefined;
  const s = String(raw).trim();
  if (/^\d+$/.test(s)) return Number(s) * 1000;
  const units: Record<string, number> = { h: 3_600_000, m: 60_000, s: 1000, ms: 1, us: 0.001 };
  let total = 0;
  let rest = s;
  for (let m = /^(\d+(?:\.\d+)?)(ms|us|h|m|s)/.exec(rest); m; m = /^(\d+(?:\.\d+)?)(ms|us|h|m|s)/.exec(rest)) {
    total += Number(m[1]) * units[m[2]!]!;
    rest = rest.slice(m[0].length);
  }
  if (rest) throw new Error(`cannot read duration "${s}"`);
  return total;
}

/** Short (`[HOST_IP:][HOST:]CONTAINER[/proto]`) or long (`{target, published, host_ip}`) port syntax. */
export function parsePort(spec: unknown): PortMapping {
  if (spec && typeof spec === 'object') {
    const o = spec as Record<string, unknown>;
    return {
      hostIp: o['host_ip'] === undefined ? undefined : String(o['host_ip']),
      published: o['published'] === undefined ? undefined : Number(o['published']),
      target: Number(o['target']),
      protocol: String(o['protocol'] ?? 'tcp'),
    };
  }
  const s = String(spec);
  const m = /^(?:(\[[0-9a-fA-F:.]+\]|\d+\.\d+\.\d+\.\d+):)?(?:(\d+):)?(\d+)(?:\/(tcp|udp))?$/.exec(s);
  if (!m) throw new Error(`cannot read port "${s}" (ranges are not supported here)`);
  return {
    hostIp: m[1]?.replace(/^\[|\]$/g, ''),
    published: m[2] === undefined ? undefined : Number(m[2]),
    target: Number(m[3]),
    protocol: m[4] ?? 'tcp',
  };
}

function stringMap(node: unknown, what: string): Record<string, string> {
  if (node === undefined || node === null) return {};
  if (Array.isArray(node)) {
    return Object.fromEntries(
      node.map((item) => {
        const s = String(item);
        const eq = s.indexOf('=');
        if (eq < 1) throw new Error(`${what}: "${s}" is not NAME=value (a bare NAME, taken from the shell, is not supported here)`);
        return [s.slice(0, eq), s.slice(eq + 1)];
      }),
    );
  }
  if (typeof node === 'object') {
    return Object.fromEntries(
      Object.entries(node).map(([k, v]) => {
        if (v === null || v === undefined) throw new Error(`${what}: ${k} has no value (taken from the shell): not supported here`);
        return [k, String(v)];
      }),
    );
  }
  throw new Error(`${what} must be a map or a list`);
}

function commandArgv(node: unknown, what: string): string[] | undefined {
  if (node === undefined || node === null) return undefined;
  if (Array.isArray(node)) return node.map(String);
  if (typeof node === 'string') {
    if (/["'\\$|&;<>()`]/.test(node)) throw new Error(`${what}: a string command with shell syntax; write it as a list`);
    return node.split(/\s+/).filter(Boolean);
  }
  throw new Error(`${what} must be a list or a string`);
}

function healthcheckSpec(node: unknown, what: string): HealthcheckSpec | undefined {
  if (node === undefined || node === null) return undefined;
  const o = node as Record<string, unknown>;
  let test: string[] | undefined;
  if (o['disable'] === true) test = undefined;
  else if (typeof o['test'] === 'string') test = ['/bin/sh', '-c', o['test']];
  else if (Array.isArray(o['test'])) {
    const [kind, ...rest] = o['test'].map(String);
    if (kind === 'NONE') test = undefined;
    else if (kind === 'CMD') test = rest;
    else if (kind === 'CMD-SHELL') test = ['/bin/sh', '-c', rest.join(' ')];
    else throw new Error(`${what}.test must start with CMD, CMD-SHELL or NONE`);
  } else throw new Error(`${what}.test is missing`);
  return {
    test,
    intervalMs: parseDuration(o['interval']),
    timeoutMs: parseDuration(o['timeout']),
    retries: o['retries'] === undefined ? undefined : Number(o['retries']),
    startPeriodMs: parseDuration(o['start_period']),
  };
}

function dependsOn(node: unknown): Record<string, { condition: string }> {
  if (node === undefined || node === null) return {};
  if (Array.isArray(node)) return Object.fromEntries(node.map((n) => [String(n), { condition: 'service_started' }]));
  return Object.fromEntries(
    Object.entries(node as Record<string, { condition?: string } | null>).map(([k, v]) => [k, { condition: v?.condition ?? 'service_started' }]),
  );
}

/**
 * Parses a compose file. With `vars`, values are interpolated as `docker compose` does (missing
 * required variables throw {@link InterpolationError}); without, `${...}` stays as written.
 */
export function parseCompose(text: string, vars?: Record<string, string | undefined>): ComposeFile {
  const doc: unknown = parseYaml(text, { merge: true });
  if (!doc || typeof doc !== 'object') throw new Error('compose file: not a mapping');
  const raw = (vars ? interpolateDeep(doc, vars) : doc) as Record<string, unknown>;
  const servicesNode = raw['services'];
  if (!servicesNode || typeof servicesNode !== 'object') throw new Error('compose file: no services');
  const services: Record<string, ComposeService> = {};
  for (const [name, node] of Object.entries(servicesNode as Record<string, Record<string, unknown>>)) {
    const what = `services.${name}`;
    const build = node['build'];
    services[name] = {
      name,
      image: node['image'] === undefined ? undefined : String(node['image']),
      build:
        build === undefined
          ? undefined
          : typeof build === 'string'
            ? { context: build, target: undefined, dockerfile: 'Dockerfile' }
            : {
                context: String((build as Record<string, unknown>)['context'] ?? '.'),
                target: (build as Record<string, unknown>)['target'] === undefined ? undefined : String((build as Record<string, unknown>)['target']),
                dockerfile: String((build as Record<string, unknown>)['dockerfile'] ?? 'Dockerfile'),
              },
      command: commandArgv(node['command'], `${what}.command`),
      environment: stringMap(node['environment'], `${what}.environment`),
      ports: ((node['ports'] as unknown[] | undefined) ?? []).map(parsePort),
      healthcheck: healthcheckSpec(node['healthcheck'], `${what}.healthcheck`),
      dependsOn: dependsOn(node['depends_on']),
      networkMode: node['network_mode'] === undefined ? undefined : String(node['network_mode']),
      stopGracePeriodMs: parseDuration(node['stop_grace_period']),
      raw: node,
    };
  }
  return { services, raw };
}

export function readCompose(vars?: Record<string, string | undefined>, file = COMPOSE_FILE): ComposeFile {
  return parseCompose(readFileSync(file, 'utf8'), vars);
}

export function readDockerfile(file = DOCKERFILE): DockerStage[] {
  return parseDockerfile(readFileSync(file, 'utf8'));
}

/** The service whose network namespace `service` uses (itself unless `network_mode: service:X`). */
export function networkOwner(compose: ComposeFile, service: ComposeService): ComposeService {
  const m = /^service:(.+)$/.exec(service.networkMode ?? '');
  if (!m) return service;
  const owner = compose.services[m[1]!];
  if (!owner) throw new Error(`${service.name}: network_mode names an unknown service ${m[1]}`);
  return networkOwner(compose, owner);
}

// ---------------------------------------------------------------------------------------------
// .dockerignore
// ---------------------------------------------------------------------------------------------

/**
 * Whether `path` (relative to the build context, with /) is left out of the context by these
 * .dockerignore lines: Go filepath.Match globs plus `**`, later lines win, `!` re-includes, and
 * an excluded directory excludes everything below it.
 */
export function dockerIgnored(lines: readonly string[], path: string): boolean {
  const rules = lines
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith('#'))
    .map((l) => {
      const negate = l.startsWith('!');
      const pattern = (negate ? l.slice(1) : l)
        .trim()
        .replace(/^\/+|\/+$/g, '')
        .replace(/^\.\/+/, '');
      return { negate, re: globToRegExp(pattern) };
    });
  const parts = path.replace(/^\.?\/+/, '').split('/');
  let ignored = false;
  for (const rule of rules) {
    // The rule matches the path itself or one of its parent directories.
    for (let n = 1; n <= parts.length; n++) {
      if (rule.re.test(parts.slice(0, n).join('/'))) {
        ignored = !rule.negate;
        break;
      }
    }
  }
  return ignored;
}

function globToRegExp(glob: string): RegExp {
  let re = '';
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i]!;
    if (c === '*' && glob[i + 1] === '*') {
      // `**/` = any number of directories (including none); a trailing `**` = anything.
      if (glob[i + 2] === '/') {
        re += '(?:.*/)?';
        i += 2;
      } else {
        re += '.*';
        i += 1;
      }
    } else if (c === '*') re += '[^/]*';
    else if (c === '?') re += '[^/]';
    else re += c.replace(/[.+^${}()|[\]\\]/g, '\\$&');
  }
  return new RegExp(`^${re}$`);
}

export function readDockerignore(file = DOCKERIGNORE): string[] {
  return readFileSync(file, 'utf8').split(/\r?\n/);
}
