//! AWS CloudTrail records, management and data events, as CloudTrail
//! writes them (`eventVersion` 1.09).
//!
//! Normal traffic comes from IAM users and AWS services. It has no
//! assumed-role sessions: SigmaHQ's "AWS STS AssumeRole Misuse" (905d389b)
//! matches every event of a role session, so real accounts tune it; the
//! generator leaves those sessions out rather than trip it. It never lists
//! buckets, creates access keys or asks for session tokens (rules catch each
//! of those by name alone).

use chrono::{DateTime, Utc};
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use serde_json::{Value, json};

use super::{CloudIncident, egress_ip, person, pick, rfc3339, token, uuid};

const ACCOUNT: &str = "314159265358";
const REGIONS: [&str; 3] = ["eu-west-1", "eu-central-1", "us-east-1"];
const AGENTS: [&str; 5] = [
    "aws-cli/2.15.30 Python/3.11.8 Linux/6.5.0-1017-aws exe/x86_64.ubuntu.22 prompt/off command/s3.cp",
    "Boto3/1.34.69 md/Botocore#1.34.69 ua/2.0 os/linux#6.1.79 md/arch#x86_64 lang/python#3.12.2",
    "aws-sdk-go-v2/1.26.1 os/linux lang/go#1.22.1 md/GOOS#linux md/GOARCH#amd64 api/ec2#1.156.0",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Safari/605.1.15",
    "APN/1.0 HashiCorp/1.0 Terraform/1.7.5 (+https://www.terraform.io) terraform-provider-aws/5.43.0",
];
const BUCKETS: [&str; 4] = [
    "ledger-exports-prod",
    "web-assets-eu",
    "ml-training-data",
    "backups-eu-west-1",
];

/// Incidents, each caught by the SigmaHQ rule named.
pub(crate) const INCIDENTS: [CloudIncident; 8] = [
    CloudIncident {
        name: "cloudtrail_stop_logging",
        rule_title: "AWS CloudTrail Important Change",
        rule_id: "4db60cc0-36fb-42b7-9b58-a5b53019fb74",
    },
    CloudIncident {
        name: "console_login_without_mfa",
        rule_title: "AWS Successful Console Login Without MFA",
        rule_id: "77caf516-34e5-4df9-b4db-20744fea0a60",
    },
    CloudIncident {
        name: "guardduty_detector_deleted",
        rule_title: "AWS GuardDuty Detector Deleted Or Updated",
        rule_id: "d2656e78-c069-4571-8220-9e0ab5913f19",
    },
    CloudIncident {
        name: "vpc_flow_logs_deleted",
        rule_title: "AWS VPC Flow Logs Deleted",
        rule_id: "e386b9b5-af12-450e-afff-761730fb8a98",
    },
    CloudIncident {
        name: "security_group_opened",
        rule_title: "Ingress/Egress Security Group Modification",
        rule_id: "6fb77778-040f-4015-9440-572aa9b6b580",
    },
    CloudIncident {
        name: "config_recorder_stopped",
        rule_title: "AWS Config Disabling Channel/Recorder",
        rule_id: "07330162-dba1-4746-8121-a9647d49d297",
    },
    CloudIncident {
        name: "root_account_used",
        rule_title: "AWS Root Credentials",
        rule_id: "8ad1600d-e9dc-4251-b0ee-a65268f29add",
    },
    CloudIncident {
        name: "ebs_default_encryption_disabled",
        rule_title: "AWS EC2 Disable EBS Encryption",
        rule_id: "16124c2d-e40b-4fcc-8f2c-5ab7870a2223",
    },
];

