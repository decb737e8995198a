//! Spells and plugins named by an [`ArtifactRef`]: a file as before, or an
//! `oci://` reference resolved through the marketplace — verified, pinned,
//! and reviewed before it gets a grant. The library decides (signatures,
//! pins, [`Review`]); this module renders the review and asks.

use std::io::IsTerminal as _;
use std::path::{Path, PathBuf};

use anyhow::Context as _;

use crate::market::review::{Approvals, Review};
use crate::market::{ArtifactRef, Market, MarketError, Signer, Verified};
use crate::policy::manifest::{self, Manifest, PackageKind};
use crate::policy::{Grant, Grants, PolicyFile};
use crate::scripts::Modules;
use crate::settings::Settings;

/// How registries are reached and what is trusted (shared by every command
/// that takes a reference).
#[derive(clap::Args, Clone, Default)]
pub struct MarketArgs {
    /// Reach the registry HOST[:PORT] over plain HTTP (registries on this
    /// machine always may). Repeatable.
    #[arg(long = "insecure-registry", value_name = "HOST[:PORT]")]
    pub insecure_registry: Vec<String>,
    /// Accept packages not signed by a trusted key ([trust] in spellhost.toml);
    /// a warning is printed on every use.
    #[arg(long)]
    pub allow_unsigned: bool,
}

impl MarketArgs {
    /// The marketplace as `config` (or the default config file) sets it up.
    pub fn market(&self, config: Option<&Path>) -> anyhow::Result<Market> {
        let (settings, path) = Settings::load(config)?;
        Market::configured(
            &settings,
            path.as_deref(),
            &self.insecure_registry,
            self.allow_unsigned,
        )
    }
}

/// The marketplace, set up the first time a reference needs it: one per
/// command, and a command that names only files never reads `[trust]`.
pub struct LazyMarket<'a> {
    args: &'a MarketArgs,
    config: Option<&'a Path>,
    market: std::sync::OnceLock<Market>,
}

impl<'a> LazyMarket<'a> {
    pub fn new(args: &'a MarketArgs, config: Option<&'a Path>) -> Self {
        Self {
            args,
            config,
            market: std::sync::OnceLock::new(),
        }
    }

    pub fn get(&self) -> anyhow::Result<&Market> {
        if let Some(market) = self.market.get() {
            return Ok(market);
        }
        let market = self.args.market(self.config)?;
        Ok(self.market.get_or_init(|| market))
    }
}

/// A spell or plugin ready to load.
pub struct Loaded {
    /// Its name for state, logs and policy entries (a pulled package's is
    /// its package, `HOST/NS/NAME`, never what its manifest claims).
    pub name: String,
    /// How it is shown in messages (a path or an `oci://` reference).
    pub shown: PathBuf,
    /// A file name whose extension says what it is (`.wasm`, `.lua`, `.js`).
    pub path: PathBuf,
    pub bytes: Vec<u8>,
    /// Where a script's modules come from (a file's directory; a pulled
    /// package has none).
    pub modules: Modules,
    pub manifest: Option<Manifest>,
    /// The user approved what the manifest requests (review or flag).
    pub grant_requested: bool,
}

/// Why a package did not load: refused (exit 6) or a plain error.
#[derive(Debug)]
pub enum LoadError {
    Refused(String),
    Other(anyhow::Error),
}

impl From<anyhow::Error> for LoadError {
    fn from(err: anyhow::Error) -> Self {
        LoadError::Other(err)
    }
}

impl From<MarketError> for LoadError {
    fn from(err: MarketError) -> Self {
        if err.is_refusal() {
            LoadError::Refused(err.to_string())
        } else {
            LoadError::Other(err.into())
        }
    }
}

/// What a load may assume about the user's approval.
pub struct ReviewContext<'a> {
    /// `--grant-requested` was given.
    pub grant_requested: bool,
    pub policy: Option<&'a PolicyFile>,
    /// The kind the caller needs (a spell for `run`, a plugin for `--tool`).
    pub expect: PackageKind,
}

