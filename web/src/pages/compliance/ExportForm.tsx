import { useId, useState } from 'react';
import { Icon } from '../../components/Icon';
import { fromLocalInput, toLocalInput } from '../../lib/timeRange';
import { exportHref, frameworkLabel, type Control, type EvidenceFormat, type Framework } from './api';

const DAY = 86_400_000;

const FORMATS: { value: EvidenceFormat; label: string }[] = [
  { value: 'json', label: 'JSON' },
  { value: 'csv', label: 'CSV' },
  { value: 'html', label: 'Printable HTML' },
];

const PERIODS = [7, 30, 90] as const;


/**
 * The evidence export: a framework (or one of its controls), a period
 * (default the last 30 days) and a format, downloaded through a plain link.
 */
export function ExportForm({
  framework,
  frameworks,
  controls,
  control = '',
  onFramework,
  now,
}: {
  framework: string;
  frameworks: Framework[];
  /** The framework's controls, for the optional control choice. */
  controls: Control[];
  /** `<framework>:<control id>` preset (a control's page). */
  control?: string;
  /** Another framework picked (the page follows it). */
  onFramework?: (id: string) => void;
  /** Now (re-rendered by the page): a quick period ends here. */
  now: number;
}) {
  const id = useId();
  // The last `days` days up to now (following the clock), until the user types a period.
  const [days, setDays] = useState<number | null>(30);
  const [custom, setCustom] = useState<{ from: string; to: string }>({ from: '', to: '' });
  // A datetime input holds minutes: "now" ends at the next minute, so the latest findings are in.
  const from = days !== null ? toLocalInput(now - days * DAY) : custom.from;
  const to = days !== null ? toLocalInput(now + 60_000) : custom.to;
  const setFrom = (v: string) => {
    setCustom({ from: v, to });
    setDays(null);
  };
  const setTo = (v: string) => {
    setCustom({ from, to: v });
    setDays(null);
  };
  const [format, setFormat] = useState<EvidenceFormat>('json');
  const [picked, setPicked] = useState(control);
  const [shownFramework, setShownFramework] = useState(framework);
  // Another framework: a control of the previous one no longer applies.
  if (shownFramework !== framework) {
    setShownFramework(framework);
    setPicked(control);
  }
  const f = fromLocalInput(from);
  const t = fromLocalInput(to);
  const valid = f !== null && t !== null && Date.parse(f) < Date.parse(t);
  const href = valid ? exportHref({ framework, from: f, to: t, format, control: picked }) : undefined;

  return (
    <form className="export-form" aria-label="Export evidence" onSubmit={(e) => e.preventDefault()}>
      <label className="field">
        Framework
        <select
          value={framework}
          onChange={(e) => onFramework?.(e.target.value)}
          disabled={!onFramework || frameworks.length < 2}
          name="export-framework"
          aria-label="Framework"
        >
          {frameworks.length === 0 && <option value={framework}>{frameworkLabel(undefined, framework)}</option>}
          {frameworks.map((fw) => (
            <option key={fw.id} value={fw.id}>
              {fw.title}
            </option>
          ))}
        </select>
      </label>
      <label className="field">
        Control
        <select value={picked} onChange={(e) => setPicked(e.target.value)} name="export-control"
          aria-label="Control"
        >
          <option value="">Every control</option>
          {picked && !controls.some((c) => c.key === picked) && <option value={picked}>{picked}</option>}
          {controls.map((c) => (
            <option key={c.key} value={c.key}>
              {c.id} · {c.title}
            </option>
          ))}
        </select>
      </label>
      <fieldset className="field-group">
        <legend>Period</legend>
        <div className="row" style={{ gap: 6 }}>
          <label className="visually-hidden" htmlFor={`${id}-from`}>
            From
          </label>
          <input id={`${id}-from`} type="datetime-local" value={from} onChange={(e) => setFrom(e.target.value)} />
          <span className="faint" aria-hidden="true">
            →
          </span>
          <label className="visually-hidden" htmlFor={`${id}-to`}>
            To
          </label>
          <input id={`${id}-to`} type="datetime-local" value={to} onChange={(e) => setTo(e.target.value)} />
          <span className="chips sentence" role="group" aria-label="Quick periods">
            {PERIODS.map((d) => (
              <button key={d} type="button" className="chip small" aria-pressed={days === d} onClick={() => setDays(d)}>
                Last {d} days
              </button>
            ))}
          </span>
        </div>
        {!valid && <span className="error-text">“From” must be before “To”.</span>}
      </fieldset>
      <label className="field">
        Format
        <select value={format} onChange={(e) => setFormat(e.target.value as EvidenceFormat)} name="export-format"
          aria-label="Format"
        >
          {FORMATS.map((x) => (
            <option key={x.value} value={x.value}>
              {x.label}
            </option>
          ))}
        </select>
      </label>
      <div className="export-go">
        {href ? (
          <a className="btn primary" href={href} download data-testid="export-link">
            <Icon name="download" size={14} /> Download evidence
          </a>
        ) : (
          <button type="button" className="primary" disabled>
            <Icon name="download" size={14} /> Download evidence
          </button>
        )}
      </div>
    </form>
  );
}
