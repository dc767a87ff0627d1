//! `iam.privilege_escalation`: one finding per principal and method.

use std::collections::{BTreeSet, VecDeque};

use super::{PRIVESC, conditional_note, describe, evidence_for, finding, is_service_linked};
use crate::eval::{Confidence, Evaluator, Grant, Res, StmtRef};
use crate::glob;
use crate::model::{Principal, PrincipalType, arn_account};
use crate::policy::{Effect, PrincipalSpec};
use crate::{IamFinding, Severity};

/// One permission a method needs: any of `actions`, on the method's target
/// when `on_target`, else on any resource.
struct Step {
    actions: &'static [&'static str],
    on_target: bool,
}

const fn any(actions: &'static [&'static str]) -> Step {
    Step {
        actions,
        on_target: false,
    }
}
const fn on_target(actions: &'static [&'static str]) -> Step {
    Step {
        actions,
        on_target: true,
    }
}

#[derive(Clone, Copy)]
enum Target {
    /// Customer managed policies attached to the principal.
    OwnPolicy,
    /// Another user with permissions the principal lacks.
    OtherUser,
    /// The principal itself when it is a user, else any user.
    SelfOrUser,
    /// The principal's groups, else any group.
    SelfOrGroup,
    /// A group with permissions the principal lacks.
    Group,
    /// The principal itself when it is a role, else any role.
    SelfOrRole,
    /// Another role with permissions the principal lacks.
    Role,
    /// A role trusted by the service, with permissions the principal lacks,
    /// passed with iam:PassRole (with an instance profile when the flag is set).
    PassRole(&'static str, bool),
    /// An existing resource of the service runs with such a role; nothing is
    /// passed, but such a role must exist.
    Existing(&'static str, bool),
}

struct Method {
    name: &'static str,
    steps: &'static [Step],
    target: Target,
    how: &'static str,
    remediation: &'static str,
}

const PASS: Step = on_target(&["iam:PassRole"]);

static METHODS: &[Method] = &[
    Method {
        name: "CreateNewPolicyVersion",
        steps: &[on_target(&["iam:CreatePolicyVersion"])],
        target: Target::OwnPolicy,
        how: "create a new version of a customer managed policy attached to it, with `--set-as-default`, granting itself any permission",
        remediation: "Remove iam:CreatePolicyVersion, or restrict its Resource to policies that are not attached to this principal.",
    },
    Method {
        name: "SetExistingDefaultPolicyVersion",
        steps: &[on_target(&["iam:SetDefaultPolicyVersion"])],
        target: Target::OwnPolicy,
        how: "make another (older or newer) version of a policy attached to it the default, reviving whatever that version grants",
        remediation: "Remove iam:SetDefaultPolicyVersion and delete non-default policy versions that grant more than the default.",
    },
    Method {
        name: "CreateEC2WithExistingInstanceProfile",
        steps: &[PASS, any(&["ec2:RunInstances"])],
        target: Target::PassRole("ec2", true),
        how: "launch an EC2 instance with the instance profile of a more privileged role and use the role's credentials from the instance metadata service",
        remediation: "Restrict iam:PassRole to the specific roles the principal must pass (Resource) and to ec2.amazonaws.com (iam:PassedToService).",
    },
    Method {
        name: "AssociateInstanceProfileWithExistingEC2",
        steps: &[
            PASS,
            any(&[
                "ec2:AssociateIamInstanceProfile",
                "ec2:ReplaceIamInstanceProfileAssociation",
            ]),
        ],
        target: Target::PassRole("ec2", true),
        how: "attach the instance profile of a more privileged role to an existing EC2 instance it can run code on, and use the role's credentials there",
        remediation: "Restrict iam:PassRole to specific roles and to ec2.amazonaws.com, and ec2:AssociateIamInstanceProfile to specific instances.",
    },
    Method {
        name: "CreateAccessKey",
        steps: &[on_target(&["iam:CreateAccessKey"])],
        target: Target::OtherUser,
        how: "create an access key for a more privileged user and act as that user",
        remediation: "Restrict iam:CreateAccessKey to the principal's own user (Resource arn:aws:iam::ACCOUNT:user/${aws:username}).",
    },
    Method {
        name: "CreateLoginProfile",
        steps: &[on_target(&["iam:CreateLoginProfile"])],
        target: Target::OtherUser,
        how: "set a console password for a more privileged user that has none, and sign in as that user",
        remediation: "Restrict iam:CreateLoginProfile to the principal's own user, or remove it.",
    },
    Method {
        name: "UpdateLoginProfile",
        steps: &[on_target(&["iam:UpdateLoginProfile"])],
        target: Target::OtherUser,
        how: "change the console password of a more privileged user and sign in as that user",
        remediation: "Restrict iam:UpdateLoginProfile to the principal's own user, or remove it.",
    },
    Method {
        name: "AttachUserPolicy",
        steps: &[on_target(&["iam:AttachUserPolicy"])],
        target: Target::SelfOrUser,
        how: "attach any managed policy (such as AdministratorAccess) to a user",
        remediation: "Remove iam:AttachUserPolicy or constrain it with iam:PolicyARN conditions and a Resource that excludes the principal.",
    },
    Method {
        name: "AttachGroupPolicy",
        steps: &[on_target(&["iam:AttachGroupPolicy"])],
        target: Target::SelfOrGroup,
        how: "attach any managed policy (such as AdministratorAccess) to a group",
        remediation: "Remove iam:AttachGroupPolicy or constrain it with iam:PolicyARN conditions and a Resource that excludes the principal's groups.",
    },
    Method {
        name: "AttachRolePolicy",
        steps: &[on_target(&["iam:AttachRolePolicy"])],
        target: Target::SelfOrRole,
        how: "attach any managed policy (such as AdministratorAccess) to a role",
        remediation: "Remove iam:AttachRolePolicy or constrain it with iam:PolicyARN conditions and a Resource limited to roles the principal must manage.",
    },
    Method {
        name: "PutUserPolicy",
        steps: &[on_target(&["iam:PutUserPolicy"])],
        target: Target::SelfOrUser,
        how: "write an inline policy granting any permission to a user",
        remediation: "Remove iam:PutUserPolicy, or limit its Resource so that it excludes the principal.",
    },
    Method {
        name: "PutGroupPolicy",
        steps: &[on_target(&["iam:PutGroupPolicy"])],
        target: Target::SelfOrGroup,
        how: "write an inline policy granting any permission to a group",
        remediation: "Remove iam:PutGroupPolicy, or limit its Resource so that it excludes the principal's groups.",
    },
    Method {
        name: "PutRolePolicy",
        steps: &[on_target(&["iam:PutRolePolicy"])],
        target: Target::SelfOrRole,
        how: "write an inline policy granting any permission to a role",
        remediation: "Remove iam:PutRolePolicy, or limit its Resource to roles the principal must manage.",
    },
    Method {
        name: "AddUserToGroup",
        steps: &[on_target(&["iam:AddUserToGroup"])],
        target: Target::Group,
        how: "add a user (itself, when it is a user) to a more privileged group",
        remediation: "Remove iam:AddUserToGroup or restrict its Resource to the groups the principal administers.",
    },
    Method {
        name: "UpdatingAssumeRolePolicy",
        steps: &[on_target(&["iam:UpdateAssumeRolePolicy"])],
        target: Target::Role,
        how: "rewrite the trust policy of a more privileged role so that it trusts the principal, then assume it",
        remediation: "Remove iam:UpdateAssumeRolePolicy or restrict its Resource to roles that are not more privileged.",
    },
    Method {
        name: "PassExistingRoleToNewLambdaThenInvoke",
        steps: &[
            PASS,
            any(&["lambda:CreateFunction"]),
            any(&["lambda:InvokeFunction", "lambda:InvokeFunctionUrl"]),
        ],
        target: Target::PassRole("lambda", false),
        how: "create a Lambda function running as a more privileged role and invoke it",
        remediation: "Restrict iam:PassRole to specific roles and to lambda.amazonaws.com (iam:PassedToService).",
    },
    Method {
        name: "PassRoleToNewLambdaThenTriggerWithNewDynamo",
        steps: &[
            PASS,
            any(&["lambda:CreateFunction"]),
            any(&["lambda:CreateEventSourceMapping"]),
        ],
        target: Target::PassRole("lambda", false),
        how: "create a Lambda function running as a more privileged role and have an event source (a DynamoDB stream) trigger it",
        remediation: "Restrict iam:PassRole to specific roles and to lambda.amazonaws.com (iam:PassedToService).",
    },
    Method {
        name: "EditExistingLambdaFunctionWithRole",
        steps: &[any(&[
            "lambda:UpdateFunctionCode",
            "lambda:UpdateFunctionConfiguration",
        ])],
        target: Target::Existing("lambda", false),
        how: "replace the code (or add a layer to) an existing Lambda function that runs as a more privileged role",
        remediation: "Restrict lambda:UpdateFunctionCode/UpdateFunctionConfiguration to the functions the principal owns.",
    },
    Method {
        name: "PassExistingRoleToNewGlueDevEndpoint",
        steps: &[PASS, any(&["glue:CreateDevEndpoint"])],
        target: Target::PassRole("glue", false),
        how: "create a Glue development endpoint running as a more privileged role and SSH into it",
        remediation: "Restrict iam:PassRole to specific roles and to glue.amazonaws.com (iam:PassedToService).",
    },
    Method {
        name: "UpdateExistingGlueDevEndpoint",
        steps: &[any(&["glue:UpdateDevEndpoint"])],
        target: Target::Existing("glue", false),
        how: "add its SSH key to an existing Glue development endpoint that runs as a more privileged role",
        remediation: "Restrict glue:UpdateDevEndpoint to the endpoints the principal owns.",
    },
    Method {
        name: "PassExistingRoleToCloudFormation",
        steps: &[
            PASS,
            any(&[
                "cloudformation:CreateStack",
                "cloudformation:CreateStackSet",
            ]),
        ],
        target: Target::PassRole("cloudformation", false),
        how: "create a CloudFormation stack that runs as a more privileged role and creates whatever the principal wants",
        remediation: "Restrict iam:PassRole to specific roles and to cloudformation.amazonaws.com (iam:PassedToService).",
    },
    Method {
        name: "PassExistingRoleToNewDataPipeline",
        steps: &[
            PASS,
            any(&["datapipeline:CreatePipeline"]),
            any(&["datapipeline:PutPipelineDefinition"]),
        ],
        target: Target::PassRole("datapipeline", false),
        how: "create a Data Pipeline whose activities run as a more privileged role",
        remediation: "Restrict iam:PassRole to specific roles and to datapipeline.amazonaws.com (iam:PassedToService).",
    },
    Method {
        name: "SageMakerCreateNotebookPassRole",
        steps: &[
            PASS,
            any(&["sagemaker:CreateNotebookInstance"]),
            any(&["sagemaker:CreatePresignedNotebookInstanceUrl"]),
        ],
        target: Target::PassRole("sagemaker", false),
        how: "create a SageMaker notebook instance running as a more privileged role and open it",
        remediation: "Restrict iam:PassRole to specific roles and to sagemaker.amazonaws.com (iam:PassedToService).",
    },
    Method {
        name: "SageMakerCreateTrainingJobPassRole",
        steps: &[PASS, any(&["sagemaker:CreateTrainingJob"])],
        target: Target::PassRole("sagemaker", false),
        how: "run a SageMaker training job with its own container as a more privileged role",
        remediation: "Restrict iam:PassRole to specific roles and to sagemaker.amazonaws.com (iam:PassedToService).",
    },
    Method {
        name: "SageMakerCreateProcessingJobPassRole",
        steps: &[PASS, any(&["sagemaker:CreateProcessingJob"])],
        target: Target::PassRole("sagemaker", false),
        how: "run a SageMaker processing job with its own container as a more privileged role",
        remediation: "Restrict iam:PassRole to specific roles and to sagemaker.amazonaws.com (iam:PassedToService).",
    },
    Method {
        name: "SageMakerCreatePresignedNotebookURL",
        steps: &[any(&["sagemaker:CreatePresignedNotebookInstanceUrl"])],
        target: Target::Existing("sagemaker", false),
        how: "open a shell in an existing SageMaker notebook instance that runs as a more privileged role",
        remediation: "Restrict sagemaker:CreatePresignedNotebookInstanceUrl to the principal's own notebook instances.",
    },
    Method {
        name: "CodeBuildCreateProjectPassRole",
        steps: &[
            PASS,
            any(&["codebuild:CreateProject"]),
            any(&["codebuild:StartBuild", "codebuild:StartBuildBatch"]),
        ],
        target: Target::PassRole("codebuild", false),
        how: "create and start a CodeBuild project whose build runs as a more privileged role",
        remediation: "Restrict iam:PassRole to specific roles and to codebuild.amazonaws.com (iam:PassedToService).",
    },
    Method {
        name: "ECSRunTaskPassRole",
        steps: &[
            PASS,
            any(&["ecs:RegisterTaskDefinition"]),
            any(&["ecs:RunTask", "ecs:StartTask", "ecs:CreateService"]),
        ],
        target: Target::PassRole("ecs-tasks", false),
        how: "register an ECS task definition with a more privileged task role and run it",
        remediation: "Restrict iam:PassRole to specific roles and to ecs-tasks.amazonaws.com (iam:PassedToService).",
    },
    Method {
        name: "EC2InstanceConnect",
        steps: &[any(&[
            "ec2-instance-connect:SendSSHPublicKey",
            "ec2-instance-connect:SendSerialConsoleSSHPublicKey",
        ])],
        target: Target::Existing("ec2", true),
        how: "push its SSH key to an existing EC2 instance whose instance profile holds a more privileged role, log in and use that role",
        remediation: "Restrict ec2-instance-connect:SendSSHPublicKey to specific instances (Resource, ec2:ResourceTag conditions).",
    },
    Method {
        name: "SSMSendCommand",
        steps: &[any(&["ssm:SendCommand"])],
        target: Target::Existing("ec2", true),
        how: "run commands through SSM on an existing EC2 instance whose instance profile holds a more privileged role",
        remediation: "Restrict ssm:SendCommand to specific instances and documents.",
    },
    Method {
        name: "SSMStartSession",
        steps: &[any(&["ssm:StartSession"])],
        target: Target::Existing("ec2", true),
        how: "open an SSM session on an existing EC2 instance whose instance profile holds a more privileged role",
        remediation: "Restrict ssm:StartSession to specific instances (Resource, ssm:resourceTag conditions).",
    },
    Method {
        name: "CloudFormationUpdateStack",
        steps: &[any(&["cloudformation:UpdateStack"])],
        target: Target::Existing("cloudformation", false),
        how: "update an existing CloudFormation stack that runs with a more privileged service role, making it create or change anything",
        remediation: "Restrict cloudformation:UpdateStack to specific stacks and require cloudformation:RoleArn conditions.",
    },
    Method {
        name: "ExecuteCloudFormationChangeSet",
        steps: &[
            any(&["cloudformation:CreateChangeSet"]),
            any(&["cloudformation:ExecuteChangeSet"]),
        ],
        target: Target::Existing("cloudformation", false),
        how: "create and execute a change set on an existing CloudFormation stack that runs with a more privileged service role",
        remediation: "Restrict cloudformation:CreateChangeSet/ExecuteChangeSet to specific stacks and require cloudformation:RoleArn conditions.",
    },
    Method {
        name: "PassExistingRoleToNewEC2SpotInstance",
        steps: &[PASS, any(&["ec2:RequestSpotInstances"])],
        target: Target::PassRole("ec2", true),
        how: "request a spot instance with the instance profile of a more privileged role and use the role's credentials from the instance",
        remediation: "Restrict iam:PassRole to specific roles and to ec2.amazonaws.com (iam:PassedToService).",
    },
    Method {
        name: "ModifyEC2InstanceUserDataThenRestart",
        steps: &[
            any(&["ec2:ModifyInstanceAttribute"]),
            any(&["ec2:StopInstances"]),
            any(&["ec2:StartInstances"]),
        ],
        target: Target::Existing("ec2", true),
        how: "replace the user data of an existing instance whose instance profile holds a more privileged role, and restart it so that its code runs as that role",
        remediation: "Restrict ec2:ModifyInstanceAttribute and instance stop/start to specific instances.",
    },
    Method {
        name: "ModifyExistingEC2LaunchTemplate",
        steps: &[
            any(&["ec2:CreateLaunchTemplateVersion"]),
            any(&["ec2:ModifyLaunchTemplate"]),
        ],
        target: Target::Existing("ec2", true),
        how: "publish a new default version of an existing launch template whose instances run with a more privileged role, with its own user data",
        remediation: "Restrict ec2:CreateLaunchTemplateVersion/ModifyLaunchTemplate to specific templates.",
    },
    Method {
        name: "ECSExecuteCommandOnRunningTask",
        steps: &[any(&["ecs:ExecuteCommand"])],
        target: Target::Existing("ecs-tasks", false),
        how: "open a shell in a running ECS task whose task role is more privileged",
        remediation: "Restrict ecs:ExecuteCommand to specific clusters and tasks.",
    },
    Method {
        name: "PassExistingRoleToNewGlueJob",
        steps: &[
            PASS,
            any(&["glue:CreateJob"]),
            any(&["glue:StartJobRun", "glue:CreateTrigger"]),
        ],
        target: Target::PassRole("glue", false),
        how: "create a Glue job running as a more privileged role and start it (directly or with a trigger)",
        remediation: "Restrict iam:PassRole to specific roles and to glue.amazonaws.com (iam:PassedToService).",
    },
    Method {
        name: "PassExistingRoleToUpdatedGlueJob",
        steps: &[
            PASS,
            any(&["glue:UpdateJob"]),
            any(&["glue:StartJobRun", "glue:CreateTrigger"]),
        ],
        target: Target::PassRole("glue", false),
        how: "point an existing Glue job at a more privileged role and its own script, then run it",
        remediation: "Restrict iam:PassRole and glue:UpdateJob to specific roles and jobs.",
    },
    Method {
        name: "PassExistingRoleToNewLambdaThenAddPermission",
        steps: &[
            PASS,
            any(&["lambda:CreateFunction"]),
            any(&["lambda:AddPermission"]),
        ],
        target: Target::PassRole("lambda", false),
        how: "create a Lambda function running as a more privileged role and grant itself (or a service) the right to invoke it",
        remediation: "Restrict iam:PassRole to specific roles and to lambda.amazonaws.com (iam:PassedToService).",
    },
    Method {
        name: "PassExistingRoleToNewAppRunnerService",
        steps: &[PASS, any(&["apprunner:CreateService"])],
        target: Target::PassRole("tasks.apprunner", false),
        how: "create an App Runner service whose instance role is a more privileged role",
        remediation: "Restrict iam:PassRole to specific roles and to tasks.apprunner.amazonaws.com (iam:PassedToService).",
    },
    Method {
        name: "UpdateSageMakerNotebookLifecycleConfig",
        steps: &[
            any(&[
                "sagemaker:CreateNotebookInstanceLifecycleConfig",
                "sagemaker:UpdateNotebookInstanceLifecycleConfig",
            ]),
            any(&["sagemaker:UpdateNotebookInstance"]),
            any(&["sagemaker:StopNotebookInstance"]),
            any(&["sagemaker:StartNotebookInstance"]),
        ],
        target: Target::Existing("sagemaker", false),
        how: "attach its own lifecycle script to an existing notebook instance that runs as a more privileged role and restart it",
        remediation: "Restrict the SageMaker lifecycle-configuration and notebook-update actions to the principal's own notebooks.",
    },
];

/// A candidate resource for a method's target.
struct Cand<'a> {
    label: String,
    arn: Option<&'a str>,
    admin: bool,
}

fn trusts_service(role: &Principal, service: &str) -> bool {
    let Some(trust) = &role.trust else {
        return false;
    };
    let principal = format!("{service}.amazonaws.com");
    trust.statements.iter().any(|st| {
        st.effect == Effect::Allow
            && !st.not_principal
            && st.actions.matches_action("sts:assumerole")
            && match &st.principal {
                Some(PrincipalSpec::Wildcard) => true,
                Some(PrincipalSpec::Typed(kinds)) => kinds.iter().any(|(k, vals)| {
                    k.eq_ignore_ascii_case("Service")
                        && vals.iter().any(|v| glob::matches_ci(v, &principal))
                }),
                None => false,
            }
    })
}

impl<'e> Evaluator<'e> {
    fn index_of(&self, p: &Principal) -> Option<usize> {
        self.account
            .principals
            .iter()
            .position(|q| std::ptr::eq(q, p))
    }

