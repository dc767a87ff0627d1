import { useState } from 'react';
import { Link } from 'react-router';
import { Pagination } from '../../components/Pagination';
import { Empty, QueryState } from '../../components/States';
import { fmtNum } from '../../lib/format';
import { useFindingNotifications } from './api';
import { NotificationTable } from './NotificationTable';

const PAGE_SIZE = 10;

/** The finding page's section: who was told about this finding, and how it went. */
export function FindingNotifications({ id }: { id: string }) {
  const [page, setPage] = useState(1);
  const q = useFindingNotifications(id, page, PAGE_SIZE);
  return (
    <section className="panel" data-testid="finding-notifications">
      <div className="panel-head">
        <h2>Notifications</h2>
        {q.data && q.data.total > 0 && <span className="hint">{fmtNum(q.data.total)} sent or tried</span>}
        <span className="spacer" />
        <Link to={`/alerts?finding_id=${encodeURIComponent(id)}`} style={{ fontSize: 12.5 }}>
          In the history
        </Link>
      </div>
      <div className="panel-body flush">
        <QueryState query={q} rows={2}>
          {() =>
            !q.data?.items.length ? (
              <Empty>No notification about this finding yet: no route matched it, it is silenced, or its group is still waiting.</Empty>
            ) : (
              <>
                <NotificationTable items={q.data.items} compact />
                {q.data.total > PAGE_SIZE && <Pagination page={page} pageSize={PAGE_SIZE} total={q.data.total} onPage={setPage} />}
              </>
            )
          }
        </QueryState>
      </div>
    </section>
  );
}
