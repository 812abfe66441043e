//! Debian's cloud kernels, fetched once into target/vm/<kernel>/ through an apt
//! state of our own under target/vm/apt/: the system's sources, lists and cache
//! stay untouched, and bullseye's kernel is reachable from a bookworm machine.
use std::{
    cmp::Reverse,
    fs,
    path::{Path, PathBuf},
    process::Command,
    time::Instant,
};

use anyhow::{Context as _, bail};

use super::{Kernel, stdout_of};
use crate::{checked, step};

/// A kernel ready to boot.
pub struct Image {
    pub kernel: &'static str,
    pub vmlinuz: PathBuf,
    /// The Debian package version, e.g. `6.1.192-3`.
    pub version: String,
    /// Seconds spent fetching it in this run; None when it was cached.
    pub fetch_s: Option<f64>,
}

/// Beside the vmlinuz: "PACKAGE VERSION". Written last, so its presence means
/// the kernel is complete.
const PACKAGE_FILE: &str = "package";

pub fn images(base: &Path, kernels: &[&Kernel]) -> anyhow::Result<Vec<Image>> {
    // Updated on first need only: a fully cached matrix needs no network.
    let mut apt: Option<PrivateApt> = None;
    let mut images = Vec::new();
    for kernel in kernels {
        let dir = base.join(kernel.name);
        if let Some(image) = cached(kernel, &dir)? {
            step(&format!(
                "kernel {}: {} cached in {}",
                kernel.name,
                image.version,
                dir.display()
            ));
            images.push(image);
            continue;
        }
        let started = Instant::now();
        let apt = match &apt {
            Some(apt) => apt,
            None => apt.insert(PrivateApt::updated(&base.join("apt"))?),
        };
        let version = apt.fetch(kernel, &dir)?;
        images.push(Image {
            kernel: kernel.name,
            vmlinuz: dir.join("vmlinuz"),
            version,
            fetch_s: Some(started.elapsed().as_secs_f64()),
        });
    }
    Ok(images)
}

fn cached(kernel: &Kernel, dir: &Path) -> anyhow::Result<Option<Image>> {
    let Ok(package) = fs::read_to_string(dir.join(PACKAGE_FILE)) else {
        return Ok(None);
    };
    let version = package
        .split_whitespace()
        .nth(1)
        .with_context(|| format!("{}: no version", dir.join(PACKAGE_FILE).display()))?;
    Ok(Some(Image {
        kernel: kernel.name,
        vmlinuz: dir.join("vmlinuz"),
        version: version.to_string(),
        fetch_s: None,
    }))
}

struct PrivateApt {
    dir: PathBuf,
}

impl PrivateApt {
    /// Writes sources.list from the system's own mirrors and runs `apt-get update`.
    fn updated(dir: &Path) -> anyhow::Result<Self> {
        let apt = Self {
            dir: dir.to_path_buf(),
        };
        for sub in ["state/lists/partial", "cache/archives/partial"] {
            fs::create_dir_all(dir.join(sub))?;
        }
        let (mirror, security) = system_mirrors()?;
        fs::write(apt.sources(), sources_list(&mirror, &security))?;
        step(&format!(
            "apt-get update for bookworm and bullseye ({mirror}, {security}) into {}",
            dir.display()
        ));
        checked(apt.command("apt-get").args(["-qq", "update"]))?;
        Ok(apt)
    }

    fn sources(&self) -> PathBuf {
        self.dir.join("sources.list")
    }

    /// `program` (apt-get, apt-cache) on this state and nothing of the system's.
    fn command(&self, program: &str) -> Command {
        let mut cmd = Command::new(program);
        let options = [
            ("Dir::State", self.dir.join("state")),
            ("Dir::Cache", self.dir.join("cache")),
            ("Dir::Etc::SourceList", self.sources()),
            ("Dir::Etc::SourceParts", "/dev/null".into()),
            // As root apt downloads as `_apt`, which may not write under target/.
            ("APT::Sandbox::User", "root".into()),
        ];
        for (name, value) in options {
            cmd.arg("-o").arg(format!("{name}={}", value.display()));
        }
        cmd
    }

