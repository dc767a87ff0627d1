import { useMemo, useState } from 'react';
import { Link } from 'react-router';
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { api, errorMessage } from '../api/client';
import { useCan } from '../api/auth';
import type { Rule, RuleTestResult } from '../api/types';
import { SeverityBadge } from '../components/Badges';
import { Empty, QueryState } from '../components/States';
import { fmtAgo, fmtNum } from '../lib/format';
import { useNow } from '../api/queries';
import { parseEvents } from '../lib/events';

const SAMPLE_RULE = `title: Three failed logins
id: 6f1c1c3e-7d0b-4c56-9a57-2b1f4b0f3a11
status: experimental
logsource:
  product: vigilo
  category: audit
detection:
  selection:
    action: login
    outcome: failure
  condition: selection
level: medium
`;
const SAMPLE_EVENTS = `[
  {"kind": "audit", "service": "auth", "user": "mallory", "action": "login", "outcome": "failure"},
  {"kind": "audit", "service": "auth", "user": "alice", "action": "login", "outcome": "success"}
]`;

export default function Rules() {
  const qc = useQueryClient();
  const now = useNow(10_000);
  const [filter, setFilter] = useState('');
  const rules = useQuery({
    queryKey: ['rules'],
    queryFn: ({ signal }) => api.get<{ items: Rule[]; total: number }>('/api/v1/rules', undefined, signal),
  });
  const toggle = useMutation({
    mutationFn: (r: Rule) => api.patch<Rule>(`/api/v1/rules/${encodeURIComponent(r.rule_id)}`, { enabled: !r.enabled }),
    onSuccess: () => void qc.invalidateQueries({ queryKey: ['rules'] }),
  });
  const canManage = useCan()('rules_manage');
  const reload = useMutation({
    mutationFn: () => api.post<{ rules: number }>('/api/v1/rules/reload'),
    onSuccess: () => void qc.invalidateQueries({ queryKey: ['rules'] }),
  });
  const shown = useMemo(() => {
    const f = filter.trim().toLowerCase();
    const items = rules.data?.items ?? [];
    if (!f) return items;
    return items.filter((r) =>
      [r.rule_id, r.title, r.pack ?? '', r.logsource.product ?? '', r.logsource.category ?? '', ...r.tags].some((s) =>
        s.toLowerCase().includes(f),
      ),
    );
  }, [rules.data, filter]);

  return (
    <>
      <section className="panel">
        <div className="panel-head">
          <h2>Loaded rules</h2>
          <input
            type="search"
            placeholder="filter by id, title, pack, logsource, tag"
            value={filter}
            onChange={(e) => setFilter(e.target.value)}
            aria-label="Filter rules"
            style={{ width: 280 }}
          />
          <span className="hint mono">{rules.data ? `${fmtNum(shown.length)} / ${fmtNum(rules.data.total)}` : ''}</span>
          {canManage && (
            <button
              type="button"
              className="small"
              disabled={reload.isPending}
              onClick={() => reload.mutate()}
              title="Read the rule files again (as SIGHUP does)"
            >
              {reload.isPending ? 'Reloading…' : 'Reload rules'}
            </button>
          )}
        </div>
        {toggle.isError && <div className="banner error" style={{ margin: 10 }}>{errorMessage(toggle.error)}</div>}
        {reload.isError && (
          <div className="banner error" role="alert" style={{ margin: 10 }}>
            {errorMessage(reload.error)}
          </div>
        )}
        {reload.isSuccess && (
          <div className="banner ok" role="status" style={{ margin: 10 }}>
            Reloaded {fmtNum(reload.data.rules)} rules.
          </div>
        )}
        <QueryState query={rules} rows={8}>
          {() =>
            shown.length === 0 ? (
              <Empty>No rules match.</Empty>
            ) : (
              <div className="table-wrap" style={{ maxHeight: 560, overflowY: 'auto' }}>
                <table className="data" data-testid="rules-table">
                  <thead>
                    <tr>
                      <th>On</th>
                      <th>Rule</th>
                      <th>Level</th>
                      <th>Logsource</th>
                      <th>Pack</th>
                      <th className="num">Matches</th>
                      <th className="num">Findings</th>
                      <th>Last match</th>
                    </tr>
                  </thead>
                  <tbody>
                    {shown.map((r) => (
                      <tr key={r.rule_id}>
                        <td>
                          <button
                            type="button"
                            role="switch"
                            className="toggle-switch"
                            aria-checked={r.enabled}
                            aria-label={canManage ? `${r.enabled ? 'Disable' : 'Enable'} ${r.rule_id}` : `${r.rule_id} is ${r.enabled ? 'on' : 'off'}`}
                            title={canManage ? undefined : 'Only admins turn rules on or off'}
                            disabled={!canManage || toggle.isPending}
                            onClick={() => toggle.mutate(r)}
                          />
                        </td>
                        <td className="cell-title">
                          <div style={{ fontWeight: 500 }}>{r.title}</div>
                          <div className="mono faint" style={{ fontSize: 11.5 }}>
                            {r.rule_id} · {r.kind}
                            {!r.emits_findings && ' · helper'}
                          </div>
                        </td>
                        <td>
                          <SeverityBadge severity={r.severity} />
                        </td>
                        <td className="mono" style={{ fontSize: 12 }}>
                          {[r.logsource.product, r.logsource.category, r.logsource.service].filter(Boolean).join(' / ') || '—'}
                        </td>
                        <td className="mono">{r.pack ?? '—'}</td>
                        <td className="num mono">{fmtNum(r.matches)}</td>
                        <td className="num mono">
                          {r.findings > 0 ? (
                            <Link to={`/findings?rule_id=${encodeURIComponent(r.rule_id)}&from=now-7d&to=now`}>{fmtNum(r.findings)}</Link>
                          ) : (
                            '0'
                          )}
                        </td>
                        <td className="mono nowrap">{r.last_match ? fmtAgo(r.last_match, now) : '—'}</td>
                      </tr>
                    ))}
                  </tbody>
                </table>
              </div>
            )
          }
        </QueryState>
      </section>
      <RuleTester />
    </>
  );
}

