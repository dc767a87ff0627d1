import { useMemo } from 'react';
import { Link, useNavigate, useParams } from 'react-router';
import { useQuery } from '@tanstack/react-query';
import { api } from '../api/client';
import { useCan } from '../api/auth';
import type { Finding, Rule } from '../api/types';
import { RiskScore, SeverityBadge, StatusBadge } from '../components/Badges';
import { RequirePermission } from '../components/RequirePermission';
import { Empty, ErrorState, Loading } from '../components/States';
import { useNow } from '../api/queries';
import { fmtAgo, fmtNum, fmtTime } from '../lib/format';
import { frameworkLabel, useControl, useControls, useFrameworks, type ControlDetail } from './compliance/api';
import { ControlStatusBadge, OpenBySeverity } from './compliance/ControlTile';
import { ExportForm } from './compliance/ExportForm';

/** One control: its status, the rules and checks that give evidence for it, their findings. */
export default function ComplianceControl() {
  return (
    <RequirePermission permission="findings_read">
      <ControlPage />
    </RequirePermission>
  );
}

function ControlPage() {
  const { framework = '', control = '' } = useParams();
  const navigate = useNavigate();
  const now = useNow(10_000);
  const detail = useControl(framework, control);
  const frameworks = useFrameworks();
  const controls = useControls(framework);
  const fw = frameworks.data?.items.find((f) => f.id === framework);
  const back = `/compliance?framework=${encodeURIComponent(framework)}`;

  return (
    <>
      <Link to={back} className="back-link">
        ← {frameworkLabel(fw, framework)} controls
      </Link>
      {detail.isPending ? (
        <div className="panel">
          <Loading rows={5} />
        </div>
      ) : detail.isError ? (
        <div className="panel">
          <ErrorState error={detail.error} retry={() => void detail.refetch()} />
        </div>
      ) : (
        <ControlView
          data={detail.data}
          frameworkTitle={fw?.title ?? frameworkLabel(undefined, framework)}
          now={now}
          onOpen={(id) => navigate(`/findings/${id}`)}
        />
      )}
      {frameworks.data && (
        <section className="panel" aria-labelledby="export-heading">
          <div className="panel-head">
            <h2 id="export-heading">Export this control's evidence</h2>
          </div>
          <div className="panel-body">
            <ExportForm
              framework={framework}
              frameworks={frameworks.data.items}
              controls={controls.data?.items ?? []}
              control={detail.data?.control.key ?? `${framework}:${control}`}
              now={now}
            />
          </div>
        </section>
      )}
    </>
  );
}

