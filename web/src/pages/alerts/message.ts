// A stored notification body (the JSON a receiver was sent) read back as
// the message a person saw: title, text, facts and link, whatever the
// receiver's shape (Discord embeds, Slack blocks, the webhook's own JSON).

export interface Message {
  title: string;
  text: string;
  facts: [string, string][];
  link: string | null;
}

type Obj = Record<string, unknown>;

const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);
const str = (v: unknown): string => (typeof v === 'string' ? v : typeof v === 'number' ? String(v) : '');
const list = (v: unknown): unknown[] => (Array.isArray(v) ? v : []);

function discord(b: Obj): Message | null {
  const embed = list(b.embeds).find(isObj);
  if (!embed) return null;
  const facts: [string, string][] = [];
  for (const f of list(embed.fields)) {
    if (isObj(f) && str(f.name)) facts.push([str(f.name), str(f.value)]);
  }
  return { title: str(embed.title), text: str(embed.description), facts, link: str(embed.url) || null };
}

function slackText(block: Obj): string {
  return isObj(block.text) ? str(block.text.text) : '';
}

function slack(b: Obj): Message | null {
  const blocks = list(b.blocks).filter(isObj);
  if (!blocks.length) return null;
  const header = blocks.find((x) => x.type === 'header');
  const text = blocks
    .filter((x) => x.type === 'section')
    .map(slackText)
    .filter(Boolean)
    .join('\n');
  const facts: [string, string][] = [];
  let link: string | null = null;
  for (const a of list(b.attachments).filter(isObj)) {
    for (const inner of list(a.blocks).filter(isObj)) {
      for (const f of list(inner.fields).filter(isObj)) {
        // "*Name*\nvalue"
        const t = str(f.text);
        const m = /^\*([^*]+)\*\n([\s\S]*)$/.exec(t);
        if (m) facts.push([m[1] ?? '', m[2] ?? '']);
        else if (t) facts.push(['', t]);
      }
      for (const el of list(inner.elements).filter(isObj)) {
        if (str(el.url)) link = str(el.url);
      }
    }
  }
  return { title: header ? slackText(header) : str(b.text), text, facts, link };
}

function webhook(b: Obj): Message {
  const facts: [string, string][] = [];
  for (const k of ['kind', 'status', 'severity', 'count', 'route', 'group_key']) {
    const v = str(b[k]);
    if (v) facts.push([k, v]);
  }
  return { title: str(b.title), text: str(b.text), facts, link: str(b.link) || null };
}

export function messageOf(body: unknown): Message {
  if (!isObj(body)) return { title: '', text: str(body), facts: [], link: null };
  return discord(body) ?? slack(body) ?? webhook(body);
}
