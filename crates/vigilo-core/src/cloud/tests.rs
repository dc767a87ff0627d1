use chrono::TimeZone;
use serde_json::json;

use super::*;

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 5, 1, 9, 0, 0).unwrap()
}

fn ls(product: &str, service: &str) -> Logsource {
    Logsource {
        product: Some(product.into()),
        category: None,
        service: Some(service.into()),
    }
}

fn run(v: Value, hint: &Logsource) -> Result<Vec<NewEvent>, EventError> {
    let mut out = Vec::new();
    unpack(v, hint, now(), &mut out)?;
    Ok(out)
}

fn cloudtrail_record(name: &str, time: &str) -> Value {
    json!({
        "eventVersion": "1.09",
        "userIdentity": {
            "type": "IAMUser",
            "principalId": "AIDAEXAMPLE7LQ3PZ4K2",
            "arn": "arn:aws:iam::210987654321:user/dana.ops",
            "accountId": "210987654321",
            "accessKeyId": "AKIAEXAMPLE5Q2WJ8RT1",
            "userName": "dana.ops"
        },
        "eventTime": time,
        "eventSource": "cloudtrail.amazonaws.com",
        "eventName": name,
        "awsRegion": "eu-west-1",
        "sourceIPAddress": "198.51.100.23",
        "userAgent": "aws-cli/2.15.30 Python/3.11.8 Linux/6.5.0 exe/x86_64.ubuntu.22",
        "requestParameters": {"name": "org-trail"},
        "responseElements": null,
        "requestID": "5f1c9a4e-1d7b-4c51-9b55-3a0f3c8e2d11",
        "eventID": "b0a3c1e2-7d44-4f8e-9a61-2c5d8e9f0a12",
        "readOnly": false,
        "eventType": "AwsApiCall",
        "managementEvent": true,
        "recipientAccountId": "210987654321",
        "eventCategory": "Management"
    })
}

#[test]
fn a_cloudtrail_file_ingests_as_its_records() {
    let file = json!({"Records": [
        cloudtrail_record("StopLogging", "2026-04-30T22:15:03Z"),
        cloudtrail_record("DescribeTrails", "2026-04-30T22:15:04Z"),
    ]});
    // With or without the request naming the shape.
    for hint in [Logsource::default(), ls("aws", "cloudtrail")] {
        let events = run(file.clone(), &hint).unwrap();
        assert_eq!(events.len(), 2);
        let e = &events[0];
        assert_eq!(
            e.timestamp,
            Utc.with_ymd_and_hms(2026, 4, 30, 22, 15, 3).unwrap()
        );
        assert_eq!(e.kind, "audit");
        assert_eq!(e.service.as_deref(), Some("cloudtrail.amazonaws.com"));
        assert_eq!(
            e.user.as_deref(),
            Some("arn:aws:iam::210987654321:user/dana.ops")
        );
        assert_eq!(e.logsource, ls("aws", "cloudtrail"));
        assert_eq!(Value::Object(e.payload.clone()), file["Records"][0]);
        assert_eq!(events[1].payload["eventName"], "DescribeTrails");
    }
    // An empty file holds no events.
    assert!(
        run(json!({"Records": []}), &Logsource::default())
            .unwrap()
            .is_empty()
    );
}

#[test]
fn a_single_cloudtrail_record_and_service_events() {
    let mut r = cloudtrail_record("ConsoleLogin", "2026-04-30T08:01:59Z");
    r["eventSource"] = json!("signin.amazonaws.com");
    let e = &run(r, &Logsource::default()).unwrap()[0];
    assert_eq!(e.logsource, ls("aws", "cloudtrail"));
    assert_eq!(e.service.as_deref(), Some("signin.amazonaws.com"));
    // An AWS service acting names itself.
    let mut svc = cloudtrail_record("Decrypt", "2026-04-30T08:02:00.120Z");
    svc["userIdentity"] = json!({"type": "AWSService", "invokedBy": "lambda.amazonaws.com"});
    let e = &run(svc, &Logsource::default()).unwrap()[0];
    assert_eq!(e.user.as_deref(), Some("lambda.amazonaws.com"));
    assert_eq!(e.timestamp.timestamp_subsec_millis(), 120);
}

