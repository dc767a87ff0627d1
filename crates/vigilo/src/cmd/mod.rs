mod accounts;
mod api_bench;
mod archive;
mod bench;
mod generate;
mod iam;
mod rules;
mod seed;
pub(crate) mod serve;
mod storage_copy;

use std::process::ExitCode;

use crate::cli::{BenchCommand, Cli, Command, IamCommand, RulesCommand};

/// The exit status for an error of `command`. The check commands keep 1
/// for "the check failed" and give errors 2, as grep and semgrep do, so a
/// CI gate can tell the two apart; elsewhere an error is 1.
pub fn error_status(command: &Command) -> u8 {
    match command {
        Command::Iam(_) | Command::Rules(_) => 2,
        _ => 1,
    }
}

pub fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Rules(RulesCommand::Validate { paths, pipelines }) => {
            rules::validate(&paths, &pipelines)
        }
        Command::Rules(RulesCommand::Test {
            rules,
            events,
            expect,
            format,
            logsource,
            pipelines,
        }) => {
            let logsource = logsource.resolve().map_err(anyhow::Error::msg)?;
            rules::test(
                &rules,
                &events,
                expect.as_deref(),
                format,
                logsource,
                &pipelines,
            )
        }
        Command::Iam(IamCommand::Audit(args)) => iam::audit(&args),
        Command::Openapi => {
            crate::out::line(&vigilo_server::openapi::document_json())?;
            Ok(ExitCode::SUCCESS)
        }
        other => {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()?;
            rt.block_on(async move {
                match other {
                    Command::Serve(args) => serve::serve(&args, None).await,
                    Command::Demo(args) => serve::demo(args).await,
                    Command::Migrate(args) => serve::migrate(&args).await,
                    Command::Generate(args) => generate::run(args).await,
                    Command::Bench(BenchCommand::Ingest(args)) => bench::ingest(args).await,
                    Command::Bench(BenchCommand::Seed(args)) => seed::run(args).await,
                    Command::Bench(BenchCommand::Api(args)) => api_bench::run(args).await,
                    Command::User(cmd) => accounts::user(cmd).await,
                    Command::Apikey(cmd) => accounts::apikey(cmd).await,
                    Command::Archive(cmd) => archive::run(cmd).await,
                    Command::Storage(crate::cli::StorageCommand::Copy(args)) => {
                        storage_copy::run(args).await
                    }
                    Command::Rules(_) | Command::Iam(_) | Command::Openapi => {
                        unreachable!("handled above")
                    }
                }
            })
        }
    }
}