    fn more_privileged(&self, source: usize, target: usize) -> Option<bool> {
        let s = self.caps(source)?;
        let t = self.caps(target)?;
        if !s.lacks_some_of(t) {
            return None;
        }
        Some(t.is_admin().is_some())
    }

    fn candidates(&'e self, pi: usize, p: &'e Principal, target: Target) -> Vec<Cand<'e>> {
        let acct = self.account;
        let all = |kind: PrincipalType| {
            acct.principals
                .iter()
                .enumerate()
                .filter(move |(_, q)| q.kind == kind)
        };
        let plain = |q: &'e Principal, admin: bool| Cand {
            label: format!("{} {}", q.kind.as_str(), q.name),
            arn: Some(q.arn.as_str()),
            admin,
        };
        let priv_of = |qi: usize| self.caps(qi).is_some_and(|c| c.is_admin().is_some());
        match target {
            Target::OwnPolicy => {
                let mut seen = BTreeSet::new();
                p.policies
                    .iter()
                    .filter(|a| a.is_customer_managed())
                    .filter_map(|a| a.arn.as_deref())
                    .filter(|arn| seen.insert(*arn))
                    .map(|arn| Cand {
                        label: format!("policy {arn}"),
                        arn: Some(arn),
                        admin: false,
                    })
                    .collect()
            }
            Target::OtherUser | Target::Group | Target::Role => {
                let kind = match target {
                    Target::OtherUser => PrincipalType::User,
                    Target::Group => PrincipalType::Group,
                    _ => PrincipalType::Role,
                };
                all(kind)
                    .filter(|(qi, q)| *qi != pi && !is_service_linked(q))
                    .filter(|(_, q)| !(kind == PrincipalType::Group && p.groups.contains(&q.name)))
                    .filter_map(|(qi, q)| self.more_privileged(pi, qi).map(|admin| plain(q, admin)))
                    .collect()
            }
            Target::SelfOrUser if p.kind == PrincipalType::User => vec![plain(p, false)],
            Target::SelfOrRole if p.kind == PrincipalType::Role => vec![plain(p, false)],
            Target::SelfOrGroup if p.kind == PrincipalType::User && !p.groups.is_empty() => {
                all(PrincipalType::Group)
                    .filter(|(_, q)| p.groups.contains(&q.name))
                    .map(|(_, q)| plain(q, false))
                    .collect()
            }
            Target::SelfOrUser | Target::SelfOrRole | Target::SelfOrGroup => {
                let kind = match target {
                    Target::SelfOrUser => PrincipalType::User,
                    Target::SelfOrRole => PrincipalType::Role,
                    _ => PrincipalType::Group,
                };
                all(kind)
                    .filter(|(qi, q)| *qi != pi && !is_service_linked(q))
                    .map(|(qi, q)| plain(q, priv_of(qi)))
                    .collect()
            }
            Target::PassRole(service, profile) | Target::Existing(service, profile) => {
                all(PrincipalType::Role)
                    .filter(|(qi, q)| *qi != pi && trusts_service(q, service))
                    .filter(|(_, q)| !profile || q.instance_profile != Some(false))
                    .filter_map(|(qi, q)| self.more_privileged(pi, qi).map(|admin| plain(q, admin)))
                    .collect()
            }
        }
    }

    fn step_grant_for(
        &self,
        p: &Principal,
        step: &Step,
        res: Res<'_>,
        target: Target,
    ) -> Option<(Grant, &'static str)> {
        let service;
        let ctx = match target {
            Target::PassRole(svc, _) if step.actions == PASS.actions => {
                service = format!("{svc}.amazonaws.com");
                crate::eval::Ctx {
                    passed_to_service: Some(&service),
                }
            }
            _ => crate::eval::Ctx::default(),
        };
        let mut best: Option<(Grant, &'static str)> = None;
        for a in step.actions {
            if let Some(g) = self.allowed_ctx(p, a, res, ctx)
                && best
                    .as_ref()
                    .is_none_or(|(b, _)| g.confidence > b.confidence)
            {
                best = Some((g, a));
            }
        }
        best
    }
}

