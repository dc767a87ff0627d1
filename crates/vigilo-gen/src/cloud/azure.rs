//! Azure Monitor activity log records, as diagnostic settings export them to
//! storage and Event Hubs (`time`, `resourceId`, `operationName` in capitals,
//! `category`, `identity`, `properties`), and Entra ID sign-in records as
//! rows of the Log Analytics `SigninLogs` table (`Type: SigninLogs`,
//! `TimeGenerated`, `ResultType`, `ResultDescription`, `UserPrincipalName`,
//! `AppDisplayName`, `Status.errorCode`, ...), as a workspace's data export
//! writes them.
//!
//! Sign-ins are the table's rows, not the diagnostic export's records,
//! because SigmaHQ's sign-in rules name the table's columns (`ResultType`,
//! `ResultDescription`, `AuthenticationRequirement`); the diagnostic
//! export spells them `resultType`, `resultDescription` and
//! `properties.authenticationRequirement`, which those rules never reach.
//!
//! Normal traffic: deployment slot swaps and app restarts, virtual machines
//! started and deallocated, autoscale, tags, storage containers, cluster
//! credentials fetched, and interactive sign-ins with MFA from managed,
//! compliant devices. It never writes an ARM deployment or a virtual machine
//! (SigmaHQ's "Number Of Resource Creation Or Deployment Activities",
//! d2d901db, matches `Microsoft.Resources/deployments/write` and
//! `Microsoft.Compute/virtualMachines/write` anywhere in a record, so a real
//! subscription tunes it), never lists storage keys and never touches a
//! network security group (rules catch each of those by the operation
//! alone).

use chrono::{DateTime, Utc};
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use serde_json::{Value, json};

use super::{CloudIncident, egress_ip, person, pick, token, uuid};

const TENANT: &str = "5f1c2b3a-8d4e-4a6f-9b7c-0e1d2c3b4a59";
const SUBSCRIPTION: &str = "7c3e9a41-2b6d-4f85-a0c9-d18e5b27f364";
const DOMAIN: &str = "northwind.example";
const RESOURCE_GROUPS: [&str; 4] = ["RG-WEB-PROD", "RG-LEDGER-PROD", "RG-BUILD", "RG-SHARED"];
const WEB_APPS: [&str; 4] = ["NW-API", "NW-WEB", "NW-LEDGER", "NW-PAYMENTS"];
const VMS: [&str; 3] = ["VM-BUILD-01", "VM-BUILD-02", "VM-JUMPHOST"];
/// Applications signed in to, and the client type Entra ID records.
const APPS: [(&str, &str); 5] = [
    ("Microsoft Teams", "Mobile Apps and Desktop clients"),
    ("Office 365 Exchange Online", "Browser"),
    ("Azure Portal", "Browser"),
    ("Microsoft Azure CLI", "Mobile Apps and Desktop clients"),
    ("SharePoint Online Web Client Extensibility", "Browser"),
];
const AGENT: &str = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36 Edg/124.0.0.0";
/// The built-in Owner role.
const OWNER_ROLE: &str = "8e3af657-a8ff-443c-a75c-2fe8c4bcb635";

/// Incidents, each caught by the SigmaHQ rule named.
pub(crate) const INCIDENTS: [CloudIncident; 8] = [
    CloudIncident {
        name: "azure_nsg_deleted",
        rule_title: "Azure Network Security Configuration Modified or Deleted",
        rule_id: "d22b4df4-5a67-4859-a578-8c9a0b5af9df",
    },
    CloudIncident {
        name: "azure_kubernetes_cluster_role_created",
        rule_title: "Azure Kubernetes Sensitive Role Access",
        rule_id: "818fee0c-e0ec-4e45-824e-83e4817b0887",
    },
    CloudIncident {
        name: "azure_key_vault_deleted",
        rule_title: "Azure Key Vault Modified or Deleted",
        rule_id: "459a2970-bb84-4e6a-a32e-ff0fbd99448d",
    },
    CloudIncident {
        name: "azure_owner_role_assigned",
        rule_title: "Granting Of Permissions To An Account",
        rule_id: "a622fcd2-4b5a-436a-b8a2-a4171161833c",
    },
    CloudIncident {
        name: "azure_global_admin_elevated_access",
        rule_title: "Azure Subscription Permission Elevation Via ActivityLogs",
        rule_id: "09438caa-07b1-4870-8405-1dbafe3dad95",
    },
    CloudIncident {
        name: "entra_account_locked_out",
        rule_title: "Account Lockout",
        rule_id: "2b7d6fc0-71ac-4cf7-8ed1-b5788ee5257a",
    },
    CloudIncident {
        name: "entra_mfa_failed",
        rule_title: "Multifactor Authentication Interrupted",
        rule_id: "5496ff55-42ec-4369-81cb-00f417029e25",
    },
    CloudIncident {
        name: "entra_disabled_account_sign_in",
        rule_title: "Login to Disabled Account",
        rule_id: "908655e0-25cf-4ae1-b775-1c8ce9cf43d8",
    },
];

