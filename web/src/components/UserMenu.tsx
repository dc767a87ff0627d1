import { useEffect, useRef, useState } from 'react';
import { getActor, setActor } from '../api/client';

/**
 * The signed-in user's menu. Until accounts exist it holds the name sent as
 * `X-Vigilo-Actor` with every write; the session will replace it.
 */
export function UserMenu() {
  const [name, setName] = useState(getActor);
  const [draft, setDraft] = useState(name);
  const [open, setOpen] = useState(false);
  const ref = useRef<HTMLDivElement>(null);

  useEffect(() => {
    if (!open) return;
    const onDown = (e: MouseEvent) => {
      if (ref.current && !ref.current.contains(e.target as Node)) setOpen(false);
    };
    const onKey = (e: KeyboardEvent) => e.key === 'Escape' && setOpen(false);
    document.addEventListener('mousedown', onDown);
    document.addEventListener('keydown', onKey);
    return () => {
      document.removeEventListener('mousedown', onDown);
      document.removeEventListener('keydown', onKey);
    };
  }, [open]);

  const initials = (name || '?').slice(0, 2).toUpperCase();
  return (
    <div className="popover-anchor" ref={ref}>
      <button
        type="button"
        aria-haspopup="dialog"
        aria-expanded={open}
        onClick={() => {
          setDraft(name);
          setOpen((o) => !o);
        }}
        data-testid="user-menu"
      >
        <span
          aria-hidden="true"
          style={{
            width: 22,
            height: 22,
            borderRadius: '50%',
            background: 'var(--accent-soft)',
            color: 'var(--accent)',
            display: 'grid',
            placeItems: 'center',
            fontSize: 10.5,
            fontWeight: 700,
          }}
        >
          {initials}
        </span>
        <span className="user-name">{name || 'anonymous'}</span>
      </button>
      {open && (
        <div className="popover" role="dialog" aria-label="User">
          <form
            className="stack"
            onSubmit={(e) => {
              e.preventDefault();
              setActor(draft);
              setName(draft.trim());
              setOpen(false);
            }}
          >
            <label className="field">
              Your name (recorded on triage actions)
              <input
                value={draft}
                maxLength={128}
                onChange={(e) => setDraft(e.target.value)}
                placeholder="anonymous"
                autoFocus
              />
            </label>
            <div className="row">
              <span className="faint" style={{ fontSize: 12 }}>
                Not signed in
              </span>
              <span className="spacer" />
              <button type="submit" className="primary small">
                Save
              </button>
            </div>
          </form>
        </div>
      )}
    </div>
  );
}
