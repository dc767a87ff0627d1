//! Reading rule files from disk for the detection engine (which does no I/O).

use std::path::{Path, PathBuf};

use vigilo_detect::pipeline::{PipelineError, Pipelines, builtin_pipeline};
use vigilo_detect::{RuleError, RuleSet, RuleSource};

#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("cannot read rules at {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("no rule files (*.yml, *.yaml) under {0}")]
    Empty(PathBuf),
    #[error("{} rule error(s):\n{}", .0.len(), .0.iter().map(|e| format!("  {e}")).collect::<Vec<_>>().join("\n"))]
    Invalid(Vec<RuleError>),
    #[error("pipeline {name} is neither a shipped pipeline ({}) nor a readable file: {source}", vigilo_detect::pipeline::builtin_names().join(", "))]
    PipelineIo {
        name: String,
        source: std::io::Error,
    },
    #[error("{} pipeline error(s):\n{}", .0.len(), .0.iter().map(|e| format!("  {e}")).collect::<Vec<_>>().join("\n"))]
    Pipeline(Vec<PipelineError>),
}

/// Rule sources from files and directories (recursively, `*.yml`/`*.yaml`,
/// in path order). No paths means the bundled packs.
pub fn read_sources(paths: &[PathBuf]) -> Result<Vec<RuleSource>, LoadError> {
    if paths.is_empty() {
        return Ok(vigilo_detect::bundled());
    }
    let mut out = Vec::new();
    for p in paths {
        let before = out.len();
        collect(p, &mut out)?;
        if out.len() == before {
            return Err(LoadError::Empty(p.clone()));
        }
    }
    Ok(out)
}

fn collect(path: &Path, out: &mut Vec<RuleSource>) -> Result<(), LoadError> {
    let io = |source| LoadError::Io {
        path: path.to_path_buf(),
        source,
    };
    let meta = std::fs::metadata(path).map_err(io)?;
    if meta.is_dir() {
        let mut entries: Vec<PathBuf> = std::fs::read_dir(path)
            .map_err(io)?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .collect();
        entries.sort();
        for e in entries {
            if e.is_dir() || is_rule_file(&e) {
                collect(&e, out)?;
            }
        }
    } else {
        let text = std::fs::read_to_string(path).map_err(io)?;
        out.push(RuleSource {
            origin: path.display().to_string(),
            text,
        });
    }
    Ok(())
}

fn is_rule_file(p: &Path) -> bool {
    matches!(
        p.extension().and_then(|e| e.to_str()),
        Some("yml") | Some("yaml")
    )
}

/// Processing pipelines by shipped name (`windows`, `ecs`, ...) or file
/// path; a file of that name wins over the shipped pipeline.
pub fn read_pipelines(names: &[String]) -> Result<Pipelines, LoadError> {
    let mut sources = Vec::with_capacity(names.len());
    for name in names {
        let source = match builtin_pipeline(name) {
            Some(s) if !Path::new(name).exists() => s,
            _ => RuleSource {
                origin: name.clone(),
                text: std::fs::read_to_string(name).map_err(|source| LoadError::PipelineIo {
                    name: name.clone(),
                    source,
                })?,
            },
        };
        sources.push(source);
    }
    Pipelines::parse(&sources).map_err(LoadError::Pipeline)
}

/// Read the rules and pipelines, then compile the rules through them.
pub fn load(paths: &[PathBuf], pipelines: &[String]) -> Result<RuleSet, LoadError> {
    let pipelines = read_pipelines(pipelines)?;
    let sources = read_sources(paths)?;
    RuleSet::compile_with(&sources, &pipelines).map_err(LoadError::Invalid)
}
