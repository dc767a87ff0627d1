import { Suspense, useState } from 'react';
import { NavLink, Outlet, useLocation, useSearchParams } from 'react-router';
import { useTheme } from '../lib/theme';
import { useLiveStatus } from '../live/socket';
import { TimeRangePicker } from './TimeRangePicker';
import { UserMenu } from './UserMenu';
import { Loading } from './States';
import { Icon, type IconName } from './Icon';
import { ErrorBoundary } from './ErrorBoundary';

const NAV: { to: string; label: string; icon: IconName; end?: boolean }[] = [
  { to: '/', label: 'Overview', icon: 'overview', end: true },
  { to: '/findings', label: 'Findings', icon: 'findings' },
  { to: '/events', label: 'Events', icon: 'events' },
  { to: '/explore', label: 'Metrics', icon: 'metrics' },
  { to: '/rules', label: 'Rules', icon: 'rules' },
  { to: '/iam', label: 'IAM audit', icon: 'iam' },
  { to: '/pipelines', label: 'Pipelines', icon: 'pipelines' },
];

function titleFor(path: string): string {
  if (path === '/') return 'Overview';
  if (path.startsWith('/findings/')) return 'Finding';
  if (path.startsWith('/events/')) return 'Event';
  if (path.startsWith('/iam/')) return 'IAM audit';
  if (path.startsWith('/pipelines/')) return 'Pipeline';
  return NAV.find((n) => n.to !== '/' && path.startsWith(n.to))?.label ?? 'Vigilo';
}

export function Shell() {
  const { pathname } = useLocation();
  const [params] = useSearchParams();
  const [navOpen, setNavOpen] = useState(false);
  const { theme, setPref } = useTheme();
  const live = useLiveStatus();

  // Links carry the time range, so moving between pages keeps the window.
  const keep = new URLSearchParams();
  for (const k of ['from', 'to']) {
    const v = params.get(k);
    if (v) keep.set(k, v);
  }
  const search = keep.toString() ? `?${keep}` : '';

  return (
    <div className={`shell${navOpen ? ' nav-open' : ''}`}>
      <aside className="sidebar" aria-label="Main navigation">
        <div className="brand">
          <span className="brand-mark" aria-hidden="true">
            V
          </span>
          Vigilo
        </div>
        <nav className="nav">
          {NAV.map((n) => (
            <NavLink key={n.to} to={{ pathname: n.to, search }} end={n.end} onClick={() => setNavOpen(false)}>
              <Icon name={n.icon} />
              {n.label}
            </NavLink>
          ))}
        </nav>
        <div className="sidebar-foot">
          <a href="/docs/">API docs</a>
        </div>
      </aside>
      <div className="main">
        <header className="topbar">
          <button
            type="button"
            className="menu-toggle ghost"
            aria-label="Open navigation"
            aria-expanded={navOpen}
            onClick={() => setNavOpen((o) => !o)}
          >
            <Icon name="menu" size={18} />
          </button>
          <h1>{titleFor(pathname)}</h1>
          <div className="topbar-actions">
            <span className="live-dot" data-status={live} title={`Live updates: ${live}`}>
              {live === 'connected' ? 'Live' : live === 'connecting' ? 'Connecting' : 'Offline'}
            </span>
            <TimeRangePicker />
            <button
              type="button"
              className="ghost"
              onClick={() => setPref(theme === 'dark' ? 'light' : 'dark')}
              aria-label={theme === 'dark' ? 'Switch to light theme' : 'Switch to dark theme'}
              title="Toggle theme"
              data-testid="theme-toggle"
            >
              <Icon name={theme === 'dark' ? 'sun' : 'moon'} />
            </button>
            <UserMenu />
          </div>
        </header>
        <main className="content" id="main">
          <ErrorBoundary resetKey={pathname}>
            <Suspense fallback={<Loading rows={5} />}>
              <Outlet />
            </Suspense>
          </ErrorBoundary>
        </main>
      </div>
    </div>
  );
}