/// Loads `reference`: a file with the manifest beside it, or a package
/// pulled (or found in the store), verified and reviewed.
pub async fn load(
    reference: &ArtifactRef,
    market: &LazyMarket<'_>,
    review: &ReviewContext<'_>,
) -> Result<Loaded, LoadError> {
    let reference = match reference {
        ArtifactRef::File(path) => {
            let what = match review.expect {
                PackageKind::Spell => "spell",
                _ => "plugin",
            };
            let bytes = std::fs::read(path)
                .with_context(|| format!("reading {what} {}", path.display()))?;
            let manifest = manifest::load_for(path)?.map(|(m, _)| m);
            let name = crate::runtime::name_from_path(path);
            return Ok(Loaded {
                name,
                shown: path.clone(),
                path: path.clone(),
                modules: Modules::beside(path),
                bytes,
                manifest,
                grant_requested: review.grant_requested,
            });
        }
        ArtifactRef::Oci(reference) => reference,
    };
    let market = market.get()?;
    let verified = market.resolve(reference).await?;
    if let Signer::Unverified { why } = &verified.signer {
        eprintln!(
            "warning: running {} UNVERIFIED (--allow-unsigned): {why}",
            verified.reference
        );
    }
    let artifact = &verified.artifact;
    let kind = artifact.kind();
    if kind != review.expect {
        return Err(LoadError::Refused(format!(
            "oci://{reference} is a {} package, not a {}",
            kind.as_str(),
            review.expect.as_str()
        )));
    }
    let name = artifact.name(&reference.repository);
    let mut manifest = artifact.spell_manifest().map_err(MarketError::Invalid)?;
    let payload = artifact
        .payload()
        .map_err(|e| LoadError::Refused(format!("oci://{reference}: {e}")))?;
    let path = PathBuf::from(format!("{name}.{}", payload.extension()));
    let bytes = payload.bytes().to_vec();
    let modules = payload.modules();
    if let Some(manifest) = &manifest {
        crate::market::package::check_requests(&manifest.requests).map_err(|e| {
            LoadError::Refused(format!(
                "oci://{reference} asks for malformed grants: {e:#}"
            ))
        })?;
    }
    // Relative paths a package asks for are relative to where it runs.
    if let Some(manifest) = &mut manifest {
        manifest.requests.resolve_paths(Path::new("./package"));
    }
    let requested = manifest
        .as_ref()
        .map(|m| m.requests.clone())
        .unwrap_or_default();
    // A pulled spell's identity (its state, its policy entry) is its
    // package, HOST/NS/NAME, not the name its manifest claims: a stranger's
    // package must not be able to call itself `counter` and read your
    // counter's state. Plugins keep their package name.
    if let Some(manifest) = &mut manifest {
        manifest.spell.name = None;
    }
    let shown_name = name;
    let name = reference.package();
    let grant_requested = approve(&verified, &shown_name, &name, &requested, review)?;
    Ok(Loaded {
        name,
        shown: PathBuf::from(format!("oci://{reference}")),
        path,
        bytes,
        modules,
        manifest,
        grant_requested,
    })
}

/// Shows the review when one is due and records the answer. Returns
/// whether the requested grants are approved.
fn approve(
    verified: &Verified,
    name: &str,
    identity: &str,
    requested: &Grants,
    context: &ReviewContext<'_>,
) -> Result<bool, LoadError> {
    let package = verified.reference.package();
    let digest = &verified.artifact.digest;
    let mut approvals = Approvals::load(Approvals::default_path())?;
    let review = approvals.review(&package, requested);
    if review == Review::Approved {
        if verified.pulled {
            approvals.approve(&package, digest, &verified.signer.to_string(), requested);
            approvals.save()?;
        }
        return Ok(true);
    }
    eprint!("{}", render_review(verified, requested, &review));
    // Its policy entry is under its package identity (plugins: `plugin:…`).
    let key = match context.expect {
        PackageKind::Spell => identity.to_owned(),
        _ => crate::policy::resolve::plugin_key(identity),
    };
    let in_policy = context.policy.is_some_and(|p| p.spells.contains_key(&key));
    let asks = !requested.is_empty();
    let approved = if !asks || context.grant_requested {
        true
    } else if in_policy {
        // The policy file decides what is granted; nothing is recorded.
        return Ok(false);
    } else if std::io::stdin().is_terminal() && std::io::stderr().is_terminal() {
        ask(&format!("Grant these to {name}? [y/N] "))?
    } else {
        return Err(LoadError::Refused(format!(
            "oci://{} asks for grants nobody approved; nothing was run. Check them (above, or `spellhost info oci://{}`), then run with --grant-requested, on a terminal to be asked, or with a --policy entry [spells.\"{key}\"]",
            verified.reference.tagged(),
            verified.reference.tagged()
        )));
    };
    if !approved {
        return Err(LoadError::Refused(format!(
            "not approved: {name} was not run"
        )));
    }
    approvals.approve(&package, digest, &verified.signer.to_string(), requested);
    approvals.save()?;
    Ok(true)
}

