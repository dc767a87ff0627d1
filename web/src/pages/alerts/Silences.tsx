import { useState } from 'react';
import { useSearchParams } from 'react-router';
import { errorMessage } from '../../api/client';
import { useCan } from '../../api/auth';
import { SILENCE_FIELDS, SILENCE_STATES, type Silence, type SilenceBody, type SilenceMatcher } from '../../api/types';
import { Modal } from '../../components/Modal';
import { Empty, QueryState } from '../../components/States';
import { fmtTime, humanize } from '../../lib/format';
import { useCreateSilence, useExpireSilence, useSilences } from './api';

export const DURATIONS = ['30m', '1h', '2h', '4h', '8h', '1d', '3d', '7d'] as const;

function matchersFrom(params: URLSearchParams): SilenceMatcher[] {
  const out: SilenceMatcher[] = [];
  for (const f of SILENCE_FIELDS) {
    const v = params.get(f);
    if (v) out.push({ field: f, value: v, glob: false });
  }
  return out;
}

export function MatcherText({ m }: { m: SilenceMatcher }) {
  return (
    <span className="tag" title={m.glob ? 'glob: * any characters, ? one' : 'equals'}>
      {m.field}
      {m.glob ? ' ~ ' : ' = '}
      {m.value}
    </span>
  );
}

