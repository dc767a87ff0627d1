import { useRef, useState } from 'react';
import { Link, useNavigate } from 'react-router';
import { keepPreviousData, useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { api, errorMessage, request } from '../api/client';
import { useCapabilities } from '../api/capabilities';
import { useCan } from '../api/auth';
import type { IamAudit, Page } from '../api/types';
import { SEVERITIES } from '../api/types';
import { ExportButtons } from '../components/ExportButtons';
import { Pagination } from '../components/Pagination';
import { Empty, QueryState } from '../components/States';
import { fmtNum, fmtTime, humanize } from '../lib/format';

const PAGE_SIZE = 20;

export default function Iam() {
  const navigate = useNavigate();
  const caps = useCapabilities();
  const canAudit = useCan()('iam_audit');
  const qc = useQueryClient();
  const [page, setPage] = useState(1);
  const [text, setText] = useState('');
  const [file, setFile] = useState<File | null>(null);
  const fileInput = useRef<HTMLInputElement>(null);
  const audits = useQuery({
    queryKey: ['iam-audits', page],
    queryFn: ({ signal }) => api.get<Page<IamAudit>>('/api/v1/iam/audits', { page, page_size: PAGE_SIZE }, signal),
    placeholderData: keepPreviousData,
  });
  const upload = useMutation({
    mutationFn: async () => {
      if (file) {
        const form = new FormData();
        form.append('file', file, file.name);
        return api.post<IamAudit>('/api/v1/iam/audits', form);
      }
      const body = text.trim();
      const looksJson = body.startsWith('{') || body.startsWith('[');
      return request<IamAudit>('/api/v1/iam/audits', {
        method: 'POST',
        body,
        contentType: looksJson ? 'application/json' : 'text/csv',
      });
    },
    onSuccess: (a) => {
      void qc.invalidateQueries({ queryKey: ['iam-audits'] });
      void qc.invalidateQueries({ queryKey: ['findings'] });
      qc.setQueryData(['iam-audit', String(a.id)], a);
      navigate(`/iam/${a.id}`);
    },
  });

  return (
    <>
      {canAudit && (
      <section className="panel">
        <div className="panel-head">
          <h2>Audit an IAM configuration</h2>
          <span className="hint">
            <span className="mono">get-account-authorization-details</span>, a policy document, a credential report (CSV or JSON) or{' '}
            <span className="mono">{'{"users", "groups"}'}</span>
          </span>
        </div>
        <form
          className="panel-body stack"
          onSubmit={(e) => {
            e.preventDefault();
            upload.mutate();
          }}
        >
          <div className="row">
            <input
              ref={fileInput}
              type="file"
              accept=".json,.csv,application/json,text/csv"
              onChange={(e) => setFile(e.target.files?.[0] ?? null)}
              aria-label="IAM document file"
              data-testid="iam-file"
            />
            {file && (
              <button
                type="button"
                className="small ghost"
                onClick={() => {
                  setFile(null);
                  if (fileInput.current) fileInput.current.value = '';
                }}
              >
                Remove file
              </button>
            )}
            <span className="faint">or paste it below</span>
          </div>
          <label className="field">
            Document
            <textarea
              rows={8}
              value={text}
              onChange={(e) => setText(e.target.value)}
              disabled={!!file}
              placeholder='{"UserDetailList": [...], "GroupDetailList": [...], "RoleDetailList": [...], "Policies": [...]}'
              spellCheck={false}
              data-testid="iam-text"
            />
          </label>
          {upload.isError && (
            <div className="banner error" role="alert">
              {errorMessage(upload.error)}
            </div>
          )}
          <div className="row">
            <button type="submit" className="primary" disabled={upload.isPending || (!file && !text.trim())}>
              {upload.isPending ? 'Auditing…' : 'Run audit'}
            </button>
          </div>
        </form>
      </section>
      )}

      <section className="panel">
        <div className="panel-head">
          <h2>Past audits</h2>
          <ExportButtons path="/api/v1/iam/audits" query={{}} supported={caps.supports('/api/v1/iam/audits', 'format')} />
        </div>
        <QueryState query={audits} rows={4}>
          {() =>
            audits.data?.items.length ? (
              <>
                <div className="table-wrap">
                  <table className="data" data-testid="audits-table">
                    <thead>
                      <tr>
                        <th>Audit</th>
                        <th>When</th>
                        <th>Source</th>
                        <th>Format</th>
                        {SEVERITIES.slice(0, 4).map((s) => (
                          <th key={s} className="num">
                            <span className={`sev sev-${s}`}>{s}</span>
                          </th>
                        ))}
                        <th className="num">Principals</th>
                      </tr>
                    </thead>
                    <tbody>
                      {audits.data.items.map((a) => (
                        <tr key={a.id} className="clickable" onClick={() => navigate(`/iam/${a.id}`)}>
                          <td className="mono">
                            <Link to={`/iam/${a.id}`} onClick={(e) => e.stopPropagation()}>
                              #{a.id}
                            </Link>
                          </td>
                          <td className="mono nowrap">{fmtTime(a.created_at)}</td>
                          <td className="mono truncate" style={{ maxWidth: 240 }}>
                            {a.source ?? '—'}
                          </td>
                          <td>{humanize(a.input_format)}</td>
                          {SEVERITIES.slice(0, 4).map((s) => (
                            <td key={s} className="num mono">
                              {fmtNum(a.summary[s] ?? 0)}
                            </td>
                          ))}
                          <td className="num mono">
                            {fmtNum(a.summary.principals_with_findings ?? 0)} / {fmtNum(a.summary.principals_audited ?? 0)}
                          </td>
                        </tr>
                      ))}
                    </tbody>
                  </table>
                </div>
                <Pagination page={page} pageSize={PAGE_SIZE} total={audits.data.total} onPage={setPage} />
              </>
            ) : (
              <Empty>No audits yet. Upload an IAM export above.</Empty>
            )
          }
        </QueryState>
      </section>
    </>
  );
}
