import { useState } from 'react';
import { Link, useLocation, useParams } from 'react-router';
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { ApiError, api, errorMessage } from '../api/client';
import { useCapabilities } from '../api/capabilities';
import { useCan } from '../api/auth';
import type { CloseReason, Finding, LiveFinding, FindingDetail as Detail, FindingStatus, HistoryEntry } from '../api/types';
import { CLOSE_REASONS, STATUSES } from '../api/types';
import { RiskScore, SeverityBadge, StatusBadge, Tags } from '../components/Badges';
import { JsonView } from '../components/JsonView';
import { Modal } from '../components/Modal';
import { Empty, ErrorState, Loading, QueryState } from '../components/States';
import { fmtNum, fmtTime, humanize } from '../lib/format';
import { useLiveEvent } from '../live/socket';
import { FindingNotifications } from './alerts/FindingNotifications';
import { FindingEnrichment } from './FindingEnrichment';
import { silenceLink } from './alerts/links';

export default function FindingDetail() {
  const { id = '' } = useParams();
  const location = useLocation();
  const qc = useQueryClient();
  const caps = useCapabilities();
  const hasHistory = caps.has('/api/v1/findings/{id}/history');
  const hasNotifications = caps.ready && caps.has('/api/v1/findings/{id}/notifications');
  const canTriage = useCan()('findings_write');
  const detail = useQuery({
    queryKey: ['finding', id],
    queryFn: ({ signal }) => api.get<Detail>(`/api/v1/findings/${encodeURIComponent(id)}`, undefined, signal),
  });
  const history = useQuery({
    queryKey: ['finding', id, 'history'],
    queryFn: ({ signal }) =>
      api.get<{ items: HistoryEntry[]; total: number }>(`/api/v1/findings/${encodeURIComponent(id)}/history`, undefined, signal),
    retry: false,
    enabled: caps.ready && hasHistory,
  });
  // Another analyst (or a re-fired incident) changed this finding: show it.
  useLiveEvent<LiveFinding>('finding', (lf) => {
    if (String(lf.id) === id) void qc.invalidateQueries({ queryKey: ['finding', id] });
  });
  const invalidate = () => {
    void qc.invalidateQueries({ queryKey: ['finding', id] });
    void qc.invalidateQueries({ queryKey: ['findings'] });
  };
  const patch = useMutation({
    mutationFn: (body: Record<string, unknown>) => api.patch<Finding>(`/api/v1/findings/${encodeURIComponent(id)}`, body),
    onSuccess: invalidate,
  });
  const [closing, setClosing] = useState<FindingStatus | null>(null);
  const back = `/findings${location.search}`;

  if (detail.isPending) return <Loading rows={8} />;
  if (detail.isError)
    return (
      <div className="panel">
        <ErrorState error={detail.error} retry={() => void detail.refetch()} />
        <div className="state">
          <Link to={back}>← Back to findings</Link>
        </div>
      </div>
    );
  // The server sends the finding's fields and evidence_events in one object;
  // older servers nested the finding under `finding`.
  const raw = detail.data as Detail & { finding?: Finding };
  const f: Finding = raw.finding ?? raw;
  const events = raw.evidence_events ?? [];

  const setStatus = (s: FindingStatus) => {
    if (s === 'resolved' || s === 'suppressed') setClosing(s);
    else patch.mutate({ status: s });
  };

  return (
    <>
      <div className="row">
        <Link to={back}>← Findings</Link>
      </div>
      <section className="panel">
        <div className="panel-head" style={{ flexWrap: 'wrap' }}>
          <SeverityBadge severity={f.severity} />
          <h2 style={{ fontSize: 16 }}>{f.rule_title}</h2>
          <StatusBadge status={f.status} />
        </div>
        <div className="panel-body stack">
          {canTriage && (
          <div className="row" role="group" aria-label="Status actions">
            {STATUSES.filter((s) => s !== f.status).map((s) => (
              <button
                key={s}
                type="button"
                className={s === 'acknowledged' ? 'primary' : undefined}
                disabled={patch.isPending}
                onClick={() => setStatus(s)}
              >
                {s === 'open' ? 'Reopen' : s === 'acknowledged' ? 'Acknowledge' : s === 'resolved' ? 'Resolve…' : 'Suppress…'}
              </button>
            ))}
            <Link
              className="btn"
              to={silenceLink({ rule_id: f.rule_id, service: f.service }, `muted from finding #${f.id}`)}
              title="Create a silence for findings of this rule and service"
            >
              Silence like this…
            </Link>
            <span className="spacer" />
            <AssigneeEditor
              value={f.assignee ?? ''}
              busy={patch.isPending}
              onSave={(v) => patch.mutate({ assignee: v })}
            />
          </div>
          )}
          {patch.isError && <div className="banner error">{errorMessage(patch.error)}</div>}
          <p style={{ margin: 0 }}>{f.description}</p>
        </div>
      </section>

      <div className="grid-main-side">
        <div className="stack">
          <section className="panel">
            <div className="panel-head">
              <h2>Why it matters</h2>
              <RiskScore score={f.risk_score} />
            </div>
            <div className="panel-body">
              <p style={{ margin: 0 }} data-testid="explanation">
                {f.explanation}
              </p>
              {caps.has('/api/v1/findings/{id}/enrichments') && (
                <FindingEnrichment
                  id={id}
                  enrichedBy={f.enriched_by ?? 'heuristic'}
                  actions={f.recommended_actions ?? []}
                  canEnrich={canTriage && caps.has('/api/v1/findings/{id}/enrich')}
                />
              )}
            </div>
          </section>
          <section className="panel">
            <div className="panel-head">
              <h2>Evidence</h2>
              <span className="hint">
                {fmtNum(events.length)} shown of {fmtNum(f.event_count)} events
              </span>
            </div>
            <div className="panel-body flush">
              {events.length === 0 ? (
                <Empty>No evidence events are stored for this finding.</Empty>
              ) : (
                <EvidenceTable events={events} />
              )}
            </div>
          </section>
          <section className="panel">
            <div className="panel-head">
              <h2>History</h2>
            </div>
            <div className="panel-body">
              {hasHistory ? (
                <QueryState query={history}>
                  {() => <HistoryList items={history.data?.items ?? []} />}
                </QueryState>
              ) : (
                <HistoryList items={fallbackHistory(f)} />
              )}
              {canTriage && <NoteForm id={id} onAdded={invalidate} />}
            </div>
          </section>
          {hasNotifications && <FindingNotifications id={id} />}
        </div>
        <aside className="stack">
          <section className="panel">
            <div className="panel-head">
              <h2>Details</h2>
            </div>
            <div className="panel-body">
              <dl className="kv">
                <dt>Finding</dt>
                <dd className="mono">#{f.id}</dd>
                <dt>Rule</dt>
                <dd className="mono">
                  <Link to={`/findings?rule_id=${encodeURIComponent(f.rule_id)}`}>{f.rule_id}</Link>
                </dd>
                {Object.entries(f.group)
                  .filter(([k]) => k !== 'user' && k !== 'service')
                  .map(([k, v]) => (
                  <GroupRow key={k} k={k} v={v} />
                ))}
                <dt>Service</dt>
                <dd className="mono">{f.service ?? '—'}</dd>
                <dt>User</dt>
                <dd className="mono">{f.user ?? '—'}</dd>
                <dt>First seen</dt>
                <dd className="mono">{fmtTime(f.first_seen)}</dd>
                <dt>Last seen</dt>
                <dd className="mono">{fmtTime(f.last_seen)}</dd>
                <dt>Events</dt>
                <dd className="mono">{fmtNum(f.event_count)}</dd>
                <dt>Assignee</dt>
                <dd>{f.assignee || <span className="faint">unassigned</span>}</dd>
                {f.close_reason && (
                  <>
                    <dt>Close reason</dt>
                    <dd>{humanize(f.close_reason)}</dd>
                  </>
                )}
                <dt>Rule tags</dt>
                <dd>{f.tags.length ? <Tags tags={f.tags} /> : '—'}</dd>
                <dt>Updated</dt>
                <dd className="mono">{fmtTime(f.updated_at)}</dd>
              </dl>
            </div>
          </section>
          <section className="panel">
            <div className="panel-head">
              <h2>Tags</h2>
            </div>
            <div className="panel-body">
              <TagEditor
                editable={canTriage}
                tags={f.workflow_tags ?? []}
                busy={patch.isPending}
                onAdd={(t) => patch.mutate({ add_tags: [t] })}
                onRemove={(t) => patch.mutate({ remove_tags: [t] })}
              />
            </div>
          </section>
        </aside>
      </div>

      <Modal open={closing !== null} title={closing === 'suppressed' ? 'Suppress finding' : 'Resolve finding'} onClose={() => setClosing(null)}>
        <CloseForm
          status={closing ?? 'resolved'}
          busy={patch.isPending}
          onCancel={() => setClosing(null)}
          onSubmit={(reason, note) => {
            const body: Record<string, unknown> = { status: closing, close_reason: reason };
            if (note.trim()) body.note = note.trim();
            patch.mutate(body, { onSuccess: () => setClosing(null) });
          }}
        />
      </Modal>
    </>
  );
}