function RuleTester() {
  const [yaml, setYaml] = useState(SAMPLE_RULE);
  const [events, setEvents] = useState(SAMPLE_EVENTS);
  const [parseError, setParseError] = useState<string | null>(null);
  const test = useMutation({
    mutationFn: (body: { rules: string; events: unknown[] }) => api.post<RuleTestResult>('/api/v1/rules/test', body),
  });
  const run = () => {
    let parsed: unknown[];
    try {
      parsed = parseEvents(events);
    } catch (e) {
      setParseError(errorMessage(e));
      return;
    }
    setParseError(null);
    test.mutate({ rules: yaml, events: parsed });
  };
  return (
    <section className="panel" aria-labelledby="tester">
      <div className="panel-head">
        <h2 id="tester">Rule tester</h2>
        <span className="hint">paste a Sigma rule and sample events (JSON array or NDJSON); nothing is stored</span>
      </div>
      <div className="panel-body grid-2">
        <label className="field">
          Sigma rule (YAML)
          <textarea rows={16} value={yaml} onChange={(e) => setYaml(e.target.value)} spellCheck={false} data-testid="tester-rule" />
        </label>
        <label className="field">
          Events
          <textarea rows={16} value={events} onChange={(e) => setEvents(e.target.value)} spellCheck={false} data-testid="tester-events" />
        </label>
      </div>
      <div className="panel-body row" style={{ paddingTop: 0 }}>
        <button type="button" className="primary" onClick={run} disabled={test.isPending}>
          {test.isPending ? 'Testing…' : 'Test rule'}
        </button>
        {parseError && <span className="banner error">{parseError}</span>}
        {test.isError && <span className="banner error" role="alert">{errorMessage(test.error)}</span>}
      </div>
      {test.data && (
        <div className="panel-body" style={{ borderTop: '1px solid var(--border)' }} data-testid="tester-result">
          <p style={{ marginTop: 0 }}>
            <strong>{fmtNum(test.data.findings.length)}</strong> finding{test.data.findings.length === 1 ? '' : 's'} from{' '}
            {fmtNum(test.data.events_evaluated)} events.
          </p>
          {test.data.findings.length > 0 && (
            <table className="data">
              <thead>
                <tr>
                  <th>Level</th>
                  <th>Rule</th>
                  <th>Group</th>
                  <th className="num">Events</th>
                  <th>Why</th>
                </tr>
              </thead>
              <tbody>
                {test.data.findings.map((f, i) => (
                  <tr key={i}>
                    <td>
                      <SeverityBadge severity={f.severity} />
                    </td>
                    <td>
                      {f.rule_title} <span className="mono faint">{f.rule_id}</span>
                    </td>
                    <td className="mono">{Object.entries(f.group).map(([k, v]) => `${k}=${v}`).join(', ') || '—'}</td>
                    <td className="num mono">{fmtNum(f.event_count)}</td>
                    <td>{f.explanation}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          )}
        </div>
      )}
    </section>
  );
}
