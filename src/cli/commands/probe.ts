// `cutover probe --within S URL…`: run inside a pod under the egress hold. Exit 0 when every URL is
// unreachable; a URL that still answers (any HTTP status) after S seconds is a LEAK (exit 1). The
// wait covers a network policy that is still being programmed.
import { CutoverError } from '../../core/errors.ts';
import { pollUntil } from '../../core/poll.ts';

async function reachable(url: string): Promise<number | undefined> {
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(3000), redirect: 'manual' });
    await res.body?.cancel();
    return res.status;
  } catch {
    return undefined;
  }
}

export async function probeCommand(urls: string[], withinSeconds: number): Promise<void> {
  if (!urls.length) throw new CutoverError('usage', 'cutover probe needs at least one URL');
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
        `LEAK: still reachable under the egress hold: ${leaks.map((l) => `${l.url} (HTTP ${l.status})`).join(', ')}`,
    },
  );
  console.log(`blocked: ${urls.join(', ')}`);
}
