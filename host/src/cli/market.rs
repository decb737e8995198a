//! The marketplace commands: `package`, `publish`, `pull`, `info`,
//! `search`, `update`, `keygen`, `sign`, `verify`, `login`, `logout` and
//! `grants`.

use std::path::{Path, PathBuf};

use anyhow::Context as _;

use super::artifacts::{self, MarketArgs};
use super::{HostArgs, exit};
use crate::market::package::{self, PackageSource};
use crate::market::review::Approvals;
use crate::market::sign::{KeyPair, PublicKey};
use crate::market::trust::{TrustPolicy, key_name};
use crate::market::{Artifact, MarketError, PinMode, Reference, oci};

#[derive(clap::Args)]
pub struct PackageArgs {
    /// The component (.wasm) or script (.lua, .js) to package.
    path: PathBuf,
    /// Its manifest [default: <name>.spell.toml beside it].
    #[arg(long, value_name = "FILE")]
    manifest: Option<PathBuf>,
    /// Where to write the package, an OCI image layout directory
    /// [default: <name>-<version>.oci].
    #[arg(short, long, value_name = "DIR")]
    output: Option<PathBuf>,
    #[command(flatten)]
    host: HostArgs,
}

#[derive(clap::Args)]
pub struct PublishArgs {
    /// A component or script (packaged first), or a package directory
    /// written by `spellhost package`.
    path: PathBuf,
    /// Where to publish: HOST[:PORT]/NAMESPACE/NAME:TAG.
    reference: String,
    /// Its manifest, when PATH is a component or script.
    #[arg(long, value_name = "FILE")]
    manifest: Option<PathBuf>,
    /// Sign what was published with this private key (as `spellhost sign`).
    #[arg(long, value_name = "KEY")]
    sign: Option<PathBuf>,
    #[command(flatten)]
    market: MarketArgs,
    #[command(flatten)]
    host: HostArgs,
}

#[derive(clap::Args)]
pub struct RefArgs {
    /// HOST[:PORT]/NAMESPACE/NAME[:TAG][@DIGEST], with or without oci://.
    reference: String,
    /// Print JSON.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    market: MarketArgs,
    /// Config file (default: ./spellhost.toml, then ~/.config/spellhost/spellhost.toml).
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
}

#[derive(clap::Args)]
pub struct UpdateArgs {
    /// The references to move [default: every pin in ./spellhost.lock].
    references: Vec<String>,
    #[command(flatten)]
    market: MarketArgs,
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
}

#[derive(clap::Args)]
pub struct SearchArgs {
    /// Words to look for in names, titles and descriptions (empty: all).
    #[arg(default_value = "")]
    term: String,
    /// The registry to search (HOST[:PORT]).
    #[arg(long, value_name = "HOST[:PORT]")]
    registry: String,
    /// Repositories examined at most.
    #[arg(long, default_value_t = 200)]
    limit: usize,
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    market: MarketArgs,
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
}

#[derive(clap::Args)]
pub struct KeygenArgs {
    /// The key pair's name: writes NAME.key (private, 0600) and NAME.pub.
    #[arg(default_value = "cosign")]
    name: String,
    /// Replace existing files.
    #[arg(long)]
    force: bool,
}

#[derive(clap::Args)]
pub struct SignArgs {
    reference: String,
    /// The private key (`spellhost keygen` or `cosign generate-key-pair`);
    /// its password from $COSIGN_PASSWORD or the terminal.
    #[arg(long, value_name = "FILE")]
    key: PathBuf,
    #[command(flatten)]
    market: MarketArgs,
}

#[derive(clap::Args)]
pub struct VerifyArgs {
    reference: String,
    /// The public key to check against [default: the [trust] policy].
    #[arg(long, value_name = "FILE")]
    key: Option<PathBuf>,
    #[command(flatten)]
    market: MarketArgs,
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
}

#[derive(clap::Args)]
pub struct LoginArgs {
    /// The registry, HOST[:PORT].
    registry: String,
    #[arg(short, long)]
    username: String,
    /// Read the password from stdin (else it is asked on the terminal).
    #[arg(long)]
    password_stdin: bool,
    #[command(flatten)]
    market: MarketArgs,
}

