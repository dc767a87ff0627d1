import { Fragment, type ReactNode } from 'react';

/** Pretty, syntax-coloured JSON without dangerouslySetInnerHTML. */
export function JsonView({ value }: { value: unknown }) {
  const text = JSON.stringify(value, null, 2) ?? 'undefined';
  const parts: ReactNode[] = [];
  const re = /("(?:\\.|[^"\\])*")(\s*:)?|\b(true|false|null)\b|(-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?)/g;
  let last = 0;
  let m: RegExpExecArray | null;
  while ((m = re.exec(text))) {
    if (m.index > last) parts.push(<Fragment key={parts.length}>{text.slice(last, m.index)}</Fragment>);
    if (m[1]) {
      parts.push(
        <span key={parts.length} className={m[2] ? 'json-key' : 'json-str'}>
          {m[1]}
        </span>,
      );
      if (m[2]) parts.push(<Fragment key={parts.length}>{m[2]}</Fragment>);
    } else if (m[3]) parts.push(<span key={parts.length} className="json-lit">{m[3]}</span>);
    else if (m[4]) parts.push(<span key={parts.length} className="json-num">{m[4]}</span>);
    last = re.lastIndex;
  }
  if (last < text.length) parts.push(<Fragment key={parts.length}>{text.slice(last)}</Fragment>);
  return <pre className="json">{parts}</pre>;
}
