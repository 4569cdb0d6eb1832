// Reads a Git remote's refs over smart HTTP (`info/refs?service=git-upload-pack`), so the cutover
// can compare heads without a git binary in its image.
import { PeerError } from '../../core/errors.ts';
import { trustedFetch } from '../trust.ts';
import { basicAuth } from '../http-json.ts';

/** `credentials`: a private remote's (sent to it only: fetch drops them on a redirect to another origin). */
export async function remoteRefs(
  repoURL: string,
  timeoutMs = 30_000,
  credentials?: { username: string; password: string },
): Promise<Map<string, string>> {
  const url = `${repoURL.replace(/\/+$/, '')}/info/refs?service=git-upload-pack`;
  let res: Response;
  try {
    res = await trustedFetch(url, {
      headers: { 'git-protocol': 'version=0', ...(credentials ? { authorization: basicAuth(credentials) } : {}) },
      signal: AbortSignal.timeout(timeoutMs),
    });
  } catch (error) {
    throw new PeerError('GET', url, 0, error instanceof Error ? error.message : String(error), { cause: error });
  }
  const body = Buffer.from(await res.arrayBuffer());
  if (res.status !== 200) throw new PeerError('GET', url, res.status, body.toString('utf8'));
  const refs = new Map<string, string>();
  // pkt-line framing: 4 hex digits of length (including themselves), "0000" flushes.
  for (let i = 0; i + 4 <= body.length;) {
    const length = parseInt(body.subarray(i, i + 4).toString(), 16);
    if (Number.isNaN(length)) break;
    if (length === 0) {
      i += 4;
      continue;
    }
    const line = body
      .subarray(i + 4, i + length)
      .toString('utf8')
      .replace(/\n$/, '');
    i += length;
    if (line.startsWith('#')) continue;
    const [sha, rest] = [line.slice(0, 40), line.slice(41)];
    const ref = rest.split('\0')[0] ?? '';
    if (/^[0-9a-f]{40}$/.test(sha) && ref) refs.set(ref, sha);
  }
  return refs;
}
