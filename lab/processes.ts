// Lab daemons: started detached (they outlive `lab up`), tracked by pid files under .lab/run,
// logging to .lab/logs. Every start is idempotent: a live daemon is left alone.
import { trustPeersCa } from './peers-pki.ts';
import { spawn } from 'node:child_process';
import {
  closeSync,
  existsSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
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

/**
 * Live processes whose command line is exactly `command args…` — the daemon, even when its pid file
 * is stale (a racing start, a crashed writer). Unique because every daemon has its own config path.
 */
export function processesRunning(command: string, args: string[]): number[] {
  const want = [command, ...args].join('\0');
  const found: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const cmdline = readFileSync(`/proc/${entry}/cmdline`, 'utf8').replace(/\0$/, '');
      if (cmdline === want && !/\) Z /.test(readFileSync(`/proc/${entry}/stat`, 'utf8'))) found.push(Number(entry));
    } catch {
      /* gone meanwhile */
    }
  }
  return found;
}

/** Starts the daemon unless it runs already (by pid file or command line); returns 'started' or 'running'. */
export function startDaemon(spec: DaemonSpec): 'started' | 'running' {
  if (daemonPid(spec.pidFile)) return 'running';
  const orphan = processesRunning(spec.command, spec.args)[0];
  if (orphan) {
    mkdirSync(dirname(spec.pidFile), { recursive: true });
    writeFileSync(spec.pidFile, `${orphan}\n`);
    return 'running';
  }
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

/** Stops the daemon named by the pid file and, given its command line, any stray copy of it. */
export async function stopDaemon(pidFile: string, commandLine?: { command: string; args: string[] }): Promise<boolean> {
  const pids = new Set(
    [daemonPid(pidFile), ...(commandLine ? processesRunning(commandLine.command, commandLine.args) : [])].filter(
      (p): p is number => p !== undefined,
    ),
  );
  rmSync(pidFile, { force: true });
  for (const pid of pids) {
    try {
      process.kill(pid, 'SIGTERM');
    } catch {
      pids.delete(pid);
    }
  }
  for (let i = 0; i < 50 && [...pids].some(alive); i++) await sleep(100);
  for (const pid of pids) {
    try {
      if (alive(pid)) process.kill(pid, 'SIGKILL');
    } catch {
      /* already gone */
    }
  }
  return pids.size > 0;
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
export async function waitUntil(
  what: string,
  check: () => Promise<boolean>,
  timeoutMs: number,
  daemon?: { logFile: string; pidFile: string },
): Promise<void> {
  const { logFile, pidFile } = daemon ?? {};
  const deadline = Date.now() + timeoutMs;
  const tail = (): string =>
    logFile && existsSync(logFile)
      ? `\n--- last lines of ${logFile} ---\n${readFileSync(logFile, 'utf8').split('\n').slice(-15).join('\n')}`
      : '';
  while (Date.now() < deadline) {
    if (await check().catch(() => false)) return;
    if (pidFile && !daemonPid(pidFile)) throw new Error(`${what} exited while starting${tail()}`);
    await sleep(100);
  }
  throw new Error(`${what} did not come up within ${Math.round(timeoutMs / 1000)} s${tail()}`);
}

export async function httpOk(url: string, accept: (status: number) => boolean = (s) => s < 500): Promise<boolean> {
  // The HTTPS peers are on the lab's private CA: whichever lab process checks them (the CLI, the
  // kubelet restoring upstream after a hold, a test) trusts it.
  trustPeersCa();
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

/**
 * Serialises lab operations across processes (tests, the lab kubelet's egress enforcement, the
 * CLI): a lock directory, created atomically; one older than `staleMs` is from a dead holder.
 */
export async function withLock<T>(dir: string, work: () => Promise<T>, staleMs = 120_000): Promise<T> {
  mkdirSync(dirname(dir), { recursive: true });
  for (;;) {
    try {
      mkdirSync(dir);
      break;
    } catch {
      try {
        if (Date.now() - statSync(dir).mtimeMs > staleMs) rmSync(dir, { recursive: true, force: true });
      } catch {
        /* released meanwhile */
      }
      await sleep(100);
    }
  }
  try {
    return await work();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * The entry of a lab daemon started with one JSON config file: reads it, starts the daemon, and
 * stops it (once) on SIGTERM/SIGINT before exiting.
 */
export async function runConfiguredDaemon<C>(
  entry: string,
  start: (config: C) => Promise<{ stop(): Promise<void> | void }>,
): Promise<void> {
  const configPath = process.argv[2];
  if (!configPath) {
    console.error(`usage: node ${entry} <config.json>`);
    process.exit(2);
  }
  const daemon = await start(JSON.parse(readFileSync(configPath, 'utf8')) as C);
  let stopping = false;
  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    process.on(signal, () => {
      if (stopping) return;
      stopping = true;
      Promise.resolve(daemon.stop()).then(
        () => process.exit(0),
        (error: unknown) => {
          console.error(error);
          process.exit(1);
        },
      );
    });
  }
}