#[test]
fn okta_system_log() {
    let v = json!({
        "uuid": "3f0e5b2a-9c1d-11ef-8a7b-3d2c1b0a9f8e",
        "published": "2026-04-29T14:22:31.127Z",
        "eventType": "user.mfa.factor.reset_all",
        "version": "0",
        "severity": "INFO",
        "legacyEventType": "core.user.factor.reset_all",
        "displayMessage": "Reset all factors for user",
        "actor": {"id": "00u8k2l3m4n5o6p7q8r9", "type": "User", "alternateId": "it.admin@example.org", "displayName": "IT Admin"},
        "client": {"ipAddress": "203.0.113.40", "userAgent": {"browser": "CHROME", "os": "Mac OS X"}},
        "outcome": {"result": "SUCCESS"},
        "target": [{"id": "00u1a2b3c4d5e6f7g8h9", "type": "User", "alternateId": "lee.chan@example.org"}]
    });
    let e = &run(v, &Logsource::default()).unwrap()[0];
    assert_eq!(e.logsource, ls("okta", "okta"));
    assert_eq!(e.user.as_deref(), Some("it.admin@example.org"));
    assert_eq!(
        e.timestamp.timestamp_millis(),
        Utc.with_ymd_and_hms(2026, 4, 29, 14, 22, 31)
            .unwrap()
            .timestamp_millis()
            + 127
    );
    assert_eq!(
        (e.kind.as_str(), e.service.as_deref()),
        ("audit", Some("okta"))
    );
}

#[test]
fn github_audit_log_with_millisecond_timestamps() {
    let v = json!({
        "@timestamp": 1777472551000i64,
        "_document_id": "xq1Y3vTq9mZb2kR4pL8sWg",
        "action": "repo.pages_public",
        "actor": "mara-k",
        "actor_location": {"country_code": "DE"},
        "created_at": 1777472551000i64,
        "org": "northwind",
        "repo": "northwind/handbook",
        "visibility": "public"
    });
    let e = &run(v.clone(), &Logsource::default()).unwrap()[0];
    assert_eq!(e.logsource, ls("github", "audit"));
    assert_eq!(e.user.as_deref(), Some("mara-k"));
    assert_eq!(e.timestamp.timestamp_millis(), 1_777_472_551_000);
    // Only `created_at`, as RFC 3339, under the request's logsource.
    let mut w = v;
    w.as_object_mut().unwrap().remove("@timestamp");
    w.as_object_mut().unwrap().remove("_document_id");
    w["created_at"] = json!("2026-04-29T14:22:31Z");
    let e = &run(w.clone(), &ls("github", "audit")).unwrap()[0];
    assert_eq!(
        e.timestamp,
        Utc.with_ymd_and_hms(2026, 4, 29, 14, 22, 31).unwrap()
    );
    assert_eq!(e.logsource, ls("github", "audit"));
    // Without the marker and without the request naming it: ordinary.
    let e = &run(w, &Logsource::default()).unwrap()[0];
    assert!(e.logsource.is_empty());
    assert_eq!(e.kind, "event");
}

#[test]
fn azure_activity_and_sign_in_logs() {
    let activity = json!({
        "time": "2026-04-28T10:11:12.5000000Z",
        "resourceId": "/SUBSCRIPTIONS/0B1C2D3E-4F50-6172-8394-A5B6C7D8E9F0/RESOURCEGROUPS/RG-PAY/PROVIDERS/MICROSOFT.KEYVAULT/VAULTS/KV-PAY",
        "operationName": "MICROSOFT.KEYVAULT/VAULTS/SECRETS/DELETE",
        "category": "Administrative",
        "resultType": "Success",
        "callerIpAddress": "192.0.2.14",
        "caller": "ops@example.onmicrosoft.com",
        "level": "Informational",
        "properties": {"statusCode": "OK"}
    });
    let signin = json!({
        "time": "2026-04-28T10:12:00Z",
        "resourceId": "/tenants/7a8b9c0d-1e2f-3a4b-5c6d-7e8f9a0b1c2d/providers/Microsoft.aadiam",
        "operationName": "Sign-in activity",
        "category": "SignInLogs",
        "resultType": "0",
        "properties": {"userPrincipalName": "kim.lee@example.org", "appDisplayName": "Azure Portal"}
    });
    let file = json!({"records": [activity.clone(), signin.clone()]});
    let events = run(file, &Logsource::default()).unwrap();
    assert_eq!(events.len(), 2);
    assert_eq!(events[0].logsource, ls("azure", "activitylogs"));
    assert_eq!(events[0].service.as_deref(), Some("microsoft.keyvault"));
    assert_eq!(
        events[0].user.as_deref(),
        Some("ops@example.onmicrosoft.com")
    );
    assert_eq!(events[0].timestamp.timestamp_subsec_millis(), 500);
    assert_eq!(events[1].logsource, ls("azure", "signinlogs"));
    assert_eq!(events[1].user.as_deref(), Some("kim.lee@example.org"));
    // The Log Analytics table shape.
    let table = json!({"TimeGenerated": "2026-04-28T10:13:00Z", "Type": "SigninLogs", "ResultType": 50053, "UserPrincipalName": "kim.lee@example.org"});
    let e = &run(table, &Logsource::default()).unwrap()[0];
    assert_eq!(e.logsource, ls("azure", "signinlogs"));
    assert_eq!(
        e.timestamp,
        Utc.with_ymd_and_hms(2026, 4, 28, 10, 13, 0).unwrap()
    );
}

