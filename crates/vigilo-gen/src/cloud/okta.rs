//! Okta System Log events, as the System Log API returns them.
//!
//! Normal traffic: sign-ins with MFA from corporate addresses (never through
//! a proxy), single sign-on to applications, sign-outs.

use chrono::{DateTime, Utc};
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use serde_json::{Value, json};

use super::{CloudIncident, egress_ip, person, pick, rfc3339_millis, token, uuid};

const DOMAIN: &str = "northwind.example";
const APPS: [&str; 5] = [
    "Slack",
    "Google Workspace",
    "Jira Software",
    "Salesforce",
    "AWS IAM Identity Center",
];

pub(crate) const INCIDENTS: [CloudIncident; 6] = [
    CloudIncident {
        name: "okta_mfa_reset",
        rule_title: "Okta MFA Reset or Deactivated",
        rule_id: "50e068d7-1e6b-4054-87e5-0a592c40c7e0",
    },
    CloudIncident {
        name: "okta_admin_role_granted",
        rule_title: "Okta Admin Role Assigned to an User or Group",
        rule_id: "413d4a81-6c98-4479-9863-014785fd579c",
    },
    CloudIncident {
        name: "okta_api_token_created",
        rule_title: "Okta API Token Created",
        rule_id: "19951c21-229d-4ccb-8774-b993c3ff3c5c",
    },
    CloudIncident {
        name: "okta_policy_deleted",
        rule_title: "Okta Policy Modified or Deleted",
        rule_id: "1667a172-ed4c-463c-9969-efd92195319a",
    },
    CloudIncident {
        name: "okta_session_via_proxy",
        rule_title: "Okta User Session Start Via An Anonymising Proxy Service",
        rule_id: "bde30855-5c53-4c18-ae90-1ff79ebc9578",
    },
    CloudIncident {
        name: "okta_network_zone_deactivated",
        rule_title: "Okta Network Zone Deactivated or Deleted",
        rule_id: "9f308120-69ed-4506-abde-ac6da81f4310",
    },
];

fn okta_id(rng: &mut ChaCha8Rng, prefix: &str) -> String {
    format!(
        "{prefix}{}",
        token(rng, b"abcdefghijklmnopqrstuvwxyz0123456789", 17)
    )
}

fn user_ref(rng: &mut ChaCha8Rng, who: &str) -> Value {
    json!({
        "id": okta_id(rng, "00u"),
        "type": "User",
        "alternateId": format!("{who}@{DOMAIN}"),
        "displayName": who.replace('.', " "),
        "detailEntry": null
    })
}