struct Hit {
    confidence: Confidence,
    via: Vec<StmtRef>,
    actions: Vec<&'static str>,
    target: Option<String>,
    targets: usize,
}

fn try_method(ev: &Evaluator<'_>, pi: usize, p: &Principal, m: &Method) -> Option<Hit> {
    let mut via = Vec::new();
    let mut actions = Vec::new();
    let mut confidence = Confidence::Certain;
    // Untargeted steps first: cheap, and most methods fail here.
    for step in m.steps.iter().filter(|s| !s.on_target) {
        let (g, a) = ev.step_grant_for(p, step, Res::Any, m.target)?;
        confidence = confidence.min(g.confidence);
        via.extend(g.via);
        actions.push(a);
    }
    let targeted: Vec<&Step> = m.steps.iter().filter(|s| s.on_target).collect();
    for step in &targeted {
        // Quick reject before enumerating targets.
        ev.step_grant_for(p, step, Res::Any, m.target)?;
    }
    if !ev.account.inventory {
        let res = match m.target {
            Target::OwnPolicy => Res::AnyCustomer,
            Target::OtherUser => Res::AnyOther,
            _ => Res::Any,
        };
        for step in &targeted {
            let (g, a) = ev.step_grant_for(p, step, res, m.target)?;
            confidence = confidence.min(g.confidence);
            via.extend(g.via);
            actions.push(a);
        }
        return Some(Hit {
            confidence,
            via,
            actions,
            target: None,
            targets: 0,
        });
    }
    let cands = ev.candidates(pi, p, m.target);
    type Best<'c> = (
        Confidence,
        bool,
        &'c Cand<'c>,
        Vec<StmtRef>,
        Vec<&'static str>,
    );
    let mut best: Option<Best> = None;
    let mut count = 0;
    for c in &cands {
        let res = c.arn.map_or(Res::Any, Res::Arn);
        let mut cc = Confidence::Certain;
        let mut cvia = Vec::new();
        let mut cact = Vec::new();
        let mut ok = true;
        for step in &targeted {
            match ev.step_grant_for(p, step, res, m.target) {
                Some((g, a)) => {
                    cc = cc.min(g.confidence);
                    cvia.extend(g.via);
                    cact.push(a);
                }
                None => {
                    ok = false;
                    break;
                }
            }
        }
        if !ok {
            continue;
        }
        count += 1;
        let better = match &best {
            None => true,
            Some((bc, badmin, ..)) => (cc, c.admin) > (*bc, *badmin),
        };
        if better {
            best = Some((cc, c.admin, c, cvia, cact));
        }
    }
    let (cc, _, cand, cvia, cact) = best?;
    confidence = confidence.min(cc);
    via.extend(cvia);
    actions.extend(cact);
    Some(Hit {
        confidence,
        via,
        actions,
        target: Some(cand.label.clone()),
        targets: count,
    })
}