function GroupRow({ k, v }: { k: string; v: string }) {
  return (
    <>
      <dt>{humanize(k)}</dt>
      <dd className="mono">{v}</dd>
    </>
  );
}

function CloseForm({
  status,
  busy,
  onSubmit,
  onCancel,
}: {
  status: FindingStatus;
  busy: boolean;
  onSubmit: (reason: CloseReason, note: string) => void;
  onCancel: () => void;
}) {
  const [reason, setReason] = useState<CloseReason>(status === 'suppressed' ? 'benign' : 'fixed');
  const [note, setNote] = useState('');
  return (
    <form
      className="stack"
      onSubmit={(e) => {
        e.preventDefault();
        onSubmit(reason, note);
      }}
    >
      <fieldset style={{ border: 0, padding: 0, margin: 0 }} className="stack">
        <legend className="muted" style={{ fontSize: 12, fontWeight: 500, marginBottom: 6 }}>
          Reason
        </legend>
        {CLOSE_REASONS.map((r) => (
          <label key={r} className="row" style={{ gap: 8 }}>
            <input type="radio" name="reason" value={r} checked={reason === r} onChange={() => setReason(r)} />
            {humanize(r)}
          </label>
        ))}
      </fieldset>
      <label className="field">
        Note (optional)
        <textarea rows={3} value={note} onChange={(e) => setNote(e.target.value)} style={{ fontFamily: 'inherit' }} />
      </label>
      <div className="row" style={{ justifyContent: 'flex-end' }}>
        <button type="button" onClick={onCancel}>
          Cancel
        </button>
        <button type="submit" className="primary" disabled={busy}>
          {status === 'suppressed' ? 'Suppress' : 'Resolve'}
        </button>
      </div>
    </form>
  );
}