fn ask(prompt: &str) -> anyhow::Result<bool> {
    eprint!("{prompt}");
    let mut answer = String::new();
    std::io::stdin()
        .read_line(&mut answer)
        .context("reading the answer")?;
    Ok(matches!(
        answer.trim().to_ascii_lowercase().as_str(),
        "y" | "yes"
    ))
}

/// The review as a table: who signed, what digest, what it asks for.
pub fn render_review(verified: &Verified, requested: &Grants, review: &Review) -> String {
    let artifact = &verified.artifact;
    let summary = artifact.summary();
    let mut out = format!("Review of oci://{}\n", verified.reference.tagged());
    let mut row = |label: &str, value: &str| {
        out.push_str(&format!("  {label:<10}{}\n", super::market::clean(value)));
    };
    row("digest", &verified.artifact.digest);
    row("signed by", &verified.signer.to_string());
    let mut what = vec![artifact.kind().as_str().to_owned()];
    for key in ["title", "version", "license", "authors"] {
        if let Some(value) = summary.get(key) {
            what.push(value.clone());
        }
    }
    row("package", &what.join(" · "));
    if let Some(description) = summary.get("about") {
        row("about", description);
    }
    let (heading, grants) = match review {
        Review::More { new } => ("asks for MORE than you approved before:", new.clone()),
        _ => ("asks for:", requested.missing_from(&Grants::default())),
    };
    if grants.is_empty() {
        out.push_str("  asks for no grants: compute, its own state and the default model only\n");
        return out;
    }
    out.push_str(&format!("  {heading}\n"));
    out.push_str(&format!(
        "    {:<22}{:<34}{}\n",
        "GRANT", "VALUE", "SAME AS"
    ));
    for grant in grants {
        let (label, value) = describe(&grant);
        out.push_str(&format!(
            "    {label:<22}{:<34}{}\n",
            super::market::clean(&value),
            super::market::clean(&grant.flag())
        ));
    }
    out
}

fn describe(grant: &Grant) -> (&'static str, String) {
    match grant {
        Grant::Model(v) => ("models", v.clone()),
        Grant::StateNamespace(v) => ("shared state", v.clone()),
        Grant::Read(p) => ("read files", p.display().to_string()),
        Grant::Write(p) => ("read + write files", p.display().to_string()),
        Grant::Env(v) => ("environment variable", v.clone()),
        Grant::Net(v) => ("network", v.clone()),
    }
}

/// Reads a key password: `$COSIGN_PASSWORD` (as cosign does), else from
/// the terminal (twice when `confirm`).
pub fn key_password(confirm: bool) -> anyhow::Result<String> {
    if let Ok(password) = std::env::var("COSIGN_PASSWORD") {
        return Ok(password);
    }
    if !std::io::stdin().is_terminal() {
        anyhow::bail!("set COSIGN_PASSWORD to the key's password (there is no terminal to ask on)");
    }
    let password = rpassword::prompt_password("Key password: ").context("reading the password")?;
    if confirm {
        let again = rpassword::prompt_password("Again: ").context("reading the password")?;
        if again != password {
            anyhow::bail!("the passwords differ");
        }
    }
    Ok(password)
}