    /// Downloads the newest package of `kernel` that the archive still serves
    /// and leaves its vmlinuz in `dir`; returns the package version.
    fn fetch(&self, kernel: &Kernel, dir: &Path) -> anyhow::Result<String> {
        let names = self.candidates(kernel.package)?;
        if names.is_empty() {
            bail!(
                "no package matches {} in {}",
                kernel.package,
                self.sources().display()
            );
        }
        for name in &names {
            let version = self.candidate_version(name)?;
            step(&format!(
                "kernel {}: downloading {name} {version}",
                kernel.name
            ));
            match self.download(name, &version, &dir.join("download"))? {
                Some(deb) => {
                    extract_vmlinuz(&deb, dir)?;
                    fs::write(dir.join(PACKAGE_FILE), format!("{name} {version}\n"))?;
                    fs::remove_dir_all(dir.join("download"))?;
                    return Ok(version);
                }
                // Security updates can be listed before (or after) the pool
                // serves them: some bullseye-security files answer 404.
                None => eprintln!("    {name} {version} is not downloadable; trying an older one"),
            }
        }
        bail!("none of {} could be downloaded", names.join(" "))
    }

    /// Package names matching `pattern`, newest first.
    fn candidates(&self, pattern: &str) -> anyhow::Result<Vec<String>> {
        let found = stdout_of(
            self.command("apt-cache")
                .args(["search", "--names-only", pattern]),
        )?;
        let mut names: Vec<String> = found
            .lines()
            .filter_map(|line| line.split_once(' ').map(|(name, _)| name.to_string()))
            .collect();
        names.sort_by_key(|name| Reverse(numbers(name)));
        Ok(names)
    }

    fn candidate_version(&self, name: &str) -> anyhow::Result<String> {
        let policy = stdout_of(self.command("apt-cache").args(["policy", name]))?;
        policy
            .lines()
            .find_map(|line| line.trim().strip_prefix("Candidate: "))
            .filter(|v| *v != "(none)")
            .map(str::to_string)
            .with_context(|| format!("apt-cache policy {name}: no candidate version"))
    }

    /// The downloaded .deb, or None when the archive does not serve it.
    fn download(&self, name: &str, version: &str, into: &Path) -> anyhow::Result<Option<PathBuf>> {
        if into.exists() {
            fs::remove_dir_all(into)?;
        }
        fs::create_dir_all(into)?;
        // `apt-get download` writes into its working directory.
        let status = self
            .command("apt-get")
            .args(["-q", "download", &format!("{name}={version}")])
            .current_dir(into)
            .status()
            .context("starting apt-get download")?;
        if !status.success() {
            return Ok(None);
        }
        let deb = fs::read_dir(into)?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .find(|p| p.extension().is_some_and(|x| x == "deb"))
            .with_context(|| format!("apt-get download left no .deb in {}", into.display()))?;
        Ok(Some(deb))
    }
}

/// The numbers in a package name, to order `…-5.10.0-43-…` before `…-5.10.0-9-…`.
fn numbers(name: &str) -> Vec<u64> {
    name.split(|c: char| !c.is_ascii_digit())
        .filter_map(|n| n.parse().ok())
        .collect()
}

fn extract_vmlinuz(deb: &Path, dir: &Path) -> anyhow::Result<()> {
    let tree = dir.join("extract");
    checked(Command::new("dpkg-deb").arg("-x").arg(deb).arg(&tree))?;
    let boot = tree.join("boot");
    let vmlinuz = fs::read_dir(&boot)
        .with_context(|| format!("{} has no /boot", deb.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .find(|p| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with("vmlinuz-"))
        })
        .with_context(|| format!("{} has no /boot/vmlinuz-*", deb.display()))?;
    fs::rename(&vmlinuz, dir.join("vmlinuz"))?;
    // The modules are most of the package and the initramfs needs none.
    fs::remove_dir_all(&tree)?;
    Ok(())
}

fn sources_list(mirror: &str, security: &str) -> String {
    format!(
        "# Written by `cargo xtask vm-test` from the system's apt sources.\n\
         deb {mirror} bookworm main\n\
         deb {security} bookworm-security main\n\
         deb {mirror} bullseye main\n\
         deb {security} bullseye-security main\n"
    )
}

/// The URIs the system's apt sources use for bookworm and bookworm-security:
/// the same hosts serve bullseye and bullseye-security.
fn system_mirrors() -> anyhow::Result<(String, String)> {
    let sources = system_sources()?;
    let uri_of = |suite: &str| {
        sources
            .iter()
            .find(|s| s.suites.iter().any(|s| s == suite))
            .map(|s| s.uri.trim_end_matches('/').to_string())
            .with_context(|| {
                format!("no `deb` source for {suite} in /etc/apt/sources.list{{,.d/}}")
            })
    };
    Ok((uri_of("bookworm")?, uri_of("bookworm-security")?))
}

