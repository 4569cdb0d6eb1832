// Lab daemons: started detached (they outlive `lab up`), tracked by pid files under .lab/run,
// logging to .lab/logs. Every start is idempotent: a live daemon is left alone.
import { spawn } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { dirname } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

export interface DaemonSpec {
  name: string;
  command: string;
  args: string[];
  pidFile: string;
  logFile: string;
  env?: Record<string, string>;
  cwd?: string;
}

export function daemonPid(pidFile: string): number | undefined {
  if (!existsSync(pidFile)) return undefined;
  const pid = Number(readFileSync(pidFile, 'utf8').trim());
  if (!Number.isInteger(pid) || pid <= 0) return undefined;
  try {
    process.kill(pid, 0);
  } catch {
    return undefined;
  }
  // A zombie or a recycled pid is not our daemon.
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    if (/\) Z /.test(stat)) return undefined;
  } catch {
    return undefined;
  }
  return pid;
}

/** Starts the daemon unless its pid file names a live process; returns 'started' or 'running'. */
export function startDaemon(spec: DaemonSpec): 'started' | 'running' {
  if (daemonPid(spec.pidFile)) return 'running';
  mkdirSync(dirname(spec.pidFile), { recursive: true });
  mkdirSync(dirname(spec.logFile), { recursive: true });
  const log = openSync(spec.logFile, 'a');
  const child = spawn(spec.command, spec.args, {
    detached: true,
    stdio: ['ignore', log, log],
    env: { ...process.env, ...spec.env },
    ...(spec.cwd ? { cwd: spec.cwd } : {}),
  });
  closeSync(log);
  if (!child.pid) throw new Error(`could not start ${spec.name} (${spec.command})`);
  child.unref();
  writeFileSync(spec.pidFile, `${child.pid}\n`);
  return 'started';
}

export async function stopDaemon(pidFile: string): Promise<boolean> {
  const pid = daemonPid(pidFile);
  rmSync(pidFile, { force: true });
  if (!pid) return false;
  try {
    process.kill(pid, 'SIGTERM');
  } catch {
    return false;
  }
  for (let i = 0; i < 50; i++) {
    await sleep(100);
    if (!alive(pid)) return true;
  }
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    /* already gone */
  }
  return true;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return !/\) Z /.test(stat);
  } catch {
    return false;
  }
}

/**
 * Polls `check` until it returns true; the error names what never came up and shows its log.
 * Given the daemon's files, a daemon that died fails at once instead of at the deadline.
 */
export async function waitUntil(what: string, check: () => Promise<boolean>, timeoutMs: number, daemon?: { logFile: string; pidFile: string }): Promise<void> {
  const { logFile, pidFile } = daemon ?? {};
  const deadline = Date.now() + timeoutMs;
  const tail = (): string => (logFile && existsSync(logFile) ? `\n--- last lines of ${logFile} ---\n${readFileSync(logFile, 'utf8').split('\n').slice(-15).join('\n')}` : '');
  while (Date.now() < deadline) {
    if (await check().catch(() => false)) return;
    if (pidFile && !daemonPid(pidFile)) throw new Error(`${what} exited while starting${tail()}`);
    await sleep(100);
  }
  throw new Error(`${what} did not come up within ${Math.round(timeoutMs / 1000)} s${tail()}`);
}

export async function httpOk(url: string, accept: (status: number) => boolean = (s) => s < 500): Promise<boolean> {
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(2000) });
    await res.body?.cancel();
    return accept(res.status);
  } catch {
    return false;
  }
}

/** A port the kernel just handed out on 127.0.0.1 (for peers the lab spawns on demand). */
export async function freePort(): Promise<number> {
  return await new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}
