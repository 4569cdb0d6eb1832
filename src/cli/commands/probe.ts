// `cutover probe --within S URL…`: run inside a pod under the egress hold. Exit 0 when every URL is
// unreachable; a URL that still answers (any HTTP status) after S seconds is a LEAK (exit 1). The
// wait covers a network policy that is still being programmed. `--expect reachable`, run before the
// hold: exit 0 once at least one URL answers — otherwise the proof could not tell a hold that blocks
// from one that does nothing (a CNI that ignores NetworkPolicy, a site already cut off).
import { CutoverError } from '../../core/errors.ts';
import { pollUntil } from '../../core/poll.ts';

/**
 * How the URL answered (`HTTP 200`), or undefined when nothing did. A server whose certificate this
 * pod does not trust still answered: the probe runs without the values, and reachability is the question.
 */
async function reachable(url: string): Promise<string | undefined> {
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(3000), redirect: 'manual' });
    await res.body?.cancel();
    return `HTTP ${res.status}`;
  } catch (error) {
    let cause: unknown = error;
    while (cause instanceof Error && cause.cause instanceof Error) cause = cause.cause;
    const code = (cause as { code?: string }).code ?? '';
    return /CERT|SELF_SIGNED|UNABLE_TO_VERIFY|ERR_TLS|SSL/.test(code) ? `TLS handshake (${code})` : undefined;
  }
}

export async function probeCommand(
  urls: string[],
  withinSeconds: number,
  expect: 'blocked' | 'reachable' = 'blocked',
): Promise<void> {
  if (!urls.length) throw new CutoverError('usage', 'cutover probe needs at least one URL');
  if (expect === 'reachable') return await expectReachable(urls, withinSeconds);
  await pollUntil(
    async () => {
      const answers = await Promise.all(urls.map(async (url) => ({ url, status: await reachable(url) })));
      return answers.filter((a) => a.status !== undefined);
    },
    (leaks) => leaks.length === 0,
    {
      signal: AbortSignal.timeout(Math.ceil(withinSeconds * 1000)),
      interval: 1000,
      code: 'egress-leak',
      message: (leaks) =>
        `LEAK: still reachable under the egress hold: ${leaks.map((l) => `${l.url} (${l.status})`).join(', ')}`,
    },
  );
  console.log(`blocked: ${urls.join(', ')}`);
}

async function expectReachable(urls: string[], withinSeconds: number): Promise<void> {
  const answered = await pollUntil(
    async () =>
      (await Promise.all(urls.map(async (url) => ({ url, status: await reachable(url) })))).filter(
        (a) => a.status !== undefined,
      ),
    (answers) => answers.length > 0,
    {
      signal: AbortSignal.timeout(Math.ceil(withinSeconds * 1000)),
      interval: 1000,
      code: 'proof-impossible',
      message: () =>
        `none of ${urls.join(', ')} answered before the hold: the proof could not show the hold blocking anything`,
    },
  );
  console.log(`reachable: ${answered.map((a) => `${a.url} (${a.status})`).join(', ')}`);
}
