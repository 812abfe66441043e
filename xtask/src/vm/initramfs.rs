//! The guest's whole userland: busybox-static with its applets, the release
//! binary with the libraries it links, and `init.sh` as /init.
use std::{
    fs,
    os::unix::fs::{PermissionsExt as _, symlink},
    path::{Path, PathBuf},
    process::Command,
};

use super::{ALERTS_LIMIT_S, READY_LIMIT_S, REQUIRED_ALERTS, stdout_of};
use crate::{checked, step};

/// From the busybox-static package.
const BUSYBOX: &str = "/bin/busybox";
const INIT: &str = include_str!("init.sh");
/// Mount points and the directories `init.sh` writes to.
const DIRS: &[&str] = &[
    "bin",
    "dev",
    "proc",
    "sys",
    "tmp",
    "run",
    "root",
    "etc/vm-test",
];

/// Builds target/vm/initrd.cpio.gz afresh (the binary may have changed).
pub fn build(base: &Path, bin: &Path) -> anyhow::Result<PathBuf> {
    step(&format!(
        "building the initramfs: busybox, {} and its libraries, /init",
        bin.display()
    ));
    let tree = base.join("initramfs");
    if tree.exists() {
        fs::remove_dir_all(&tree)?;
    }
    for dir in DIRS {
        fs::create_dir_all(tree.join(dir))?;
    }
    add_busybox(&tree)?;
    fs::copy(bin, tree.join("bin/mcp-monitor"))?;
    for lib in shared_libraries(bin)? {
        add_at_same_path(&tree, &lib)?;
    }
    fs::write(tree.join("init"), INIT)?;
    fs::set_permissions(tree.join("init"), fs::Permissions::from_mode(0o755))?;
    fs::write(
        tree.join("etc/vm-test/alerts"),
        REQUIRED_ALERTS
            .iter()
            .map(|r| format!("{r}\n"))
            .collect::<String>(),
    )?;
    fs::write(
        tree.join("etc/vm-test/limits"),
        format!(
            "READY_LIMIT_CS={}\nALERTS_LIMIT_CS={}\n",
            READY_LIMIT_S * 100,
            ALERTS_LIMIT_S * 100
        ),
    )?;
    let image = base.join("initrd.cpio.gz");
    pack(&tree, &image)?;
    Ok(image)
}

fn add_busybox(tree: &Path) -> anyhow::Result<()> {
    fs::copy(BUSYBOX, tree.join("bin/busybox"))?;
    let applets = stdout_of(Command::new(BUSYBOX).arg("--list"))?;
    for applet in applets.lines().filter(|a| *a != "busybox") {
        symlink("busybox", tree.join("bin").join(applet))?;
    }
    Ok(())
}

/// What `ldd` resolves for `bin`, the dynamic loader included.
fn shared_libraries(bin: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let listed = stdout_of(Command::new("ldd").arg(bin))?;
    Ok(listed.lines().filter_map(library_path).collect())
}

/// `libc.so.6 => /lib/…/libc.so.6 (0x…)` or `/lib64/ld-linux-x86-64.so.2 (0x…)`;
/// None for the vDSO, which has no file.
fn library_path(line: &str) -> Option<PathBuf> {
    let path = match line.split_once("=>") {
        Some((_, resolved)) => resolved.split_whitespace().next()?,
        None => line.split_whitespace().next()?,
    };
    path.starts_with('/').then(|| PathBuf::from(path))
}

/// Copies `file` (its content, through symlinks) to the same path in `tree`:
/// the loader's path is compiled into the binary, the libraries' into the loader.
fn add_at_same_path(tree: &Path, file: &Path) -> anyhow::Result<()> {
    let target = tree.join(file.strip_prefix("/")?);
    if let Some(parent) = target.parent() {
        fs::create_dir_all(parent)?;
    }
    fs::copy(file, &target)?;
    Ok(())
}

/// A gzip'd newc cpio archive of `tree`, every file owned by root.
fn pack(tree: &Path, image: &Path) -> anyhow::Result<()> {
    checked(
        Command::new("bash")
            .args([
                "-o",
                "pipefail",
                "-c",
                r#"cd "$1" && find . | cpio --quiet -o -H newc -R 0:0 | gzip -6 >"$2""#,
                "pack",
            ])
            .arg(tree)
            .arg(image),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_ldd_lines() {
        let ldd = "\tlinux-vdso.so.1 (0x00007f4de069f000)\n\
                   \tlibc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x00007f4ddf93e000)\n\
                   \t/lib64/ld-linux-x86-64.so.2 (0x00007f4de06a1000)\n";
        let libs: Vec<PathBuf> = ldd.lines().filter_map(library_path).collect();
        assert_eq!(
            libs,
            [
                PathBuf::from("/lib/x86_64-linux-gnu/libc.so.6"),
                PathBuf::from("/lib64/ld-linux-x86-64.so.2"),
            ]
        );
    }
}
