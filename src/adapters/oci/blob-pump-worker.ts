// The blob pump's worker thread (see blob-pump.ts): one message per blob, streamed GET → PUT with
// socket backpressure. It imports node: modules only, so this isolate's heap stays a few MB and
// each of its collections is cheap.
import { createHash } from 'node:crypto';
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { parentPort, workerData } from 'node:worker_threads';
import { TrustAgents, type TrustSnapshot } from '../trust-agents.ts';
import type { PumpCancel, PumpFailure, PumpReply, PumpRequest } from './blob-pump.ts';

// Default CAs are per thread: this one trusts as its parent was told to.
const agents = new TrustAgents((workerData as { trust: TrustSnapshot }).trust).apply();
const MAX_REDIRECTS = 5;

/**
 * Every socket read is a fresh buffer, dead a moment later. A young-generation collection every
 * 4 MB streamed frees them while they are young, for a fraction of a millisecond; left alone, V8
 * frees them only in full collections forced by the external-memory cap (blob-pump.ts), each
 * marking the whole heap. Measured on 5 GB: 17–21 → 8–9 CPU-s, same peak RSS (bench/README.md).
 * Node has no public call for this, hence the flag: it only puts `gc` into new contexts.
 */
setFlagsFromString('--expose-gc');
const collectYoung = (runInNewContext('gc') as (options: { type: 'minor' }) => void).bind(undefined, { type: 'minor' });
const COLLECT_EVERY_BYTES = 4 * 1024 * 1024;
let streamedSinceCollection = 0;

function countStreamed(blob: IncomingMessage): void {
  blob.on('data', (chunk: Buffer) => {
    streamedSinceCollection += chunk.length;
    if (streamedSinceCollection < COLLECT_EVERY_BYTES) return;
    streamedSinceCollection = 0;
    collectYoung();
  });
}

class Failure extends Error {
  readonly failure: PumpFailure;
  constructor(failure: PumpFailure) {
    super(failure.body);
    this.failure = failure;
  }
}

/** One request; resolves when the answer's headers arrive. A connection idle for `idleMs` is cut, as is one `signal` aborts. */
function send(
  method: string,
  url: URL,
  headers: Record<string, string>,
  idleMs: number,
  signal: AbortSignal,
  body?: IncomingMessage,
): Promise<IncomingMessage> {
  const https = url.protocol === 'https:';
  return new Promise((resolve, reject) => {
    const req = (https ? httpsRequest : httpRequest)(
      url,
      { method, headers, agent: agents.agentFor(url), timeout: idleMs, signal },
      resolve,
    );
    req.on('error', (error) =>
      reject(
        error instanceof Failure
          ? error
          : new Failure({ method, url: url.origin + url.pathname, status: 0, body: error.message }),
      ),
    );
    req.on('timeout', () => req.destroy(new Error(`no progress for ${idleMs / 1000} s`)));
    if (body) {
      body.on('error', (error) => req.destroy(error));
      body.pipe(req);
    } else req.end();
  });
}

/** The start of an answer's body, for an error message. */
function text(res: IncomingMessage): Promise<string> {
  return new Promise((resolve) => {
    let t = '';
    res.on('data', (c: Buffer) => {
      if (t.length < 2000) t += c.toString();
    });
    res.on('end', () => resolve(t));
    res.on('error', () => resolve(t));
  });
}

/** A blob read to the end and checked against its digest (nothing written: a proxy cache fills itself). */
function readOnly(blob: IncomingMessage, url: URL, digest: string): Promise<number> {
  const hash = createHash('sha256');
  let bytes = 0;
  return new Promise((resolve, reject) => {
    blob.on('data', (chunk: Buffer) => {
      hash.update(chunk);
      bytes += chunk.length;
    });
    blob.on('error', (error) =>
      reject(
        error instanceof Failure
          ? error
          : new Failure({ method: 'GET', url: url.origin + url.pathname, status: 0, body: error.message }),
      ),
    );
    blob.on('end', () => {
      const actual = `sha256:${hash.digest('hex')}`;
      if (actual === digest) resolve(bytes);
      else
        reject(
          new Failure({
            method: 'GET',
            url: url.origin + url.pathname,
            status: 200,
            body: `blob digest ${actual} does not match ${digest}`,
          }),
        );
    });
  });
}