/** Local `YYYY-MM-DDTHH:mm` for a datetime-local input. */
function localInput(d: Date): string {
  const pad = (n: number) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}`;
}

export interface SilenceDraft {
  matchers: SilenceMatcher[];
  endMode: 'duration' | 'until';
  duration: string;
  until: string;
  startLater: boolean;
  startsAt: string;
  comment: string;
}

/** The request body of a draft, or the first problem with it. */
export function silenceBody(d: SilenceDraft): { body: SilenceBody } | { error: string } {
  const matchers = d.matchers.map((m) => ({ ...m, value: m.value.trim() })).filter((m) => m.value !== '');
  if (matchers.length === 0) return { error: 'Add at least one matcher with a value.' };
  const body: SilenceBody = { matchers, comment: d.comment.trim() };
  if (d.startLater) {
    const s = new Date(d.startsAt);
    if (!d.startsAt || Number.isNaN(s.getTime())) return { error: 'Give the start time.' };
    body.starts_at = s.toISOString();
  }
  if (d.endMode === 'duration') {
    if (!/^\s*\d+\s*[smhdw]\s*$/.test(d.duration)) return { error: 'The duration is a number and a unit, like 2h, 30m or 1d.' };
    body.duration = d.duration.trim().replace(/\s+/g, '');
  } else {
    const e = new Date(d.until);
    if (!d.until || Number.isNaN(e.getTime())) return { error: 'Give the end time.' };
    body.ends_at = e.toISOString();
  }
  return { body };
}

export function SilenceForm({
  initial,
  busy,
  error,
  onSubmit,
  onCancel,
}: {
  initial: { matchers: SilenceMatcher[]; comment: string };
  busy: boolean;
  error: string | null;
  onSubmit: (b: SilenceBody) => void;
  onCancel: () => void;
}) {
  const [draft, setDraft] = useState<SilenceDraft>(() => ({
    matchers: initial.matchers.length ? initial.matchers : [{ field: 'rule_id', value: '', glob: false }],
    endMode: 'duration',
    duration: '2h',
    until: localInput(new Date(Date.now() + 2 * 3600_000)),
    startLater: false,
    startsAt: localInput(new Date(Date.now() + 3600_000)),
    comment: initial.comment,
  }));
  const [problem, setProblem] = useState<string | null>(null);
  const put = (p: Partial<SilenceDraft>) => setDraft((d) => ({ ...d, ...p }));
  const putMatcher = (i: number, p: Partial<SilenceMatcher>) =>
    setDraft((d) => ({ ...d, matchers: d.matchers.map((m, j) => (j === i ? { ...m, ...p } : m)) }));

  return (
    <form
      className="stack"
      aria-label="New silence"
      onSubmit={(e) => {
        e.preventDefault();
        const r = silenceBody(draft);
        if ('error' in r) setProblem(r.error);
        else {
          setProblem(null);
          onSubmit(r.body);
        }
      }}
    >
      <fieldset className="field-group">
        <legend>Matchers (a finding is silenced when all match)</legend>
        {draft.matchers.map((m, i) => (
          <div key={i} className="row matcher-row" style={{ gap: 6, flexWrap: 'nowrap' }} data-testid="matcher">
            <select aria-label={`Field ${i + 1}`} value={m.field} onChange={(e) => putMatcher(i, { field: e.target.value })}>
              {SILENCE_FIELDS.map((f) => (
                <option key={f} value={f}>
                  {humanize(f)}
                </option>
              ))}
            </select>
            <select
              aria-label={`Operator ${i + 1}`}
              value={m.glob ? 'glob' : 'eq'}
              onChange={(e) => putMatcher(i, { glob: e.target.value === 'glob' })}
            >
              <option value="eq">=</option>
              <option value="glob">glob</option>
            </select>
            <input
              aria-label={`Value ${i + 1}`}
              value={m.value}
              onChange={(e) => putMatcher(i, { value: e.target.value })}
              placeholder={m.glob ? 'iam.*' : m.field === 'severity' ? 'high' : 'value'}
              style={{ flex: 1, minWidth: 0 }}
            />
            <button
              type="button"
              className="ghost small"
              aria-label={`Remove matcher ${i + 1}`}
              disabled={draft.matchers.length === 1}
              onClick={() => put({ matchers: draft.matchers.filter((_, j) => j !== i) })}
            >
              ×
            </button>
          </div>
        ))}
        <div>
          <button
            type="button"
            className="small"
            onClick={() => put({ matchers: [...draft.matchers, { field: 'service', value: '', glob: false }] })}
          >
            Add matcher
          </button>
        </div>
      </fieldset>

      <fieldset className="field-group">
        <legend>Starts</legend>
        <label className="row" style={{ gap: 8, fontWeight: 400, color: 'var(--text)' }}>
          <input type="radio" style={{ margin: 0 }} name="start" checked={!draft.startLater} onChange={() => put({ startLater: false })} />
          now
        </label>
        <label className="row" style={{ gap: 8, fontWeight: 400, color: 'var(--text)' }}>
          <input type="radio" style={{ margin: 0 }} name="start" checked={draft.startLater} onChange={() => put({ startLater: true })} />
          at
          <input
            type="datetime-local"
            aria-label="Starts at"
            value={draft.startsAt}
            disabled={!draft.startLater}
            onChange={(e) => put({ startsAt: e.target.value })}
          />
        </label>
      </fieldset>

      <fieldset className="field-group">
        <legend>Ends</legend>
        <label className="row" style={{ gap: 8, fontWeight: 400, color: 'var(--text)' }}>
          <input type="radio" style={{ margin: 0 }} name="end" checked={draft.endMode === 'duration'} onChange={() => put({ endMode: 'duration' })} />
          after
          <input
            aria-label="Duration"
            list="silence-durations"
            value={draft.duration}
            disabled={draft.endMode !== 'duration'}
            onChange={(e) => put({ duration: e.target.value })}
            style={{ width: 90 }}
          />
          <datalist id="silence-durations">
            {DURATIONS.map((d) => (
              <option key={d} value={d} />
            ))}
          </datalist>
        </label>
        <label className="row" style={{ gap: 8, fontWeight: 400, color: 'var(--text)' }}>
          <input type="radio" style={{ margin: 0 }} name="end" checked={draft.endMode === 'until'} onChange={() => put({ endMode: 'until' })} />
          at
          <input
            type="datetime-local"
            aria-label="Ends at"
            value={draft.until}
            disabled={draft.endMode !== 'until'}
            onChange={(e) => put({ until: e.target.value })}
          />
        </label>
      </fieldset>

      <label className="field">
        Comment
        <textarea
          rows={2}
          value={draft.comment}
          onChange={(e) => put({ comment: e.target.value })}
          placeholder="why, and who to ask"
          style={{ fontFamily: 'inherit', fontSize: 13 }}
          maxLength={1000}
        />
      </label>
      {(problem ?? error) && (
        <div className="banner error" role="alert">
          {problem ?? error}
        </div>
      )}
      <div className="row" style={{ justifyContent: 'flex-end' }}>
        <button type="button" onClick={onCancel}>
          Cancel
        </button>
        <button type="submit" className="primary" disabled={busy}>
          Create silence
        </button>
      </div>
    </form>
  );
}

function SilenceRow({ s, canWrite, onExpire, busy }: { s: Silence; canWrite: boolean; onExpire: () => void; busy: boolean }) {
  return (
    <tr data-silence-id={s.id} data-state={s.state}>
      <td>
        <span
          className={`status status-${s.state}`}
          title={`Receivers told it started: ${s.start_announced ? 'yes' : 'not yet'}; ended: ${s.end_announced ? 'yes' : 'not yet'}`}
        >
          {s.state}
        </span>
      </td>
      <td>
        <span className="row" style={{ gap: 2 }}>
          {s.matchers.map((m, i) => (
            <MatcherText key={i} m={m} />
          ))}
        </span>
      </td>
      <td className="mono nowrap">{fmtTime(s.starts_at)}</td>
      <td className="mono nowrap">
        {fmtTime(s.expired_at ?? s.ends_at)}
        {s.expired_at && <span className="faint"> (expired early)</span>}
      </td>
      <td className="mono nowrap">{s.created_by}</td>
      <td className="truncate" style={{ maxWidth: 240 }} title={s.comment}>
        {s.comment || <span className="faint">—</span>}
      </td>
      {canWrite && (
        <td className="nowrap">
          {s.state !== 'expired' && (
            <button type="button" className="small danger" disabled={busy} onClick={onExpire} aria-label={`Expire silence ${s.id}`}>
              Expire
            </button>
          )}
        </td>
      )}
    </tr>
  );
}

export function Silences() {
  const [params, setParams] = useSearchParams();
  const canWrite = useCan()('findings_write');
  const list = useSilences();
  const create = useCreateSilence();
  const expire = useExpireSilence();
  const [confirm, setConfirm] = useState<Silence | null>(null);
  const state = params.get('state') ?? '';
  const creating = canWrite && params.get('new') === '1';
  const initial = { matchers: matchersFrom(params), comment: params.get('comment') ?? '' };

  const closeForm = () =>
    setParams((prev) => {
      const next = new URLSearchParams(prev);
      for (const k of ['new', 'comment', ...SILENCE_FIELDS]) next.delete(k);
      return next;
    });
  const setState = (s: string) =>
    setParams((prev) => {
      const next = new URLSearchParams(prev);
      if (s) next.set('state', s);
      else next.delete('state');
      return next;
    });

  const items = list.data ?? [];
  const counts = Object.fromEntries(SILENCE_STATES.map((s) => [s, items.filter((x) => x.state === s).length]));
  const shown = items
    .filter((s) => !state || s.state === state)
    // Active first, then pending, then expired; newest first within.
    .sort((a, b) => SILENCE_STATES.indexOf(a.state as never) - SILENCE_STATES.indexOf(b.state as never) || b.id - a.id);

  return (
    <section className="panel">
      <div className="panel-head" style={{ flexWrap: 'wrap' }}>
        <div className="segmented" role="group" aria-label="Silence state">
          <button type="button" aria-pressed={state === ''} onClick={() => setState('')}>
            All {items.length}
          </button>
          {SILENCE_STATES.map((s) => (
            <button key={s} type="button" aria-pressed={state === s} onClick={() => setState(s)}>
              {s.charAt(0).toUpperCase() + s.slice(1)} {counts[s]}
            </button>
          ))}
        </div>
        <span className="spacer" />
        {canWrite && (
          <button
            type="button"
            className="primary"
            onClick={() =>
              setParams((prev) => {
                const next = new URLSearchParams(prev);
                next.set('new', '1');
                return next;
              })
            }
          >
            New silence
          </button>
        )}
      </div>
      {expire.isError && <div className="banner error">{errorMessage(expire.error)}</div>}
      <QueryState query={list} rows={5}>
        {() =>
          shown.length === 0 ? (
            <Empty>{state ? `No ${state} silences.` : 'No silences. A silence mutes the findings it matches until it ends.'}</Empty>
          ) : (
            <div className="table-wrap">
              <table className="data" data-testid="silences-table">
                <thead>
                  <tr>
                    <th>State</th>
                    <th>Matchers</th>
                    <th>Starts</th>
                    <th>Ends</th>
                    <th>By</th>
                    <th>Comment</th>
                    {canWrite && (
                      <th>
                        <span className="visually-hidden">Actions</span>
                      </th>
                    )}
                  </tr>
                </thead>
                <tbody>
                  {shown.map((s) => (
                    <SilenceRow key={s.id} s={s} canWrite={canWrite} busy={expire.isPending} onExpire={() => setConfirm(s)} />
                  ))}
                </tbody>
              </table>
            </div>
          )
        }
      </QueryState>

      <Modal open={creating} title="New silence" onClose={closeForm}>
        <SilenceForm
          initial={initial}
          busy={create.isPending}
          error={create.isError ? errorMessage(create.error) : null}
          onCancel={closeForm}
          onSubmit={(b) =>
            create.mutate(b, {
              onSuccess: () => {
                create.reset();
                closeForm();
              },
            })
          }
        />
      </Modal>
      <Modal open={confirm !== null} title="Expire silence" onClose={() => setConfirm(null)}>
        {confirm && (
          <div className="stack">
            <p style={{ margin: 0 }}>
              Findings matching{' '}
              {confirm.matchers.map((m, i) => (
                <MatcherText key={i} m={m} />
              ))}{' '}
              will notify again from now on, and receivers are told the silence ended.
            </p>
            <div className="row" style={{ justifyContent: 'flex-end' }}>
              <button type="button" onClick={() => setConfirm(null)}>
                Cancel
              </button>
              <button
                type="button"
                className="primary danger-fill"
                disabled={expire.isPending}
                onClick={() => expire.mutate(confirm.id, { onSuccess: () => setConfirm(null) })}
              >
                Expire now
              </button>
            </div>
          </div>
        )}
      </Modal>
    </section>
  );
}
