//! The marketplace: spells and plugins packaged as OCI artifacts, signed
//! with cosign-compatible keys, published to and pulled from any OCI
//! registry, kept in a local content-addressed store, pinned by a lock file
//! and reviewed before they get a grant.
//!
//! - [`reference`]: `oci://HOST/NS/NAME:TAG` and files, one [`ArtifactRef`].
//! - [`package`]: a component or script and its manifest → an [`Artifact`].
//! - [`client`]: the OCI distribution API; [`auth`]: registry credentials.
//! - [`sign`]: cosign key pairs and signatures; [`trust`]: which keys count.
//! - [`store`]: pulled artifacts by digest; [`lock`]: `spellhost.lock`.
//! - [`review`]: approvals of requested grants per package.
//!
//! [`Market`] composes them: every pull is checked — manifest digest,
//! signature by a trusted key, lock pin, blob digests and sizes — before a
//! byte is stored, and a run of a pinned reference needs no network.

pub mod artifact;
pub mod auth;
pub mod bundle;
pub mod client;
pub mod lock;
pub mod oci;
pub mod package;
pub mod reference;
pub mod review;
pub mod sign;
pub mod store;
pub mod trust;

use std::path::PathBuf;

pub use artifact::{Artifact, Payload};
pub use client::{RegistryClient, RegistryError};
pub use reference::{ArtifactRef, Reference};

use self::lock::Lock;
use self::oci::{Descriptor, ImageManifest};
use self::sign::{KeyPair, StoredSignature};
use self::store::Store;
use self::trust::TrustPolicy;

/// Packages a running spell may reach (workflow `spell` steps naming an
/// `oci://` reference): verified, from the local store, never pulled.
pub trait Packages: Send + Sync {
    fn stored(&self, reference: &Reference) -> Result<Verified, MarketError>;
}

impl Packages for Market {
    fn stored(&self, reference: &Reference) -> Result<Verified, MarketError> {
        Market::stored(self, reference)
    }
}

/// The configured marketplace, set up on first use: a host that never
/// runs a package never reads trust keys (a broken `[trust]` then breaks
/// only what needs it).
pub struct ConfiguredPackages {
    trust: trust::TrustSettings,
    registries: RegistrySettings,
    config: Option<PathBuf>,
    market: std::sync::OnceLock<Result<Market, String>>,
}

impl ConfiguredPackages {
    pub fn new(settings: &crate::settings::Settings, config: Option<&std::path::Path>) -> Self {
        Self {
            trust: settings.trust.clone(),
            registries: settings.registries.clone(),
            config: config.map(std::path::Path::to_owned),
            market: std::sync::OnceLock::new(),
        }
    }
}

impl Packages for ConfiguredPackages {
    fn stored(&self, reference: &Reference) -> Result<Verified, MarketError> {
        let market = self.market.get_or_init(|| {
            Market::from_parts(
                &self.trust,
                &self.registries,
                self.config.as_deref(),
                &[],
                false,
            )
            .map_err(|e| format!("{e:#}"))
        });
        match market {
            Ok(market) => market.stored(reference),
            Err(err) => Err(MarketError::Invalid(err.clone())),
        }
    }
}

/// The largest signature payload read (cosign's are a few hundred bytes).
const MAX_PAYLOAD: u64 = 64 << 10;

/// `[registries]` in spellhost.toml.
#[derive(Debug, Clone, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegistrySettings {
    /// Registries (`HOST[:PORT]`) reached over plain HTTP although they are
    /// not on this machine (also `--insecure-registry`).
    #[serde(default)]
    pub insecure: Vec<String>,
}

/// Who vouched for an artifact.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Signer {
    /// A trusted key: its name (file name) and fingerprint.
    Key { name: String, fingerprint: String },
    /// Not signed by a trusted key, and allowed anyway.
    Unverified { why: String },
}