#[allow(clippy::too_many_arguments)]
fn event(
    rng: &mut ChaCha8Rng,
    t: DateTime<Utc>,
    actor: Value,
    event_type: &str,
    legacy: &str,
    message: &str,
    target: Value,
    proxy: bool,
) -> Value {
    let ip = if proxy {
        format!("185.220.101.{}", rng.gen_range(1..255))
    } else {
        egress_ip(rng)
    };
    json!({
        "uuid": uuid(rng),
        "published": rfc3339_millis(t),
        "eventType": event_type,
        "version": "0",
        "severity": "INFO",
        "legacyEventType": legacy,
        "displayMessage": message,
        "actor": actor,
        "client": {
            "userAgent": {
                "rawUserAgent": "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36",
                "os": "Windows 10",
                "browser": "CHROME"
            },
            "zone": "null",
            "device": "Computer",
            "id": null,
            "ipAddress": ip,
            "geographicalContext": {"city": "Amsterdam", "state": "North Holland", "country": "Netherlands", "postalCode": "1012"}
        },
        "outcome": {"result": "SUCCESS", "reason": null},
        "target": target,
        "transaction": {"type": "WEB", "id": token(rng, b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789", 27), "detail": {}},
        "debugContext": {"debugData": {"requestId": token(rng, b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789", 27), "requestUri": "/idp/idx/identify", "url": "/idp/idx/identify?"}},
        "authenticationContext": {"authenticationStep": 0, "externalSessionId": token(rng, b"abcdefghijklmnopqrstuvwxyz0123456789", 25)},
        "securityContext": {"asNumber": 64496, "asOrg": "northwind", "isp": "example transit", "domain": DOMAIN, "isProxy": proxy}
    })
}

pub(crate) fn normal(rng: &mut ChaCha8Rng, t: DateTime<Utc>) -> Value {
    let who = person(rng);
    let actor = user_ref(rng, &who);
    match rng.gen_range(0..100) {
        0..=29 => event(
            rng,
            t,
            actor,
            "user.session.start",
            "core.user_auth.login_success",
            "User login to Okta",
            json!([]),
            false,
        ),
        30..=49 => {
            let factor = json!([{"id": okta_id(rng, "mfa"), "type": "AuthenticatorEnrollment", "alternateId": "unknown", "displayName": "Okta Verify", "detailEntry": null}]);
            event(
                rng,
                t,
                actor,
                "user.authentication.auth_via_mfa",
                "core.user.factor.attempt_success",
                "Authentication of user via MFA",
                factor,
                false,
            )
        }
        50..=84 => {
            let app = json!([{"id": okta_id(rng, "0oa"), "type": "AppInstance", "alternateId": pick(rng, &APPS), "displayName": pick(rng, &APPS), "detailEntry": {"signOnModeType": "SAML_2_0"}}]);
            event(
                rng,
                t,
                actor,
                "user.authentication.sso",
                "app.auth.sso",
                "User single sign on to app",
                app,
                false,
            )
        }
        _ => event(
            rng,
            t,
            actor,
            "user.session.end",
            "core.user_auth.logout_success",
            "User logout from Okta",
            json!([]),
            false,
        ),
    }
}

pub(crate) fn incident(k: usize, rng: &mut ChaCha8Rng, t: DateTime<Utc>) -> Value {
    let n = rng.gen_range(1..4);
    let admin = user_ref(rng, &format!("it.admin{n}"));
    let who = person(rng);
    let subject = json!([user_ref(rng, &who)]);
    match k {
        0 => event(
            rng,
            t,
            admin,
            "user.mfa.factor.reset_all",
            "core.user.factor.reset_all",
            "Reset all factors for user",
            subject,
            false,
        ),
        1 => event(
            rng,
            t,
            admin,
            "user.account.privilege.grant",
            "core.user.admin_privilege.granted",
            "Grant user privilege",
            subject,
            false,
        ),
        2 => {
            let tok = json!([{"id": okta_id(rng, "00T"), "type": "Token", "alternateId": "unknown", "displayName": "ci-sync", "detailEntry": null}]);
            event(
                rng,
                t,
                admin,
                "system.api_token.create",
                "api.token.create",
                "Create API token",
                tok,
                false,
            )
        }
        3 => {
            let pol = json!([{"id": okta_id(rng, "00p"), "type": "PolicyEntity", "alternateId": "unknown", "displayName": "Require MFA for admins", "detailEntry": {"policyType": "OktaSignOn"}}]);
            event(
                rng,
                t,
                admin,
                "policy.lifecycle.delete",
                "core.user_auth.policy.delete",
                "Delete policy",
                pol,
                false,
            )
        }
        4 => {
            let actor = user_ref(rng, &who);
            event(
                rng,
                t,
                actor,
                "user.session.start",
                "core.user_auth.login_success",
                "User login to Okta",
                json!([]),
                true,
            )
        }
        _ => {
            let zone = json!([{"id": okta_id(rng, "nzo"), "type": "NetworkZone", "alternateId": "unknown", "displayName": "Office egress", "detailEntry": null}]);
            event(
                rng,
                t,
                admin,
                "zone.deactivate",
                "zone.deactivate",
                "Deactivate network zone",
                zone,
                false,
            )
        }
    }
}