/**
 * Cuts the stream the moment it sends more bytes than the descriptor says (a registry, or what it
 * redirects to, cannot make us read or forward an unbounded blob); fewer fail the digest check.
 */
function boundBySize(blob: IncomingMessage, size: number, url: URL): void {
  let seen = 0;
  blob.on('data', (chunk: Buffer) => {
    seen += chunk.length;
    if (seen > size)
      blob.destroy(
        new Failure({
          method: 'GET',
          url: url.origin + url.pathname,
          status: 200,
          body: `blob sends more than its descriptor's ${size} bytes`,
        }),
      );
  });
}

async function transfer(job: PumpRequest, signal: AbortSignal): Promise<number> {
  const first = new URL(job.get.url);
  let url = first;
  let blob: IncomingMessage;
  for (let hop = 0; ; hop++) {
    // Credentials go to the registry only, never to the blob storage it redirects to.
    blob = await send('GET', url, url.origin === first.origin ? job.get.headers : {}, job.idleMs, signal);
    const location = blob.headers.location;
    if (blob.statusCode && blob.statusCode >= 300 && blob.statusCode < 400 && location && hop < MAX_REDIRECTS) {
      blob.resume();
      url = new URL(location, url);
      continue;
    }
    if (blob.statusCode !== 200)
      throw new Failure({
        method: 'GET',
        url: first.origin + first.pathname,
        status: blob.statusCode ?? 0,
        body: await text(blob),
      });
    break;
  }
  const announced = Number(blob.headers['content-length'] ?? '-1');
  if (announced >= 0 && announced !== job.size) {
    blob.destroy();
    throw new Failure({
      method: 'GET',
      url: first.origin + first.pathname,
      status: 200,
      body: `blob is ${announced} bytes, its descriptor says ${job.size}`,
    });
  }
  // Counting listens to the same chunks; the PUT's pipe (or the hash) is attached in this tick, before any flows.
  countStreamed(blob);
  boundBySize(blob, job.size, first);
  if (!job.put) return await readOnly(blob, first, job.digest);
  const put = new URL(job.put.url);
  const headers = {
    ...job.put.headers,
    'content-type': 'application/octet-stream',
    'content-length': String(job.size),
  };
  let stored: IncomingMessage;
  try {
    stored = await send('PUT', put, headers, job.idleMs, signal, blob);
  } catch (error) {
    blob.destroy();
    throw error;
  }
  const answer = await text(stored);
  if (stored.statusCode !== 201) {
    blob.destroy();
    throw new Failure({ method: 'PUT', url: put.origin + put.pathname, status: stored.statusCode ?? 0, body: answer });
  }
  // The registry accepted every byte against the digest: the size is what moved.
  return job.size;
}

/** Transfers in flight, to cut one its caller aborted. */
const inFlight = new Map<number, AbortController>();

parentPort?.on('message', (message: PumpRequest | PumpCancel) => {
  if ('cancel' in message) {
    inFlight.get(message.cancel)?.abort();
    return;
  }
  const job = message;
  const controller = new AbortController();
  inFlight.set(job.id, controller);
  const reply = (message: PumpReply) => {
    inFlight.delete(job.id);
    parentPort?.postMessage(message);
  };
  transfer(job, controller.signal).then(
    (bytes) => reply({ id: job.id, bytes }),
    (error: unknown) =>
      reply({
        id: job.id,
        failure:
          error instanceof Failure
            ? error.failure
            : { method: 'GET', url: job.get.url.split('?')[0] ?? '', status: 0, body: String(error) },
      }),
  );
});
