// The log of the long-running commands (serve's API and controller, run, step Jobs, the node agent,
// rollback): JSON lines through pino where a machine reads them — the default in a pod — or the
// lines a person reads on a terminal. Every line is redacted on its way out, whatever called it.
import { pino, stdTimeFunctions } from 'pino';
import { redact } from '../core/errors.ts';
import type { LOG_FORMATS, LOG_LEVELS } from './choices.ts';

export type LogFormat = (typeof LOG_FORMATS)[number];
export type LogLevel = (typeof LOG_LEVELS)[number];

export interface LogFlags {
  logFormat?: LogFormat | undefined;
  logLevel?: LogLevel | undefined;
}

export interface Log {
  /** What every part of the product takes: one line of progress. */
  (line: string): void;
  warn(line: string): void;
  error(line: string): void;
  debug(line: string): void;
}

/** JSON in a pod (the API, the controller, step Jobs, the agent: collected by the cluster), text elsewhere. */
export function defaultLogFormat(): LogFormat {
  return process.env.KUBERNETES_SERVICE_HOST ? 'json' : 'text';
}

/**
 * A log for `component` (json: its `component` field). `timestamps`: text lines start with the time
 * (the long-running server); a command a person runs to its end prints bare lines.
 */
export function createLog(flags: LogFlags, component: string, timestamps = false): Log {
  const level = flags.logLevel ?? 'info';
  if ((flags.logFormat ?? defaultLogFormat()) === 'json') {
    const logger = pino(
      {
        level,
        base: { component },
        timestamp: stdTimeFunctions.isoTime,
        formatters: { level: (label) => ({ level: label }) },
      },
      pino.destination({ dest: 1, sync: true }),
    );
    return Object.assign((line: string) => logger.info(redact(line)), {
      warn: (line: string) => logger.warn(redact(line)),
      error: (line: string) => logger.error(redact(line)),
      debug: (line: string) => logger.debug(redact(line)),
    });
  }
  const rank = { debug: 0, info: 1, warn: 2, error: 3 } as const;
  const print = (at: LogLevel, line: string) => {
    if (rank[at] < rank[level]) return;
    const text = `${at === 'info' ? '' : `${at.toUpperCase()} `}${redact(line)}`;
    const out = timestamps ? `${new Date().toISOString()} ${text}` : text;
    if (at === 'warn' || at === 'error') console.error(out);
    else console.log(out);
  };
  return Object.assign((line: string) => print('info', line), {
    warn: (line: string) => print('warn', line),
    error: (line: string) => print('error', line),
    debug: (line: string) => print('debug', line),
  });
}
