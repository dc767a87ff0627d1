//! Google Cloud audit log entries, as Cloud Logging writes them (a
//! `LogEntry` whose `protoPayload` is an `AuditLog`: `serviceName`,
//! `methodName`, `resourceName`, `authenticationInfo`, `requestMetadata`,
//! `authorizationInfo`, `status`), and Google Workspace login events shared
//! with Cloud Logging (`serviceName: login.googleapis.com`, the Workspace
//! event under `protoPayload.metadata.event`).
//!
//! Normal traffic: object reads and writes in Cloud Storage, BigQuery jobs,
//! Cloud Run and GKE deployment rollouts, Cloud Build builds, instances
//! started and stopped, and Workspace sign-ins with a second factor. It
//! never calls a method SigmaHQ's Google Cloud rules name (bucket listing
//! or changes, firewall rules, service accounts, Kubernetes secrets and
//! role bindings, DNS zones, Cloud SQL, VPN tunnels), so it stays quiet
//! under a pipeline that maps those rules onto these records too.
//!
//! The incidents are Workspace login events: SigmaHQ's `gcp.audit` rules
//! name `gcp.audit.method_name` or `data.protoPayload.*` and its Workspace
//! admin rules flat `eventService` / `eventName`, field names of other
//! tools' processed records that no Cloud Logging entry carries, so no
//! native entry reaches them without a processing pipeline.

use chrono::{DateTime, SecondsFormat, Utc};
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use serde_json::{Value, json};

use super::{CloudIncident, egress_ip, person, pick, token};

const PROJECT: &str = "northwind-prod";
const ORG_ID: &str = "418273645091";
const DOMAIN: &str = "northwind.example";
const ZONES: [&str; 3] = ["europe-west4-a", "europe-west4-b", "europe-west1-c"];
const BUCKETS: [&str; 3] = ["nw-ledger-exports", "nw-web-assets", "nw-ml-training"];
const AGENT: &str = "google-cloud-sdk gcloud/472.0.0 command/gcloud.run.deploy invocation-id/3f1c environment/None environment-version/None client-os/LINUX client-os-ver/6.5.0 client-pltf-arch/x86_64 interactive/True from-script/False python/3.11.8 term/xterm-256color (Linux 6.5.0-1017-gcp),gzip(gfe)";
const BROWSER: &str = "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36,gzip(gfe)";

/// Incidents, each caught by the SigmaHQ rule named.
pub(crate) const INCIDENTS: [CloudIncident; 2] = [
    CloudIncident {
        name: "workspace_government_attack_warning",
        rule_title: "Google Workspace Government Attack Warning",
        rule_id: "eafe6f2b-cfec-4612-aec2-49563c33a087",
    },
    CloudIncident {
        name: "workspace_email_forwarding_out_of_domain",
        rule_title: "Google Workspace Out Of Domain Email Forwarding",
        rule_id: "2a0bb2dd-eb5f-4517-8cb9-404f8ba764a5",
    },
];

fn insert_id(rng: &mut ChaCha8Rng) -> String {
    token(rng, b"abcdefghijklmnopqrstuvwxyz0123456789", 12)
}

/// The fields of one audited call.
struct Call<'a> {
    service: &'a str,
    method: &'a str,
    resource_name: String,
    /// `resource.type` and `resource.labels` of the entry.
    resource: Value,
    /// The permission checked, for `authorizationInfo`.
    permission: &'a str,
    /// `activity` (Admin Activity) or `data_access` (Data Access).
    log: &'a str,
    principal: String,
    agent: &'a str,
    metadata: Option<Value>,
}

