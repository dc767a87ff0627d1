// Domain types of the API. Everything the server's OpenAPI document
// describes comes from the generated schema (src/api/schema.d.ts, `npm run
// api:gen`; `npm run api:check` fails on drift). Parts of
// docs/design/dashboard.md the document does not describe yet are written
// here by hand and marked "contract", to be replaced by generated ones when
// the server publishes them.
import type { components } from './schema';

type S = components['schemas'];
type Json = Record<string, unknown>;

export const SEVERITIES = ['critical', 'high', 'medium', 'low', 'informational'] as const satisfies readonly S['Severity'][];
export type Severity = S['Severity'];

export const STATUSES = ['open', 'acknowledged', 'resolved', 'suppressed'] as const satisfies readonly S['FindingStatus'][];
export type FindingStatus = S['FindingStatus'];

export const CLOSE_REASONS = ['false_positive', 'benign', 'fixed', 'duplicate', 'other'] as const satisfies readonly S['CloseReason'][];
export type CloseReason = S['CloseReason'];

export interface Page<T> {
  items: T[];
  total: number;
  page: number;
  page_size: number;
}

export type Finding = S['Finding'];

/** contract: the `finding` live message */
export type LiveFinding = Finding & { change: 'created' | 'updated' };

export type EventRecord = Omit<S['Event'], 'payload'> & {
  payload: Json;
  /** contract: the event's Sigma logsource, once the server sends it */
  logsource?: { product?: string | null; category?: string | null; service?: string | null } | null;
};

/** The server sends the finding's fields and `evidence_events` in one object. */
export type FindingDetail = Finding & { evidence_events: EventRecord[] };

export type HistoryEntry = S['FindingHistory'];

export type FindingGroup = S['Group'];
export type GroupPage = S['GroupPage'];

export type BulkSet = S['BulkSet'];
export type BulkResponse = S['BulkResponse'];

export type Overview = S['Overview'];

export type TimelinePoint = S['TimelinePoint'];

export type Timeline = S['Timeline'];

export type ServiceSummary = S['ServiceSummary'];

export type ServicePage = S['ServicePage'];

/** contract: the `stats` live message */
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

export type Readyz = S['Ready'];

export type PipelineStatus = 'running' | 'done' | 'success' | 'error';

export type PipelineUpdate = Omit<S['UpdateView'], 'payload'> & { payload: Json };

export type Pipeline = Omit<S['PipelineView'], 'history' | 'last_payload'> & {
  history: PipelineUpdate[];
  last_payload?: Json | null;
};

/** The live `pipeline_update` message: the envelope as posted plus received_at. */
export interface PipelineEnvelope {
  status: string;
  pipeline: string;
  received_at?: string;
  [k: string]: unknown;
}

export type Rule = S['RuleView'];

export type RuleTestResult = S['RuleTestResult'];

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

export type IamAudit = Omit<S['IamAuditView'], 'summary' | 'report'> & {
  summary: Partial<IamSummary>;
  report?: IamReport;
  finding_ids?: number[];
};

export type MetricSeries = S['MetricSeries'];

export type MetricFields = S['MetricFields'];

// ---------- accounts, sessions, API keys (docs/design/auth.md) ----------

/** What `Me.permissions` lists (vigilo_auth::Permission::GRANTABLE). */
export const PERMISSIONS = [
  'events_write',
  'events_read',
  'findings_read',
  'findings_write',
  'rules_read',
  'rules_manage',
  'iam_audit',
  'iam_read',
  'pipelines_read',
  'pipelines_write',
  'users_manage',
  'audit_read',
  // signed-in users, not keys
  'preferences',
] as const;
export type Permission = (typeof PERMISSIONS)[number];

export const ROLES = ['admin', 'analyst', 'viewer'] as const satisfies readonly S['Role'][];
export type Role = S['Role'];

export const KEY_SCOPES = ['ingest', 'read', 'admin'] as const satisfies readonly S['Scope'][];
export type KeyScope = S['Scope'];

export type User = S['User'];

/** GET /api/v1/auth/me; the document types `principal` as any string. */
export type Me = Omit<S['Me'], 'principal'> & { principal: 'user' | 'api_key' | 'anonymous' };

export type Session = S['Session'];

/** GET /api/v1/auth/config */
export type AuthConfig = S['AuthSettings'];

export const PREF_RANGES = ['15m', '1h', '6h', '24h', '7d', '30d'] as const;
export type PrefRange = (typeof PREF_RANGES)[number];

/** contract: the values docs/design/auth.md allows (the document says string). */
export interface SavedFilter {
  name: string;
  page: 'findings' | 'events';
  query: string;
}

/** contract: Preferences with the values docs/design/auth.md allows (the document says string). */
export interface Preferences {
  time_range: PrefRange;
  theme: 'system' | 'light' | 'dark';
  saved_filters: SavedFilter[];
}

export type ApiKey = S['ApiKey'];

/** POST /api/v1/api-keys answer; the secret is shown this once. */
export type ApiKeyCreated = S['CreatedKey'];

/** An audit entry; `details` is any JSON object (the document cannot say so). */
export type AuditEntry = Omit<S['AuditLogEntry'], 'details'> & { details: Record<string, unknown> | null };

// ---------- alerts and dead letters ----------

export const NOTIFICATION_STATUSES = ['pending', 'sent', 'failed', 'suppressed'] as const;
export type NotificationStatus = (typeof NOTIFICATION_STATUSES)[number];

export const NOTIFICATION_KINDS = ['firing', 'resolved', 'repeat', 'silence_started', 'silence_ended', 'test'] as const;
export type NotificationKind = (typeof NOTIFICATION_KINDS)[number];

/** One notification to one receiver; `body` is the JSON the receiver was sent. */
export type AlertNotification = Omit<S['NotificationView'], 'body'> & { body: unknown };

export type NotificationPage = Page<AlertNotification>;

export type Receiver = S['ReceiverView'];

export type AlertRoute = S['RouteView'];

/** What a silence matcher can look at (alerts::config::FINDING_FIELDS). */
export const SILENCE_FIELDS = ['rule_id', 'service', 'severity', 'user', 'tag'] as const;
export type SilenceField = (typeof SILENCE_FIELDS)[number];

export type SilenceMatcher = S['MatcherBody'];

export type SilenceBody = S['SilenceBody'];

export const SILENCE_STATES = ['active', 'pending', 'expired'] as const;
export type SilenceState = (typeof SILENCE_STATES)[number];

export type Silence = S['SilenceView'];

export type DeadLetter = Omit<S['DeadLetterView'], 'meta'> & { meta: unknown };

export type DeadLetterPage = Omit<S['DeadLetterPage'], 'items'> & { items: DeadLetter[] };
