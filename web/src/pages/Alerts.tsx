import { NavLink, useParams } from 'react-router';
import { RequirePermission } from '../components/RequirePermission';
import NotFound from './NotFound';
import { Notifications } from './alerts/Notifications';
import { Receivers } from './alerts/Receivers';
import { Silences } from './alerts/Silences';

const TABS = [
  { to: '/alerts', label: 'Notifications', end: true },
  { to: '/alerts/silences', label: 'Silences' },
  { to: '/alerts/receivers', label: 'Receivers & routes' },
] as const;

/** Alerts: the notification history, silences, receivers and routes. */
export default function Alerts() {
  return (
    <RequirePermission permission="findings_read">
      <AlertsPage />
    </RequirePermission>
  );
}

function AlertsPage() {
  const { tab = '' } = useParams();
  if (tab !== '' && tab !== 'silences' && tab !== 'receivers') return <NotFound />;
  return (
    <>
      <nav className="segmented tabs" aria-label="Alerts sections">
        {TABS.map((t) => (
          <NavLink key={t.to} to={t.to} end={'end' in t ? t.end : false} className="btn">
            {t.label}
          </NavLink>
        ))}
      </nav>
      {tab === '' && <Notifications />}
      {tab === 'silences' && <Silences />}
      {tab === 'receivers' && <Receivers />}
    </>
  );
}
