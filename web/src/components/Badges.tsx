import type { Severity } from '../api/types';
import { humanize } from '../lib/format';

export function SeverityBadge({ severity }: { severity: Severity | string }) {
  return <span className={`sev sev-${severity}`}>{severity === 'informational' ? 'info' : severity}</span>;
}

export function StatusBadge({ status }: { status: string }) {
  return <span className={`status status-${status}`}>{humanize(status)}</span>;
}

export function riskColor(score: number): string {
  if (score >= 80) return 'var(--sev-critical)';
  if (score >= 60) return 'var(--sev-high)';
  if (score >= 40) return 'var(--sev-medium)';
  if (score >= 20) return 'var(--sev-low)';
  return 'var(--sev-informational)';
}

export function RiskScore({ score }: { score: number }) {
  return (
    <span className="risk" title={`Risk score ${score} of 100`}>
      <span className="risk-bar" aria-hidden="true">
        <span style={{ width: `${Math.max(0, Math.min(100, score))}%`, background: riskColor(score) }} />
      </span>
      <span className="mono">{score}</span>
    </span>
  );
}

export function Tags({ tags }: { tags: readonly string[] | undefined }) {
  if (!tags?.length) return null;
  return (
    <>
      {tags.map((t) => (
        <span key={t} className="tag">
          {t}
        </span>
      ))}
    </>
  );
}
