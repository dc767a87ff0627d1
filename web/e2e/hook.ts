// A webhook receiver for the e2e alerts: a local HTTP server on a free port
// that answers 200 and keeps every request it got.
import { createServer, type IncomingHttpHeaders } from 'node:http';

export interface Received {
  path: string;
  headers: IncomingHttpHeaders;
  body: unknown;
}

export interface Hook {
  url: string;
  received: Received[];
  /** The first request `match` accepts, waiting up to `timeoutMs`. */
  waitFor: (match: (r: Received) => boolean, timeoutMs?: number) => Promise<Received>;
  close: () => Promise<void>;
}

export async function startHook(): Promise<Hook> {
  const received: Received[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const text = Buffer.concat(chunks).toString('utf8');
      let body: unknown = text;
      try {
        body = JSON.parse(text);
      } catch {
        // keep the text
      }
      received.push({ path: req.url ?? '', headers: req.headers, body });
      res.writeHead(200, { 'Content-Type': 'application/json' });
      res.end('{"ok":true}');
    });
  });
  await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
  const addr = server.address();
  const port = typeof addr === 'object' && addr ? addr.port : 0;
  return {
    url: `http://127.0.0.1:${port}/hook`,
    received,
    waitFor: async (match, timeoutMs = 10_000) => {
      const end = Date.now() + timeoutMs;
      for (;;) {
        const r = received.find(match);
        if (r) return r;
        if (Date.now() > end) throw new Error(`the webhook receiver got no matching request in ${timeoutMs} ms (${received.length} requests)`);
        await new Promise((ok) => setTimeout(ok, 100));
      }
    },
    close: () => new Promise<void>((ok) => server.close(() => ok())),
  };
}