/// One hop of an AssumeRole chain: can `s` assume role `r`?
fn assume_edge(
    ev: &Evaluator<'_>,
    s: &Principal,
    r: &Principal,
) -> Option<(Confidence, Vec<StmtRef>)> {
    let trust = r.trust.as_ref()?;
    let acct = s.account_id.as_deref();
    let mut best: Option<(Confidence, Vec<StmtRef>)> = None;
    for st in &trust.statements {
        if st.effect != Effect::Allow
            || st.not_principal
            || !st.actions.matches_action("sts:assumerole")
        {
            continue;
        }
        let Some(spec) = &st.principal else { continue };
        // (matches, identity policy must also allow)
        let (hit, needs_identity) = match spec {
            PrincipalSpec::Wildcard => (true, false),
            PrincipalSpec::Typed(kinds) => {
                let mut hit = false;
                let mut needs = true;
                for (k, vals) in kinds {
                    if !k.eq_ignore_ascii_case("AWS") {
                        continue;
                    }
                    for v in vals {
                        if v == "*" || v == &s.arn {
                            hit = true;
                            needs = false;
                        } else if acct.is_some_and(|a| {
                            v == a || (arn_account(v) == Some(a) && v.ends_with(":root"))
                        }) {
                            hit = true;
                        }
                    }
                }
                (hit, needs)
            }
        };
        if !hit {
            continue;
        }
        let cond = crate::eval::eval_conditions(&st.conditions, ev.now);
        if cond == crate::eval::CondOutcome::Never {
            continue;
        }
        let mut conf = if cond == crate::eval::CondOutcome::Always {
            Confidence::Certain
        } else {
            Confidence::Conditional
        };
        let mut via = Vec::new();
        if needs_identity {
            let g = ev.allowed(s, "sts:AssumeRole", Res::Arn(&r.arn))?;
            conf = conf.min(g.confidence);
            via = g.via;
        } else if ev.denied(s, "sts:AssumeRole", Res::Arn(&r.arn)) {
            continue;
        }
        if best.as_ref().is_none_or(|(b, _)| conf > *b) {
            best = Some((conf, via));
        }
    }
    best
}

