import { useEffect, useId, useRef, useState } from 'react';
import {
  QUICK_RANGES,
  fromLocalInput,
  rangeLabel,
  resolveRange,
  toLocalInput,
  type TimeRange,
} from '../lib/timeRange';
import { useTimeRange } from '../lib/useTimeRange';
import { Icon } from './Icon';

/** Grafana-style picker: quick relative ranges or an absolute custom range, kept in the URL. */
export function TimeRangePicker() {
  const [range, setRange] = useTimeRange();
  const [open, setOpen] = useState(false);
  const ref = useRef<HTMLDivElement>(null);
  const id = useId();

  useEffect(() => {
    if (!open) return;
    // Keyboard users land on the range in effect (or the first one).
    const first =
      ref.current?.querySelector<HTMLButtonElement>('.timepicker button[aria-pressed="true"]') ??
      ref.current?.querySelector<HTMLButtonElement>('.timepicker button');
    first?.focus();
    const onDown = (e: MouseEvent) => {
      if (ref.current && !ref.current.contains(e.target as Node)) setOpen(false);
    };
    const onKey = (e: KeyboardEvent) => {
      if (e.key === 'Escape') {
        setOpen(false);
        ref.current?.querySelector<HTMLButtonElement>('button[aria-haspopup]')?.focus();
      }
    };
    document.addEventListener('mousedown', onDown);
    document.addEventListener('keydown', onKey);
    return () => {
      document.removeEventListener('mousedown', onDown);
      document.removeEventListener('keydown', onKey);
    };
  }, [open]);

  const pick = (r: TimeRange) => {
    setRange(r);
    setOpen(false);
  };

  return (
    <div className="popover-anchor" ref={ref}>
      <button
        type="button"
        aria-haspopup="dialog"
        aria-expanded={open}
        aria-controls={id}
        onClick={() => setOpen((o) => !o)}
        data-testid="timerange"
      >
        <Icon name="clock" /> {rangeLabel(range)} <span aria-hidden="true">▾</span>
      </button>
      {open && (
        <div className="popover" id={id} role="dialog" aria-label="Time range">
          <div className="timepicker">
            <ul>
              {QUICK_RANGES.map((q) => (
                <li key={q.from}>
                  <button
                    type="button"
                    aria-pressed={range.from === q.from && range.to === 'now'}
                    onClick={() => pick({ from: q.from, to: 'now' })}
                  >
                    {q.label}
                  </button>
                </li>
              ))}
            </ul>
            <CustomRange range={range} onApply={pick} />
          </div>
        </div>
      )}
    </div>
  );
}

function CustomRange({ range, onApply }: { range: TimeRange; onApply: (r: TimeRange) => void }) {
  const resolved = resolveRange(range);
  const [from, setFrom] = useState(toLocalInput(resolved.from));
  const [to, setTo] = useState(toLocalInput(resolved.to));
  const f = fromLocalInput(from);
  const t = fromLocalInput(to);
  const valid = f !== null && t !== null && Date.parse(f) < Date.parse(t);
  return (
    <form
      className="stack"
      onSubmit={(e) => {
        e.preventDefault();
        if (valid) onApply({ from: f, to: t });
      }}
    >
      <h3>Custom range</h3>
      <label className="field">
        From
        <input type="datetime-local" value={from} onChange={(e) => setFrom(e.target.value)} />
      </label>
      <label className="field">
        To
        <input type="datetime-local" value={to} onChange={(e) => setTo(e.target.value)} />
      </label>
      {!valid && <span className="faint" style={{ fontSize: 12 }}>“From” must be before “To”.</span>}
      <button type="submit" className="primary" disabled={!valid}>
        Apply range
      </button>
    </form>
  );
}