impl std::fmt::Display for Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Signer::Key { name, fingerprint } => write!(f, "{name} ({fingerprint})"),
            Signer::Unverified { why } => write!(f, "UNVERIFIED: {why}"),
        }
    }
}

/// Why a pull or a run of a package was refused.
#[derive(Debug, thiserror::Error)]
pub enum MarketError {
    #[error(transparent)]
    Registry(#[from] RegistryError),
    #[error(
        "{reference} is not signed; ask its publisher to sign it (`spellhost sign {reference} --key KEY`), or run it unverified with --allow-unsigned if you trust where it came from"
    )]
    Unsigned { reference: String },
    #[error(
        "{reference} is signed ({signed}), but by no key trusted for it; add its publisher's public key to [trust] in spellhost.toml if you trust them, or pass --allow-unsigned"
    )]
    Untrusted { reference: String, signed: String },
    #[error(
        "no signing keys are trusted for {reference}, so it cannot be verified; add its publisher's public key to [trust] keys (or a [trust.scopes] entry) in spellhost.toml, or pass --allow-unsigned"
    )]
    NoKeys { reference: String },
    #[error(
        "{reference} now points to {actual}, but {lock} pins {pinned}; nothing was pulled. If the change is expected, move the pin with `spellhost update {reference}`"
    )]
    LockMismatch {
        reference: String,
        pinned: String,
        actual: String,
        lock: String,
    },
    #[error("{0}")]
    Invalid(String),
    #[error(transparent)]
    Other(#[from] anyhow::Error),
}

impl MarketError {
    /// Whether the artifact was refused (not verified, altered, not what
    /// the lock pins) rather than not reached.
    pub fn is_refusal(&self) -> bool {
        match self {
            MarketError::Registry(err) => matches!(
                err,
                RegistryError::Tampered { .. } | RegistryError::Size { .. }
            ),
            MarketError::Other(_) => false,
            _ => true,
        }
    }
}

/// A verified artifact, ready to run.
#[derive(Debug, Clone)]
pub struct Verified {
    /// The reference, pinned to the artifact's digest.
    pub reference: Reference,
    pub artifact: Artifact,
    pub signer: Signer,
    /// Whether it came over the network just now.
    pub pulled: bool,
}

/// What `spellhost info` shows.
#[derive(Debug, Clone)]
pub struct Info {
    pub reference: Reference,
    pub digest: String,
    pub manifest: ImageManifest,
    /// Manifest, config and layers.
    pub size: u64,
    /// Who signed it, or why it would be refused.
    pub signer: Result<Signer, String>,
    /// The keys that signed it (fingerprints), trusted or not.
    pub signatures: usize,
}

/// Configuration of a [`Market`].
pub struct MarketConfig {
    pub store: Store,
    pub trust: TrustPolicy,
    pub client: RegistryClient,
    /// Run unsigned or untrusted artifacts (printed on every use).
    pub allow_unsigned: bool,
    /// The lock file (none: nothing is pinned).
    pub lock: Option<PathBuf>,
}

/// Pulls, verifies, stores and publishes packages.
pub struct Market {
    client: RegistryClient,
    store: Store,
    trust: TrustPolicy,
    allow_unsigned: bool,
    lock: Option<PathBuf>,
}

/// Whether a pull may move a lock pin.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PinMode {
    /// A pin that disagrees with the registry is refused.
    Keep,
    /// Pins move to what the registry says (`spellhost update`).
    Update,
}

impl Market {
    pub fn new(config: MarketConfig) -> Self {
        Self {
            client: config.client,
            store: config.store,
            trust: config.trust,
            allow_unsigned: config.allow_unsigned,
            lock: config.lock,
        }
    }

    /// The marketplace a configuration file sets up (`[trust]`,
    /// `[registries]`; key paths relative to `config`), with the default
    /// store, `./spellhost.lock`, and credentials from the usual files.
    pub fn configured(
        settings: &crate::settings::Settings,
        config: Option<&std::path::Path>,
        insecure: &[String],
        allow_unsigned: bool,
    ) -> anyhow::Result<Self> {
        Self::from_parts(
            &settings.trust,
            &settings.registries,
            config,
            insecure,
            allow_unsigned,
        )
    }

