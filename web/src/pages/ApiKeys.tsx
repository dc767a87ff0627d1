import { useRef, useState, type FormEvent } from 'react';
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { api, errorMessage } from '../api/client';
import type { ApiKey, ApiKeyCreated, KeyScope } from '../api/types';
import { KEY_SCOPES } from '../api/types';
import { Icon } from '../components/Icon';
import { Modal } from '../components/Modal';
import { RequirePermission } from '../components/RequirePermission';
import { Empty, QueryState } from '../components/States';
import { fmtAgo, fmtNum, fmtTime } from '../lib/format';
import { useNow } from '../api/queries';

const KEYS_KEY = ['api-keys'] as const;

const SCOPE_HINT: Record<KeyScope, string> = {
  ingest: 'send events, pipeline reports and IAM documents',
  read: 'read what a viewer may',
  admin: 'everything an admin may',
};

const EXPIRY: { value: string; label: string }[] = [
  { value: '', label: 'Never' },
  { value: '7d', label: '7 days' },
  { value: '30d', label: '30 days' },
  { value: '90d', label: '90 days' },
  { value: '365d', label: '1 year' },
];

export default function ApiKeys() {
  return (
    <RequirePermission permission="users_manage">
      <ApiKeysPage />
    </RequirePermission>
  );
}

function keyState(k: ApiKey, now: number): 'revoked' | 'expired' | 'active' {
  if (k.revoked_at) return 'revoked';
  if (k.expires_at && Date.parse(k.expires_at) <= now) return 'expired';
  return 'active';
}