fn assume_chain(ev: &Evaluator<'_>, pi: usize, p: &Principal, out: &mut Vec<IamFinding>) {
    let roles: Vec<usize> = ev
        .account
        .principals
        .iter()
        .enumerate()
        .filter(|(_, q)| q.kind == PrincipalType::Role && !is_service_linked(q))
        .map(|(i, _)| i)
        .collect();
    // BFS over roles; each state keeps its path, confidence and first-hop evidence.
    let mut seen = BTreeSet::from([pi]);
    let mut queue = VecDeque::from([(pi, vec![pi], Confidence::Certain, Vec::new())]);
    let mut best: Option<(bool, Confidence, Vec<usize>, Vec<StmtRef>)> = None;
    while let Some((cur, path, conf, first_via)) = queue.pop_front() {
        if path.len() > 5 {
            continue;
        }
        let Some(cp) = ev.account.principals.get(cur) else {
            continue;
        };
        for &ri in &roles {
            if seen.contains(&ri) {
                continue;
            }
            let Some(r) = ev.account.principals.get(ri) else {
                continue;
            };
            let Some((c, via)) = assume_edge(ev, cp, r) else {
                continue;
            };
            seen.insert(ri);
            let conf = conf.min(c);
            let mut path = path.clone();
            path.push(ri);
            let first_via = if cur == pi { via } else { first_via.clone() };
            if let Some(admin) = ev.more_privileged(pi, ri) {
                let better = match &best {
                    None => true,
                    Some((ba, bc, bp, _)) => {
                        (admin, conf, std::cmp::Reverse(path.len()))
                            > (*ba, *bc, std::cmp::Reverse(bp.len()))
                    }
                };
                if better {
                    best = Some((admin, conf, path.clone(), first_via.clone()));
                }
            }
            queue.push_back((ri, path, conf, first_via));
        }
    }
    let Some((admin, conf, path, via)) = best else {
        return;
    };
    let names: Vec<String> = path
        .iter()
        .filter_map(|&i| ev.account.principals.get(i))
        .map(|q| q.name.clone())
        .collect();
    let target = names.last().cloned().unwrap_or_default();
    let chain = names.join(" -> ");
    let mut evid = evidence_for(
        ev,
        p,
        &via,
        Some(&format!("assume-role path: {chain}")),
        &["sts:AssumeRole"],
    );
    if evid.is_empty() {
        evid.push(crate::Evidence {
            policy: format!("trust policy of {}", names.get(1).cloned().unwrap_or_default()),
            detail: Some(format!("assume-role path: {chain} (the trust policy names the principal, so no identity permission is needed)")),
            ..Default::default()
        });
    }
    out.push(finding(
        p,
        PRIVESC,
        if admin { Severity::High } else { Severity::Medium },
        format!("Can escalate privileges via AssumeRole ({} hop{})", path.len() - 1, if path.len() > 2 { "s" } else { "" }),
        format!(
            "{} can assume role {target}{} along the path {chain}, and that role holds permissions {} does not have{}.{}",
            describe(p),
            if admin { ", which has administrator access," } else { "" },
            describe(p),
            if path.len() > 2 { " (each hop is allowed by the next role's trust policy)" } else { "" },
            super::conditional_note(conf)
        ),
        Some("AssumeRole".into()),
        evid,
        "Tighten the trust policies along the path so that they name only the principals that need the role, and remove sts:AssumeRole from identity policies that do not need it.",
        &["MITRE ATT&CK T1548", "MITRE ATT&CK T1078.004"],
        conf,
    ));
}