/// Azure's timestamps: seven fractional digits.
fn azure_time(t: DateTime<Utc>) -> String {
    format!(
        "{}.{:07}Z",
        t.format("%Y-%m-%dT%H:%M:%S"),
        t.timestamp_subsec_nanos() / 100
    )
}

fn upn(who: &str) -> String {
    format!("{who}@{DOMAIN}")
}

/// An operation of the activity log, by its authorization action
/// (`operationName` is the action in capitals, the event's `message` the
/// action as it is).
struct Op<'a> {
    action: &'a str,
    category: &'a str,
    /// The resource, under the subscription (`RESOURCEGROUPS/...`), or
    /// a tenant-level id starting with `/`.
    resource: String,
    role: &'a str,
}

/// An activity log record as diagnostic settings export it.
fn activity(rng: &mut ChaCha8Rng, t: DateTime<Utc>, who: &str, op: Op<'_>) -> Value {
    let resource_id = if op.resource.starts_with('/') {
        op.resource.clone()
    } else {
        format!(
            "/SUBSCRIPTIONS/{}/{}",
            SUBSCRIPTION.to_uppercase(),
            op.resource
        )
    };
    let object_id = uuid(rng);
    let scope = format!("/subscriptions/{SUBSCRIPTION}");
    json!({
        "time": azure_time(t),
        "resourceId": resource_id,
        "operationName": op.action.to_uppercase(),
        "category": op.category,
        "resultType": "Success",
        "resultSignature": "Succeeded.OK",
        "durationMs": rng.gen_range(80..4000),
        "callerIpAddress": egress_ip(rng),
        "correlationId": uuid(rng),
        "identity": {
            "authorization": {
                "scope": resource_id.to_lowercase(),
                "action": op.action,
                "evidence": {
                    "role": op.role,
                    "roleAssignmentScope": scope,
                    "roleAssignmentId": token(rng, b"0123456789abcdef", 32),
                    "roleDefinitionId": token(rng, b"0123456789abcdef", 32),
                    "principalId": object_id.replace('-', ""),
                    "principalType": "User"
                }
            },
            "claims": {
                "aud": "https://management.core.windows.net/",
                "iss": format!("https://sts.windows.net/{TENANT}/"),
                "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/upn": upn(who),
                "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/name": upn(who),
                "http://schemas.microsoft.com/identity/claims/objectidentifier": object_id,
                "http://schemas.microsoft.com/identity/claims/tenantid": TENANT,
                "http://schemas.microsoft.com/claims/authnmethodsreferences": "pwd,mfa",
                "appid": "c44b4083-3bb0-49c1-b47d-974e53cbdf3c",
                "ipaddr": egress_ip(rng)
            }
        },
        "level": "Information",
        "location": "global",
        "properties": {
            "statusCode": "OK",
            "serviceRequestId": uuid(rng),
            "eventCategory": op.category,
            "entity": resource_id,
            "message": op.action,
            "hierarchy": format!("{TENANT}/{SUBSCRIPTION}")
        }
    })
}

/// The details of a sign-in that differ between success and failure.
struct SignIn<'a> {
    result: u32,
    description: &'a str,
    requirement: &'a str,
    ip: String,
    /// From the user's own managed, compliant laptop; else from a device
    /// Entra ID does not know (no device id, no compliance state).
    managed: bool,
}

