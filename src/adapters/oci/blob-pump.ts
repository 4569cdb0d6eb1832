// Streams blobs from one registry into another's upload sessions (or only reads them, to fill a
// proxy cache), in a worker thread with a small heap of its own (blob-pump-worker.ts).
// Why a worker: every socket read allocates a fresh buffer, freed only when V8 collects. In the main
// thread (a heap limit of gigabytes) V8 let ≈ 100 MB of spent buffers pile up between collections
// while streaming at full speed. In the worker, a young-generation collection every few MB streamed
// frees them cheaply, and an old generation capped at a few dozen MB bounds what escapes those,
// because V8 forces a full collection once external memory passes half that cap.
// The main thread keeps its heap for what needs it (inventories of 10 000 workloads, manifests).
import { extname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { PeerError } from '../../core/errors.ts';
import { trustSnapshot } from '../trust.ts';

/** A request the worker makes: its URL and headers (credentials included; they never leave memory). */
export interface HttpCall {
  url: string;
  headers: Record<string, string>;
}

export interface BlobTransfer {
  /** GET of the blob at the source registry (redirects followed; credentials only to its origin). */
  get: HttpCall;
  /**
   * PUT closing the target's upload session, the digest already in its query: the target checks
   * every byte. Without it the blob is only read — a proxy cache fills itself — and the pump checks
   * the bytes against `digest` itself.
   */
  put?: HttpCall;
  digest: string;
  /** The descriptor's size: a source that announces or sends another number of bytes is cut off. */
  size: number;
}

export interface PumpRequest extends BlobTransfer {
  id: number;
  idleMs: number;
}

/** Stops the transfer `cancel` in flight (its sockets are destroyed). */
export interface PumpCancel {
  cancel: number;
}

export interface PumpFailure {
  method: string;
  url: string;
  status: number;
  body: string;
}

export type PumpReply = { id: number; bytes: number } | { id: number; failure: PumpFailure };

/** A stream may take as long as it needs (a 2 GB layer on a slow link), but not stall this long. */
const IDLE_MS = 120_000;
/**
 * The worker's old-generation cap. V8 forces a full collection once external memory passes half of
 * it, which bounds the spent socket buffers that outlive the worker's own young collections
 * (blob-pump-worker.ts). Measured on 5 GB (bench/README.md): 40 → 137–141 MB peak; 64 → ≈ 149 MB;
 * the main thread alone: ≈ 215 MB.
 */
const WORKER_HEAP_MB = 40;

export class BlobPump {
  #worker: Worker | undefined;
  readonly #pending = new Map<number, { resolve: (bytes: number) => void; reject: (error: Error) => void }>();
  #nextId = 0;

  /**
   * Streams one blob (GET → PUT, or GET alone); resolves to the bytes that moved, rejects with a
   * PeerError (transient ones are the caller's to retry). `signal` (the step's) cuts the stream at once.
   */
  copy(transfer: BlobTransfer, signal?: AbortSignal): Promise<number> {
    signal?.throwIfAborted();
    const worker = (this.#worker ??= this.#spawn());
    const id = this.#nextId++;
    return new Promise<number>((resolve, reject) => {
      const onAbort = () => {
        worker.postMessage({ cancel: id } satisfies PumpCancel);
        this.#pending.get(id)?.reject(signal?.reason instanceof Error ? signal.reason : new Error('aborted'));
        this.#pending.delete(id);
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      const done = () => signal?.removeEventListener('abort', onAbort);
      this.#pending.set(id, {
        resolve: (bytes) => {
          done();
          resolve(bytes);
        },
        reject: (error) => {
          done();
          reject(error);
        },
      });
      worker.ref(); // work in flight keeps the process alive; an idle pump does not
      worker.postMessage({ ...transfer, id, idleMs: IDLE_MS } satisfies PumpRequest);
    });
  }

  /** Stops the worker (streams in flight fail). */
  async close(): Promise<void> {
    const worker = this.#worker;
    this.#worker = undefined;
    await worker?.terminate();
  }

  #spawn(): Worker {
    // Beside this module, with its extension: .ts from the source tree, .js from the packed CLI.
    const worker = new Worker(
      new URL(`./blob-pump-worker${extname(fileURLToPath(import.meta.url))}`, import.meta.url),
      {
        resourceLimits: { maxOldGenerationSizeMb: WORKER_HEAP_MB },
        workerData: { trust: trustSnapshot() },
      },
    );
    worker.unref();
    worker.on('message', (reply: PumpReply) => {
      const waiting = this.#pending.get(reply.id);
      this.#pending.delete(reply.id);
      if (this.#pending.size === 0) worker.unref();
      if (!waiting) return;
      if ('bytes' in reply) waiting.resolve(reply.bytes);
      else
        waiting.reject(
          new PeerError(reply.failure.method, reply.failure.url, reply.failure.status, reply.failure.body),
        );
    });
    const stopped = (why: string) => {
      if (this.#worker === worker) this.#worker = undefined;
      for (const waiting of this.#pending.values()) waiting.reject(new Error(`the blob pump stopped: ${why}`));
      this.#pending.clear();
    };
    worker.on('error', (error) => stopped(error.message));
    worker.on('exit', (code) => stopped(`worker exited with code ${code}`));
    return worker;
  }
}