fn entry(rng: &mut ChaCha8Rng, t: DateTime<Utc>, c: Call<'_>) -> Value {
    let severity = if c.log == "activity" {
        "NOTICE"
    } else {
        "INFO"
    };
    let parent = if c.service == "login.googleapis.com" {
        format!("organizations/{ORG_ID}")
    } else {
        format!("projects/{PROJECT}")
    };
    let mut proto = json!({
        "@type": "type.googleapis.com/google.cloud.audit.AuditLog",
        "status": {},
        "authenticationInfo": {"principalEmail": c.principal},
        "requestMetadata": {
            "callerIp": egress_ip(rng),
            "callerSuppliedUserAgent": c.agent,
            "requestAttributes": {"time": t.to_rfc3339_opts(SecondsFormat::Nanos, true), "auth": {}},
            "destinationAttributes": {}
        },
        "serviceName": c.service,
        "methodName": c.method,
        "authorizationInfo": [{
            "resource": c.resource_name,
            "permission": c.permission,
            "granted": true,
            "resourceAttributes": {}
        }],
        "resourceName": c.resource_name
    });
    if let Some(m) = c.metadata {
        proto["metadata"] = m;
        if let Some(p) = proto.as_object_mut() {
            p.remove("authorizationInfo");
        }
    }
    let received = t + chrono::Duration::milliseconds(rng.gen_range(40..900));
    json!({
        "protoPayload": proto,
        "insertId": insert_id(rng),
        "resource": c.resource,
        "timestamp": t.to_rfc3339_opts(SecondsFormat::Nanos, true),
        "severity": severity,
        "logName": format!("{parent}/logs/cloudaudit.googleapis.com%2F{}", c.log),
        "receiveTimestamp": received.to_rfc3339_opts(SecondsFormat::Nanos, true)
    })
}

fn email(who: &str) -> String {
    format!("{who}@{DOMAIN}")
}

/// A Workspace login event: `event_type` / `event_name` as the Reports API
/// names them, the method as Cloud Logging does.
fn login(
    rng: &mut ChaCha8Rng,
    t: DateTime<Utc>,
    who: &str,
    method: &str,
    event_type: &str,
    event_name: &str,
    parameters: Value,
) -> Value {
    let metadata = json!({
        "@type": "type.googleapis.com/ccc_hosted_reporting.ActivityProto",
        "activityId": {
            "timeUsec": t.timestamp_micros().to_string(),
            "uniqQualifier": rng.gen_range(1_000_000_000_000_000_000i64..i64::MAX).to_string()
        },
        "event": [{
            "eventType": event_type,
            "eventName": event_name,
            "parameter": parameters
        }]
    });
    let call = Call {
        service: "login.googleapis.com",
        method,
        resource_name: format!("organizations/{ORG_ID}"),
        resource: json!({"type": "audited_resource", "labels": {"service": "login.googleapis.com", "method": method}}),
        permission: "",
        log: "data_access",
        principal: email(who),
        agent: BROWSER,
        metadata: Some(metadata),
    };
    entry(rng, t, call)
}

fn login_success(rng: &mut ChaCha8Rng, t: DateTime<Utc>, who: &str) -> Value {
    let params = json!([
        {"type": "TYPE_STRING", "name": "login_type", "value": "google_password"},
        {"type": "TYPE_STRING", "name": "login_challenge_method", "multiStrValue": ["password", "google_prompt"]},
        {"type": "TYPE_BOOLEAN", "name": "is_second_factor", "boolValue": false},
        {"type": "TYPE_BOOLEAN", "name": "is_suspicious", "boolValue": false}
    ]);
    login(
        rng,
        t,
        who,
        "google.login.LoginService.loginSuccess",
        "login",
        "login_success",
        params,
    )
}

