//! Where an artifact comes from: a file on disk or an OCI reference
//! (`oci://HOST[:PORT]/NAMESPACE/NAME[:TAG][@sha256:DIGEST]`).
//!
//! Every place that takes a spell or a plugin takes an [`ArtifactRef`], so a
//! path and a registry reference are interchangeable on the command line, in
//! workflow steps and in `serve`/`mcp` spell lists.

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

use super::oci::is_digest;

/// The scheme that marks a registry reference where a path is also accepted.
pub const SCHEME: &str = "oci://";

/// A spell or plugin: a file, or an artifact in an OCI registry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ArtifactRef {
    File(PathBuf),
    Oci(Reference),
}

impl ArtifactRef {
    /// A display name: the path, or the `oci://` reference.
    pub fn display(&self) -> String {
        match self {
            ArtifactRef::File(path) => path.display().to_string(),
            ArtifactRef::Oci(reference) => format!("{SCHEME}{reference}"),
        }
    }
}

impl FromStr for ArtifactRef {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        match text.strip_prefix(SCHEME) {
            Some(rest) => Reference::parse(rest).map(ArtifactRef::Oci),
            None => Ok(ArtifactRef::File(PathBuf::from(text))),
        }
    }
}

impl fmt::Display for ArtifactRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.display())
    }
}

/// An OCI reference: registry, repository, and a tag, a digest or both.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Reference {
    /// `HOST[:PORT]`.
    pub registry: String,
    /// `NAMESPACE/NAME` (one or more lower-case path components).
    pub repository: String,
    pub tag: Option<String>,
    /// `sha256:<hex>` of the image manifest.
    pub digest: Option<String>,
}

impl Reference {
    /// Parses `HOST[:PORT]/REPO[:TAG][@DIGEST]`, with or without `oci://`.
    /// Without a tag or digest, the tag is `latest`.
    pub fn parse(text: &str) -> Result<Self, String> {
        let text = text.strip_prefix(SCHEME).unwrap_or(text);
        let bad = |why: &str| {
            format!(
                "`{text}` is not an OCI reference ({why}); write HOST[:PORT]/NAMESPACE/NAME[:TAG][@sha256:DIGEST], e.g. oci://127.0.0.1:5000/acme/hello:1.0"
            )
        };
        let (rest, digest) = match text.split_once('@') {
            Some((rest, digest)) => {
                if !is_digest(digest) {
                    return Err(bad(
                        "the digest must be sha256: and 64 lower-case hex digits",
                    ));
                }
                (rest, Some(digest.to_owned()))
            }
            None => (text, None),
        };
        let (registry, path) = rest
            .split_once('/')
            .ok_or_else(|| bad("it names no registry host"))?;
        if registry.is_empty()
            || !registry
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b".-:[]".contains(&b))
        {
            return Err(bad(
                "the registry must be a host name or address, with an optional port",
            ));
        }
        // A tag follows the last `:` of the last path component.
        let (repository, tag) = match path.rsplit_once(':') {
            Some((repo, tag)) if !tag.contains('/') => (repo, Some(tag.to_owned())),
            _ => (path, None),
        };
        if repository.is_empty() || !repository.split('/').all(valid_component) {
            return Err(bad(
                "repository names are lower-case letters, digits and . _ - separated by /",
            ));
        }
        if let Some(tag) = &tag
            && (tag.is_empty()
                || tag.len() > 128
                || tag.starts_with(['.', '-'])
                || !tag
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b)))
        {
            return Err(bad("a tag is up to 128 letters, digits, . _ -"));
        }
        let tag = match (&tag, &digest) {
            (None, None) => Some("latest".to_owned()),
            _ => tag,
        };
        Ok(Self {
            registry: registry.to_ascii_lowercase(),
            repository: repository.to_owned(),
            tag,
            digest,
        })
    }

    /// This reference pinned to `digest` (the tag kept for display).
    pub fn with_digest(&self, digest: &str) -> Self {
        Self {
            digest: Some(digest.to_owned()),
            ..self.clone()
        }
    }

    /// The tag or digest to ask the registry for.
    pub fn selector(&self) -> &str {
        self.digest
            .as_deref()
            .or(self.tag.as_deref())
            .unwrap_or("latest")
    }

    /// `HOST/REPO`: the package's identity, whatever its tag.
    pub fn package(&self) -> String {
        format!("{}/{}", self.registry, self.repository)
    }

    /// `HOST/REPO:TAG` (or `@DIGEST` when there is no tag): what a lock
    /// file pins.
    pub fn tagged(&self) -> String {
        match (&self.tag, &self.digest) {
            (Some(tag), _) => format!("{}:{tag}", self.package()),
            (None, Some(digest)) => format!("{}@{digest}", self.package()),
            (None, None) => format!("{}:latest", self.package()),
        }
    }

    /// The host name without the port.
    pub fn host(&self) -> &str {
        if let Some(rest) = self.registry.strip_prefix('[') {
            return rest.split(']').next().unwrap_or(rest);
        }
        self.registry.split(':').next().unwrap_or(&self.registry)
    }

    /// Whether the registry is on this machine (plain HTTP is allowed).
    pub fn is_loopback(&self) -> bool {
        let host = self.host();
        host == "localhost"
            || host
                .parse::<std::net::IpAddr>()
                .is_ok_and(|ip| ip.is_loopback())
    }
}