#[derive(clap::Args)]
pub struct LogoutArgs {
    registry: String,
}

#[derive(clap::Args)]
pub struct GrantsArgs {
    #[command(subcommand)]
    command: GrantsCommand,
}

#[derive(clap::Subcommand)]
enum GrantsCommand {
    /// What you approved, per package and digest.
    List {
        #[arg(long)]
        json: bool,
    },
    /// Forget the approvals of a package (HOST/NS/NAME, or NAME): its next
    /// run is reviewed again.
    Revoke { name: String },
}

fn parse_ref(text: &str) -> anyhow::Result<Reference> {
    Reference::parse(text).map_err(anyhow::Error::msg)
}

/// A command's result: refusals exit 6, other errors 5.
fn finish(result: Result<(), MarketError>) -> u8 {
    match result {
        Ok(()) => exit::OK,
        Err(err) if err.is_refusal() => {
            eprintln!("refused: {err}");
            exit::REFUSED
        }
        Err(err) => {
            eprintln!("error: {:#}", anyhow::Error::from(err));
            exit::HOST
        }
    }
}

pub async fn package(args: PackageArgs) -> u8 {
    exit::report(
        async {
            let runtime = args.host.runtime(None)?;
            let artifact = package::build(
                &runtime,
                &PackageSource {
                    path: args.path.clone(),
                    manifest: args.manifest.clone(),
                },
            )?;
            let title = artifact.manifest.annotation(oci::TITLE).unwrap_or("spell");
            let version = artifact.manifest.annotation(oci::VERSION).unwrap_or("0");
            let out = args
                .output
                .clone()
                .unwrap_or_else(|| PathBuf::from(format!("{title}-{version}.oci")));
            package::write_layout(&out, &artifact, version)?;
            print_summary(&artifact);
            println!("wrote     {}", out.display());
            Ok(())
        }
        .await,
    )
}

fn print_summary(artifact: &Artifact) {
    println!("digest    {}", artifact.digest);
    println!(
        "size      {} (component or script {})",
        human(artifact.manifest_bytes.len() + artifact.config.len() + artifact.layer.len()),
        human(artifact.layer.len())
    );
    println!("kind      {}", artifact.kind().as_str());
    let requests = requested_grants(&artifact.manifest);
    if requests.is_empty() {
        println!("requests  none");
    }
    for grant in requests {
        println!("requests  {}", clean(&grant.flag()));
    }
}

/// What a package's manifest (the `dev.spellhost.manifest` annotation, the
/// one the run grants from) requests.
fn requested_grants(manifest: &crate::market::oci::ImageManifest) -> Vec<crate::policy::Grant> {
    manifest
        .annotation(oci::MANIFEST)
        .and_then(|text| crate::policy::manifest::Manifest::parse(text).ok())
        .map(|m| m.requests.missing_from(&crate::policy::Grants::default()))
        .unwrap_or_default()
}

/// Text from an artifact, safe to print: control characters (terminal
/// escapes that could hide or fake part of a review) shown as `\u{…}`.
pub(super) fn clean(text: &str) -> String {
    clean_keeping(text, false)
}

/// The same, keeping line breaks (a README).
pub(super) fn clean_keeping(text: &str, newlines: bool) -> String {
    text.chars()
        .map(|c| match c {
            '\n' if newlines => "\n".to_owned(),
            c if c.is_control() => c.escape_unicode().to_string(),
            c => c.to_string(),
        })
        .collect()
}

fn human(bytes: usize) -> String {
    match bytes {
        b if b >= 1 << 20 => format!("{:.1} MiB", b as f64 / (1 << 20) as f64),
        b if b >= 1 << 10 => format!("{:.1} KiB", b as f64 / 1024.0),
        b => format!("{b} B"),
    }
}