/// One `deb` entry of the apt sources: a URI and the suites it serves.
#[derive(Debug, PartialEq)]
struct Source {
    uri: String,
    suites: Vec<String>,
}

fn system_sources() -> anyhow::Result<Vec<Source>> {
    let mut files = vec![PathBuf::from("/etc/apt/sources.list")];
    if let Ok(entries) = fs::read_dir("/etc/apt/sources.list.d") {
        let mut parts: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
        parts.sort();
        files.extend(parts);
    }
    let mut sources = Vec::new();
    for file in files {
        // apt reads only these two extensions (not e.g. `.list.disabled`).
        let parse = match file.extension().and_then(|x| x.to_str()) {
            Some("list") => one_line_sources,
            Some("sources") => deb822_sources,
            _ => continue,
        };
        if let Ok(text) = fs::read_to_string(&file) {
            sources.extend(parse(&text));
        }
    }
    Ok(sources)
}

/// `deb [options] URI SUITE COMPONENT…` lines.
fn one_line_sources(text: &str) -> Vec<Source> {
    text.lines()
        .filter_map(|line| {
            let line = line.split('#').next().unwrap_or_default();
            let mut words = line.split_whitespace();
            if words.next()? != "deb" {
                return None;
            }
            let mut word = words.next()?;
            if word.starts_with('[') {
                while !word.ends_with(']') {
                    word = words.next()?;
                }
                word = words.next()?;
            }
            Some(Source {
                uri: word.to_string(),
                suites: vec![words.next()?.to_string()],
            })
        })
        .collect()
}

/// deb822 stanzas (`Types:`, `URIs:`, `Suites:` …, separated by blank lines).
fn deb822_sources(text: &str) -> Vec<Source> {
    let uncommented: Vec<&str> = text.lines().filter(|l| !l.starts_with('#')).collect();
    uncommented
        .split(|line| line.trim().is_empty())
        .flat_map(|stanza| {
            let field = |name: &str| -> Vec<String> {
                stanza
                    .iter()
                    .find_map(|l| {
                        l.split_once(':')
                            .filter(|(k, _)| k.eq_ignore_ascii_case(name))
                    })
                    .map(|(_, v)| v.split_whitespace().map(str::to_string).collect())
                    .unwrap_or_default()
            };
            let enabled = !field("Enabled").iter().any(|v| v == "no");
            let deb = field("Types").iter().any(|t| t == "deb");
            let suites = field("Suites");
            let uris = if enabled && deb {
                field("URIs")
            } else {
                Vec::new()
            };
            uris.into_iter().map(move |uri| Source {
                uri,
                suites: suites.clone(),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_both_source_formats() {
        let one_line = "# comment\ndeb-src http://a/debian bookworm main\n\
                        deb [arch=amd64 signed-by=/k.gpg] http://a/debian bookworm main\n";
        assert_eq!(
            one_line_sources(one_line),
            vec![Source {
                uri: "http://a/debian".into(),
                suites: vec!["bookworm".into()],
            }]
        );
        let deb822 = "Types: deb\n# http://snapshot/\nURIs: http://a/debian\n\
                      Suites: bookworm bookworm-updates\nComponents: main\n\n\
                      Types: deb\nURIs: http://a/debian-security\nSuites: bookworm-security\n\n\
                      Types: deb\nEnabled: no\nURIs: http://b/\nSuites: bookworm\n";
        let sources = deb822_sources(deb822);
        assert_eq!(sources.len(), 2);
        assert_eq!(sources[0].suites, ["bookworm", "bookworm-updates"]);
        assert_eq!(sources[1].uri, "http://a/debian-security");
    }

    #[test]
    fn orders_packages_by_their_numbers() {
        let mut names = [
            "linux-image-5.10.0-9-cloud-amd64-unsigned",
            "linux-image-5.10.0-43-cloud-amd64-unsigned",
            "linux-image-5.10.0-32-cloud-amd64-unsigned",
        ];
        names.sort_by_key(|n| Reverse(numbers(n)));
        assert_eq!(names[0], "linux-image-5.10.0-43-cloud-amd64-unsigned");
        assert_eq!(names[2], "linux-image-5.10.0-9-cloud-amd64-unsigned");
    }
}