#[test]
fn gcp_and_workspace_audit_logs() {
    let entry = |service: &str, method: &str| {
        json!({
            "insertId": "1x9k2f3e4d5c",
            "logName": "projects/ledger-prod/logs/cloudaudit.googleapis.com%2Factivity",
            "protoPayload": {
                "@type": "type.googleapis.com/google.cloud.audit.AuditLog",
                "authenticationInfo": {"principalEmail": "deploy@ledger-prod.iam.gserviceaccount.com"},
                "serviceName": service,
                "methodName": method,
                "resourceName": "projects/_/buckets/ledger-exports"
            },
            "resource": {"type": "gcs_bucket", "labels": {"project_id": "ledger-prod"}},
            "severity": "NOTICE",
            "timestamp": "2026-04-27T06:30:00.250Z"
        })
    };
    let e = &run(
        entry("storage.googleapis.com", "storage.buckets.delete"),
        &Logsource::default(),
    )
    .unwrap()[0];
    assert_eq!(e.logsource, ls("gcp", "gcp.audit"));
    assert_eq!(e.service.as_deref(), Some("storage.googleapis.com"));
    assert_eq!(
        e.user.as_deref(),
        Some("deploy@ledger-prod.iam.gserviceaccount.com")
    );
    assert_eq!(e.timestamp.timestamp_subsec_millis(), 250);
    let e = &run(
        entry(
            "admin.googleapis.com",
            "google.admin.AdminService.grantAdminPrivilege",
        ),
        &Logsource::default(),
    )
    .unwrap()[0];
    assert_eq!(e.logsource, ls("gcp", "google_workspace.admin"));
    let e = &run(
        entry(
            "login.googleapis.com",
            "google.login.LoginService.loginSuccess",
        ),
        &Logsource::default(),
    )
    .unwrap()[0];
    assert_eq!(e.logsource, ls("gcp", "google_workspace.login"));
}

#[test]
fn ordinary_vigilo_events_stay_as_they_are() {
    // A Vigilo event with a kind, even with CloudTrail-like fields.
    let mut r = cloudtrail_record("StopLogging", "2026-04-30T22:15:03Z");
    r["kind"] = json!("log");
    let e = &run(r.clone(), &Logsource::default()).unwrap()[0];
    assert_eq!(e.kind, "log");
    assert!(e.logsource.is_empty());
    // Also when the request names CloudTrail.
    let e = &run(r, &ls("aws", "cloudtrail")).unwrap()[0];
    assert_eq!(e.kind, "log");
    assert!(e.logsource.is_empty());
    // A Vigilo timestamp field under a CloudTrail request: ordinary.
    let v = json!({"timestamp": "2026-04-30T22:15:03Z", "eventName": "StopLogging"});
    let e = &run(v, &ls("aws", "cloudtrail")).unwrap()[0];
    assert_eq!(e.kind, "event");
    assert!(e.logsource.is_empty());
    // An event naming its own logsource is not guessed at.
    let mut r = cloudtrail_record("StopLogging", "2026-04-30T22:15:03Z");
    r["logsource"] = json!({"product": "vigilo"});
    assert!(
        run(r, &Logsource::default()).unwrap()[0]
            .logsource
            .is_empty()
    );
    // A plain Vigilo audit event.
    let v =
        json!({"timestamp": "2026-04-30T22:15:03Z", "event_type": "login_failed", "user": "ann"});
    let e = &run(v.clone(), &Logsource::default()).unwrap()[0];
    assert_eq!(e.user.as_deref(), Some("ann"));
    assert!(e.logsource.is_empty());
    // A `Records` key beside others, or records of another kind: one event.
    let e = run(
        json!({"Records": [{"a": 1}], "source": "x"}),
        &Logsource::default(),
    )
    .unwrap();
    assert_eq!(e.len(), 1);
    let s3 = json!({"Records": [{"eventVersion": "2.1", "eventSource": "aws:s3", "eventTime": "2026-04-30T22:15:03Z", "eventName": "ObjectCreated:Put"}]});
    let e = run(s3, &Logsource::default()).unwrap();
    assert_eq!(e.len(), 1);
    assert!(e[0].logsource.is_empty());
}