pub async fn publish(args: PublishArgs) -> u8 {
    let reference = match parse_ref(&args.reference) {
        Ok(reference) => reference,
        Err(err) => return exit::report(Err(err)),
    };
    let prepared: anyhow::Result<Artifact> = async {
        if package::is_layout(&args.path) {
            return package::read_layout(&args.path);
        }
        let runtime = args.host.runtime(None)?;
        package::build(
            &runtime,
            &PackageSource {
                path: args.path.clone(),
                manifest: args.manifest.clone(),
            },
        )
    }
    .await;
    let artifact = match prepared {
        Ok(artifact) => artifact,
        Err(err) => return exit::report(Err(err)),
    };
    finish(
        async {
            let market = args.market.market(args.host.config.as_deref())?;
            let started = std::time::Instant::now();
            let digest = market.publish(&artifact, &reference).await?;
            println!(
                "published oci://{} ({}, {} ms)",
                reference.with_digest(&digest),
                human(artifact.layer.len()),
                started.elapsed().as_millis()
            );
            if let Some(key) = &args.sign {
                let pair = read_private_key(key)?;
                market.sign(&reference.with_digest(&digest), &pair).await?;
                println!(
                    "signed    with {} ({})",
                    key.display(),
                    pair.public().fingerprint()
                );
            }
            Ok(())
        }
        .await,
    )
}

fn read_private_key(path: &Path) -> anyhow::Result<KeyPair> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading the private key {}", path.display()))?;
    let password = artifacts::key_password(false)?;
    KeyPair::from_encrypted_pem(&text, password.as_bytes())
        .with_context(|| format!("the private key {}", path.display()))
}

fn read_public_key(path: &Path) -> anyhow::Result<PublicKey> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading the public key {}", path.display()))?;
    PublicKey::from_pem(&text).with_context(|| format!("the public key {}", path.display()))
}

pub async fn pull(args: RefArgs) -> u8 {
    finish(
        async {
            let reference = parse_ref(&args.reference)?;
            let market = args.market.market(args.config.as_deref())?;
            let started = std::time::Instant::now();
            let verified = market.pull(&reference, PinMode::Keep).await?;
            if args.json {
                println!(
                    "{}",
                    serde_json::json!({
                        "reference": verified.reference.to_string(),
                        "digest": verified.artifact.digest,
                        "signer": verified.signer.to_string(),
                        "size": verified.artifact.layer.len(),
                    })
                );
            } else {
                println!("pulled    oci://{}", verified.reference);
                println!("signed by {}", verified.signer);
                println!(
                    "size      {} in {} ms",
                    human(verified.artifact.layer.len()),
                    started.elapsed().as_millis()
                );
                println!("stored in {}", market.store().root().display());
            }
            Ok(())
        }
        .await,
    )
}

pub async fn info(args: RefArgs) -> u8 {
    finish(
        async {
            let reference = parse_ref(&args.reference)?;
            let market = args.market.market(args.config.as_deref())?;
            let info = market.info(&reference).await?;
            let annotations = &info.manifest.annotations;
            let asks = requested_grants(&info.manifest);
            let requests = serde_json::to_value(&asks).map_err(anyhow::Error::from)?;
            let signer = match &info.signer {
                Ok(signer) => signer.to_string(),
                Err(why) => format!("NOT VERIFIED: {why}"),
            };
            if args.json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&serde_json::json!({
                        "reference": info.reference.to_string(),
                        "digest": info.digest,
                        "size": info.size,
                        "media_type": info.manifest.config.media_type,
                        "kind": annotations.get(oci::KIND),
                        "signer": signer,
                        "verified": info.signer.is_ok(),
                        "signatures": info.signatures,
                        "requests": requests,
                        "annotations": annotations,
                    }))
                    .map_err(anyhow::Error::from)?
                );
                return Ok(());
            }
            println!("reference oci://{}", info.reference);
            println!("digest    {}", info.digest);
            println!("size      {}", human(info.size as usize));
            println!("type      {}", info.manifest.config.media_type);
            for (label, key) in [("kind", oci::KIND)].into_iter().chain(oci::SHOWN) {
                if let Some(value) = annotations.get(key) {
                    println!("{label:<10}{}", clean(value));
                }
            }
            println!(
                "signed by {} ({} signature(s))",
                clean(&signer),
                info.signatures
            );
            if asks.is_empty() {
                println!("asks for  no grants");
            } else {
                println!("asks for");
                for grant in asks {
                    println!("  {}", clean(&grant.flag()));
                }
            }
            if let Some(readme) = annotations.get(oci::README) {
                println!("\n{}", clean_keeping(readme, true));
            }
            Ok(())
        }
        .await,
    )
}