fn iam_user(rng: &mut ChaCha8Rng, name: &str) -> Value {
    json!({
        "type": "IAMUser",
        "principalId": format!("AIDA{}", token(rng, b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", 17)),
        "arn": format!("arn:aws:iam::{ACCOUNT}:user/{name}"),
        "accountId": ACCOUNT,
        "accessKeyId": format!("AKIA{}", token(rng, b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", 16)),
        "userName": name
    })
}

/// A record with the fields every CloudTrail record carries.
#[allow(clippy::too_many_arguments)]
fn record(
    rng: &mut ChaCha8Rng,
    t: DateTime<Utc>,
    identity: Value,
    source: &str,
    name: &str,
    request: Value,
    response: Value,
    read_only: bool,
) -> Value {
    let service_call = identity["type"] == "AWSService";
    let mut r = json!({
        "eventVersion": "1.09",
        "userIdentity": identity,
        "eventTime": rfc3339(t),
        "eventSource": source,
        "eventName": name,
        "awsRegion": pick(rng, &REGIONS),
        "sourceIPAddress": if service_call { source.to_string() } else { egress_ip(rng) },
        "userAgent": if service_call { source.to_string() } else { pick(rng, &AGENTS).to_string() },
        "requestParameters": request,
        "responseElements": response,
        "requestID": uuid(rng),
        "eventID": uuid(rng),
        "readOnly": read_only,
        "eventType": "AwsApiCall",
        "managementEvent": true,
        "recipientAccountId": ACCOUNT,
        "eventCategory": "Management",
        "tlsDetails": {
            "tlsVersion": "TLSv1.3",
            "cipherSuite": "TLS_AES_128_GCM_SHA256",
            "clientProvidedHostHeader": source
        }
    });
    if service_call && let Some(m) = r.as_object_mut() {
        m.remove("tlsDetails");
    }
    r
}

fn instance_id(rng: &mut ChaCha8Rng) -> String {
    format!("i-0{}", token(rng, b"0123456789abcdef", 16))
}

/// An everyday record: reads, deployments, object access, console sign-in
/// with MFA, service calls.
pub(crate) fn normal(rng: &mut ChaCha8Rng, t: DateTime<Utc>) -> Value {
    let who = person(rng);
    let u = rng.gen_range(0..100);
    if u < 15 {
        // An AWS service working on the account's behalf.
        let (source, name, req) = match rng.gen_range(0..3) {
            0 => (
                "kms.amazonaws.com",
                "Decrypt",
                json!({"encryptionAlgorithm": "SYMMETRIC_DEFAULT"}),
            ),
            1 => (
                "kms.amazonaws.com",
                "GenerateDataKey",
                json!({"keySpec": "AES_256"}),
            ),
            _ => (
                "logs.amazonaws.com",
                "CreateLogStream",
                json!({"logGroupName": "/aws/lambda/ledger-export"}),
            ),
        };
        let identity = json!({"type": "AWSService", "invokedBy": pick(rng, &["lambda.amazonaws.com", "ecs-tasks.amazonaws.com", "s3.amazonaws.com"])});
        return record(rng, t, identity, source, name, req, Value::Null, true);
    }
    let identity = iam_user(rng, &who);
    if u < 20 {
        let mut r = record(
            rng,
            t,
            identity,
            "signin.amazonaws.com",
            "ConsoleLogin",
            Value::Null,
            json!({"ConsoleLogin": "Success"}),
            false,
        );
        r["additionalEventData"] = json!({
            "LoginTo": "https://console.aws.amazon.com/console/home",
            "MobileVersion": "No",
            "MFAUsed": "Yes"
        });
        r["eventType"] = json!("AwsConsoleSignIn");
        return r;
    }
    let bucket = *pick(rng, &BUCKETS);
    let (source, name, req, ro) = match u {
        20..=34 => (
            "s3.amazonaws.com",
            "GetObject",
            json!({"bucketName": bucket, "key": format!("reports/2026/{}.parquet", rng.gen_range(1000..9999))}),
            true,
        ),
        35..=44 => (
            "s3.amazonaws.com",
            "PutObject",
            json!({"bucketName": bucket, "key": format!("uploads/{}.json", uuid(rng))}),
            false,
        ),
        45..=49 => (
            "s3.amazonaws.com",
            "GetBucketLocation",
            json!({"bucketName": bucket, "location": ""}),
            true,
        ),
        50..=59 => (
            "ec2.amazonaws.com",
            "DescribeInstances",
            json!({"instancesSet": {}, "filterSet": {"items": [{"name": "tag:team", "valueSet": {"items": [{"value": "payments"}]}}]}}),
            true,
        ),
        60..=63 => (
            "ec2.amazonaws.com",
            "DescribeSecurityGroups",
            json!({"securityGroupSet": {}}),
            true,
        ),
        64..=67 => (
            "ec2.amazonaws.com",
            "StartInstances",
            json!({"instancesSet": {"items": [{"instanceId": instance_id(rng)}]}}),
            false,
        ),
        68..=70 => (
            "ec2.amazonaws.com",
            "CreateTags",
            json!({"resourcesSet": {"items": [{"resourceId": instance_id(rng)}]}, "tagSet": {"items": [{"key": "owner", "value": who}]}}),
            false,
        ),
        71..=75 => (
            "iam.amazonaws.com",
            "GetUser",
            json!({"userName": who}),
            true,
        ),
        76..=78 => (
            "iam.amazonaws.com",
            "ListAttachedUserPolicies",
            json!({"userName": who}),
            true,
        ),
        79..=83 => ("sts.amazonaws.com", "GetCallerIdentity", Value::Null, true),
        84..=86 => (
            "cloudtrail.amazonaws.com",
            "DescribeTrails",
            json!({"includeShadowTrails": true}),
            true,
        ),
        87..=89 => (
            "lambda.amazonaws.com",
            "GetFunction20150331v2",
            json!({"functionName": "ledger-export"}),
            true,
        ),
        90..=92 => (
            "rds.amazonaws.com",
            "DescribeDBInstances",
            json!({"dBInstanceIdentifier": "ledger-prod"}),
            true,
        ),
        93..=95 => (
            "ssm.amazonaws.com",
            "GetParameter",
            json!({"name": "/ledger/prod/feature-flags", "withDecryption": false}),
            true,
        ),
        _ => (
            "ecr.amazonaws.com",
            "GetAuthorizationToken",
            Value::Null,
            true,
        ),
    };
    let mut r = record(rng, t, identity, source, name, req, Value::Null, ro);
    if source == "s3.amazonaws.com" && name != "GetBucketLocation" {
        r["managementEvent"] = json!(false);
        r["eventCategory"] = json!("Data");
        r["resources"] =
            json!([{"type": "AWS::S3::Object", "ARN": format!("arn:aws:s3:::{bucket}/")}]);
    }
    r
}

/// Incident number `k` of [`INCIDENTS`].
pub(crate) fn incident(k: usize, rng: &mut ChaCha8Rng, t: DateTime<Utc>) -> Value {
    let who = person(rng);
    let identity = iam_user(rng, &who);
    let hex16 = token(rng, b"0123456789abcdef", 16);
    let hex32 = token(rng, b"0123456789abcdef", 32);
    match k {
        0 => record(
            rng,
            t,
            identity,
            "cloudtrail.amazonaws.com",
            "StopLogging",
            json!({"name": format!("arn:aws:cloudtrail:eu-west-1:{ACCOUNT}:trail/org-trail")}),
            Value::Null,
            false,
        ),
        1 => {
            let mut r = record(
                rng,
                t,
                identity,
                "signin.amazonaws.com",
                "ConsoleLogin",
                Value::Null,
                json!({"ConsoleLogin": "Success"}),
                false,
            );
            r["additionalEventData"] = json!({
                "LoginTo": "https://console.aws.amazon.com/console/home",
                "MobileVersion": "No",
                "MFAUsed": "No"
            });
            r["eventType"] = json!("AwsConsoleSignIn");
            r
        }
        2 => record(
            rng,
            t,
            identity,
            "guardduty.amazonaws.com",
            "DeleteDetector",
            json!({"detectorId": hex32}),
            Value::Null,
            false,
        ),
        3 => record(
            rng,
            t,
            identity,
            "ec2.amazonaws.com",
            "DeleteFlowLogs",
            json!({"DeleteFlowLogsRequest": {"FlowLogId": {"tag": 1, "content": format!("fl-0{hex16}")}}}),
            json!({"DeleteFlowLogsResponse": {"unsuccessful": ""}}),
            false,
        ),
        4 => record(
            rng,
            t,
            identity,
            "ec2.amazonaws.com",
            "AuthorizeSecurityGroupIngress",
            json!({"groupId": format!("sg-0{hex16}"), "ipPermissions": {"items": [{"ipProtocol": "tcp", "fromPort": 22, "toPort": 22, "ipRanges": {"items": [{"cidrIp": "0.0.0.0/0"}]}}]}}),
            json!({"_return": true}),
            false,
        ),
        5 => record(
            rng,
            t,
            identity,
            "config.amazonaws.com",
            "StopConfigurationRecorder",
            json!({"configurationRecorderName": "default"}),
            Value::Null,
            false,
        ),
        6 => {
            let root = json!({
                "type": "Root",
                "principalId": ACCOUNT,
                "arn": format!("arn:aws:iam::{ACCOUNT}:root"),
                "accountId": ACCOUNT,
                "accessKeyId": ""
            });
            let mut r = record(
                rng,
                t,
                root,
                "signin.amazonaws.com",
                "ConsoleLogin",
                Value::Null,
                json!({"ConsoleLogin": "Success"}),
                false,
            );
            r["additionalEventData"] = json!({
                "LoginTo": "https://console.aws.amazon.com/console/home",
                "MobileVersion": "No",
                "MFAUsed": "Yes"
            });
            r["eventType"] = json!("AwsConsoleSignIn");
            r
        }
        _ => record(
            rng,
            t,
            identity,
            "ec2.amazonaws.com",
            "DisableEbsEncryptionByDefault",
            json!({"DisableEbsEncryptionByDefaultRequest": ""}),
            json!({"DisableEbsEncryptionByDefaultResponse": {"ebsEncryptionByDefault": false}}),
            false,
        ),
    }
}
