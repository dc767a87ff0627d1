import { useState, type FormEvent } from 'react';
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { api, errorMessage } from '../api/client';
import { useMe } from '../api/auth';
import type { Role, User } from '../api/types';
import { ROLES } from '../api/types';
import { Modal } from '../components/Modal';
import { RequirePermission } from '../components/RequirePermission';
import { Empty, QueryState } from '../components/States';
import { fmtAgo, fmtNum, fmtTime } from '../lib/format';
import { useNow } from '../api/queries';

const USERS_KEY = ['users'] as const;

const ROLE_HINT: Record<Role, string> = {
  admin: 'everything, including users and API keys',
  analyst: 'triage findings and run IAM audits',
  viewer: 'read only',
};

export default function Users() {
  return (
    <RequirePermission permission="users_manage">
      <UsersPage />
    </RequirePermission>
  );
}

function UsersPage() {
  const qc = useQueryClient();
  const me = useMe().data;
  const now = useNow(30_000);
  const [creating, setCreating] = useState(false);
  const users = useQuery({
    queryKey: USERS_KEY,
    queryFn: ({ signal }) => api.get<{ items: User[]; total: number }>('/api/v1/users', undefined, signal),
  });
  const update = useMutation({
    mutationFn: ({ id, change }: { id: number; change: { role?: Role; disabled?: boolean } }) =>
      api.patch<User>(`/api/v1/users/${id}`, change),
    onSuccess: (u) => {
      qc.setQueryData<{ items: User[]; total: number }>(USERS_KEY, (old) =>
        old ? { ...old, items: old.items.map((x) => (x.id === u.id ? u : x)) } : old,
      );
      void qc.invalidateQueries({ queryKey: USERS_KEY });
    },
  });

  return (
    <section className="panel">
      <div className="panel-head">
        <h2>Users</h2>
        <span className="hint">{users.data ? `${fmtNum(users.data.total)} users` : ''}</span>
        <button type="button" className="primary small" onClick={() => setCreating(true)}>
          New user
        </button>
      </div>
      {update.isError && (
        <div className="banner error" role="alert" style={{ margin: 10 }}>
          {errorMessage(update.error)}
        </div>
      )}
      <QueryState query={users} rows={5}>
        {() =>
          !users.data?.items.length ? (
            <Empty>No users yet.</Empty>
          ) : (
            <div className="table-wrap">
              <table className="data" data-testid="users-table">
                <thead>
                  <tr>
                    <th>User</th>
                    <th>Role</th>
                    <th>Sign-in</th>
                    <th>Status</th>
                    <th>Created</th>
                    <th>Last sign-in</th>
                    <th>
                      <span className="visually-hidden">Actions</span>
                    </th>
                  </tr>
                </thead>
                <tbody>
                  {users.data.items.map((u) => {
                    const self = me?.principal === 'user' && me.id === u.id;
                    return (
                      <tr key={u.id} data-user={u.username}>
                        <td>
                          <div style={{ fontWeight: 500 }}>
                            {u.username}
                            {self && <span className="faint"> (you)</span>}
                          </div>
                          {u.email && <div className="faint" style={{ fontSize: 12 }}>{u.email}</div>}
                        </td>
                        <td>
                          <select
                            value={u.role}
                            aria-label={`Role of ${u.username}`}
                            disabled={self || update.isPending}
                            title={self ? 'You cannot change your own role' : undefined}
                            onChange={(e) => update.mutate({ id: u.id, change: { role: e.target.value as Role } })}
                          >
                            {ROLES.map((r) => (
                              <option key={r} value={r}>
                                {r}
                              </option>
                            ))}
                          </select>
                        </td>
                        <td>{u.source === 'oidc' ? 'Single sign-on' : 'Password'}</td>
                        <td>
                          {u.disabled ? (
                            <span className="status status-suppressed">Disabled</span>
                          ) : (
                            <span className="status status-resolved">Active</span>
                          )}
                        </td>
                        <td className="mono nowrap" title={fmtTime(u.created_at)}>
                          {fmtTime(u.created_at).slice(0, 10)}
                        </td>
                        <td className="mono nowrap" title={fmtTime(u.last_login_at)}>
                          {u.last_login_at ? fmtAgo(u.last_login_at, now) : 'never'}
                        </td>
                        <td className="num">
                          {!self && (
                            <button
                              type="button"
                              className={`small${u.disabled ? '' : ' danger'}`}
                              disabled={update.isPending}
                              onClick={() => update.mutate({ id: u.id, change: { disabled: !u.disabled } })}
                            >
                              {u.disabled ? 'Enable' : 'Disable'}
                            </button>
                          )}
                        </td>
                      </tr>
                    );
                  })}
                </tbody>
              </table>
            </div>
          )
        }
      </QueryState>
      <Modal open={creating} title="New user" onClose={() => setCreating(false)}>
        <CreateUserForm onDone={() => setCreating(false)} />
      </Modal>
    </section>
  );
}

function CreateUserForm({ onDone }: { onDone: () => void }) {
  const qc = useQueryClient();
  const [username, setUsername] = useState('');
  const [role, setRole] = useState<Role>('viewer');
  const [password, setPassword] = useState('');
  const [email, setEmail] = useState('');
  const create = useMutation({
    mutationFn: () =>
      api.post<User>('/api/v1/users', {
        username: username.trim(),
        role,
        ...(password ? { password } : {}),
        ...(email.trim() ? { email: email.trim() } : {}),
      }),
    onSuccess: () => {
      void qc.invalidateQueries({ queryKey: USERS_KEY });
      onDone();
    },
  });
  const submit = (e: FormEvent) => {
    e.preventDefault();
    if (username.trim()) create.mutate();
  };
  return (
    <form className="stack" onSubmit={submit} aria-label="New user">
      <label className="field">
        Username
        <input name="username" value={username} onChange={(e) => setUsername(e.target.value)} autoComplete="off" required autoFocus />
      </label>
      <label className="field">
        Role
        <select name="role" value={role} onChange={(e) => setRole(e.target.value as Role)}>
          {ROLES.map((r) => (
            <option key={r} value={r}>
              {r} — {ROLE_HINT[r]}
            </option>
          ))}
        </select>
      </label>
      <label className="field">
        Initial password
        <input
          name="password"
          type="password"
          value={password}
          onChange={(e) => setPassword(e.target.value)}
          autoComplete="new-password"
        />
        <span className="faint" style={{ fontWeight: 400 }}>
          Leave empty for a user who signs in with single sign-on.
        </span>
      </label>
      <label className="field">
        Email (optional)
        <input name="email" type="email" value={email} onChange={(e) => setEmail(e.target.value)} autoComplete="off" />
      </label>
      {create.isError && (
        <div className="banner error" role="alert">
          {errorMessage(create.error)}
        </div>
      )}
      <div className="row" style={{ justifyContent: 'flex-end' }}>
        <button type="button" onClick={onDone}>
          Cancel
        </button>
        <button type="submit" className="primary" disabled={create.isPending || !username.trim()}>
          Create user
        </button>
      </div>
    </form>
  );
}
