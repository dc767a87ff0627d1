import { useMemo } from 'react';
import { Link, useParams } from 'react-router';
import { useQuery } from '@tanstack/react-query';
import { api } from '../api/client';
import type { IamAudit, IamFinding } from '../api/types';
import { SEVERITIES } from '../api/types';
import { SeverityBadge } from '../components/Badges';
import { Empty, QueryState } from '../components/States';
import { fmtNum, fmtTime, humanize } from '../lib/format';
import { escalationMethods, groupByPrincipal } from '../lib/iam';

export default function IamDetail() {
  const { id = '' } = useParams();
  const q = useQuery({
    queryKey: ['iam-audit', id],
    queryFn: ({ signal }) => api.get<IamAudit>(`/api/v1/iam/audits/${encodeURIComponent(id)}`, undefined, signal),
  });
  return (
    <>
      <div className="row">
        <Link to="/iam">← IAM audits</Link>
      </div>
      <QueryState query={q} rows={8}>
        {() => <AuditView audit={q.data!} />}
      </QueryState>
    </>
  );
}

function AuditView({ audit }: { audit: IamAudit }) {
  const findings = useMemo(() => audit.report?.findings ?? [], [audit.report]);
  const groups = useMemo(() => groupByPrincipal(findings), [findings]);
  const methods = useMemo(() => escalationMethods(findings), [findings]);
  const s = audit.report?.summary ?? audit.summary;
  return (
    <>
      <section className="cards" aria-label="Audit summary" data-testid="iam-summary">
        {SEVERITIES.slice(0, 4).map((sev) => (
          <div key={sev} className="panel card compact">
            <span className="card-label">
              <SeverityBadge severity={sev} />
            </span>
            <span className="card-value" style={{ color: (s[sev] ?? 0) > 0 ? `var(--sev-${sev})` : undefined }}>
              {fmtNum(s[sev] ?? 0)}
            </span>
          </div>
        ))}
      </section>
      <section className="panel">
        <div className="panel-head">
          <h2>Audit #{audit.id}</h2>
          <span className="hint mono">{fmtTime(audit.created_at)}</span>
        </div>
        <div className="panel-body">
          <dl className="kv">
            <dt>Source</dt>
            <dd className="mono">{audit.source ?? '—'}</dd>
            <dt>Format</dt>
            <dd>{humanize(audit.input_format)}</dd>
            <dt>Findings</dt>
            <dd>{fmtNum(s.total ?? findings.length)} in all</dd>
            <dt>Principals</dt>
            <dd>
              {fmtNum(s.principals_audited ?? 0)} audited · {fmtNum(s.principals_with_findings ?? 0)} with findings ·{' '}
              {fmtNum(s.principals_with_escalation ?? 0)} can escalate
            </dd>
            {audit.finding_ids && audit.finding_ids.length > 0 && (
              <>
                <dt>In triage</dt>
                <dd>
                  <Link to="/findings?rule_id=iam.*&from=now-7d&to=now">{fmtNum(audit.finding_ids.length)} Vigilo findings</Link>
                </dd>
              </>
            )}
          </dl>
          {audit.report?.warnings?.length ? (
            <div className="banner" style={{ marginTop: 10 }}>
              {audit.report.warnings.map((w) => (
                <div key={w}>⚠ {w}</div>
              ))}
            </div>
          ) : null}
        </div>
      </section>

      {methods.length > 0 && (
        <section className="panel">
          <div className="panel-head">
            <h2>Privilege escalation methods</h2>
            <span className="hint">{fmtNum(methods.length)} found</span>
          </div>
          <div className="table-wrap">
            <table className="data">
              <thead>
                <tr>
                  <th>Method</th>
                  <th>Principals</th>
                  <th>How</th>
                  <th>Remediation</th>
                </tr>
              </thead>
              <tbody>
                {methods.map((m) => (
                  <tr key={m.method}>
                    <td className="mono" style={{ verticalAlign: 'top' }}>
                      {m.method}
                    </td>
                    <td className="mono" style={{ verticalAlign: 'top', maxWidth: 200 }}>
                      {m.principals.join(', ')}
                    </td>
                    <td style={{ verticalAlign: 'top' }}>{m.sample.explanation}</td>
                    <td style={{ verticalAlign: 'top' }}>{m.sample.remediation}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        </section>
      )}

      <section className="panel">
        <div className="panel-head">
          <h2>Findings by principal</h2>
          <span className="hint">{fmtNum(groups.length)} principals</span>
        </div>
        {groups.length === 0 ? (
          <Empty>Nothing found: no principal has a risky permission.</Empty>
        ) : (
          <div data-testid="iam-principals">
            {groups.map((g) => (
              <details key={g.key} className="iam-principal" open={groups.length <= 6}>
                <summary className="row" style={{ cursor: 'pointer' }}>
                  <SeverityBadge severity={g.worst} />
                  <span className="mono" style={{ fontWeight: 600 }}>
                    {g.principal}
                  </span>
                  <span className="faint">{g.principal_type}</span>
                  <span className="spacer" />
                  <span className="muted">
                    {fmtNum(g.findings.length)} finding{g.findings.length === 1 ? '' : 's'}
                  </span>
                </summary>
                {g.findings.map((f, i) => (
                  <IamFindingView key={i} f={f} />
                ))}
              </details>
            ))}
          </div>
        )}
      </section>
    </>
  );
}

function IamFindingView({ f }: { f: IamFinding }) {
  return (
    <div className={`iam-finding sevb-${f.severity}`}>
      <div className="row">
        <SeverityBadge severity={f.severity} />
        <strong>{f.title}</strong>
        <span className="mono faint" style={{ fontSize: 12 }}>
          {f.check_id}
          {f.method ? ` · ${f.method}` : ''}
        </span>
      </div>
      <p>{f.explanation}</p>
      <p>
        <span className="muted">Remediation: </span>
        {f.remediation}
      </p>
      {f.evidence.length > 0 && (
        <ul className="muted" style={{ margin: '4px 0', paddingLeft: 18, fontSize: 12.5 }}>
          {f.evidence.map((e, i) => (
            <li key={i}>
              <span className="mono">{e.policy}</span>
              {e.via_group && ` (via group ${e.via_group})`}
              {e.statement && <span className="mono"> {e.statement}</span>}
              {e.actions?.length ? <span className="mono">: {e.actions.join(', ')}</span> : null}
              {e.detail && ` — ${e.detail}`}
            </li>
          ))}
        </ul>
      )}
      {f.references.length > 0 && (
        <div>
          {f.references.map((r) => (
            <span key={r} className="tag">
              {r}
            </span>
          ))}
        </div>
      )}
    </div>
  );
}
