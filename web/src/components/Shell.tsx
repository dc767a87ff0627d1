import { Suspense, useEffect, useMemo, useState, type ReactNode } from 'react';
import { NavLink, Outlet, useLocation, useSearchParams } from 'react-router';
import { ApiError } from '../api/client';
import { hasPreferences, useMe, usePreferences, useSavePreferences } from '../api/auth';
import type { Me, Permission, Preferences } from '../api/types';
import { useTheme } from '../lib/theme';
import { preferredRange } from '../lib/timeRange';
import { DefaultRangeContext } from '../lib/useTimeRange';
import { useLiveStatus } from '../live/socket';
import { TimeRangePicker } from './TimeRangePicker';
import { UserMenu } from './UserMenu';
import { ErrorState, Loading } from './States';
import { Icon, type IconName } from './Icon';
import { ErrorBoundary } from './ErrorBoundary';

interface NavItem {
  to: string;
  label: string;
  icon: IconName;
  end?: boolean;
  needs?: Permission;
}

const NAV: NavItem[] = [
  { to: '/', label: 'Overview', icon: 'overview', end: true },
  { to: '/findings', label: 'Findings', icon: 'findings' },
  { to: '/events', label: 'Events', icon: 'events' },
  { to: '/explore', label: 'Metrics', icon: 'metrics' },
  { to: '/rules', label: 'Rules', icon: 'rules' },
  { to: '/iam', label: 'IAM audit', icon: 'iam' },
  { to: '/compliance', label: 'Compliance', icon: 'compliance', needs: 'findings_read' },
  { to: '/pipelines', label: 'Pipelines', icon: 'pipelines' },
  { to: '/alerts', label: 'Alerts', icon: 'bell', needs: 'findings_read' },
];

const ADMIN_NAV: NavItem[] = [
  { to: '/admin/users', label: 'Users', icon: 'users', needs: 'users_manage' },
  { to: '/admin/api-keys', label: 'API keys', icon: 'key', needs: 'users_manage' },
  { to: '/admin/audit-log', label: 'Audit log', icon: 'audit', needs: 'audit_read' },
];

function titleFor(path: string): string {
  if (path === '/') return 'Overview';
  if (path.startsWith('/findings/')) return 'Finding';
  if (path.startsWith('/events/')) return 'Event';
  if (path.startsWith('/iam/')) return 'IAM audit';
  if (path.startsWith('/compliance/')) return 'Compliance control';
  if (path.startsWith('/pipelines/')) return 'Pipeline';
  if (path.startsWith('/alerts')) return 'Alerts';
  return [...NAV, ...ADMIN_NAV].find((n) => n.to !== '/' && path.startsWith(n.to))?.label ?? 'Vigilo';
}

function Splash({ children }: { children: ReactNode }) {
  return (
    <div className="auth-page">
      <div className="auth-card panel">{children}</div>
    </div>
  );
}

/**
 * The signed-in app: waits for the principal (a 401 sends the user to the
 * sign-in page) and, for users, their preferences, so the first queries
 * already use the preferred time range.
 */
export function Shell() {
  const me = useMe();
  const withPrefs = hasPreferences(me.data);
  const prefs = usePreferences(withPrefs);

  if (me.isPending || (withPrefs && prefs.isPending)) {
    return (
      <Splash>
        <Loading rows={3} label="Signing in…" />
      </Splash>
    );
  }
  if (me.isError) {
    const signedOut = me.error instanceof ApiError && me.error.status === 401;
    return (
      <Splash>
        {signedOut ? <Loading rows={3} label="Going to sign-in…" /> : <ErrorState error={me.error} retry={() => void me.refetch()} />}
      </Splash>
    );
  }
  return <Layout me={me.data} prefs={withPrefs ? prefs.data : undefined} />;
}

function Layout({ me, prefs }: { me: Me; prefs: Preferences | undefined }) {
  const { pathname } = useLocation();
  const [params] = useSearchParams();
  const [navOpen, setNavOpen] = useState(false);
  const { theme, setPref } = useTheme();
  const save = useSavePreferences();
  const live = useLiveStatus();

  // The saved theme wins over this browser's last choice.
  const savedTheme = prefs?.theme;
  useEffect(() => {
    if (savedTheme) setPref(savedTheme);
  }, [savedTheme, setPref]);
  const toggleTheme = () => {
    const next = theme === 'dark' ? 'light' : 'dark';
    setPref(next);
    if (prefs) save.mutate({ ...prefs, theme: next });
  };

  const rangePref = prefs?.time_range;
  const defaultRange = useMemo(() => preferredRange(rangePref), [rangePref]);

  // Links carry the time range, so moving between pages keeps the window.
  const keep = new URLSearchParams();
  for (const k of ['from', 'to']) {
    const v = params.get(k);
    if (v) keep.set(k, v);
  }
  const search = keep.toString() ? `?${keep}` : '';
  const allowed = (n: NavItem) => !n.needs || me.permissions.includes(n.needs);
  const main = NAV.filter(allowed);
  const admin = ADMIN_NAV.filter(allowed);

  const link = (n: NavItem, withRange: boolean) => (
    <NavLink key={n.to} to={{ pathname: n.to, search: withRange ? search : '' }} end={n.end} onClick={() => setNavOpen(false)}>
      <Icon name={n.icon} />
      {n.label}
    </NavLink>
  );

  return (
    <DefaultRangeContext.Provider value={defaultRange}>
      <div className={`shell${navOpen ? ' nav-open' : ''}`}>
        <aside className="sidebar" aria-label="Main navigation">
          <div className="brand">
            <span className="brand-mark" aria-hidden="true">
              V
            </span>
            Vigilo
          </div>
          <nav className="nav">{main.map((n) => link(n, true))}</nav>
          {admin.length > 0 && (
            <nav className="nav" aria-label="Administration">
              <div className="nav-section">Admin</div>
              {admin.map((n) => link(n, false))}
            </nav>
          )}
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
              {/* Alerts and compliance show the current state; the compliance export picks its own period. */}
              {!pathname.startsWith('/admin/') && !pathname.startsWith('/alerts') && !pathname.startsWith('/compliance') && <TimeRangePicker />}
              <button
                type="button"
                className="ghost"
                onClick={toggleTheme}
                aria-label={theme === 'dark' ? 'Switch to light theme' : 'Switch to dark theme'}
                title="Toggle theme"
                data-testid="theme-toggle"
              >
                <Icon name={theme === 'dark' ? 'sun' : 'moon'} />
              </button>
              <UserMenu me={me} />
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
    </DefaultRangeContext.Provider>
  );
}
