import { Link, useSearchParams } from 'react-router';
import { RequirePermission } from '../components/RequirePermission';
import { Empty, ErrorState, Loading } from '../components/States';
import { useNow } from '../api/queries';
import { fmtNum } from '../lib/format';
import { writeFilters } from '../lib/filters';
import {
  CONTROL_STATUSES,
  STATUS_LABEL,
  frameworkLabel,
  useControls,
  useFrameworks,
  countByStatus,
  type ControlStatus,
} from './compliance/api';
import { ControlTile } from './compliance/ControlTile';
import { ExportForm } from './compliance/ExportForm';

/** Compliance: each framework's controls with their status, and the evidence export. */
export default function Compliance() {
  return (
    <RequirePermission permission="findings_read">
      <CompliancePage />
    </RequirePermission>
  );
}

function isStatus(s: string | null): s is ControlStatus {
  return !!s && (CONTROL_STATUSES as readonly string[]).includes(s);
}

function CompliancePage() {
  const [params, setParams] = useSearchParams();
  const now = useNow(10_000);
  const frameworks = useFrameworks();
  const items = frameworks.data?.items ?? [];
  const framework = params.get('framework') || items[0]?.id || '';
  const rawStatus = params.get('status');
  const status = isStatus(rawStatus) ? rawStatus : null;
  const controls = useControls(framework);
  const current = items.find((f) => f.id === framework);

  const set = (changes: Record<string, string>) => setParams((prev) => writeFilters(prev, changes, { resetPage: false }));
  const tabSearch = (id: string) => {
    const next = new URLSearchParams(params);
    next.set('framework', id);
    return `?${next}`;
  };

  if (frameworks.isPending) return <Loading rows={6} />;
  if (frameworks.isError) return <ErrorState error={frameworks.error} retry={() => void frameworks.refetch()} />;
  if (!items.length) {
    return (
      <div className="panel">
        <Empty>No compliance frameworks are configured on this server.</Empty>
      </div>
    );
  }

  const all = controls.data?.items ?? [];
  const counts = countByStatus(all);
  const shown = status ? all.filter((c) => c.status === status) : all;

  return (
    <>
      <nav className="segmented tabs" aria-label="Frameworks">
        {items.map((f) => (
          <Link
            key={f.id}
            to={{ pathname: '/compliance', search: tabSearch(f.id) }}
            className={`btn${f.id === framework ? ' active' : ''}`}
            aria-current={f.id === framework ? 'page' : undefined}
            title={f.title}
          >
            {frameworkLabel(f)}
            {f.failing > 0 && <span className="tab-count" aria-label={`${f.failing} failing`}>{fmtNum(f.failing)}</span>}
          </Link>
        ))}
      </nav>

      <section className="panel" aria-labelledby="controls-heading">
        <div className="panel-head wrap">
          <h2 id="controls-heading">{current?.title ?? frameworkLabel(undefined, framework)}</h2>
          {controls.data && (
            <span className="compliance-summary" data-testid="compliance-summary">
              <span className="control-dot" data-status="failing" aria-hidden="true" />
              {fmtNum(counts.failing)} failing
              <span className="control-dot" data-status="passing" aria-hidden="true" />
              {fmtNum(counts.passing)} passing
              <span className="control-dot" data-status="not_monitored" aria-hidden="true" />
              {fmtNum(counts.not_monitored)} not monitored
            </span>
          )}
        </div>
        <div className="filters" role="search" aria-label="Control filters">
          <div className="field">
            <span className="muted" style={{ fontSize: 12, fontWeight: 500 }}>
              Status
            </span>
            <div className="chips sentence" role="group" aria-label="Status">
              <button type="button" className="chip small" aria-pressed={!status} onClick={() => set({ status: '' })}>
                All ({fmtNum(all.length)})
              </button>
              {CONTROL_STATUSES.map((s) => (
                <button
                  key={s}
                  type="button"
                  className="chip small"
                  aria-pressed={status === s}
                  onClick={() => set({ status: status === s ? '' : s })}
                >
                  {STATUS_LABEL[s]} ({fmtNum(counts[s])})
                </button>
              ))}
            </div>
          </div>
        </div>
        <div className="panel-body">
          {controls.isPending ? (
            <Loading rows={4} />
          ) : controls.isError ? (
            <ErrorState error={controls.error} retry={() => void controls.refetch()} />
          ) : shown.length === 0 ? (
            <Empty>
              {all.length === 0
                ? 'This framework has no controls.'
                : `No ${STATUS_LABEL[status ?? 'failing'].toLowerCase()} controls in this framework.`}
            </Empty>
          ) : (
            <ul className="control-grid" data-testid="control-grid">
              {shown.map((c) => (
                <li key={c.key}>
                  <ControlTile control={c} now={now} />
                </li>
              ))}
            </ul>
          )}
        </div>
      </section>

      <section className="panel" aria-labelledby="export-heading">
        <div className="panel-head">
          <h2 id="export-heading">Export evidence</h2>
          <span className="hint">every finding of the mapped rules active in the period, with its history</span>
        </div>
        <div className="panel-body">
          <ExportForm
            framework={framework}
            frameworks={items}
            controls={all}
            onFramework={(id) => set({ framework: id })}
            now={now}
          />
        </div>
      </section>
    </>
  );
}
