//! `spellhost build`: runs the `[build] command` of manifests, in the
//! manifest's directory, with `$SPELLHOST_SDK` set. `spellhost test` runs
//! it too before testing a component that has one.

use std::path::{Path, PathBuf};
use std::process::Stdio;

use crate::policy::manifest::{self, Manifest};

/// A build to run: a manifest's command, in the manifest's directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuildStep {
    pub manifest: PathBuf,
    pub dir: PathBuf,
    pub command: String,
}

/// Why a build did not make its component.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error("{manifest}: {source:#}")]
    Manifest {
        manifest: PathBuf,
        source: anyhow::Error,
    },
    #[error("could not start `sh` for the build of {manifest}: {source}")]
    Spawn {
        manifest: PathBuf,
        source: std::io::Error,
    },
    #[error("the build of {manifest} failed ({status}): {command}")]
    Failed {
        manifest: PathBuf,
        status: std::process::ExitStatus,
        command: String,
    },
}

/// The build step of the manifest at `path`, if it has `[build]`.
pub fn step_of_manifest(path: &Path) -> Result<Option<BuildStep>, BuildError> {
    let text = std::fs::read_to_string(path).map_err(|e| BuildError::Manifest {
        manifest: path.to_owned(),
        source: e.into(),
    })?;
    let manifest = Manifest::parse(&text).map_err(|source| BuildError::Manifest {
        manifest: path.to_owned(),
        source,
    })?;
    Ok(manifest.build.map(|build| BuildStep {
        manifest: path.to_owned(),
        dir: path
            .parent()
            .filter(|d| !d.as_os_str().is_empty())
            .unwrap_or(Path::new("."))
            .to_owned(),
        command: build.command,
    }))
}

/// The build step of the component at `component` (its manifest's).
pub fn step_for(component: &Path) -> Result<Option<BuildStep>, BuildError> {
    let path = manifest::path_for(component);
    if !path.is_file() {
        return Ok(None);
    }
    step_of_manifest(&path)
}

/// The build steps of the manifests (`*.spell.toml`) in `dir`, by name.
pub fn steps_in(dir: &Path) -> Result<Vec<BuildStep>, BuildError> {
    let entries = std::fs::read_dir(dir).map_err(|e| BuildError::Manifest {
        manifest: dir.to_owned(),
        source: e.into(),
    })?;
    let mut manifests: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.ends_with(".spell.toml"))
        })
        .collect();
    manifests.sort();
    let mut steps = Vec::new();
    for path in manifests {
        steps.extend(step_of_manifest(&path)?);
    }
    Ok(steps)
}

/// Runs `step` with `sh -c`, its output on this process's stderr (stdout
/// stays the caller's), `$SPELLHOST_SDK` set to `sdk` when known.
pub async fn run(step: &BuildStep, sdk: Option<&Path>) -> Result<(), BuildError> {
    let mut command = tokio::process::Command::new("sh");
    command
        .arg("-c")
        .arg(&step.command)
        .current_dir(&step.dir)
        .stdin(Stdio::null())
        .stdout(stderr())
        .stderr(Stdio::inherit());
    if let Some(sdk) = sdk {
        command.env(super::SDK_VAR, sdk);
    }
    let status = command.status().await.map_err(|source| BuildError::Spawn {
        manifest: step.manifest.clone(),
        source,
    })?;
    if status.success() {
        Ok(())
    } else {
        Err(BuildError::Failed {
            manifest: step.manifest.clone(),
            status,
            command: step.command.clone(),
        })
    }
}

/// This process's stderr, for a child's stdout.
fn stderr() -> Stdio {
    use std::os::fd::AsFd as _;
    std::io::stderr()
        .as_fd()
        .try_clone_to_owned()
        .map(Stdio::from)
        .unwrap_or_else(|_| Stdio::inherit())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_build_runs_beside_its_manifest_and_a_failure_names_it() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("a.spell.toml"),
            "[build]\ncommand = \"echo built > a.wasm\"\n",
        )
        .unwrap();
        std::fs::write(dir.path().join("b.spell.toml"), "[spell]\nname = \"b\"\n").unwrap();
        std::fs::write(
            dir.path().join("c.spell.toml"),
            "[build]\ncommand = \"exit 3\"\n",
        )
        .unwrap();
        let steps = steps_in(dir.path()).unwrap();
        assert_eq!(steps.len(), 2);
        run(&steps[0], None).await.unwrap();
        assert_eq!(
            std::fs::read_to_string(dir.path().join("a.wasm")).unwrap(),
            "built\n"
        );
        let err = run(&steps[1], None).await.unwrap_err();
        assert!(
            err.to_string()
                .contains("c.spell.toml failed (exit status: 3): exit 3"),
            "{err}"
        );
        assert_eq!(
            step_for(&dir.path().join("a.wasm")).unwrap(),
            Some(steps[0].clone())
        );
        assert_eq!(step_for(&dir.path().join("b.wasm")).unwrap(), None);
    }
}