fn valid_component(part: &str) -> bool {
    !part.is_empty()
        && part
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-".contains(&b))
        && part.starts_with(|c: char| c.is_ascii_alphanumeric())
        && part.ends_with(|c: char| c.is_ascii_alphanumeric())
}

impl fmt::Display for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.registry, self.repository)?;
        if let Some(tag) = &self.tag {
            write!(f, ":{tag}")?;
        }
        if let Some(digest) = &self.digest {
            write!(f, "@{digest}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const D: &str = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

    #[test]
    fn references_parse_with_tags_digests_and_ports() {
        let r = Reference::parse("oci://127.0.0.1:5000/acme/hello:1.0").unwrap();
        assert_eq!(r.registry, "127.0.0.1:5000");
        assert_eq!(r.repository, "acme/hello");
        assert_eq!(r.tag.as_deref(), Some("1.0"));
        assert!(r.is_loopback());
        assert_eq!(r.to_string(), "127.0.0.1:5000/acme/hello:1.0");

        let r = Reference::parse("ghcr.io/acme/tools/words").unwrap();
        assert_eq!(r.tag.as_deref(), Some("latest"));
        assert_eq!(r.repository, "acme/tools/words");
        assert!(!r.is_loopback());

        let r = Reference::parse(&format!("localhost:5000/x@{D}")).unwrap();
        assert_eq!(r.tag, None);
        assert_eq!(r.selector(), D);
        assert_eq!(r.tagged(), format!("localhost:5000/x@{D}"));
        assert!(r.is_loopback());

        let r = Reference::parse(&format!("[::1]:5000/x:v1@{D}")).unwrap();
        assert_eq!(r.host(), "::1");
        assert!(r.is_loopback());
        assert_eq!(r.selector(), D);
    }

    #[test]
    fn bad_references_say_what_is_wrong() {
        for bad in [
            "hello",
            "oci://127.0.0.1:5000/",
            "127.0.0.1:5000/Acme/hello",
            "127.0.0.1:5000/acme/hello:",
            "127.0.0.1:5000/acme/hello@sha256:abc",
            "127.0.0.1:5000/acme//hello",
            "127.0.0.1:5000/acme/hello:-x",
        ] {
            let err = Reference::parse(bad).unwrap_err();
            assert!(err.contains("not an OCI reference"), "{bad}: {err}");
        }
    }

    #[test]
    fn artifact_refs_are_files_unless_oci() {
        assert_eq!(
            "spell.wasm".parse::<ArtifactRef>().unwrap(),
            ArtifactRef::File("spell.wasm".into())
        );
        let r: ArtifactRef = "oci://127.0.0.1:5000/a/b:1".parse().unwrap();
        assert_eq!(r.display(), "oci://127.0.0.1:5000/a/b:1");
        assert!("oci://nothing".parse::<ArtifactRef>().is_err());
    }
}
