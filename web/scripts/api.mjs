// Generates src/api/schema.d.ts from the server's OpenAPI document, or checks
// that the committed file matches it.
//   VIGILO_OPENAPI=path/to/openapi.json  read the spec from a file
//   VIGILO_BIN=../target/debug/vigilo    else print it with `$VIGILO_BIN openapi`
//   VIGILO_URL=http://127.0.0.1:8080     else fetch <VIGILO_URL>/api/openapi.json
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const committed = join(root, 'src/api/schema.d.ts');
const mode = process.argv[2];
if (mode !== 'gen' && mode !== 'check') {
  console.error('usage: node scripts/api.mjs gen|check');
  process.exit(2);
}

async function loadSpec() {
  if (process.env.VIGILO_OPENAPI) return readFileSync(process.env.VIGILO_OPENAPI, 'utf8');
  if (process.env.VIGILO_BIN) {
    return execFileSync(resolve(root, process.env.VIGILO_BIN), ['openapi'], { encoding: 'utf8', maxBuffer: 64 << 20 });
  }
  const base = process.env.VIGILO_URL ?? 'http://127.0.0.1:8080';
  const url = `${base.replace(/\/$/, '')}/api/openapi.json`;
  let res;
  try {
    res = await fetch(url);
  } catch (e) {
    console.error(`cannot fetch ${url}: ${e.message}\n(start a server, or set VIGILO_OPENAPI to a spec file)`);
    process.exit(2);
  }
  if (!res.ok) {
    console.error(`${url}: HTTP ${res.status}`);
    process.exit(2);
  }
  return res.text();
}

const tmp = mkdtempSync(join(tmpdir(), 'vigilo-api-'));
const specFile = join(tmp, 'openapi.json');
writeFileSync(specFile, await loadSpec());
const out = mode === 'gen' ? committed : join(tmp, 'schema.d.ts');
execFileSync(join(root, 'node_modules/.bin/openapi-typescript'), [specFile, '-o', out], {
  stdio: ['ignore', 'ignore', 'inherit'],
});
if (mode === 'gen') {
  console.log(`wrote ${committed}`);
} else {
  const want = readFileSync(out, 'utf8');
  let have = '';
  try {
    have = readFileSync(committed, 'utf8');
  } catch {
    // missing file counts as drift
  }
  if (want !== have) {
    console.error('src/api/schema.d.ts is out of date with the server\'s OpenAPI document; run `npm run api:gen`');
    try {
      execFileSync('diff', ['-u', committed, out], { stdio: 'inherit' });
    } catch {
      // diff exits 1 on differences
    }
    process.exit(1);
  }
  console.log('src/api/schema.d.ts matches the OpenAPI document');
}