/// An everyday entry: storage, analytics, deployments, builds, instances,
/// Workspace sign-ins.
pub(crate) fn normal(rng: &mut ChaCha8Rng, t: DateTime<Utc>) -> Value {
    let who = person(rng);
    let u = rng.gen_range(0..100);
    if u < 25 {
        return login_success(rng, t, &who);
    }
    let bucket = *pick(rng, &BUCKETS);
    let zone = *pick(rng, &ZONES);
    let deployer = format!("deploy@{PROJECT}.iam.gserviceaccount.com");
    let call = match u {
        25..=44 => Call {
            service: "storage.googleapis.com",
            method: "storage.objects.get",
            resource_name: format!(
                "projects/_/buckets/{bucket}/objects/reports/2026/{}.parquet",
                rng.gen_range(1000..9999)
            ),
            resource: json!({"type": "gcs_bucket", "labels": {"bucket_name": bucket, "location": "europe-west4", "project_id": PROJECT}}),
            permission: "storage.objects.get",
            log: "data_access",
            principal: email(&who),
            agent: AGENT,
            metadata: None,
        },
        45..=54 => Call {
            service: "storage.googleapis.com",
            method: "storage.objects.create",
            resource_name: format!(
                "projects/_/buckets/{bucket}/objects/uploads/{}.json",
                token(rng, b"0123456789abcdef", 16)
            ),
            resource: json!({"type": "gcs_bucket", "labels": {"bucket_name": bucket, "location": "europe-west4", "project_id": PROJECT}}),
            permission: "storage.objects.create",
            log: "data_access",
            principal: deployer,
            agent: "gcloud-golang-storage/1.40.0",
            metadata: None,
        },
        55..=66 => Call {
            service: "bigquery.googleapis.com",
            method: "google.cloud.bigquery.v2.JobService.InsertJob",
            resource_name: format!(
                "projects/{PROJECT}/jobs/bqjob_r{}",
                token(rng, b"0123456789abcdef", 16)
            ),
            resource: json!({"type": "bigquery_project", "labels": {"location": "EU", "project_id": PROJECT}}),
            permission: "bigquery.jobs.create",
            log: "data_access",
            principal: email(&who),
            agent: BROWSER,
            metadata: None,
        },
        67..=74 => {
            let svc = *pick(rng, &["api", "web", "ledger"]);
            Call {
                service: "run.googleapis.com",
                method: "google.cloud.run.v1.Services.ReplaceService",
                resource_name: format!("namespaces/{PROJECT}/services/{svc}"),
                resource: json!({"type": "cloud_run_revision", "labels": {"service_name": svc, "location": "europe-west4", "project_id": PROJECT, "configuration_name": "", "revision_name": ""}}),
                permission: "run.services.update",
                log: "activity",
                principal: deployer,
                agent: AGENT,
                metadata: None,
            }
        }
        75..=81 => {
            let app = *pick(rng, &["payments", "checkout", "search"]);
            Call {
                service: "k8s.io",
                method: "io.k8s.apps.v1.deployments.patch",
                resource_name: format!("apps/v1/namespaces/{app}/deployments/{app}"),
                resource: json!({"type": "k8s_cluster", "labels": {"cluster_name": "gke-nw-prod", "location": "europe-west4", "project_id": PROJECT}}),
                permission: "io.k8s.apps.v1.deployments.patch",
                log: "activity",
                principal: deployer,
                agent: "argocd-application-controller/v2.10.4",
                metadata: None,
            }
        }
        82..=87 => Call {
            service: "cloudbuild.googleapis.com",
            method: "google.devtools.cloudbuild.v1.CloudBuild.CreateBuild",
            resource_name: format!("projects/{PROJECT}/builds"),
            resource: json!({"type": "build", "labels": {"build_trigger_id": "", "build_id": "", "project_id": PROJECT}}),
            permission: "cloudbuild.builds.create",
            log: "activity",
            principal: email(&who),
            agent: AGENT,
            metadata: None,
        },
        _ => {
            let vm = format!("build-{:02}", rng.gen_range(1..9));
            let (method, permission) = if rng.gen_bool(0.5) {
                ("v1.compute.instances.start", "compute.instances.start")
            } else {
                ("v1.compute.instances.stop", "compute.instances.stop")
            };
            Call {
                service: "compute.googleapis.com",
                method,
                resource_name: format!("projects/{PROJECT}/zones/{zone}/instances/{vm}"),
                resource: json!({"type": "gce_instance", "labels": {"instance_id": rng.gen_range(1_000_000_000_000_000u64..9_000_000_000_000_000).to_string(), "project_id": PROJECT, "zone": zone}}),
                permission,
                log: "activity",
                principal: email(&who),
                agent: AGENT,
                metadata: None,
            }
        }
    };
    entry(rng, t, call)
}

pub(crate) fn incident(k: usize, rng: &mut ChaCha8Rng, t: DateTime<Utc>) -> Value {
    let who = person(rng);
    match k {
        0 => login(
            rng,
            t,
            &who,
            "google.login.LoginService.govAttackWarning",
            "attack_warning",
            "gov_attack_warning",
            json!([]),
        ),
        _ => {
            let params = json!([
                {"type": "TYPE_STRING", "name": "email_forwarding_destination_address", "value": "inbox-relay@mailbox.example"}
            ]);
            login(
                rng,
                t,
                &who,
                "google.login.LoginService.emailForwardingOutOfDomain",
                "email_forwarding_change",
                "email_forwarding_out_of_domain",
                params,
            )
        }
    }
}