/// Run the escalation checks; returns the indexes of principals that can escalate.
pub(super) fn run(ev: &Evaluator<'_>, out: &mut Vec<IamFinding>) -> BTreeSet<usize> {
    let mut escalating = BTreeSet::new();
    for (pi, p) in ev.account.principals.iter().enumerate() {
        if !matches!(
            p.kind,
            PrincipalType::User | PrincipalType::Role | PrincipalType::Policy
        ) || is_service_linked(p)
        {
            continue;
        }
        if ev
            .caps(pi)
            .is_some_and(|c| c.is_admin() == Some(Confidence::Certain))
        {
            continue;
        }
        debug_assert!(ev.index_of(p) == Some(pi));
        let before = out.len();
        for m in METHODS {
            let Some(hit) = try_method(ev, pi, p, m) else {
                continue;
            };
            let target = match (&hit.target, hit.targets) {
                (Some(t), n) if n > 1 => {
                    format!(" For example: {t} (one of {n} possible targets).")
                }
                (Some(t), _) => format!(" Target: {t}."),
                (None, _) => String::new(),
            };
            let detail = format!(
                "grants {}{}",
                hit.actions.join(" + "),
                hit.target
                    .as_ref()
                    .map(|t| format!(" on {t}"))
                    .unwrap_or_default()
            );
            out.push(finding(
                p,
                PRIVESC,
                Severity::High,
                format!("Can escalate privileges via {}", m.name),
                format!(
                    "{} holds {} and so can {}.{}{}",
                    describe(p),
                    hit.actions.join(" + "),
                    m.how,
                    target,
                    conditional_note(hit.confidence)
                ),
                Some(m.name.into()),
                evidence_for(ev, p, &hit.via, Some(&detail), &hit.actions),
                m.remediation,
                &["MITRE ATT&CK T1098", "MITRE ATT&CK T1548"],
                hit.confidence,
            ));
        }
        if ev.account.inventory {
            assume_chain(ev, pi, p, out);
        }
        if out.len() > before {
            escalating.insert(pi);
        }
    }
    escalating
}

/// The names of all escalation methods the engine knows.
pub fn method_names() -> Vec<&'static str> {
    let mut v: Vec<&'static str> = METHODS.iter().map(|m| m.name).collect();
    v.push("AssumeRole");
    v
}

#[cfg(test)]
mod tests {
    #[test]
    fn method_names_are_unique() {
        let v = super::method_names();
        let set: std::collections::BTreeSet<_> = v.iter().collect();
        assert_eq!(set.len(), v.len());
        assert!(v.len() >= 30);
    }
}