/// A row of the Log Analytics `SigninLogs` table.
fn sign_in(rng: &mut ChaCha8Rng, t: DateTime<Utc>, who: &str, s: SignIn<'_>) -> Value {
    let (app, client) = *pick(rng, &APPS);
    let device = if s.managed {
        json!({
            "deviceId": uuid(rng),
            "displayName": format!("NW-LT-{}", rng.gen_range(1000..9999)),
            "operatingSystem": "Windows10",
            "browser": "Edge 124.0.0",
            "isCompliant": true,
            "isManaged": true,
            "trustType": "Azure AD joined"
        })
    } else {
        json!({"deviceId": "", "operatingSystem": "Linux", "browser": "Rich Client 4.61.0.0"})
    };
    let id = uuid(rng);
    let mut status = json!({"errorCode": s.result});
    if s.result == 0 {
        status["additionalDetails"] = json!("MFA requirement satisfied by claim in the token");
    } else {
        status["failureReason"] = json!(s.description);
    }
    let mut row = json!({
        "TenantId": TENANT,
        "SourceSystem": "Azure AD",
        "TimeGenerated": azure_time(t),
        "ResourceId": format!("/tenants/{TENANT}/providers/Microsoft.aadiam"),
        "OperationName": "Sign-in activity",
        "OperationVersion": "1.0",
        "Category": "SignInLogs",
        "ResultType": s.result.to_string(),
        "ResultSignature": if s.result == 0 { "SUCCESS" } else { "FAILURE" },
        "ResultDescription": s.description,
        "DurationMs": 0,
        "CorrelationId": uuid(rng),
        "Resource": "Microsoft.aadiam",
        "ResourceGroup": "Microsoft.aadiam",
        "Identity": who.replace('.', " "),
        "Level": "4",
        "Location": "NL",
    });
    let more = json!({
        "AppDisplayName": app,
        "AppId": uuid(rng),
        "AuthenticationRequirement": s.requirement,
        "ClientAppUsed": client,
        "ConditionalAccessStatus": if s.result == 0 { "success" } else { "notApplied" },
        "CreatedDateTime": azure_time(t),
        "DeviceDetail": device,
        "IPAddress": s.ip,
        "IsInteractive": true,
        "IsRisky": false,
        "LocationDetails": {"city": "Amsterdam", "state": "Noord-Holland", "countryOrRegion": "NL"},
        "MfaDetail": {"authMethod": "Mobile app notification"},
        "NetworkLocationDetails": [{"networkType": "namedNetwork", "networkNames": ["Office egress"]}],
        "ResourceDisplayName": "Microsoft Graph",
        "RiskDetail": "none",
        "RiskLevelAggregated": "none",
        "RiskLevelDuringSignIn": "none",
        "RiskState": "none",
        "Status": status,
        "UserAgent": AGENT,
        "UserDisplayName": who.replace('.', " "),
        "UserId": uuid(rng),
        "UserPrincipalName": upn(who),
        "UserType": "Member",
        "Id": id,
        "OriginalRequestId": id,
        "UniqueTokenIdentifier": token(rng, b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789", 22),
        "HomeTenantId": TENANT,
        "Type": "SigninLogs"
    });
    if let (Some(r), Value::Object(m)) = (row.as_object_mut(), more) {
        r.extend(m);
    }
    row
}

/// An everyday record: operations that run every day in a subscription,
/// and sign-ins with MFA.
pub(crate) fn normal(rng: &mut ChaCha8Rng, t: DateTime<Utc>) -> Value {
    let who = person(rng);
    let u = rng.gen_range(0..100);
    if u < 45 {
        let ip = egress_ip(rng);
        return sign_in(
            rng,
            t,
            &who,
            SignIn {
                result: 0,
                description: "",
                requirement: "multiFactorAuthentication",
                ip,
                managed: true,
            },
        );
    }
    let rg = *pick(rng, &RESOURCE_GROUPS);
    let app = *pick(rng, &WEB_APPS);
    let vm = *pick(rng, &VMS);
    let web = |action: &'static str, resource: String| Op {
        action,
        category: "Administrative",
        resource,
        role: "Website Contributor",
    };
    let op = match u {
        45..=56 => web(
            "Microsoft.Web/sites/slots/slotsswap/action",
            format!("RESOURCEGROUPS/{rg}/PROVIDERS/MICROSOFT.WEB/SITES/{app}/SLOTS/STAGING"),
        ),
        57..=63 => web(
            "Microsoft.Web/sites/restart/action",
            format!("RESOURCEGROUPS/{rg}/PROVIDERS/MICROSOFT.WEB/SITES/{app}"),
        ),
        64..=71 => Op {
            action: "Microsoft.Compute/virtualMachines/start/action",
            category: "Administrative",
            resource: format!("RESOURCEGROUPS/RG-BUILD/PROVIDERS/MICROSOFT.COMPUTE/VIRTUALMACHINES/{vm}"),
            role: "Virtual Machine Contributor",
        },
        72..=77 => Op {
            action: "Microsoft.Compute/virtualMachines/deallocate/action",
            category: "Administrative",
            resource: format!("RESOURCEGROUPS/RG-BUILD/PROVIDERS/MICROSOFT.COMPUTE/VIRTUALMACHINES/{vm}"),
            role: "Virtual Machine Contributor",
        },
        78..=83 => Op {
            action: "Microsoft.ContainerService/managedClusters/listClusterUserCredential/action",
            category: "Administrative",
            resource: "RESOURCEGROUPS/RG-SHARED/PROVIDERS/MICROSOFT.CONTAINERSERVICE/MANAGEDCLUSTERS/AKS-NW-PROD".to_string(),
            role: "Azure Kubernetes Service Cluster User Role",
        },
        84..=88 => Op {
            action: "Microsoft.Insights/AutoscaleSettings/Scaleup/Action",
            category: "Autoscale",
            resource: format!("RESOURCEGROUPS/{rg}/PROVIDERS/MICROSOFT.INSIGHTS/AUTOSCALESETTINGS/{app}-AUTOSCALE"),
            role: "Monitoring Contributor",
        },
        89..=93 => Op {
            action: "Microsoft.Resources/tags/write",
            category: "Administrative",
            resource: format!("RESOURCEGROUPS/{rg}/PROVIDERS/MICROSOFT.RESOURCES/TAGS/DEFAULT"),
            role: "Tag Contributor",
        },
        _ => Op {
            action: "Microsoft.Storage/storageAccounts/blobServices/containers/write",
            category: "Administrative",
            resource: format!(
                "RESOURCEGROUPS/{rg}/PROVIDERS/MICROSOFT.STORAGE/STORAGEACCOUNTS/NWEXPORTSPROD/BLOBSERVICES/DEFAULT/CONTAINERS/REPORTS"
            ),
            role: "Storage Account Contributor",
        },
    };
    activity(rng, t, &who, op)
}