function AssigneeEditor({ value, busy, onSave }: { value: string; busy: boolean; onSave: (v: string) => void }) {
  const [draft, setDraft] = useState(value);
  return (
    <form
      className="row"
      style={{ gap: 4 }}
      onSubmit={(e) => {
        e.preventDefault();
        onSave(draft.trim());
      }}
    >
      <label className="visually-hidden" htmlFor="assignee">
        Assignee
      </label>
      <input id="assignee" value={draft} onChange={(e) => setDraft(e.target.value)} placeholder="unassigned" style={{ width: 140 }} />
      <button type="submit" disabled={busy || draft.trim() === value}>
        {value && !draft.trim() ? 'Unassign' : 'Assign'}
      </button>
    </form>
  );
}

function TagEditor({
  tags,
  busy,
  onAdd,
  onRemove,
  editable,
}: {
  editable: boolean;
  tags: string[];
  busy: boolean;
  onAdd: (t: string) => void;
  onRemove: (t: string) => void;
}) {
  const [draft, setDraft] = useState('');
  return (
    <div className="stack">
      <div className="row" style={{ gap: 4 }}>
        {tags.length === 0 && <span className="faint">No analyst tags.</span>}
        {tags.map((t) => (
          <span key={t} className="tag" style={{ display: 'inline-flex', alignItems: 'center', gap: 4 }}>
            {t}
            {editable && (
              <button
                type="button"
                className="ghost small"
                style={{ padding: '0 2px', lineHeight: 1 }}
                aria-label={`Remove tag ${t}`}
                disabled={busy}
                onClick={() => onRemove(t)}
              >
                ×
              </button>
            )}
          </span>
        ))}
      </div>
      {editable && (
      <form
        className="row"
        style={{ gap: 4 }}
        onSubmit={(e) => {
          e.preventDefault();
          if (draft.trim()) onAdd(draft.trim());
          setDraft('');
        }}
      >
        <input value={draft} onChange={(e) => setDraft(e.target.value)} placeholder="add a tag" aria-label="New tag" style={{ flex: 1 }} />
        <button type="submit" disabled={busy || !draft.trim()}>
          Add
        </button>
      </form>
      )}
    </div>
  );
}

function describe(h: HistoryEntry): string {
  switch (h.action) {
    case 'created':
      return 'created the finding';
    case 'status':
      return `changed status ${h.from ?? '—'} → ${h.to ?? '—'}`;
    case 'assignee':
      return h.to ? `assigned to ${h.to}` : `unassigned${h.from ? ` (was ${h.from})` : ''}`;
    case 'tags':
      return `tags: ${h.from || '∅'} → ${h.to || '∅'}`;
    case 'close_reason':
      return h.to ? `close reason: ${humanize(h.to)}` : 'cleared the close reason';
    case 'note':
      return 'added a note';
    default:
      return h.action;
  }
}

