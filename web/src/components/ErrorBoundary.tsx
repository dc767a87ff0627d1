import { Component, type ReactNode } from 'react';

interface State {
  error: Error | null;
}

/**
 * Keeps one broken page from blanking the whole app (a render error, or a
 * page chunk that no longer exists after an upgrade: then a reload fixes it).
 */
export class ErrorBoundary extends Component<{ children: ReactNode; resetKey: string }, State> {
  state: State = { error: null };

  static getDerivedStateFromError(error: Error): State {
    return { error };
  }

  componentDidUpdate(prev: { resetKey: string }) {
    if (prev.resetKey !== this.props.resetKey && this.state.error) this.setState({ error: null });
  }

  render() {
    const { error } = this.state;
    if (!error) return this.props.children;
    const stale = /dynamically imported module|Importing a module script failed|Failed to fetch/i.test(error.message);
    return (
      <div className="panel">
        <div className="state state-error" role="alert">
          <p style={{ marginTop: 0 }}>
            {stale ? 'Vigilo was upgraded while this tab was open.' : 'This page hit an error.'}
          </p>
          <span className="code">{error.message}</span>
          <div style={{ marginTop: 12 }}>
            <button type="button" className="primary" onClick={() => window.location.reload()}>
              Reload
            </button>
          </div>
        </div>
      </div>
    );
  }
}
