// The Sovereign's own Gitea, built from code.gitea.io/gitea (sqlite): install locked, an admin
// user with an API token, migrations allowed from the upstream Git's address,
// and mirror settings that accept a 10m0s interval.
import { ensurePeersPki, PEERS_CERT, TRUST_BUNDLE } from '../peers-pki.ts';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { peerBinary } from '../peers/build.ts';
import { httpOk, startDaemon, stopDaemon, waitUntil } from '../processes.ts';
import { clusterHost, LAB_DIR, NET, PORTS } from '../topology.ts';

export const GITEA_DIR = join(LAB_DIR, 'gitea');
/** The Sovereign's Gitea serves HTTPS with a certificate the Sovereign's private CA signed. */
export const GITEA_URL = `https://${clusterHost(PORTS.gitea)}`;
export const GITEA_ADMIN = { username: 'gitea_admin', password: 'Gitea-lab-admin-1', email: 'admin@sovereign.lab' };
const daemon = { pidFile: join(GITEA_DIR, 'gitea.pid'), logFile: join(GITEA_DIR, 'gitea.out.log') };
const CONFIG = join(GITEA_DIR, 'app.ini');
const TOKEN_FILE = join(GITEA_DIR, 'admin-token');
const TOKEN = /^[0-9a-f]{40}$/;
// Gitea refuses to run as root unless told that this is deliberate; the lab runs as root.
// Gitea (Go) and the git it runs trust the Sovereign's private CA: the upstream Git it mirrors is HTTPS on it.
const ENV = {
  GITEA_I_AM_BEING_UNSAFE_RUNNING_AS_ROOT: 'true',
  GITEA_WORK_DIR: GITEA_DIR,
  HOME: GITEA_DIR,
  SSL_CERT_FILE: TRUST_BUNDLE,
  GIT_SSL_CAINFO: TRUST_BUNDLE,
};

/** Where Gitea's templates, options and public assets live: the module source (no bindata build). */
function giteaModuleDir(): string {
  return execFileSync('go', ['list', '-m', '-f', '{{.Dir}}', 'code.gitea.io/gitea'], {
    cwd: join(import.meta.dirname, '..', 'peers', 'gitea'),
    encoding: 'utf8',
    env: { ...process.env, GONOSUMDB: 'code.gitea.io/gitea' },
  }).trim();
}

function secret(name: string): string {
  const file = join(GITEA_DIR, `.${name}`);
  if (!existsSync(file)) writeFileSync(file, randomBytes(32).toString('hex'), { mode: 0o600 });
  return readFileSync(file, 'utf8');
}

function writeConfig(): void {
  ensurePeersPki();
  const staticRoot = giteaModuleDir();
  writeFileSync(
    CONFIG,
    `APP_NAME = Sovereign Gitea (lab)
RUN_MODE = prod
RUN_USER = root
WORK_PATH = ${GITEA_DIR}

[server]
PROTOCOL = https
CERT_FILE = ${PEERS_CERT.cert}
KEY_FILE = ${PEERS_CERT.key}
HTTP_ADDR = ${NET.cluster.ip}
HTTP_PORT = ${PORTS.gitea}
ROOT_URL = ${GITEA_URL}/
DISABLE_SSH = true
START_SSH_SERVER = false
OFFLINE_MODE = true
STATIC_ROOT_PATH = ${staticRoot}
APP_DATA_PATH = ${join(GITEA_DIR, 'data')}
LFS_START_SERVER = false

[database]
DB_TYPE = sqlite3
PATH = ${join(GITEA_DIR, 'data', 'gitea.db')}
SQLITE_JOURNAL_MODE = WAL

[repository]
ROOT = ${join(GITEA_DIR, 'repositories')}

[security]
INSTALL_LOCK = true
SECRET_KEY = ${secret('secret-key')}
INTERNAL_TOKEN = ${secret('internal-token')}
PASSWORD_HASH_ALGO = pbkdf2_hi

[oauth2]
ENABLED = false

[service]
DISABLE_REGISTRATION = true
REQUIRE_SIGNIN_VIEW = false

[migrations]
ALLOW_LOCALNETWORKS = true

[mirror]
ENABLED = true
DISABLE_NEW_PULL = false
MIN_INTERVAL = 1m
DEFAULT_INTERVAL = 10m

[log]
MODE = file
LEVEL = Warn
ROOT_PATH = ${join(GITEA_DIR, 'log')}

[indexer]
REPO_INDEXER_ENABLED = false
ISSUE_INDEXER_TYPE = db

[queue]
TYPE = level

[session]
PROVIDER = memory

[cache]
ADAPTER = memory

[cron.update_checker]
ENABLED = false

[git.config]
http.sslCAInfo = ${TRUST_BUNDLE}
`,
  );
}

function gitea(...args: string[]): string {
  return execFileSync(peerBinary('gitea', 'gitea'), ['--config', CONFIG, '--work-path', GITEA_DIR, ...args], {
    encoding: 'utf8',
    env: { ...process.env, ...ENV },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
}

export async function startGitea(log: (line: string) => void): Promise<{ token: string }> {
  mkdirSync(join(GITEA_DIR, 'data'), { recursive: true });
  writeConfig();
  const state = startDaemon({
    name: 'gitea',
    command: peerBinary('gitea', 'gitea'),
    args: ['web', '--config', CONFIG, '--work-path', GITEA_DIR],
    env: ENV,
    ...daemon,
  });
  await waitUntil('gitea', () => httpOk(`${GITEA_URL}/api/v1/version`, (s) => s === 200), 90_000, daemon);
  const token = await ensureAdmin();
  log(`  Gitea ${GITEA_URL}: ${state}`);
  return { token };
}

/** The admin user and its API token, created once; a token that stopped working is replaced. */
async function ensureAdmin(): Promise<string> {
  if (existsSync(TOKEN_FILE)) {
    const token = readFileSync(TOKEN_FILE, 'utf8').trim();
    const res = TOKEN.test(token)
      ? await fetch(`${GITEA_URL}/api/v1/user`, { headers: { authorization: `token ${token}` } })
      : undefined;
    if (res?.ok) return token;
  }
  const users = gitea('admin', 'user', 'list', '--admin');
  if (!users.split('\n').some((line) => line.split(/\s+/)[1] === GITEA_ADMIN.username)) {
    gitea(
      'admin',
      'user',
      'create',
      '--admin',
      '--username',
      GITEA_ADMIN.username,
      '--password',
      GITEA_ADMIN.password,
      '--email',
      GITEA_ADMIN.email,
      '--must-change-password=false',
    );
  }
  // Gitea prints its run-as-root warning on stdout too: the token is the line that looks like one.
  const output = gitea(
    'admin',
    'user',
    'generate-access-token',
    '--username',
    GITEA_ADMIN.username,
    '--token-name',
    `lab-${Date.now()}`,
    '--scopes',
    'all',
    '--raw',
  );
  const token = output
    .split('\n')
    .map((l) => l.trim())
    .find((l) => TOKEN.test(l));
  if (!token) throw new Error(`gitea generate-access-token printed no token:\n${output}`);
  writeFileSync(TOKEN_FILE, token, { mode: 0o600 });
  return token;
}

export async function stopGitea(): Promise<void> {
  await stopDaemon(daemon.pidFile);
}