/** Without the history route: what the finding itself records. */
function fallbackHistory(f: Finding): HistoryEntry[] {
  const out: HistoryEntry[] = [
    { id: 1, finding_id: f.id, at: f.created_at, actor: 'vigilo', action: 'created', from: null, to: null },
  ];
  if (f.note) out.push({ id: 2, finding_id: f.id, at: f.updated_at, actor: 'analyst', action: 'note', from: null, to: f.note });
  return out;
}

function HistoryList({ items }: { items: HistoryEntry[] }) {
  if (!items.length) return <Empty>No history yet.</Empty>;
  return (
    <ol className="timeline-list" data-testid="history">
      {items.map((h, i) => (
        <li key={`${h.id}-${i}`}>
          <span className="mono faint">{fmtTime(h.at)}</span>
          <span>
            <strong>{h.actor}</strong> {describe(h)}
            {h.action === 'note' && h.to && (
              <blockquote style={{ margin: '4px 0 0', paddingLeft: 10, borderLeft: '3px solid var(--border)', whiteSpace: 'pre-wrap' }}>
                {h.to}
              </blockquote>
            )}
          </span>
        </li>
      ))}
    </ol>
  );
}

function NoteForm({ id, onAdded }: { id: string; onAdded: () => void }) {
  const [text, setText] = useState('');
  const add = useMutation({
    mutationFn: async (t: string) => {
      try {
        return await api.post<HistoryEntry>(`/api/v1/findings/${encodeURIComponent(id)}/notes`, { text: t });
      } catch (e) {
        // Servers without the notes route keep the note on the finding itself.
        if (e instanceof ApiError && (e.status === 404 || e.status === 405)) {
          return api.patch<Finding>(`/api/v1/findings/${encodeURIComponent(id)}`, { note: t });
        }
        throw e;
      }
    },
    onSuccess: () => {
      setText('');
      onAdded();
    },
  });
  return (
    <form
      className="stack"
      style={{ marginTop: 12 }}
      onSubmit={(e) => {
        e.preventDefault();
        if (text.trim()) add.mutate(text.trim());
      }}
    >
      <label className="field">
        Add a note
        <textarea rows={3} value={text} onChange={(e) => setText(e.target.value)} style={{ fontFamily: 'inherit', fontSize: 13 }} />
      </label>
      {add.isError && <div className="banner error">{errorMessage(add.error)}</div>}
      <div className="row" style={{ justifyContent: 'flex-end' }}>
        <button type="submit" className="primary" disabled={add.isPending || !text.trim()}>
          Add note
        </button>
      </div>
    </form>
  );
}

function EvidenceTable({ events }: { events: Detail['evidence_events'] }) {
  const [open, setOpen] = useState<number | null>(null);
  return (
    <div className="table-wrap">
      <table className="data">
        <thead>
          <tr>
            <th>Time</th>
            <th>Kind</th>
            <th>Service</th>
            <th>User</th>
            <th>Event</th>
          </tr>
        </thead>
        <tbody>
          {events.map((e) => (
            <EvidenceRow key={e.id} e={e} open={open === e.id} toggle={() => setOpen(open === e.id ? null : e.id)} />
          ))}
        </tbody>
      </table>
    </div>
  );
}

function EvidenceRow({ e, open, toggle }: { e: Detail['evidence_events'][number]; open: boolean; toggle: () => void }) {
  return (
    <>
      <tr className="clickable" onClick={toggle}>
        <td className="mono nowrap">{fmtTime(e.timestamp)}</td>
        <td className="mono">{e.kind}</td>
        <td className="mono">{e.service ?? '—'}</td>
        <td className="mono">{e.user ?? '—'}</td>
        <td>
          <button type="button" className="small" aria-expanded={open} onClick={(ev) => { ev.stopPropagation(); toggle(); }}>
            {open ? 'Hide' : 'JSON'}
          </button>{' '}
          <Link to={`/events/${e.id}`} className="mono" onClick={(ev) => ev.stopPropagation()}>
            #{e.id}
          </Link>
        </td>
      </tr>
      {open && (
        <tr>
          <td colSpan={5}>
            <JsonView value={e.payload} />
          </td>
        </tr>
      )}
    </>
  );
}