pub(crate) fn incident(k: usize, rng: &mut ChaCha8Rng, t: DateTime<Utc>) -> Value {
    let n = rng.gen_range(1..4);
    let admin = format!("it.admin{n}");
    let who = person(rng);
    let attacker = format!("185.220.101.{}", rng.gen_range(1..255));
    let failure = |result: u32, description: &'static str| SignIn {
        result,
        description,
        requirement: "singleFactorAuthentication",
        ip: attacker.clone(),
        managed: false,
    };
    match k {
        0 => {
            let op = Op {
                action: "Microsoft.Network/networkSecurityGroups/delete",
                category: "Administrative",
                resource: "RESOURCEGROUPS/RG-WEB-PROD/PROVIDERS/MICROSOFT.NETWORK/NETWORKSECURITYGROUPS/NSG-WEB-PROD".to_string(),
                role: "Network Contributor",
            };
            activity(rng, t, &admin, op)
        }
        1 => {
            let op = Op {
                action: "Microsoft.Kubernetes/connectedClusters/rbac.authorization.k8s.io/clusterroles/write",
                category: "Administrative",
                resource: "RESOURCEGROUPS/RG-EDGE/PROVIDERS/MICROSOFT.KUBERNETES/CONNECTEDCLUSTERS/ARC-EDGE-AMS".to_string(),
                role: "Azure Arc Kubernetes Cluster Admin",
            };
            activity(rng, t, &admin, op)
        }
        2 => {
            let op = Op {
                action: "Microsoft.KeyVault/vaults/delete",
                category: "Administrative",
                resource: "RESOURCEGROUPS/RG-LEDGER-PROD/PROVIDERS/MICROSOFT.KEYVAULT/VAULTS/KV-LEDGER-PROD".to_string(),
                role: "Key Vault Contributor",
            };
            activity(rng, t, &admin, op)
        }
        3 => {
            let assignment = uuid(rng);
            let op = Op {
                action: "Microsoft.Authorization/roleAssignments/write",
                category: "Administrative",
                resource: format!(
                    "PROVIDERS/MICROSOFT.AUTHORIZATION/ROLEASSIGNMENTS/{}",
                    assignment.to_uppercase()
                ),
                role: "User Access Administrator",
            };
            let mut r = activity(rng, t, &admin, op);
            r["properties"]["requestbody"] = json!(format!(
                "{{\"Id\":\"{assignment}\",\"Properties\":{{\"PrincipalId\":\"{}\",\"PrincipalType\":\"User\",\"RoleDefinitionId\":\"/subscriptions/{SUBSCRIPTION}/providers/Microsoft.Authorization/roleDefinitions/{OWNER_ROLE}\",\"Scope\":\"/subscriptions/{SUBSCRIPTION}\"}}}}",
                uuid(rng)
            ));
            r
        }
        4 => {
            let op = Op {
                action: "Microsoft.Authorization/elevateAccess/action",
                category: "Administrative",
                resource: "/providers/Microsoft.Authorization".to_string(),
                role: "Global Administrator",
            };
            activity(rng, t, &admin, op)
        }
        5 => sign_in(
            rng,
            t,
            &who,
            failure(
                50053,
                "Account is locked because user tried to sign in too many times with an incorrect user ID or password.",
            ),
        ),
        6 => {
            let ip = egress_ip(rng);
            sign_in(
                rng,
                t,
                &who,
                SignIn {
                    result: 500121,
                    description: "Authentication failed during strong authentication request.",
                    requirement: "multiFactorAuthentication",
                    ip,
                    managed: true,
                },
            )
        }
        _ => sign_in(
            rng,
            t,
            &who,
            failure(
                50057,
                "User account is disabled. The account has been disabled by an administrator.",
            ),
        ),
    }
}
