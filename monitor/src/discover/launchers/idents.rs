//! What a command line is reduced to: the identities of the program it runs,
//! the arguments given to it, and what a launcher fetches to run it.

/// The identity of the program a command line runs.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Ident {
    /// An npm package name without version (`@scope/name`).
    Npm(String),
    /// A Python distribution or module, normalised (lowercase, runs of `-_.` → `-`).
    Py(String),
    /// An executable's file name (`mcp-server-filesystem`).
    Bin(String),
    /// A script or program path as written (absolute or relative).
    Path(String),
    /// A container image without tag or digest (`ghcr.io/github/github-mcp-server`).
    Image(String),
}

/// What a launcher fetches before running it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ecosystem {
    Npm,
    PyPI,
    Container,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Fetch {
    pub ecosystem: Ecosystem,
    /// The spec as given: `pkg@1.2.3`, `pkg==1.0`, `git+https://…`, `image:tag`.
    pub spec: String,
    /// For uvx/pipx: the `--from` spec, when the package is not named by the command.
    pub from: Option<String>,
}

/// One program run by a command line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Launch {
    pub ids: Vec<Ident>,
    /// The arguments given to the program itself (after the package, script or image).
    pub rest: Vec<String>,
    /// What a launcher downloads to run it, if any.
    pub fetch: Option<Fetch>,
    /// The launcher or interpreter in front of it (`npx`, `uvx`, `node`, `docker`), if any.
    pub via: Option<String>,
}
