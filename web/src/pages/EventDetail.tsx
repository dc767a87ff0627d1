import { Link, useParams } from 'react-router';
import { useQuery } from '@tanstack/react-query';
import { api } from '../api/client';
import type { EventRecord } from '../api/types';
import { JsonView } from '../components/JsonView';
import { QueryState } from '../components/States';
import { fmtTime } from '../lib/format';
import { logsourceLabel } from '../lib/logsource';

export default function EventDetail() {
  const { id = '' } = useParams();
  const q = useQuery({
    queryKey: ['event', id],
    queryFn: ({ signal }) => api.get<EventRecord>(`/api/v1/events/${encodeURIComponent(id)}`, undefined, signal),
  });
  return (
    <>
      <div className="row">
        <Link to="/events">← Events</Link>
      </div>
      <section className="panel">
        <QueryState query={q}>
          {() => {
            const e = q.data!;
            return (
              <>
                <div className="panel-head">
                  <h2 className="mono">Event #{e.id}</h2>
                  <button type="button" className="small" onClick={() => void navigator.clipboard?.writeText(JSON.stringify(e.payload, null, 2))}>
                    Copy JSON
                  </button>
                </div>
                <div className="panel-body stack">
                  <dl className="kv">
                    <dt>Event time</dt>
                    <dd className="mono">{fmtTime(e.timestamp)}</dd>
                    <dt>Received</dt>
                    <dd className="mono">{fmtTime(e.received_at)}</dd>
                    <dt>Kind</dt>
                    <dd className="mono">{e.kind}</dd>
                    <dt>Service</dt>
                    <dd className="mono">{e.service ?? '—'}</dd>
                    <dt>User</dt>
                    <dd className="mono">{e.user ?? '—'}</dd>
                    {e.logsource && (
                      <>
                        <dt>Logsource</dt>
                        <dd className="mono">
                          {logsourceLabel(e.logsource) || '—'}
                        </dd>
                      </>
                    )}
                  </dl>
                  <JsonView value={e.payload} />
                </div>
              </>
            );
          }}
        </QueryState>
      </section>
    </>
  );
}