pub async fn update(args: UpdateArgs) -> u8 {
    finish(
        async {
            let market = args.market.market(args.config.as_deref())?;
            let lock = crate::market::lock::Lock::in_current_dir()?;
            let references: Vec<Reference> = if args.references.is_empty() {
                lock.pins()
                    .iter()
                    .map(|p| parse_ref(&p.reference))
                    .collect::<anyhow::Result<_>>()?
            } else {
                args.references
                    .iter()
                    .map(|r| parse_ref(r))
                    .collect::<anyhow::Result<_>>()?
            };
            if references.is_empty() {
                println!("nothing to update: {} pins nothing", lock.path().display());
            }
            let mut failed = None;
            for reference in references {
                let before = lock.pinned(&reference).map(str::to_owned);
                let verified = match market.pull(&reference, PinMode::Update).await {
                    Ok(verified) => verified,
                    Err(err) => {
                        // The other pins still move; the command fails at the end.
                        eprintln!("not updated: oci://{}: {err}", reference.tagged());
                        failed = Some(err);
                        continue;
                    }
                };
                let after = &verified.artifact.digest;
                match before {
                    Some(before) if &before == after => {
                        println!("unchanged oci://{} {after}", reference.tagged());
                    }
                    Some(before) => println!(
                        "updated   oci://{} {before} -> {after} (signed by {})",
                        reference.tagged(),
                        verified.signer
                    ),
                    None => println!(
                        "pinned    oci://{} {after} (signed by {})",
                        reference.tagged(),
                        verified.signer
                    ),
                }
            }
            match failed {
                Some(err) => Err(err),
                None => Ok(()),
            }
        }
        .await,
    )
}

pub async fn search(args: SearchArgs) -> u8 {
    finish(
        async {
            let registry = parse_ref(&format!(
                "{}/search",
                args.registry.trim_start_matches("oci://")
            ))?;
            let market = args.market.market(args.config.as_deref())?;
            let found = market.search(&registry, &args.term, args.limit).await?;
            if args.json {
                let rows: Vec<serde_json::Value> = found
                    .iter()
                    .map(|(reference, manifest)| {
                        serde_json::json!({
                            "reference": reference.to_string(),
                            "kind": manifest.annotation(oci::KIND),
                            "version": manifest.annotation(oci::VERSION),
                            "description": manifest.annotation(oci::DESCRIPTION),
                            "media_type": manifest.config.media_type,
                        })
                    })
                    .collect();
                println!(
                    "{}",
                    serde_json::to_string_pretty(&rows).map_err(anyhow::Error::from)?
                );
                return Ok(());
            }
            if found.is_empty() {
                println!("no packages in {} match `{}`", args.registry, args.term);
            }
            for (reference, manifest) in found {
                println!(
                    "oci://{:<50} {:<6} {}",
                    reference.to_string(),
                    clean(manifest.annotation(oci::KIND).unwrap_or("wasm")),
                    clean(manifest.annotation(oci::DESCRIPTION).unwrap_or(""))
                );
            }
            Ok(())
        }
        .await,
    )
}

pub async fn keygen(args: KeygenArgs) -> u8 {
    exit::report((|| {
        let private = PathBuf::from(format!("{}.key", args.name));
        let public = PathBuf::from(format!("{}.pub", args.name));
        for path in [&private, &public] {
            if path.exists() && !args.force {
                anyhow::bail!("{} exists; pass --force to replace it", path.display());
            }
        }
        let password = artifacts::key_password(true)?;
        let pair = KeyPair::generate();
        crate::market::store::write_atomic(
            &private,
            pair.to_encrypted_pem(password.as_bytes()).as_bytes(),
        )?;
        std::fs::write(&public, pair.public().to_pem())
            .with_context(|| format!("writing {}", public.display()))?;
        println!(
            "Private key written to {} (keep it secret)",
            private.display()
        );
        println!(
            "Public key written to {} ({})",
            public.display(),
            pair.public().fingerprint()
        );
        Ok(())
    })())
}

