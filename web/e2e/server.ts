// Starts a real Vigilo server for the e2e tests: a free port, a fresh data
// directory, polled until /readyz answers. The server must serve the built UI
// itself; with VIGILO_E2E_PREVIEW=1, `vite preview` may serve web/dist and
// proxy the API to a server that does not.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

export const WEB_ROOT = resolve(import.meta.dirname, '..');
export const VIGILO_BIN = resolve(WEB_ROOT, process.env.VIGILO_BIN ?? '../target/debug/vigilo');

export async function freePort(): Promise<number> {
  return new Promise((ok, fail) => {
    const s = createServer();
    s.unref();
    s.on('error', fail);
    s.listen(0, '127.0.0.1', () => {
      const addr = s.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      s.close(() => ok(port));
    });
  });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function waitFor(url: string, timeoutMs: number, what: string, logs: () => string): Promise<void> {
  const end = Date.now() + timeoutMs;
  let last = '';
  while (Date.now() < end) {
    try {
      const res = await fetch(url);
      if (res.ok) return;
      last = `HTTP ${res.status}`;
    } catch (e) {
      last = (e as Error).message;
    }
    await sleep(200);
  }
  throw new Error(`${what} not ready at ${url} after ${timeoutMs} ms (${last})\n${logs()}`);
}

export interface Account {
  username: string;
  password: string;
}

/** The accounts made before the server starts (when the CLI offers them). */
export interface Auth {
  admin: Account;
  /** An `ingest,read` key for the API calls and `vigilo generate`. */
  apiKey: string;
}

function cli(args: string[], input?: string): { ok: boolean; stdout: string; stderr: string } {
  const r = spawnSync(VIGILO_BIN, args, {
    cwd: resolve(WEB_ROOT, '..'),
    env: { ...process.env, NO_COLOR: '1', RUST_LOG: 'warn' },
    input,
    encoding: 'utf8',
    timeout: 60_000,
  });
  return { ok: r.status === 0, stdout: r.stdout ?? '', stderr: r.stderr ?? '' };
}

/** Whether `vigilo <command> --help` exists (the CLI grows the account commands with the server). */
function hasCommand(command: string): boolean {
  return cli([command, '--help']).ok;
}

let generateHelp: string | null = null;
/** How `vigilo generate` takes an API key: `--api-key`, else the VIGILO_API_KEY environment variable. */
function generatorKeyArgs(key: string): { args: string[]; env: Record<string, string> } {
  generateHelp ??= cli(['generate', '--help']).stdout;
  if (generateHelp.includes('--api-key')) return { args: ['--api-key', key], env: {} };
  return { args: [], env: { VIGILO_API_KEY: key } };
}

/** An admin with a password, and an API key, created with the CLI in `dataDir`. */
function createAccounts(dataDir: string): Auth | null {
  if (!hasCommand('user') || !hasCommand('apikey')) return null;
  const admin = { username: 'e2e-admin', password: 'copper lantern meadow 42' };
  const u = cli(['user', 'create', '--data-dir', dataDir, '--username', admin.username, '--role', 'admin', '--password-stdin'], `${admin.password}\n`);
  if (!u.ok) throw new Error(`vigilo user create failed:\n${u.stdout}${u.stderr}`);
  const k = cli(['apikey', 'create', '--data-dir', dataDir, '--name', 'e2e-traffic', '--scopes', 'ingest,read']);
  if (!k.ok) throw new Error(`vigilo apikey create failed:\n${k.stdout}${k.stderr}`);
  const apiKey = k.stdout.trim().split('\n').pop()?.trim() ?? '';
  if (!apiKey.startsWith('vgl_')) throw new Error(`vigilo apikey create printed no key:\n${k.stdout}`);
  return { admin, apiKey };
}

export interface Running {
  /** Accounts, when the server has them (null: a server from before sign-in). */
  auth: Auth | null;
  /** Where the browser goes (the server itself, or vite preview in front of it). */
  appUrl: string;
  /** The Vigilo server. */
  apiUrl: string;
  servesUi: boolean;
  stop: () => Promise<void>;
  logs: () => string;
}

function collect(child: ChildProcess, buf: string[]) {
  const push = (d: Buffer) => {
    buf.push(d.toString());
    if (buf.length > 400) buf.splice(0, buf.length - 400);
  };
  child.stdout?.on('data', push);
  child.stderr?.on('data', push);
}

async function kill(child: ChildProcess | null) {
  if (!child || child.exitCode !== null) return;
  child.kill('SIGTERM');
  const done = new Promise((r) => child.once('exit', r));
  await Promise.race([done, sleep(5000)]);
  if (child.exitCode === null) child.kill('SIGKILL');
}

export interface ServerOptions {
  /** TOML written to a file passed as `--config` (e.g. an `[alerts]` section). */
  config?: string;
}

export async function startServer(options: ServerOptions = {}): Promise<Running> {
  if (!existsSync(join(WEB_ROOT, 'dist/index.html'))) throw new Error('web/dist is missing: run `npm run build` first');
  if (!existsSync(VIGILO_BIN)) throw new Error(`${VIGILO_BIN} is missing: run \`cargo build -p vigilo\` or set VIGILO_BIN`);
  const dataDir = mkdtempSync(join(tmpdir(), 'vigilo-e2e-'));
  const port = await freePort();
  const apiUrl = `http://127.0.0.1:${port}`;
  const auth = createAccounts(dataDir);
  const args = ['serve', '--listen', `127.0.0.1:${port}`, '--data-dir', dataDir];
  if (options.config) {
    const file = join(dataDir, 'e2e.toml');
    writeFileSync(file, options.config);
    args.push('--config', file);
  }
  const buf: string[] = [];
  const server = spawn(VIGILO_BIN, args, {
    cwd: resolve(WEB_ROOT, '..'),
    env: { ...process.env, NO_COLOR: '1', RUST_LOG: process.env.RUST_LOG ?? 'warn' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  collect(server, buf);
  const logs = () => buf.join('').slice(-6000);
  await waitFor(`${apiUrl}/readyz`, 60_000, 'vigilo', logs);

  // Does the server serve the UI (index.html for client routes)?
  const res = await fetch(`${apiUrl}/findings`, { headers: { Accept: 'text/html' } });
  const body = await res.text();
  const servesUi = res.ok && body.includes('<div id="root">');
  if (!servesUi && process.env.VIGILO_E2E_PREVIEW !== '1') {
    await kill(server);
    throw new Error(
      'the server does not serve the dashboard from web/dist (set VIGILO_E2E_PREVIEW=1 to test the UI through vite preview instead)\n' + logs(),
    );
  }
  let preview: ChildProcess | null = null;
  let appUrl = apiUrl;
  if (!servesUi) {
    const previewPort = await freePort();
    preview = spawn(
      join(WEB_ROOT, 'node_modules/.bin/vite'),
      ['preview', '--host', '127.0.0.1', '--port', String(previewPort), '--strictPort'],
      { cwd: WEB_ROOT, env: { ...process.env, VIGILO_URL: apiUrl }, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    collect(preview, buf);
    appUrl = `http://127.0.0.1:${previewPort}`;
    await waitFor(appUrl, 30_000, 'vite preview', logs);
  }

  return {
    auth,
    appUrl,
    apiUrl,
    servesUi,
    logs,
    stop: async () => {
      await kill(preview);
      await kill(server);
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/** Live generated traffic (`vigilo generate`) until stopped. */
export function startGenerator(
  apiUrl: string,
  seconds = 90,
  rate = 200,
  apiKey?: string,
): { stop: () => Promise<void>; done: Promise<number | null> } {
  const key = apiKey ? generatorKeyArgs(apiKey) : { args: [], env: {} };
  const child = spawn(
    VIGILO_BIN,
    ['generate', '--target', apiUrl, '--rate', String(rate), '--duration', `${seconds}s`, '--seed', '7', ...key.args],
    { cwd: resolve(WEB_ROOT, '..'), env: { ...process.env, NO_COLOR: '1', ...key.env }, stdio: 'ignore' },
  );
  const done = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  return { stop: () => kill(child), done };
}
