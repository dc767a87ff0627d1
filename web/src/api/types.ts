// Domain types of the API. Shapes the server's OpenAPI document describes are
// taken from the generated schema (src/api/schema.d.ts, `npm run api:gen`) by
// `Schema<...>`; the parts of docs/design/dashboard.md the document does not
// describe yet are written here by hand and marked so, to be replaced by the
// generated ones when the server publishes them (`npm run api:check` shows the drift).

export const SEVERITIES = ['critical', 'high', 'medium', 'low', 'informational'] as const;
export type Severity = (typeof SEVERITIES)[number];

export const STATUSES = ['open', 'acknowledged', 'resolved', 'suppressed'] as const;
export type FindingStatus = (typeof STATUSES)[number];

export const CLOSE_REASONS = ['false_positive', 'benign', 'fixed', 'duplicate', 'other'] as const;
export type CloseReason = (typeof CLOSE_REASONS)[number];

export interface Page<T> {
  items: T[];
  total: number;
  page: number;
  page_size: number;
}

export interface Finding {
  id: number;
  rule_id: string;
  rule_title: string;
  severity: Severity;
  status: FindingStatus;
  group: Record<string, string>;
  service: string | null;
  user: string | null;
  first_seen: string;
  last_seen: string;
  event_count: number;
  evidence: number[];
  description: string;
  tags: string[];
  risk_score: number;
  explanation: string;
  note: string | null;
  created_at: string;
  updated_at: string;
  // triage (contract)
  assignee?: string | null;
  workflow_tags?: string[];
  close_reason?: CloseReason | null;
}

export interface LiveFinding extends Finding {
  change: 'created' | 'updated';
}

export interface EventRecord {
  id: number;
  timestamp: string;
  received_at: string;
  kind: string;
  service: string | null;
  user: string | null;
  payload: Record<string, unknown>;
  logsource?: { product?: string | null; category?: string | null; service?: string | null } | null;
}

export interface FindingDetail {
  finding: Finding;
  evidence_events: EventRecord[];
}

export interface HistoryEntry {
  id: number;
  finding_id: number;
  at: string;
  actor: string;
  action: 'created' | 'status' | 'assignee' | 'tags' | 'close_reason' | 'note';
  from: string | null;
  to: string | null;
}

export interface FindingGroup {
  key: string | null;
  title: string | null;
  count: number;
  open: number;
  max_severity: Severity;
  last_seen: string;
}

export interface BulkSet {
  status?: FindingStatus;
  assignee?: string;
  add_tags?: string[];
  remove_tags?: string[];
  close_reason?: CloseReason;
  note?: string;
}

export interface Overview {
  from: string;
  to: string;
  total_events: number;
  total_findings: number;
  findings_by_status: Record<string, number>;
  events_in_window: number;
  findings_in_window: number;
  events_by_kind: Record<string, number>;
  findings_by_severity: Record<string, number>;
  top_rules: { rule_id: string; count: number }[];
  services: number;
}

export interface TimelinePoint {
  time: string;
  events: number;
  findings: number;
  findings_by_severity: Record<string, number>;
  events_by_kind: Record<string, number>;
}

export interface Timeline {
  from: string;
  to: string;
  bucket_seconds: number;
  points: TimelinePoint[];
}

export interface ServiceSummary {
  service: string;
  events: number;
  findings: number;
  findings_by_severity: Record<string, number>;
  last_finding_at: string | null;
}

export interface ServicePage extends Page<ServiceSummary> {
  from: string;
  to: string;
}

export interface LiveStats {
  time: string;
  events_per_sec: Record<string, number>;
  events_per_sec_total: number;
  events_total: number;
  open_findings: Record<string, number>;
  queue_depth: number;
  queue_capacity: number;
  detection_lag_events: number;
  detection_lag_ms: number;
  rules_loaded: number;
}

export interface Readyz {
  status?: string;
  rules?: number;
  [k: string]: unknown;
}

export type PipelineStatus = 'running' | 'done' | 'success' | 'error';

export interface PipelineUpdate {
  status: PipelineStatus | string;
  received_at: string;
  payload: Record<string, unknown>;
}

export interface Pipeline {
  name: string;
  configured: boolean;
  kind: 'topic' | 'stage' | 'agent' | string;
  status: PipelineStatus | string | null;
  last_update: string | null;
  updates_total: number;
  updates_per_min: number;
  history: PipelineUpdate[];
  last_payload: Record<string, unknown> | null;
}

/** The live `pipeline_update` message: the envelope as posted plus received_at. */
export interface PipelineEnvelope {
  status: string;
  pipeline: string;
  received_at?: string;
  [k: string]: unknown;
}

export interface Rule {
  rule_id: string;
  id: string | null;
  title: string;
  description: string;
  severity: Severity;
  kind: string;
  tags: string[];
  group_by: string[];
  suppression_seconds: number;
  logsource: { product: string | null; category: string | null; service: string | null };
  origin: string;
  line: number;
  pack: string | null;
  emits_findings: boolean;
  enabled: boolean;
  enabled_changed_at: string | null;
  references: string[];
  matches: number;
  findings: number;
  last_match: string | null;
}

export interface RuleTestResult {
  events_evaluated: number;
  findings: Finding[];
  [k: string]: unknown;
}

export interface IamSummary {
  total: number;
  critical: number;
  high: number;
  medium: number;
  low: number;
  informational: number;
  principals_audited: number;
  principals_with_findings: number;
  principals_with_escalation: number;
  excluded: number;
  reference_time: string;
}

export interface IamEvidence {
  policy: string;
  policy_arn?: string;
  via_group?: string;
  statement?: string;
  effect?: string;
  actions?: string[];
  detail?: string;
}

export interface IamFinding {
  check_id: string;
  severity: Severity;
  principal_type: string;
  principal: string;
  principal_arn?: string;
  title: string;
  explanation: string;
  method?: string;
  evidence: IamEvidence[];
  remediation: string;
  references: string[];
  confidence: string;
}

export interface IamReport {
  summary: IamSummary;
  findings: IamFinding[];
  input_format: string;
  warnings?: string[];
}

export interface IamAudit {
  id: number;
  created_at: string;
  source: string | null;
  input_format: string;
  summary: Partial<IamSummary>;
  report?: IamReport;
  finding_ids?: number[];
}

export interface MetricSeries {
  field: string;
  agg: string;
  group_by: string;
  bucket_seconds: number;
  from: string;
  to: string;
  series: { key: string | null; points: { time: string; value: number | null }[] }[];
}

export interface MetricFields {
  fields: string[];
  groups: Record<string, string[]>;
}
