// A local OpenAI-compatible chat-completions server for the enrichment e2e:
// answers every `POST /v1/chat/completions` with one fixed assessment, and
// keeps each request body it got.
import { createServer } from 'node:http';

export interface Assessment {
  risk_score: number;
  explanation: string;
  recommended_actions: string[];
  confidence: number;
}

export interface ModelServer {
  /** The `…/v1` base URL for `[enrichment] base_url`. */
  baseUrl: string;
  model: string;
  /** Every chat-completions request body, in arrival order. */
  requests: { model?: string; messages?: { role: string; content: string }[] }[];
  close: () => Promise<void>;
}

export async function startModel(model: string, answer: Assessment): Promise<ModelServer> {
  const requests: ModelServer['requests'] = [];
  let n = 0;
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      if (req.method !== 'POST' || req.url !== '/v1/chat/completions') {
        res.writeHead(404, { 'Content-Type': 'application/json' });
        res.end(JSON.stringify({ error: { message: `no route ${req.method} ${req.url}` } }));
        return;
      }
      try {
        requests.push(JSON.parse(Buffer.concat(chunks).toString('utf8')));
      } catch {
        requests.push({});
      }
      n += 1;
      res.writeHead(200, { 'Content-Type': 'application/json' });
      res.end(
        JSON.stringify({
          id: `chatcmpl-e2e-${n}`,
          object: 'chat.completion',
          created: Math.floor(Date.now() / 1000),
          model,
          choices: [{ index: 0, message: { role: 'assistant', content: JSON.stringify(answer) }, finish_reason: 'stop' }],
          usage: { prompt_tokens: 200, completion_tokens: 40, total_tokens: 240 },
        }),
      );
    });
  });
  await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
  const addr = server.address();
  const port = typeof addr === 'object' && addr ? addr.port : 0;
  return {
    baseUrl: `http://127.0.0.1:${port}/v1`,
    model,
    requests,
    close: () => new Promise<void>((ok) => server.close(() => ok())),
  };
}