function ApiKeysPage() {
  const now = useNow(30_000);
  const [creating, setCreating] = useState(false);
  const [revoking, setRevoking] = useState<ApiKey | null>(null);
  const keys = useQuery({
    queryKey: KEYS_KEY,
    queryFn: ({ signal }) => api.get<{ items: ApiKey[]; total: number }>('/api/v1/api-keys', undefined, signal),
  });

  return (
    <section className="panel">
      <div className="panel-head">
        <h2>API keys</h2>
        <span className="hint">
          For ingest clients, scripts and CI, sent as <span className="mono">Authorization: Bearer</span>.
        </span>
        <span className="hint">{keys.data ? `${fmtNum(keys.data.total)} keys` : ''}</span>
        <button type="button" className="primary small" onClick={() => setCreating(true)}>
          New API key
        </button>
      </div>
      <QueryState query={keys} rows={5}>
        {() =>
          !keys.data?.items.length ? (
            <Empty>No API keys yet.</Empty>
          ) : (
            <div className="table-wrap">
              <table className="data" data-testid="keys-table">
                <thead>
                  <tr>
                    <th>Name</th>
                    <th>Key</th>
                    <th>Scopes</th>
                    <th>Created</th>
                    <th>Expires</th>
                    <th>Last used</th>
                    <th>Status</th>
                    <th>
                      <span className="visually-hidden">Actions</span>
                    </th>
                  </tr>
                </thead>
                <tbody>
                  {keys.data.items.map((k) => {
                    const state = keyState(k, now);
                    return (
                      <tr key={k.id} data-key={k.name} className={state === 'active' ? undefined : 'dimmed'}>
                        <td style={{ fontWeight: 500 }}>{k.name}</td>
                        <td className="mono nowrap">{k.prefix}…</td>
                        <td>
                          {k.scopes.map((s) => (
                            <span key={s} className="tag">
                              {s}
                            </span>
                          ))}
                        </td>
                        <td className="nowrap">
                          <span className="mono" title={fmtTime(k.created_at)}>
                            {fmtTime(k.created_at).slice(0, 10)}
                          </span>
                          {k.created_by && <span className="faint"> by {k.created_by}</span>}
                        </td>
                        <td className="mono nowrap" title={k.expires_at ? fmtTime(k.expires_at) : undefined}>
                          {k.expires_at ? fmtTime(k.expires_at).slice(0, 10) : 'never'}
                        </td>
                        <td className="mono nowrap" title={k.last_used_at ? fmtTime(k.last_used_at) : undefined}>
                          {k.last_used_at ? fmtAgo(k.last_used_at, now) : 'never'}
                        </td>
                        <td className="nowrap">
                          {state === 'revoked' ? (
                            <span className="status status-suppressed" title={fmtTime(k.revoked_at)}>
                              Revoked {fmtTime(k.revoked_at).slice(0, 10)}
                            </span>
                          ) : state === 'expired' ? (
                            <span className="status status-suppressed">Expired</span>
                          ) : (
                            <span className="status status-resolved">Active</span>
                          )}
                        </td>
                        <td className="num">
                          {!k.revoked_at && (
                            <button type="button" className="small danger" onClick={() => setRevoking(k)}>
                              Revoke…
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
      <NewKeyDialog open={creating} onClose={() => setCreating(false)} />
      <Modal open={revoking !== null} title="Revoke API key" onClose={() => setRevoking(null)}>
        {revoking && <RevokeForm apiKey={revoking} onDone={() => setRevoking(null)} />}
      </Modal>
    </section>
  );
}

/**
 * Create a key, then show its secret this once. The secret lives only in this
 * dialog's state: closing the dialog forgets it.
 */
export function NewKeyDialog({ open, onClose }: { open: boolean; onClose: () => void }) {
  const qc = useQueryClient();
  const [created, setCreated] = useState<ApiKeyCreated | null>(null);
  const close = () => {
    setCreated(null);
    onClose();
  };
  return (
    <Modal open={open} title={created ? 'API key created' : 'New API key'} onClose={close}>
      {created ? (
        <SecretView created={created} onDone={close} />
      ) : (
        <CreateKeyForm
          onCancel={close}
          onCreated={(c) => {
            setCreated(c);
            void qc.invalidateQueries({ queryKey: KEYS_KEY });
          }}
        />
      )}
    </Modal>
  );
}

function CreateKeyForm({ onCreated, onCancel }: { onCreated: (c: ApiKeyCreated) => void; onCancel: () => void }) {
  const [name, setName] = useState('');
  const [scopes, setScopes] = useState<KeyScope[]>(['read']);
  const [expiresIn, setExpiresIn] = useState('');
  const create = useMutation({
    mutationFn: () =>
      api.post<ApiKeyCreated>('/api/v1/api-keys', {
        name: name.trim(),
        scopes,
        ...(expiresIn ? { expires_in: expiresIn } : {}),
      }),
    onSuccess: onCreated,
  });
  const submit = (e: FormEvent) => {
    e.preventDefault();
    if (name.trim() && scopes.length) create.mutate();
  };
  const toggleScope = (s: KeyScope) => setScopes((prev) => (prev.includes(s) ? prev.filter((x) => x !== s) : [...prev, s]));
  return (
    <form className="stack" onSubmit={submit} aria-label="New API key">
      <label className="field">
        Name
        <input name="name" value={name} onChange={(e) => setName(e.target.value)} placeholder="ci-ingest" autoComplete="off" required autoFocus />
      </label>
      <fieldset className="field-group">
        <legend>Scopes</legend>
        {KEY_SCOPES.map((s) => (
          <label key={s} className="row" style={{ gap: 8, fontWeight: 400, color: 'var(--text)' }}>
            <input type="checkbox" name="scope" value={s} checked={scopes.includes(s)} onChange={() => toggleScope(s)} />
            <span className="mono">{s}</span>
            <span className="faint">{SCOPE_HINT[s]}</span>
          </label>
        ))}
      </fieldset>
      <label className="field">
        Expires after
        <select name="expires_in" value={expiresIn} onChange={(e) => setExpiresIn(e.target.value)}>
          {EXPIRY.map((x) => (
            <option key={x.value} value={x.value}>
              {x.label}
            </option>
          ))}
        </select>
      </label>
      {create.isError && (
        <div className="banner error" role="alert">
          {errorMessage(create.error)}
        </div>
      )}
      <div className="row" style={{ justifyContent: 'flex-end' }}>
        <button type="button" onClick={onCancel}>
          Cancel
        </button>
        <button type="submit" className="primary" disabled={create.isPending || !name.trim() || scopes.length === 0}>
          Create key
        </button>
      </div>
    </form>
  );
}

function SecretView({ created, onDone }: { created: ApiKeyCreated; onDone: () => void }) {
  const input = useRef<HTMLInputElement>(null);
  const [copied, setCopied] = useState<'yes' | 'failed' | null>(null);
  const copy = async () => {
    try {
      await navigator.clipboard.writeText(created.secret);
      setCopied('yes');
    } catch {
      // No clipboard access (plain http): select the text for Ctrl+C.
      input.current?.select();
      setCopied('failed');
    }
  };
  return (
    <div className="stack" data-testid="key-secret">
      <div className="banner warn" role="note">
        Copy this key now. It will not be shown again.
      </div>
      <div className="field-group">
        <span>
          Key <span className="mono">{created.key.name}</span> ({created.key.scopes.join(', ')})
        </span>
        <div className="row" style={{ flexWrap: 'nowrap' }}>
          <input
            ref={input}
            className="mono"
            readOnly
            value={created.secret}
            onFocus={(e) => e.currentTarget.select()}
            style={{ flex: 1 }}
            data-testid="key-secret-value"
            aria-label="API key secret"
          />
          <button type="button" onClick={() => void copy()}>
            <Icon name="copy" size={14} /> Copy
          </button>
        </div>
      </div>
      <div className="row">
        <span role="status" className="faint" style={{ fontSize: 12 }}>
          {copied === 'yes' ? 'Copied to the clipboard.' : copied === 'failed' ? 'Could not copy: the key is selected, press Ctrl+C.' : ''}
        </span>
        <span className="spacer" />
        <button type="button" className="primary" onClick={onDone}>
          Done
        </button>
      </div>
    </div>
  );
}

function RevokeForm({ apiKey, onDone }: { apiKey: ApiKey; onDone: () => void }) {
  const qc = useQueryClient();
  const revoke = useMutation({
    mutationFn: () => api.delete(`/api/v1/api-keys/${apiKey.id}`),
    onSuccess: () => {
      void qc.invalidateQueries({ queryKey: KEYS_KEY });
      onDone();
    },
  });
  return (
    <div className="stack">
      <p style={{ margin: 0 }}>
        Revoke <strong>{apiKey.name}</strong> (<span className="mono">{apiKey.prefix}…</span>)? Clients using it are refused at once. This
        cannot be undone.
      </p>
      {revoke.isError && (
        <div className="banner error" role="alert">
          {errorMessage(revoke.error)}
        </div>
      )}
      <div className="row" style={{ justifyContent: 'flex-end' }}>
        <button type="button" onClick={onDone}>
          Cancel
        </button>
        <button type="button" className="primary danger-fill" disabled={revoke.isPending} onClick={() => revoke.mutate()}>
          Revoke key
        </button>
      </div>
    </div>
  );
}