    fn from_parts(
        trust: &trust::TrustSettings,
        registries: &RegistrySettings,
        config: Option<&std::path::Path>,
        insecure: &[String],
        allow_unsigned: bool,
    ) -> anyhow::Result<Self> {
        let base = config
            .and_then(std::path::Path::parent)
            .map(std::path::Path::to_owned)
            .unwrap_or_else(|| PathBuf::from("."));
        let trust = TrustPolicy::load(trust, &base)?;
        let mut hosts = registries.insecure.clone();
        hosts.extend(insecure.iter().cloned());
        Ok(Self::new(MarketConfig {
            store: Store::default_location(),
            trust,
            client: RegistryClient::new(auth::Credentials::load(), hosts),
            allow_unsigned,
            lock: Some(PathBuf::from(lock::FILE_NAME)),
        }))
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    pub fn client(&self) -> &RegistryClient {
        &self.client
    }

    fn lock(&self) -> Result<Option<Lock>, MarketError> {
        self.lock
            .as_ref()
            .map(Lock::load)
            .transpose()
            .map_err(MarketError::Other)
    }

    /// Pushes `artifact` to `reference` (its tag): blobs first, then the
    /// manifest. Returns the manifest digest.
    pub async fn publish(
        &self,
        artifact: &Artifact,
        reference: &Reference,
    ) -> Result<String, MarketError> {
        self.client.push_blob(reference, &artifact.config).await?;
        self.client.push_blob(reference, &artifact.layer).await?;
        let media_type = artifact
            .manifest
            .media_type
            .as_deref()
            .unwrap_or(oci::OCI_MANIFEST);
        let selector = reference.tag.as_deref().unwrap_or(&artifact.digest);
        self.client
            .push_manifest(reference, selector, &artifact.manifest_bytes, media_type)
            .await?;
        Ok(artifact.digest.clone())
    }

    /// Signs the artifact `reference` names with `key`, adding the signature
    /// to any already under cosign's `sha256-<hex>.sig` tag. Returns the
    /// digest signed.
    pub async fn sign(&self, reference: &Reference, key: &KeyPair) -> Result<String, MarketError> {
        let digest = self.client.manifest(reference).await?.digest;
        let payload = sign::payload(&reference.package(), &digest);
        let signature = key.sign(&payload);
        let tag = sign::signature_tag(&digest);
        let mut layers = match self.client.manifest_at(reference, &tag).await {
            // Other signatures stay: a manifest we cannot read is not
            // replaced.
            Ok(existing) => serde_json::from_slice::<ImageManifest>(&existing.bytes)
                .map(|m| m.layers)
                .map_err(|e| {
                    MarketError::Invalid(format!(
                        "the signatures of {reference} ({tag}) are not an image manifest ({e}); not overwriting them"
                    ))
                })?,
            Err(RegistryError::NotFound { .. }) => Vec::new(),
            Err(err) => return Err(err.into()),
        };
        let mut layer = Descriptor::of(sign::SIMPLE_SIGNING, &payload);
        layer
            .annotations
            .insert(sign::SIGNATURE_ANNOTATION.to_owned(), signature);
        // Re-signing with the same key replaces its earlier signature.
        let public = key.public();
        layers.retain(|l| {
            l.digest != layer.digest
                || !l
                    .annotations
                    .get(sign::SIGNATURE_ANNOTATION)
                    .is_some_and(|s| public.verifies(&payload, s))
        });
        layers.push(layer);
        self.client.push_blob(reference, &payload).await?;
        // cosign's config: an image config whose one diff id is the payload.
        let diff_ids: Vec<&str> = layers.iter().map(|l| l.digest.as_str()).collect();
        let config = serde_json::to_vec(&serde_json::json!({
            "architecture": "",
            "config": {},
            "created": "0001-01-01T00:00:00Z",
            "history": [{"created": "0001-01-01T00:00:00Z"}],
            "os": "",
            "rootfs": {"type": "layers", "diff_ids": diff_ids},
        }))
        .expect("serializes");
        self.client.push_blob(reference, &config).await?;
        let manifest = ImageManifest::new(
            Descriptor::of("application/vnd.oci.image.config.v1+json", &config),
            layers,
        );
        self.client
            .push_manifest(reference, &tag, &manifest.to_bytes(), oci::OCI_MANIFEST)
            .await?;
        Ok(digest)
    }

    /// The cosign signatures stored beside `digest` in `reference`'s
    /// repository (none when there are none).
    pub async fn remote_signatures(
        &self,
        reference: &Reference,
        digest: &str,
    ) -> Result<Vec<StoredSignature>, MarketError> {
        let tag = sign::signature_tag(digest);
        let manifest = match self.client.manifest_at(reference, &tag).await {
            Ok(manifest) => manifest,
            Err(RegistryError::NotFound { .. }) => return Ok(Vec::new()),
            Err(err) => return Err(err.into()),
        };
        let manifest: ImageManifest = serde_json::from_slice(&manifest.bytes).map_err(|e| {
            MarketError::Invalid(format!(
                "the signature manifest {tag} is not an image manifest: {e}"
            ))
        })?;
        let mut signatures = Vec::new();
        for layer in manifest
            .layers
            .iter()
            .filter(|l| l.media_type == sign::SIMPLE_SIGNING)
        {
            let Some(signature) = layer.annotations.get(sign::SIGNATURE_ANNOTATION) else {
                continue;
            };
            if layer.size > MAX_PAYLOAD {
                continue;
            }
            // One bad signature layer (anyone with push access can add one)
            // must not hide the good ones.
            match self.client.blob(reference, layer).await {
                Ok(payload) => signatures.push(StoredSignature::new(&payload, signature.clone())),
                Err(err @ RegistryError::Unreachable { .. }) => return Err(err.into()),
                Err(err) => tracing::warn!("skipping a signature of {reference}: {err}"),
            }
        }
        Ok(signatures)
    }

    /// Who vouches for `digest` under this market's trust policy, or why
    /// nobody does — unless unsigned packages are allowed here
    /// (`--allow-unsigned`, or the reference's scope).
    pub fn check_signatures(
        &self,
        reference: &Reference,
        digest: &str,
        signatures: &[StoredSignature],
    ) -> Result<Signer, MarketError> {
        match trusted_signer(&self.trust, reference, digest, signatures) {
            Err(refusal)
                if self.allow_unsigned || self.trust.for_reference(reference).allow_unsigned =>
            {
                Ok(Signer::Unverified {
                    why: refusal.to_string(),
                })
            }
            verdict => verdict,
        }
    }

    /// Pulls `reference` from its registry: manifest, signatures checked
    /// against the trust policy and the lock, then the blobs, checked, then
    /// stored and pinned. Nothing is stored unless all of it passed.
    pub async fn pull(
        &self,
        reference: &Reference,
        mode: PinMode,
    ) -> Result<Verified, MarketError> {
        let fetched = self.client.manifest(reference).await?;
        let digest = fetched.digest.clone();
        let mut lock = self.lock()?;
        if reference.tag.is_some()
            && mode == PinMode::Keep
            && let Some(lock) = &lock
            && let Some(pinned) = lock.pinned(reference)
            && pinned != digest
            && reference.digest.as_deref() != Some(&digest)
        {
            return Err(MarketError::LockMismatch {
                reference: reference.tagged(),
                pinned: pinned.to_owned(),
                actual: digest,
                lock: lock.path().display().to_string(),
            });
        }
        if fetched.media_type.starts_with(oci::OCI_INDEX) {
            return Err(MarketError::Invalid(format!(
                "{reference} is an image index (a multi-platform image), not a Wasm component artifact"
            )));
        }
        let manifest: ImageManifest = serde_json::from_slice(&fetched.bytes).map_err(|e| {
            MarketError::Invalid(format!("{reference}: not an image manifest ({e})"))
        })?;
        let layer = Artifact::payload_descriptor(&manifest)
            .map_err(|e| MarketError::Invalid(format!("{reference}: {e}")))?
            .clone();
        let signatures = self.remote_signatures(reference, &digest).await?;
        let signer = self.check_signatures(reference, &digest, &signatures)?;
        let config = match self.store.has(&manifest.config.digest) {
            true => self.store.read(&manifest.config.digest)?,
            false => self.client.blob(reference, &manifest.config).await?,
        };
        let layer = match self.store.has(&layer.digest) {
            true => self.store.read(&layer.digest)?,
            false => self.client.blob(reference, &layer).await?,
        };
        let artifact = Artifact {
            manifest,
            manifest_bytes: fetched.bytes,
            digest: digest.clone(),
            config,
            layer,
        };
        self.store.put(&artifact)?;
        self.store.set_signatures(&digest, &signatures)?;
        // A tag is pinned to what it resolved to; a reference that names a
        // digest itself moves no pin.
        if let Some(lock) = &mut lock
            && reference.tag.is_some()
            && reference.digest.is_none()
            && lock.pin(reference, &digest)
        {
            lock.save()?;
        }
        Ok(Verified {
            reference: reference.with_digest(&digest),
            artifact,
            signer,
            pulled: true,
        })
    }

    /// The artifact `reference` names, for a run: by its digest, else the
    /// lock's pin, from the store without the network when it is there
    /// (signatures checked again against today's trust policy); pulled
    /// otherwise.
    pub async fn resolve(&self, reference: &Reference) -> Result<Verified, MarketError> {
        let pinned = match &reference.digest {
            Some(digest) => Some(digest.clone()),
            None => self
                .lock()?
                .and_then(|l| l.pinned(reference).map(str::to_owned)),
        };
        let Some(digest) = pinned else {
            return self.pull(reference, PinMode::Keep).await;
        };
        if let Some(artifact) = self.store.artifact(&digest)? {
            let signatures = self.store.signatures(&digest);
            let signer = self.check_signatures(reference, &digest, &signatures)?;
            return Ok(Verified {
                reference: reference.with_digest(&digest),
                artifact,
                signer,
                pulled: false,
            });
        }
        // Pinned but not here (a fresh machine with a committed lock): the
        // pinned digest, whatever the tag says now.
        let pinned = reference.with_digest(&digest);
        let verified = self.pull(&pinned, PinMode::Keep).await?;
        Ok(Verified {
            reference: reference.with_digest(&digest),
            ..verified
        })
    }

    /// The artifact `reference` names, from the store only (by its digest
    /// or the lock's pin), its signatures checked: what a running spell's
    /// workflow step may use — a spell never makes the host pull.
    pub fn stored(&self, reference: &Reference) -> Result<Verified, MarketError> {
        let digest = match &reference.digest {
            Some(digest) => Some(digest.clone()),
            None => self
                .lock()?
                .and_then(|l| l.pinned(reference).map(str::to_owned)),
        };
        let not_here = || {
            MarketError::Invalid(format!(
                "oci://{reference} is not in the local store; pull it first: spellhost pull {reference}"
            ))
        };
        let digest = digest.ok_or_else(not_here)?;
        let artifact = self.store.artifact(&digest)?.ok_or_else(not_here)?;
        let signatures = self.store.signatures(&digest);
        let signer = self.check_signatures(reference, &digest, &signatures)?;
        Ok(Verified {
            reference: reference.with_digest(&digest),
            artifact,
            signer,
            pulled: false,
        })
    }

    /// The verified artifact as files a path-based loader reads:
    /// `<store>/checkouts/<hex>/<name>.{wasm,lua,js}` and its manifest
    /// beside it, written once per digest. `<name>` is the repository's
    /// last component — chosen by whoever wrote the reference, not by the
    /// package — and the manifest's own `name` is dropped, so a package
    /// cannot take another spell's name (and state).
    pub fn checkout(&self, verified: &Verified) -> Result<PathBuf, MarketError> {
        let artifact = &verified.artifact;
        let repository = &verified.reference.repository;
        let name = repository.rsplit('/').next().unwrap_or(repository);
        let payload = artifact
            .payload()
            .map_err(|e| MarketError::Invalid(format!("oci://{}: {e}", verified.reference)))?;
        let extension = payload.extension();
        let manifest = artifact.spell_manifest().map_err(MarketError::Invalid)?;
        if let Some(manifest) = &manifest
            && let Some(path) = manifest
                .requests
                .read
                .iter()
                .chain(&manifest.requests.write)
                .find(|p| p.is_relative())
        {
            return Err(MarketError::Invalid(format!(
                "oci://{} asks for the relative path {} — relative to nothing on a server; grant the directory in the spell's [serve.spells] grants instead of grant_requested",
                verified.reference,
                path.display()
            )));
        }
        let dir = self
            .store
            .root()
            .join("checkouts")
            .join(&artifact.digest["sha256:".len()..]);
        let file = dir.join(format!("{name}.{extension}"));
        let write = store::write_atomic;
        let manifest_path = crate::policy::manifest::path_for(&file);
        match artifact.manifest.annotation(oci::MANIFEST) {
            Some(text) => {
                // Without its `name`: the file's name is the spell's.
                let mut table: toml::Table = toml::from_str(text)
                    .map_err(|e| MarketError::Invalid(format!("the package's manifest: {e}")))?;
                if let Some(toml::Value::Table(spell)) = table.get_mut("spell") {
                    spell.remove("name");
                }
                write(
                    &manifest_path,
                    toml::to_string(&table)
                        .map_err(anyhow::Error::from)?
                        .as_bytes(),
                )?;
            }
            None => {
                let _ = std::fs::remove_file(&manifest_path);
            }
        }
        // Verified bytes, written each time (atomically): a checkout is a
        // copy, never the source of truth. A script's modules go beside
        // it, where a path-based loader looks for them.
        if let crate::market::artifact::Payload::Script {
            modules: Some(files),
            ..
        } = &payload
        {
            let main_file = format!("{name}.{extension}");
            if let Some(module) = files.get(&main_file)
                && module.as_slice() != payload.bytes()
            {
                return Err(MarketError::Invalid(format!(
                    "oci://{} carries a module {main_file}, the file its checkout runs as {name}: pull it under another repository name",
                    verified.reference
                )));
            }
            for (path, bytes) in files.iter() {
                let target = dir.join(path);
                if let Some(parent) = target.parent() {
                    std::fs::create_dir_all(parent).map_err(anyhow::Error::from)?;
                }
                write(&target, bytes)?;
            }
        }
        write(&file, payload.bytes())?;
        Ok(file)
    }

    /// What `reference` is, without pulling its layer.
    pub async fn info(&self, reference: &Reference) -> Result<Info, MarketError> {
        let fetched = self.client.manifest(reference).await?;
        let manifest: ImageManifest = serde_json::from_slice(&fetched.bytes).map_err(|e| {
            MarketError::Invalid(format!("{reference}: not an image manifest ({e})"))
        })?;
        let signatures = self.remote_signatures(reference, &fetched.digest).await?;
        let signer = self
            .check_signatures(reference, &fetched.digest, &signatures)
            .map_err(|e| e.to_string());
        let size = fetched.bytes.len() as u64
            + manifest.config.size
            + manifest.layers.iter().map(|l| l.size).sum::<u64>();
        Ok(Info {
            reference: reference.with_digest(&fetched.digest),
            digest: fetched.digest,
            manifest,
            size,
            signer,
            signatures: signatures.len(),
        })
    }

    /// Verifies `reference` against `policy` (`spellhost verify --key`).
    pub async fn verify(
        &self,
        reference: &Reference,
        policy: &TrustPolicy,
    ) -> Result<(String, Signer), MarketError> {
        let digest = self.client.manifest(reference).await?.digest;
        let signatures = self.remote_signatures(reference, &digest).await?;
        // Only a signature verifies: no scope's allow_unsigned applies.
        let signer = trusted_signer(policy, reference, &digest, &signatures)?;
        Ok((digest, signer))
    }

    /// Repositories of `registry` whose name or annotations (title,
    /// description) contain `term`, with their latest manifest's
    /// annotations. At most `limit` repositories are examined.
    pub async fn search(
        &self,
        registry: &Reference,
        term: &str,
        limit: usize,
    ) -> Result<Vec<(Reference, ImageManifest)>, MarketError> {
        let term = term.to_lowercase();
        let mut found = Vec::new();
        for repository in self.client.catalog(registry).await?.into_iter().take(limit) {
            let mut reference = registry.clone();
            reference.repository = repository.clone();
            reference.digest = None;
            let tags = self.client.tags(&reference).await?;
            let Some(tag) = pick_tag(&tags) else {
                continue;
            };
            reference.tag = Some(tag);
            let Ok(fetched) = self.client.manifest(&reference).await else {
                continue;
            };
            let Ok(manifest) = serde_json::from_slice::<ImageManifest>(&fetched.bytes) else {
                continue;
            };
            if Artifact::payload_descriptor(&manifest).is_err() {
                continue;
            }
            let haystack = [
                Some(repository.as_str()),
                manifest.annotation(oci::TITLE),
                manifest.annotation(oci::DESCRIPTION),
            ]
            .into_iter()
            .flatten()
            .map(str::to_lowercase)
            .collect::<Vec<_>>()
            .join("\n");
            if term.is_empty() || haystack.contains(&term) {
                found.push((reference, manifest));
            }
        }
        Ok(found)
    }
}

/// The key of `policy` that signed `digest` for `reference`, or the
/// refusal that says why none did.
fn trusted_signer(
    policy: &TrustPolicy,
    reference: &Reference,
    digest: &str,
    signatures: &[StoredSignature],
) -> Result<Signer, MarketError> {
    let trust = policy.for_reference(reference);
    if let Some((name, key)) = sign::signer(signatures, digest, &trust.keys) {
        return Ok(Signer::Key {
            name: name.clone(),
            fingerprint: key.fingerprint(),
        });
    }
    let shown = reference.with_digest(digest).to_string();
    Err(if signatures.is_empty() {
        MarketError::Unsigned { reference: shown }
    } else if trust.keys.is_empty() {
        MarketError::NoKeys { reference: shown }
    } else {
        MarketError::Untrusted {
            reference: shown,
            signed: format!(
                "{} signature{} by keys not trusted for {}",
                signatures.len(),
                if signatures.len() == 1 { "" } else { "s" },
                trust
                    .scope
                    .as_deref()
                    .unwrap_or("every registry ([trust] keys)")
            ),
        }
    })
}

/// The tag to show for a repository: `latest`, else the last in version
/// order, skipping cosign's signature tags.
fn pick_tag(tags: &[String]) -> Option<String> {
    let tags: Vec<&String> = tags
        .iter()
        .filter(|t| !t.ends_with(".sig") && !t.ends_with(".att"))
        .collect();
    if tags.iter().any(|t| *t == "latest") {
        return Some("latest".into());
    }
    tags.into_iter()
        .max_by(|a, b| version_key(a).cmp(&version_key(b)))
        .cloned()
}

fn version_key(tag: &str) -> Vec<u64> {
    tag.trim_start_matches('v')
        .split(['.', '-'])
        .map(|p| p.parse().unwrap_or(0))
        .collect()
}
