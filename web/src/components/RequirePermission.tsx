import type { ReactNode } from 'react';
import { useCan } from '../api/auth';
import type { Permission } from '../api/types';

/** A page (or part of one) only for principals holding `permission`. */
export function RequirePermission({ permission, children }: { permission: Permission; children: ReactNode }) {
  const can = useCan();
  if (!can(permission)) {
    return (
      <div className="panel">
        <div className="state" role="alert">
          You do not have access to this page.
        </div>
      </div>
    );
  }
  return <>{children}</>;
}