#[test]
fn under_the_request_logsource_a_record_without_its_time_gets_the_receive_time() {
    let v = json!({"eventName": "ListBuckets", "eventSource": "s3.amazonaws.com"});
    let e = &run(v, &ls("aws", "cloudtrail")).unwrap()[0];
    assert_eq!(e.timestamp, now());
    assert_eq!(e.logsource, ls("aws", "cloudtrail"));
    assert_eq!(e.kind, "audit");
    // A product alone names the single-shape products.
    assert_eq!(
        Shape::for_logsource(&Logsource {
            product: Some("okta".into()),
            ..Default::default()
        }),
        Some(Shape::Okta)
    );
    assert_eq!(
        Shape::for_logsource(&Logsource {
            product: Some("azure".into()),
            ..Default::default()
        }),
        None
    );
    assert_eq!(Shape::for_logsource(&ls("vigilo", "cloudtrail")), None);
}

#[test]
fn bad_input_is_an_error_that_names_the_record_and_field() {
    let file = json!({"Records": [
        cloudtrail_record("DescribeTrails", "2026-04-30T22:15:04Z"),
        cloudtrail_record("StopLogging", "30/04/2026 22:15"),
    ]});
    // Not recognised by markers (the bad time is still a string), so read
    // under the request's logsource.
    let err = run(file.clone(), &ls("aws", "cloudtrail")).unwrap_err();
    assert_eq!(err.code, ErrorCode::InvalidTimestamp);
    assert!(
        err.message.starts_with("record 2: field `eventTime`"),
        "{}",
        err.message
    );
    let err = run(file, &Logsource::default()).unwrap_err();
    assert!(err.message.contains("record 2"), "{}", err.message);
    let err = run(
        json!({"Records": [cloudtrail_record("X", "2026-04-30T22:15:04Z"), 7]}),
        &ls("aws", "cloudtrail"),
    )
    .unwrap_err();
    assert_eq!(err.code, ErrorCode::EventNotObject);
    assert!(
        err.message.starts_with("record 2: must be a JSON object"),
        "{}",
        err.message
    );
    let err = run(
        json!({"published": true, "eventType": "user.session.start"}),
        &ls("okta", "okta"),
    )
    .unwrap_err();
    assert!(err.message.contains("`published`"), "{}", err.message);
    let err = run(
        json!({"@timestamp": "soon", "action": "repo.create", "_document_id": "x"}),
        &Logsource::default(),
    )
    .unwrap_err();
    assert!(err.message.contains("`@timestamp`"), "{}", err.message);
    let err = run(json!([1]), &Logsource::default()).unwrap_err();
    assert_eq!(err.code, ErrorCode::EventNotObject);
    let mut out = vec![];
    assert!(
        unpack(
            json!({"Records": [cloudtrail_record("X", "2026-04-30T22:15:04Z"), 7]}),
            &ls("aws", "cloudtrail"),
            now(),
            &mut out
        )
        .is_err()
    );
    assert!(out.is_empty(), "nothing is appended on error");
}

#[test]
fn a_request_naming_another_product_is_believed() {
    let r = cloudtrail_record("StopLogging", "2026-04-30T22:15:03Z");
    let vigilo = Logsource {
        product: Some("vigilo".into()),
        ..Default::default()
    };
    let e = &run(r.clone(), &vigilo).unwrap()[0];
    assert!(e.logsource.is_empty());
    assert_eq!(e.kind, "event");
    let e = run(json!({"Records": [r]}), &vigilo).unwrap();
    assert_eq!(e.len(), 1, "the file is one ordinary event");
}

#[test]
fn assigned_logsources_layer_the_shape_under_the_request() {
    let rules = DeriveRules::default();
    let r = cloudtrail_record("StopLogging", "2026-04-30T22:15:03Z");
    let mut out = Vec::new();
    unpack_assigned(
        json!({"Records": [r.clone()]}),
        &Logsource::default(),
        &rules,
        now(),
        &mut out,
    )
    .unwrap();
    assert_eq!(out[0].logsource, ls("aws", "cloudtrail"));
    // The request adds a category; an ordinary event gets the default product.
    let mut out = Vec::new();
    let req = Logsource {
        category: Some("audit".into()),
        ..Default::default()
    };
    unpack_assigned(r, &req, &rules, now(), &mut out).unwrap();
    unpack_assigned(
        json!({"level": "INFO"}),
        &Logsource::default(),
        &rules,
        now(),
        &mut out,
    )
    .unwrap();
    assert_eq!(
        out[0].logsource,
        Logsource {
            category: Some("audit".into()),
            ..ls("aws", "cloudtrail")
        }
    );
    assert_eq!(out[1].logsource, Logsource::vigilo());
    // A malformed own logsource is an error and appends nothing.
    let mut out = Vec::new();
    assert!(
        unpack_assigned(
            json!({"logsource": 3}),
            &Logsource::default(),
            &rules,
            now(),
            &mut out
        )
        .is_err()
    );
    assert!(out.is_empty());
}
