import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

/** Debian's `nginx` package (.ci/run installs it with apt-get when missing). */
export const NGINX_PATH = process.env['NGINX_PATH'] ?? '/usr/sbin/nginx';

export interface RunningNginx {
  url: string;
  port: number;
  /** The private directory: configuration, pid file, logs, temp files. */
  dir: string;
  /** The configuration nginx runs, as rendered from the template. */
  config: string;
  errorLog(): string;
  /** Stops nginx by the pid in its pid file and removes its directory. */
  close(): Promise<void>;
}

export interface NginxOptions {
  /** An nginx.conf with `${NAME}` placeholders (envsubst style). */
  template: string;
  /** Values of the placeholders; LOG_DIR and RUN_DIR are filled in with the private directory. */
  vars: Record<string, string>;
  port: number;
}

/** Replaces each `${NAME}` of `vars`; refuses a template that names a variable not given. */
export function renderTemplate(template: string, vars: Record<string, string>): string {
  return template.replace(/\$\{([A-Z_][A-Z0-9_]*)\}/g, (_, name: string) => {
    const value = vars[name];
    if (value === undefined) throw new Error(`template variable \${${name}} has no value`);
    return value;
  });
}

/**
 * A real nginx on `port`, running the template in a directory of its own (pid file, logs and temp
 * paths inside it), in the foreground and as one process (`daemon off; master_process off;`),
 * so it needs no root and leaves nothing behind.
 */
export async function startNginx({ template, vars, port }: NginxOptions): Promise<RunningNginx> {
  if (!existsSync(NGINX_PATH)) {
    throw new Error(`no nginx at ${NGINX_PATH}: install Debian's package (apt-get install nginx; .ci/run does) or set NGINX_PATH`);
  }
  const dir = mkdtempSync(join(tmpdir(), 'oidc-bff-nginx-'));
  const logDir = join(dir, 'logs');
  const runDir = join(dir, 'run');
  mkdirSync(logDir);
  mkdirSync(runDir);
  const config = renderTemplate(template, { ...vars, LOG_DIR: logDir, RUN_DIR: runDir });
  const configPath = join(dir, 'nginx.conf');
  writeFileSync(configPath, config);

  const child = spawn(NGINX_PATH, ['-p', `${dir}/`, '-c', configPath, '-g', 'daemon off; master_process off;'], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  const errorLog = () => {
    try {
      return readFileSync(join(logDir, 'error.log'), 'utf8');
    } catch {
      return '';
    }
  };
  try {
    await waitUntilListening(child, port, () => `${stderr}${errorLog()}`);
  } catch (err) {
    child.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }

  return {
    url: `http://127.0.0.1:${port}`,
    port,
    dir,
    config,
    errorLog,
    async close() {
      if (child.exitCode === null && child.signalCode === null) {
        const exited = once(child, 'exit');
        process.kill(pidOf(runDir, child), 'SIGQUIT');
        const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
        await exited;
        clearTimeout(timer);
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** The pid nginx wrote (the process we spawned, with master_process off). */
function pidOf(runDir: string, child: ChildProcess): number {
  try {
    const pid = Number(readFileSync(join(runDir, 'nginx.pid'), 'utf8').trim());
    if (pid === child.pid) return pid;
  } catch {
    // no pid file (yet): fall back to the child we spawned
  }
  return child.pid!;
}

async function waitUntilListening(child: ChildProcess, port: number, output: () => string): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null || child.signalCode !== null) throw new Error(`nginx exited (${child.exitCode ?? child.signalCode}):\n${output()}`);
    if (await connects(port)) return;
    await sleep(25);
  }
  throw new Error(`nginx did not listen on ${port} within 10 s:\n${output()}`);
}

function connects(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}
