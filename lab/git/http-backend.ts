// The upstream Git peer: `git http-backend` (git's own smart-HTTP server) behind a minimal
// CGI gateway. Read-only: the lab's GitHub stand-in serves clones and fetches, never pushes.
import { spawn } from 'node:child_process';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { peerServer, type ServingCert } from '../peers-pki.ts';
import { UPSTREAM_GIT_PRIVATE } from '../topology.ts';

/** `tls`: serve HTTPS with this certificate (the lab's private CA signed it); plain HTTP without. */
export function serveGit(projectRoot: string, address: string, port: number, tls?: ServingCert): Promise<void> {
  const server = peerServer((req, res) => cgi(projectRoot, req, res), tls);
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, address, () => resolve());
  });
}

function cgi(projectRoot: string, req: IncomingMessage, res: ServerResponse): void {
  const url = new URL(req.url ?? '/', 'http://git.invalid');
  // A private repository, as GitHub serves one: nothing without the credential (a 401 asking for it).
  const { orgPrefix, username, password } = UPSTREAM_GIT_PRIVATE;
  const wanted = `Basic ${Buffer.from(`${username}:${password}`).toString('base64')}`;
  if (url.pathname.split('/')[1]?.startsWith(orgPrefix) && req.headers.authorization !== wanted) {
    res.writeHead(401, { 'www-authenticate': 'Basic realm="GitHub"', 'content-type': 'text/plain' }).end('private\n');
    return;
  }
  if (url.pathname.endsWith('/git-receive-pack') || url.searchParams.get('service') === 'git-receive-pack') {
    res.writeHead(403, { 'content-type': 'text/plain' }).end('the upstream stand-in is read-only\n');
    return;
  }
  const child = spawn('git', ['http-backend'], {
    env: {
      PATH: process.env.PATH ?? '/usr/bin:/bin',
      GIT_PROJECT_ROOT: projectRoot,
      GIT_HTTP_EXPORT_ALL: '1',
      PATH_INFO: decodeURIComponent(url.pathname),
      QUERY_STRING: url.search.slice(1),
      REQUEST_METHOD: req.method ?? 'GET',
      CONTENT_TYPE: req.headers['content-type'] ?? '',
      REMOTE_ADDR: req.socket.remoteAddress ?? '127.0.0.1',
      ...(req.headers['content-length'] ? { CONTENT_LENGTH: req.headers['content-length'] } : {}),
      ...(req.headers['content-encoding'] ? { HTTP_CONTENT_ENCODING: req.headers['content-encoding'] } : {}),
      ...(req.headers['git-protocol'] ? { GIT_PROTOCOL: String(req.headers['git-protocol']) } : {}),
    },
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  req.pipe(child.stdin);
  let head = Buffer.alloc(0);
  let headersDone = false;
  child.stdout.on('data', (chunk: Buffer) => {
    if (headersDone) {
      res.write(chunk);
      return;
    }
    head = Buffer.concat([head, chunk]);
    const end = head.indexOf('\r\n\r\n') >= 0 ? head.indexOf('\r\n\r\n') : head.indexOf('\n\n');
    if (end < 0) return;
    const sep = head.indexOf('\r\n\r\n') >= 0 ? 4 : 2;
    let status = 200;
    for (const line of head.subarray(0, end).toString().split(/\r?\n/)) {
      const i = line.indexOf(':');
      if (i < 0) continue;
      const key = line.slice(0, i).trim();
      const value = line.slice(i + 1).trim();
      if (key.toLowerCase() === 'status') status = Number(value.split(' ')[0]);
      else res.setHeader(key, value);
    }
    res.writeHead(status);
    headersDone = true;
    const body = head.subarray(end + sep);
    if (body.length) res.write(body);
  });
  child.on('close', () => {
    if (!headersDone) res.writeHead(502).end('git http-backend gave no answer\n');
    else res.end();
  });
  child.on('error', (error) => {
    if (!res.headersSent) res.writeHead(500).end(`${error.message}\n`);
  });
}
