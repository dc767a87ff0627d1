import type { IamFinding } from '../api/types';
import { SEVERITIES } from '../api/types';

export interface PrincipalGroup {
  key: string;
  principal: string;
  principal_type: string;
  worst: IamFinding['severity'];
  findings: IamFinding[];
}

const rank = (s: string) => {
  const i = SEVERITIES.indexOf(s as (typeof SEVERITIES)[number]);
  return i < 0 ? SEVERITIES.length : i;
};

/** Findings grouped by principal, the principals with the worst findings first. */
export function groupByPrincipal(findings: IamFinding[]): PrincipalGroup[] {
  const map = new Map<string, PrincipalGroup>();
  for (const f of findings) {
    const key = `${f.principal_type}:${f.principal}`;
    let g = map.get(key);
    if (!g) {
      g = { key, principal: f.principal, principal_type: f.principal_type, worst: f.severity, findings: [] };
      map.set(key, g);
    }
    g.findings.push(f);
    if (rank(f.severity) < rank(g.worst)) g.worst = f.severity;
  }
  const groups = [...map.values()];
  for (const g of groups) g.findings.sort((a, b) => rank(a.severity) - rank(b.severity));
  return groups.sort(
    (a, b) => rank(a.worst) - rank(b.worst) || b.findings.length - a.findings.length || a.principal.localeCompare(b.principal),
  );
}

/** Escalation methods found, each with how many principals can use it. */
export function escalationMethods(findings: IamFinding[]): { method: string; principals: string[]; sample: IamFinding }[] {
  const map = new Map<string, { method: string; principals: string[]; sample: IamFinding }>();
  for (const f of findings) {
    if (!f.method) continue;
    const m = map.get(f.method) ?? { method: f.method, principals: [], sample: f };
    if (!m.principals.includes(f.principal)) m.principals.push(f.principal);
    map.set(f.method, m);
  }
  return [...map.values()].sort((a, b) => b.principals.length - a.principals.length || a.method.localeCompare(b.method));
}
