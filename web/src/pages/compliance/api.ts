// Queries of the compliance API (/api/v1/compliance/...): frameworks,
// controls with their status, one control with its findings, and the
// evidence export's URL. Shared by the Compliance page and a control's page.
import { useQuery } from '@tanstack/react-query';
import { api, apiUrl, buildUrl } from '../../api/client';
import type { components } from '../../api/schema';

type S = components['schemas'];

export type Framework = S['FrameworkView'];
export type Control = S['ControlView'];
export type ControlStatus = S['ControlStatus'];
export type ControlDetail = S['ControlDetail'];
export type EvidenceFormat = S['EvidenceFormat'];

export const CONTROL_STATUSES = ['failing', 'passing', 'not_monitored'] as const satisfies readonly ControlStatus[];

export const COMPLIANCE_KEY = ['compliance'] as const;

/** Short names for the bundled frameworks (tabs); others use their title. */
const SHORT: Record<string, string> = {
  soc2: 'SOC 2',
  iso27001: 'ISO 27001',
  nist_800_53: 'NIST 800-53',
  cis_aws: 'CIS AWS',
};

export function frameworkLabel(f: Pick<Framework, 'id' | 'title'> | undefined, id = ''): string {
  if (!f) return SHORT[id] ?? id;
  return SHORT[f.id] ?? f.title;
}

export const STATUS_LABEL: Record<ControlStatus, string> = {
  failing: 'Failing',
  passing: 'Passing',
  not_monitored: 'Not monitored',
};

export function useFrameworks() {
  return useQuery({
    queryKey: [...COMPLIANCE_KEY, 'frameworks'],
    queryFn: ({ signal }) => api.get<S['FrameworkList']>('/api/v1/compliance/frameworks', undefined, signal),
    refetchInterval: 30_000,
  });
}

export function useControls(framework: string) {
  return useQuery({
    queryKey: [...COMPLIANCE_KEY, 'controls', framework],
    queryFn: ({ signal }) => api.get<S['ControlList']>('/api/v1/compliance/controls', { framework }, signal),
    enabled: !!framework,
    refetchInterval: 30_000,
  });
}

/** `<framework>:<control id>`, the control's key in the API. */
export function controlKey(framework: string, control: string): string {
  return `${framework}:${control}`;
}

export function useControl(framework: string, control: string) {
  const key = controlKey(framework, control);
  return useQuery({
    queryKey: [...COMPLIANCE_KEY, 'control', key],
    queryFn: ({ signal }) =>
      api.get<ControlDetail>(`/api/v1/compliance/controls/${encodeURIComponent(key)}`, undefined, signal),
    refetchInterval: 30_000,
  });
}

/** The dashboard route of a control's page. */
export function controlPath(framework: string, control: string): string {
  return `/compliance/${encodeURIComponent(framework)}/${encodeURIComponent(control)}`;
}

export interface ExportChoice {
  framework: string;
  /** RFC 3339 bounds of the period. */
  from: string;
  to: string;
  format: EvidenceFormat;
  /** `<framework>:<control id>`, or '' for every control of the framework. */
  control: string;
}

/** The download link of the evidence export (a GET: the session cookie authenticates it). */
export function exportHref(c: ExportChoice): string {
  return apiUrl(
    buildUrl('/api/v1/compliance/export', {
      framework: c.framework,
      from: c.from,
      to: c.to,
      format: c.format,
      control: c.control || undefined,
    }),
  );
}

export function countByStatus(controls: readonly Control[]): Record<ControlStatus, number> {
  const out: Record<ControlStatus, number> = { failing: 0, passing: 0, not_monitored: 0 };
  for (const c of controls) out[c.status] += 1;
  return out;
}