pub async fn sign(args: SignArgs) -> u8 {
    finish(
        async {
            let reference = parse_ref(&args.reference)?;
            let pair = read_private_key(&args.key)?;
            let market = args.market.market(None)?;
            let digest = market.sign(&reference, &pair).await?;
            println!(
                "signed    oci://{} with {} ({})",
                reference.with_digest(&digest),
                args.key.display(),
                pair.public().fingerprint()
            );
            Ok(())
        }
        .await,
    )
}

pub async fn verify(args: VerifyArgs) -> u8 {
    finish(
        async {
            let reference = parse_ref(&args.reference)?;
            let market = args.market.market(args.config.as_deref())?;
            let policy = match &args.key {
                Some(path) => TrustPolicy::single(&key_name(path), read_public_key(path)?),
                None => {
                    let (settings, config) =
                        crate::settings::Settings::load(args.config.as_deref())?;
                    let base = config
                        .as_deref()
                        .and_then(Path::parent)
                        .map(Path::to_owned)
                        .unwrap_or_else(|| PathBuf::from("."));
                    TrustPolicy::load(&settings.trust, &base)?
                }
            };
            let (digest, signer) = market.verify(&reference, &policy).await?;
            println!("verified  oci://{}", reference.with_digest(&digest));
            println!("signed by {signer}");
            Ok(())
        }
        .await,
    )
}

pub async fn login(args: LoginArgs) -> u8 {
    exit::report(
        async {
            let registry = parse_ref(&format!("{}/login", args.registry))?;
            let password = if args.password_stdin {
                let mut text = String::new();
                std::io::Read::read_to_string(&mut std::io::stdin(), &mut text)?;
                text.trim_end_matches(['\n', '\r']).to_owned()
            } else {
                rpassword::prompt_password("Password: ").context("reading the password")?
            };
            // Checked before anything is written: a failed login keeps the
            // credentials that worked before.
            let client = crate::market::RegistryClient::new(
                crate::market::auth::Credentials::single(
                    &registry.registry,
                    &args.username,
                    &password,
                ),
                args.market.insecure_registry.clone(),
            );
            client
                .check(&registry)
                .await
                .context("login failed; nothing was saved")?;
            let path =
                crate::market::auth::save_login(&registry.registry, &args.username, &password)?;
            println!("Login succeeded; saved in {}", path.display());
            Ok(())
        }
        .await,
    )
}

pub async fn logout(args: LogoutArgs) -> u8 {
    exit::report((|| {
        if crate::market::auth::remove_login(&args.registry)? {
            println!("Removed the login for {}", args.registry);
        } else {
            println!("Not logged in to {}", args.registry);
        }
        Ok(())
    })())
}

pub async fn grants(args: GrantsArgs) -> u8 {
    exit::report((|| {
        let mut approvals = Approvals::load(Approvals::default_path())?;
        match args.command {
            GrantsCommand::List { json } => {
                if json {
                    println!("{}", serde_json::to_string_pretty(approvals.packages())?);
                    return Ok(());
                }
                if approvals.packages().is_empty() {
                    println!("no approvals recorded ({})", approvals.path().display());
                }
                for (package, approval) in approvals.packages() {
                    println!("{package}");
                    let asks = approval
                        .grants
                        .missing_from(&crate::policy::Grants::default());
                    if asks.is_empty() {
                        println!("  grants    none");
                    }
                    for grant in asks {
                        println!("  grants    {}", grant.flag());
                    }
                    for (digest, d) in &approval.digests {
                        println!(
                            "  digest    {digest}  signed by {}  approved {}",
                            d.signer, d.approved_at
                        );
                    }
                }
                Ok(())
            }
            GrantsCommand::Revoke { name } => {
                let revoked = approvals.revoke(&name);
                if revoked.is_empty() {
                    anyhow::bail!("no approvals match `{name}` (see `spellhost grants list`)");
                }
                approvals.save()?;
                for package in revoked {
                    println!("revoked   {package}: its next run is reviewed again");
                }
                Ok(())
            }
        }
    })())
}