function ControlView({
  data,
  frameworkTitle,
  now,
  onOpen,
}: {
  data: ControlDetail;
  frameworkTitle: string;
  now: number;
  onOpen: (id: number) => void;
}) {
  const c = data.control;
  const can = useCan();
  // Rule names from the loaded rules (when this principal may read them), else from the findings.
  const rules = useQuery({
    queryKey: ['rules'],
    queryFn: ({ signal }) => api.get<{ items: Rule[]; total: number }>('/api/v1/rules', undefined, signal),
    enabled: can('rules_read'),
    retry: false,
  });
  const names = useMemo(() => {
    const m = new Map<string, string>();
    for (const f of data.findings) m.set(f.rule_id, f.rule_title);
    for (const r of rules.data?.items ?? []) if (r.title) m.set(r.rule_id, r.title);
    return m;
  }, [data.findings, rules.data]);
  const monitored = new Set(c.monitored);

  return (
    <>
      <section className="panel" aria-labelledby="control-heading">
        <div className="panel-head wrap">
          <h2 id="control-heading">
            <span className="mono">{c.id}</span> {c.title}
          </h2>
          <ControlStatusBadge status={c.status} />
        </div>
        <div className="panel-body stack">
          <p style={{ margin: 0 }} data-testid="control-description">
            {describe(c.status, frameworkTitle, c.monitored.length, c.mapped.length, c.open)}
          </p>
          <dl className="kv">
            <dt>Framework</dt>
            <dd>{frameworkTitle}</dd>
            <dt>Open findings</dt>
            <dd>
              <OpenBySeverity counts={c.open_by_severity} />
            </dd>
            <dt>Last evidence</dt>
            <dd className="mono">{c.last_evidence ? `${fmtTime(c.last_evidence)} (${fmtAgo(c.last_evidence, now)})` : 'none yet'}</dd>
          </dl>
        </div>
      </section>

      <div className="grid-main-side">
        <section className="panel" aria-labelledby="findings-heading">
          <div className="panel-head">
            <h2 id="findings-heading">Findings</h2>
            <span className="hint">most recent first{data.findings.length >= 200 ? ', the latest 200 per rule' : ''}</span>
          </div>
          {data.findings.length === 0 ? (
            <Empty>No findings of these rules yet.</Empty>
          ) : (
            <div className="table-wrap">
              <table className="data" data-testid="control-findings">
                <thead>
                  <tr>
                    <th>Severity</th>
                    <th>Finding</th>
                    <th>Status</th>
                    <th>Risk</th>
                    <th>Last seen</th>
                  </tr>
                </thead>
                <tbody>
                  {data.findings.map((f) => (
                    <FindingRow key={f.id} f={f} now={now} onOpen={onOpen} />
                  ))}
                </tbody>
              </table>
            </div>
          )}
        </section>
        <section className="panel" aria-labelledby="rules-heading">
          <div className="panel-head">
            <h2 id="rules-heading">Rules and checks</h2>
            <span className="hint">
              {fmtNum(c.monitored.length)} of {fmtNum(c.mapped.length)} monitored
            </span>
          </div>
          {c.mapped.length === 0 ? (
            <Empty>No rule or check gives evidence for this control.</Empty>
          ) : (
            <ul className="control-rules-list" data-testid="control-rules">
              {c.mapped.map((m) => {
                const on = monitored.has(m.rule);
                return (
                  <li key={m.rule} data-rule={m.rule} data-monitored={on} title={`Mapped in ${m.origin === 'tag' ? 'a rule tag' : m.origin}`}>
                    <span
                      className="control-dot"
                      data-status={on ? 'passing' : 'not_monitored'}
                      title={on ? 'Monitored' : 'Not monitored'}
                    />
                    <span>
                      {names.get(m.rule) && <span style={{ fontWeight: 500 }}>{names.get(m.rule)} </span>}
                      <span className="mono faint">{m.rule}</span>
                      <span className="visually-hidden">{on ? ' (monitored)' : ' (not monitored)'}</span>
                    </span>
                    <span className="reason">
                      {m.reason}
                      {m.origin === 'tag' ? ' (from a rule tag)' : ''}
                    </span>
                  </li>
                );
              })}
            </ul>
          )}
        </section>
      </div>
    </>
  );
}

function FindingRow({ f, now, onOpen }: { f: Finding; now: number; onOpen: (id: number) => void }) {
  return (
    <tr className="clickable" onClick={() => onOpen(f.id)} data-finding-id={f.id}>
      <td>
        <SeverityBadge severity={f.severity} />
      </td>
      <td className="cell-title">
        <Link to={`/findings/${f.id}`} onClick={(e) => e.stopPropagation()} style={{ color: 'var(--text)', fontWeight: 500 }}>
          {f.rule_title}
        </Link>
        <div className="mono faint truncate" style={{ fontSize: 11.5 }}>
          #{f.id} · {[f.user, f.service].filter(Boolean).join(' · ') || f.rule_id}
        </div>
      </td>
      <td>
        <StatusBadge status={f.status} />
      </td>
      <td>
        <RiskScore score={f.risk_score} />
      </td>
      <td className="mono nowrap" title={fmtTime(f.last_seen)}>
        {fmtAgo(f.last_seen, now)}
      </td>
    </tr>
  );
}

/** What the status means, in a sentence (the server sends no prose description of a control). */
function describe(status: string, framework: string, monitored: number, mapped: number, open: number): string {
  const rules = `${monitored} of ${mapped} mapped ${mapped === 1 ? 'rule or check is' : 'rules and checks are'} monitored`;
  if (status === 'failing') return `Failing: ${fmtNum(open)} open ${open === 1 ? 'finding' : 'findings'} of its rules. ${rules} for this ${framework} control.`;
  if (status === 'passing') return `Passing: its rules are monitored and none has an open finding. ${rules}.`;
  return `Not monitored: none of its rules or checks is loaded and producing findings (an IAM check counts once an IAM audit ran). ${rules}.`;
}
