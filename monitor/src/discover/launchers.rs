//! What a command line runs, seen through the launchers and wrappers between a
//! host and a server. Both sides of a config match go through here: the
//! configured `command` + `args`, and the argv of each process that execs.
//!
//! `npx -y @modelcontextprotocol/server-filesystem /tmp` becomes, over its life,
//! `npm exec @modelcontextprotocol/server-filesystem /tmp` (npm's process
//! title), `sh -c "'mcp-server-filesystem' /tmp"` and
//! `node ~/.npm/_npx/<hash>/node_modules/.bin/mcp-server-filesystem /tmp`.
//! Each is reduced to a [`Launch`]: the identities of what runs (package,
//! executable name, script path, image) and the arguments it is given.

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

/// How deep wrappers (`sh -c`, `env`, `cmd /c`…) are unwrapped.
const MAX_DEPTH: usize = 4;

/// Programs whose name alone never identifies a server.
const GENERIC: &[&str] = &[
    "node",
    "nodejs",
    "npm",
    "npx",
    "pnpm",
    "pnpx",
    "yarn",
    "bun",
    "bunx",
    "deno",
    "tsx",
    "ts-node",
    "uv",
    "uvx",
    "pipx",
    "pip",
    "python",
    "python3",
    "pypy3",
    "docker",
    "podman",
    "nerdctl",
    "java",
    "sh",
    "bash",
    "dash",
    "zsh",
    "ash",
    "ksh",
    "fish",
    "cmd",
    "env",
    "exec",
    "cd",
    "export",
    "source",
    ".",
    "set",
    "true",
    "false",
    "echo",
    "test",
    "[",
    "sudo",
    "su",
    "timeout",
    "nohup",
    "setsid",
    "nice",
    "stdbuf",
    "index",
    "index.js",
    "index.mjs",
    "index.cjs",
    "index.ts",
    "main",
    "main.py",
    "main.js",
    "server",
    "server.py",
    "server.js",
    "server.ts",
    "app.py",
    "app.js",
    "run.py",
    "cli.js",
    "cli.py",
    "__main__.py",
    "mcp",
    "fastmcp",
    "go",
    "cargo",
    "ruby",
    "perl",
    "php",
    "dotnet",
    "mcp-monitor",
];

/// Every program a command line runs, in order (a shell string may run several).
pub fn launches(argv: &[String]) -> Vec<Launch> {
    let mut out = Vec::new();
    collect(&normalize(argv), 0, &mut out);
    out
}

/// Undoes process titles (`npm exec pkg /tmp` as one argv element followed by
/// empty padding) and drops trailing empty arguments.
pub fn normalize(argv: &[String]) -> Vec<String> {
    let mut v: Vec<String> = match argv.split_first() {
        Some((first, rest))
            if first.contains(char::is_whitespace)
                && rest.iter().all(String::is_empty)
                && first
                    .split_whitespace()
                    .next()
                    .is_some_and(|p| is_known_program(program_name(p))) =>
        {
            first.split_whitespace().map(str::to_owned).collect()
        }
        _ => argv.to_vec(),
    };
    while v.last().is_some_and(String::is_empty) {
        v.pop();
    }
    v
}

fn is_known_program(p: &str) -> bool {
    GENERIC.contains(&p) || is_python(p)
}

/// The file name of a program, without Windows suffixes.
pub fn program_name(path: &str) -> &str {
    let base = basename(path);
    for suffix in [".exe", ".cmd", ".bat", ".EXE", ".CMD"] {
        if let Some(b) = base.strip_suffix(suffix) {
            return b;
        }
    }
    base
}

pub fn basename(path: &str) -> &str {
    let trimmed = path.trim_end_matches('/');
    trimmed.rsplit(['/', '\\']).next().unwrap_or(trimmed)
}

fn is_python(p: &str) -> bool {
    let rest = p
        .strip_prefix("python")
        .or_else(|| p.strip_prefix("pypy"))
        .unwrap_or("x");
    rest.chars().all(|c| c.is_ascii_digit() || c == '.')
}

fn is_shell(p: &str) -> bool {
    matches!(p, "sh" | "bash" | "dash" | "zsh" | "ash" | "ksh")
}

fn collect(argv: &[String], depth: usize, out: &mut Vec<Launch>) {
    let Some(first) = argv.first() else {
        return;
    };
    if depth > MAX_DEPTH {
        return;
    }
    let prog = program_name(first);
    let args = &argv[1..];
    match prog {
        "env" => {
            let mut i = 0;
            while let Some(a) = args.get(i) {
                if a == "-u" || a == "--unset" || a == "-C" || a == "--chdir" {
                    i += 2;
                } else if a == "-S" || a == "--split-string" {
                    // `env -S "prog args"`: the string is a command line.
                    if let Some(s) = args.get(i + 1) {
                        let mut v = split_words(s);
                        v.extend_from_slice(&args[i + 2..]);
                        collect(&v, depth + 1, out);
                    }
                    return;
                } else if a.starts_with('-') || is_assignment(a) {
                    i += 1;
                } else {
                    break;
                }
            }
            collect(&args[i.min(args.len())..], depth + 1, out);
        }
        "nohup" | "setsid" | "exec" => {
            let i = args.iter().take_while(|a| a.starts_with('-')).count();
            collect(&args[i..], depth + 1, out);
        }
        "nice" | "stdbuf" | "timeout" => {
            let mut i = 0;
            while let Some(a) = args.get(i) {
                if a == "-n" || a == "-s" || a == "-k" || a == "--signal" {
                    i += 2;
                } else if a.starts_with('-') {
                    i += 1;
                } else {
                    break;
                }
            }
            // timeout's duration comes before the command.
            if prog == "timeout" && i < args.len() {
                i += 1;
            }
            collect(&args[i.min(args.len())..], depth + 1, out);
        }
        p if is_shell(p) => {
            // `sh -c STRING`, `bash -lc STRING`; otherwise a script.
            let c = args
                .iter()
                .position(|a| a.starts_with('-') && !a.starts_with("--") && a[1..].contains('c'));
            match c {
                Some(c) => {
                    if let Some(s) = args[c + 1..].iter().find(|a| !a.starts_with('-')) {
                        for command in shell_commands(s) {
                            collect(&command, depth + 1, out);
                        }
                    }
                }
                None => {
                    if let Some(i) = args.iter().position(|a| !a.starts_with('-')) {
                        out.push(script(&args[i], &args[i + 1..], Some(p)));
                    }
                }
            }
        }
        "cmd" => {
            if let Some(c) = args
                .iter()
                .position(|a| a.eq_ignore_ascii_case("/c") || a.eq_ignore_ascii_case("/k"))
            {
                let rest = &args[c + 1..];
                if rest.len() == 1 {
                    for command in shell_commands(&rest[0]) {
                        collect(&command, depth + 1, out);
                    }
                } else {
                    collect(rest, depth + 1, out);
                }
            }
        }
        "mcp-monitor" if args.first().is_some_and(|a| a == "launch") => {
            if let Some(i) = args.iter().position(|a| a == "--") {
                collect(&args[i + 1..], depth + 1, out);
            }
        }
        _ => {
            if let Some(l) = classify(argv) {
                out.push(l);
            }
        }
    }
}

fn is_assignment(s: &str) -> bool {
    match s.split_once('=') {
        Some((name, _)) => {
            !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        }
        None => false,
    }
}

/// The command that runs, for one argv without wrappers.
fn classify(argv: &[String]) -> Option<Launch> {
    let prog = program_name(&argv[0]);
    let args = &argv[1..];
    match prog {
        "npx" | "pnpx" | "bunx" => npx(args, prog),
        "npm" => match first_positional(args, &["--prefix", "-C", "--cache", "--userconfig"]) {
            Some((i, sub)) if sub == "exec" || sub == "x" => npx(&args[i + 1..], "npm exec"),
            _ => None,
        },
        "pnpm" | "yarn" => match first_positional(args, &["--dir", "-C", "--cwd"]) {
            Some((i, "dlx")) => npx(&args[i + 1..], &format!("{prog} dlx")),
            _ => None,
        },
        "bun" => match first_positional(args, &["--cwd", "-r", "--preload"]) {
            Some((i, "x")) => npx(&args[i + 1..], "bunx"),
            Some((i, "run")) => node_like(&args[i + 1..], "bun"),
            _ => node_like(args, "bun"),
        },
        "uvx" => uvx(args, "uvx"),
        "pipx" => match first_positional(args, &[]) {
            Some((i, "run")) => uvx(&args[i + 1..], "pipx run"),
            _ => None,
        },
        "uv" => uv(args),
        "node" | "nodejs" | "tsx" | "ts-node" => node_like(args, prog),
        "deno" => match first_positional(args, &[]) {
            Some((i, "run")) => node_like(&args[i + 1..], "deno"),
            _ => node_like(args, "deno"),
        },
        "docker" | "podman" | "nerdctl" => container(args, prog),
        "java" => {
            let i = args.iter().position(|a| a == "-jar")?;
            let jar = args.get(i + 1)?;
            Some(script(jar, &args[i + 2..], Some("java")))
        }
        "fastmcp" | "mcp" => match first_positional(args, &[]) {
            Some((i, "run" | "dev")) => {
                let target = args.get(i + 1)?;
                // `server.py:app` names an object in the file.
                let file = target.split(':').next().unwrap_or(target);
                Some(script(file, &args[i + 2..], Some(prog)))
            }
            _ => None,
        },
        p if is_python(p) => python(args, p),
        _ => program(argv),
    }
}

/// The first argument that is not an option, skipping the values of `valued` options.
fn first_positional<'a>(args: &'a [String], valued: &[&str]) -> Option<(usize, &'a str)> {
    let mut i = 0;
    while let Some(a) = args.get(i) {
        if a == "--" {
            return args.get(i + 1).map(|s| (i + 1, s.as_str()));
        }
        if a.starts_with('-') {
            i += if valued.contains(&a.as_str()) { 2 } else { 1 };
            continue;
        }
        return Some((i, a));
    }
    None
}

/// A program run directly: its path and name.
fn program(argv: &[String]) -> Option<Launch> {
    let first = &argv[0];
    let mut ids = Vec::new();
    if first.contains('/') {
        ids.push(Ident::Path(first.clone()));
    }
    let name = program_name(first);
    if !GENERIC.contains(&name) && !name.is_empty() {
        ids.push(Ident::Bin(name.to_owned()));
    }
    if ids.is_empty() {
        return None;
    }
    Some(Launch {
        ids,
        rest: argv[1..].to_vec(),
        fetch: None,
        via: None,
    })
}

/// A script run by an interpreter: its path, and what the path says about it
/// (an npm package under `node_modules/`, an executable in a `bin` directory).
pub fn script(path: &str, rest: &[String], via: Option<&str>) -> Launch {
    let mut ids = vec![Ident::Path(path.to_owned())];
    ids.extend(path_idents(path));
    Launch {
        ids,
        rest: rest.to_vec(),
        fetch: None,
        via: via.map(str::to_owned),
    }
}

/// Identities implied by a path other than the path itself.
pub fn path_idents(path: &str) -> Vec<Ident> {
    let mut ids = Vec::new();
    if let Some(pkg) = npm_package_in_path(path) {
        ids.push(Ident::Npm(pkg));
    }
    let name = basename(path);
    let parent = basename(path.strip_suffix(name).unwrap_or(""));
    let has_ext = [".js", ".mjs", ".cjs", ".ts", ".mts", ".py", ".jar", ".sh"]
        .iter()
        .any(|e| name.ends_with(e));
    if (parent == ".bin" || parent == "bin" || !has_ext) && !GENERIC.contains(&name) {
        ids.push(Ident::Bin(name.to_owned()));
    }
    ids
}

/// `…/node_modules/@scope/name/dist/index.js` → `@scope/name` (the last
/// `node_modules` wins; `.bin` names no package).
pub fn npm_package_in_path(path: &str) -> Option<String> {
    let i = path.rfind("node_modules/")?;
    let mut parts = path[i + "node_modules/".len()..].split('/');
    let first = parts.next()?;
    if first.is_empty() || first == ".bin" {
        return None;
    }
    if first.starts_with('@') {
        let second = parts.next().filter(|s| !s.is_empty())?;
        Some(format!("{first}/{second}"))
    } else {
        Some(first.to_owned())
    }
}

/// `npx`, `npm exec`, `pnpm dlx`, `yarn dlx`, `bunx`: `[opts] [-p pkg]… spec args`.
fn npx(args: &[String], via: &str) -> Option<Launch> {
    let mut packages: Vec<String> = Vec::new();
    let mut i = 0;
    let mut command: Option<usize> = None;
    while let Some(a) = args.get(i) {
        if a == "--" {
            command = (i + 1 < args.len()).then_some(i + 1);
            break;
        }
        if a == "-p" || a == "--package" {
            if let Some(p) = args.get(i + 1) {
                packages.push(p.clone());
            }
            i += 2;
            continue;
        }
        if let Some(p) = a.strip_prefix("--package=") {
            packages.push(p.to_owned());
            i += 1;
            continue;
        }
        if a == "-c" || a == "--call" {
            // `npm exec -c 'cmd args'`: a command line run with the packages installed.
            let s = args.get(i + 1)?;
            let words = split_words(s);
            let mut l = classify(&words)?;
            for p in &packages {
                l.ids.push(Ident::Npm(npm_name(p).to_owned()));
            }
            l.fetch = packages.first().map(|p| Fetch {
                ecosystem: Ecosystem::Npm,
                spec: p.clone(),
                from: None,
            });
            l.via = Some(via.to_owned());
            return Some(l);
        }
        if a.starts_with('-') {
            // Options of npx that take a value.
            i += if matches!(
                a.as_str(),
                "--cache" | "--userconfig" | "--registry" | "--prefix"
            ) {
                2
            } else {
                1
            };
            continue;
        }
        command = Some(i);
        break;
    }
    let c = command?;
    let spec = &args[c];
    let mut ids = Vec::new();
    let fetch_spec = if packages.is_empty() {
        ids.push(Ident::Npm(npm_name(spec).to_owned()));
        spec.clone()
    } else {
        ids.extend(packages.iter().map(|p| Ident::Npm(npm_name(p).to_owned())));
        let bin = basename(spec);
        if !GENERIC.contains(&bin) {
            ids.push(Ident::Bin(bin.to_owned()));
        }
        packages[0].clone()
    };
    Some(Launch {
        ids,
        rest: args[c + 1..].to_vec(),
        fetch: Some(Fetch {
            ecosystem: Ecosystem::Npm,
            spec: fetch_spec,
            from: None,
        }),
        via: Some(via.to_owned()),
    })
}

/// The index of the command after the options that start `args` (`--` ends
/// them; those in `valued` take the next argument as their value), handing
/// each argument looked at to `seen` first.
fn skip_options(args: &[String], valued: &[&str], mut seen: impl FnMut(usize)) -> usize {
    let mut i = 0;
    while let Some(a) = args.get(i) {
        if a == "--" {
            return i + 1;
        }
        seen(i);
        if !a.starts_with('-') {
            return i;
        }
        i += if valued.contains(&a.as_str()) { 2 } else { 1 };
    }
    i
}

/// When `args[i]` is one of the options `names`, its value: the next argument
/// (`--from spec`, `None` when there is none) or what follows `=` (`--from=spec`).
fn option_value<'a>(args: &'a [String], i: usize, names: &[&str]) -> Option<Option<&'a str>> {
    let a = args.get(i)?;
    if names.contains(&a.as_str()) {
        return Some(args.get(i + 1).map(String::as_str));
    }
    names
        .iter()
        .find_map(|n| a.strip_prefix(n)?.strip_prefix('='))
        .map(Some)
}

/// `name@1.2.3` → `name`, `@scope/name@latest` → `@scope/name`; other specs
/// (git URLs, paths, tarballs) are kept whole.
pub fn npm_name(spec: &str) -> &str {
    let from = usize::from(spec.starts_with('@'));
    match spec[from..].find('@') {
        Some(i) if !spec.contains("://") && !spec.contains(':') => &spec[..from + i],
        _ => spec,
    }
}

/// `uvx`, `uv tool run`, `pipx run`: `[opts] [--from spec] command[==ver|@ver] args`.
fn uvx(args: &[String], via: &str) -> Option<Launch> {
    const VALUED: &[&str] = &[
        "--from",
        "--with",
        "-w",
        "--with-editable",
        "--with-requirements",
        "--python",
        "-p",
        "--index",
        "--index-url",
        "-i",
        "--extra-index-url",
        "--default-index",
        "--find-links",
        "-f",
        "--directory",
        "--project",
        "--env-file",
        "--cache-dir",
        "--config-file",
        "--spec",
        "--pip-args",
        "--constraints",
        "-c",
        "--overrides",
        "--build-constraints",
        "-b",
    ];
    let mut from: Option<String> = None;
    let i = skip_options(args, VALUED, |i| {
        if let Some(v) = option_value(args, i, &["--from", "--spec"]) {
            from = v.map(str::to_owned);
        }
    });
    let command = args.get(i)?;
    let name = py_name(command);
    let mut ids = vec![Ident::Py(normalize_py(name))];
    if !GENERIC.contains(&name) {
        ids.push(Ident::Bin(name.to_owned()));
    }
    if let Some(n) = from.as_deref().and_then(py_dist_name).map(normalize_py)
        && !ids.contains(&Ident::Py(n.clone()))
    {
        ids.push(Ident::Py(n));
    }
    Some(Launch {
        ids,
        rest: args[i + 1..].to_vec(),
        fetch: Some(Fetch {
            ecosystem: Ecosystem::PyPI,
            spec: command.clone(),
            from,
        }),
        via: Some(via.to_owned()),
    })
}

/// `pkg==1.2`, `pkg@1.2`, `pkg[extra]>=1` → `pkg`.
pub fn py_name(spec: &str) -> &str {
    let end = spec
        .find(['=', '@', '<', '>', '~', '!', '[', ';', ' '])
        .unwrap_or(spec.len());
    &spec[..end]
}

/// The distribution named by a `--from` spec, when it names one
/// (`name==1.0`, `name @ git+…`); URLs and paths name none.
fn py_dist_name(spec: &str) -> Option<&str> {
    if spec.contains("://") || spec.starts_with('.') || spec.starts_with('/') {
        return spec.split_once(" @ ").map(|(n, _)| n.trim());
    }
    Some(py_name(spec)).filter(|n| !n.is_empty())
}

/// PEP 503 normalisation: lowercase, runs of `-`, `_`, `.` become one `-`.
pub fn normalize_py(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut sep = false;
    for c in name.chars() {
        if matches!(c, '-' | '_' | '.') {
            sep = true;
        } else {
            if sep && !out.is_empty() {
                out.push('-');
            }
            sep = false;
            out.push(c.to_ascii_lowercase());
        }
    }
    out
}

/// `uv [global opts] run|tool run …`.
fn uv(args: &[String]) -> Option<Launch> {
    const GLOBAL_VALUED: &[&str] = &[
        "--directory",
        "--project",
        "--cache-dir",
        "--config-file",
        "--python",
        "-p",
        "--color",
    ];
    let mut directory: Option<&str> = None;
    let mut i = 0;
    while let Some(a) = args.get(i) {
        if let Some(d) = option_value(args, i, &["--directory", "--project"]) {
            directory = d;
        }
        if !a.starts_with('-') {
            break;
        }
        i += if GLOBAL_VALUED.contains(&a.as_str()) {
            2
        } else {
            1
        };
    }
    match args.get(i).map(String::as_str) {
        Some("tool") if args.get(i + 1).is_some_and(|a| a == "run") => {
            uvx(&args[i + 2..], "uv tool run")
        }
        Some("run") => uv_run(&args[i + 1..], directory),
        _ => None,
    }
}

/// `uv run [opts] COMMAND args`: COMMAND is a script, `python …`, or an
/// executable of the project's environment.
fn uv_run<'a>(args: &'a [String], mut directory: Option<&'a str>) -> Option<Launch> {
    const VALUED: &[&str] = &[
        "--directory",
        "--project",
        "--with",
        "-w",
        "--with-editable",
        "--with-requirements",
        "--python",
        "-p",
        "--package",
        "--extra",
        "--group",
        "--only-group",
        "--no-group",
        "--env-file",
        "--index",
        "--index-url",
        "--extra-index-url",
        "--default-index",
        "--find-links",
        "-f",
        "--cache-dir",
        "--config-file",
    ];
    let mut module = false;
    let i = skip_options(args, VALUED, |i| {
        if let Some(d) = option_value(args, i, &["--directory", "--project"]) {
            directory = d;
        }
        if args[i] == "-m" || args[i] == "--module" {
            module = true;
        }
    });
    let command = args.get(i)?;
    let rest = &args[i + 1..];
    let via = Some("uv run".to_owned());
    if module {
        return Some(Launch {
            ids: vec![Ident::Py(normalize_py(command))],
            rest: rest.to_vec(),
            fetch: None,
            via,
        });
    }
    let name = program_name(command);
    if is_python(name) {
        let mut l = python(rest, name)?;
        if let Some(dir) = directory {
            absolutise(&mut l, dir);
        }
        l.via = via;
        return Some(l);
    }
    if name.ends_with(".py") || command.contains('/') {
        let mut l = script(command, rest, Some("uv run"));
        if let Some(dir) = directory {
            absolutise(&mut l, dir);
        }
        return Some(l);
    }
    // An executable of the environment, or a command such as `mcp run server.py`.
    let mut words = vec![command.clone()];
    words.extend_from_slice(rest);
    let mut l = classify(&words)?;
    if let Some(dir) = directory {
        absolutise(&mut l, dir);
    }
    if l.via.is_none() {
        l.via = via;
    }
    if let Some(Ident::Bin(b)) = l.ids.iter().find(|i| matches!(i, Ident::Bin(_))).cloned() {
        l.ids.push(Ident::Py(normalize_py(&b)));
    }
    Some(l)
}

/// Makes relative script paths absolute against `dir` (`uv run --directory`).
fn absolutise(l: &mut Launch, dir: &str) {
    for id in &mut l.ids {
        if let Ident::Path(p) = id
            && !p.starts_with('/')
        {
            *p = format!(
                "{}/{}",
                dir.trim_end_matches('/'),
                p.trim_start_matches("./")
            );
        }
    }
}

/// `node [opts] script args` (also bun, deno, tsx, ts-node).
fn node_like(args: &[String], via: &str) -> Option<Launch> {
    const VALUED: &[&str] = &[
        "-r",
        "--require",
        "--import",
        "--loader",
        "--experimental-loader",
        "-C",
        "--conditions",
        "--title",
        "--env-file",
        "--inspect-port",
        "--config",
        "-c",
        "--cwd",
    ];
    let mut eval = false;
    let i = skip_options(args, VALUED, |i| {
        eval |= matches!(args[i].as_str(), "-e" | "--eval" | "-p" | "--print");
    });
    if eval {
        return None;
    }
    let target = args.get(i)?;
    let rest = &args[i + 1..];
    // deno: `npm:pkg@1`, `jsr:@scope/pkg`.
    if let Some(spec) = target.strip_prefix("npm:") {
        return Some(Launch {
            ids: vec![Ident::Npm(npm_name(spec).to_owned())],
            rest: rest.to_vec(),
            fetch: Some(Fetch {
                ecosystem: Ecosystem::Npm,
                spec: spec.to_owned(),
                from: None,
            }),
            via: Some(via.to_owned()),
        });
    }
    Some(script(target, rest, Some(via)))
}

/// `python [opts] (-m module | script) args`.
fn python(args: &[String], via: &str) -> Option<Launch> {
    let mut i = 0;
    while let Some(a) = args.get(i) {
        match a.as_str() {
            "-c" => return None,
            "-m" => {
                let module = args.get(i + 1)?;
                return Some(Launch {
                    ids: vec![Ident::Py(normalize_py(module))],
                    rest: args[i + 2..].to_vec(),
                    fetch: None,
                    via: Some(via.to_owned()),
                });
            }
            "-X" | "-W" | "--check-hash-based-pycs" => i += 2,
            "--" => {
                i += 1;
                break;
            }
            s if s.starts_with("-m") && s.len() > 2 => {
                return Some(Launch {
                    ids: vec![Ident::Py(normalize_py(&s[2..]))],
                    rest: args[i + 1..].to_vec(),
                    fetch: None,
                    via: Some(via.to_owned()),
                });
            }
            s if s.starts_with('-') => i += 1,
            _ => break,
        }
    }
    let target = args.get(i)?;
    Some(script(target, &args[i + 1..], Some(via)))
}

/// `docker [global opts] run [opts] image args` (also podman, nerdctl,
/// `docker container run`).
fn container(args: &[String], via: &str) -> Option<Launch> {
    const RUN_VALUED: &[&str] = &[
        "-e",
        "--env",
        "--env-file",
        "-v",
        "--volume",
        "--mount",
        "--name",
        "--network",
        "--net",
        "-p",
        "--publish",
        "-w",
        "--workdir",
        "-u",
        "--user",
        "--entrypoint",
        "-l",
        "--label",
        "--label-file",
        "--platform",
        "--pull",
        "-m",
        "--memory",
        "--cpus",
        "--cpu-shares",
        "-c",
        "--add-host",
        "--cap-add",
        "--cap-drop",
        "--security-opt",
        "--device",
        "-h",
        "--hostname",
        "--tmpfs",
        "--ulimit",
        "--log-driver",
        "--log-opt",
        "--runtime",
        "--restart",
        "--gpus",
        "--ipc",
        "--pid",
        "--shm-size",
        "--dns",
        "--expose",
        "--group-add",
        "--volumes-from",
        "--cidfile",
        "--stop-signal",
        "--stop-timeout",
        "--health-cmd",
        "--userns",
        "--uts",
        "--cgroupns",
        "--init-path",
        "--attach",
        "-a",
        "--link",
        "--mac-address",
        "--ip",
        "--ip6",
        "--pids-limit",
        "--memory-swap",
        "--cpuset-cpus",
        "--sysctl",
        "--storage-opt",
        "--annotation",
        "--detach-keys",
    ];
    const GLOBAL_VALUED: &[&str] = &[
        "-H",
        "--host",
        "--context",
        "-c",
        "--config",
        "--log-level",
        "-l",
        "--tlscacert",
        "--tlscert",
        "--tlskey",
    ];
    let mut i = 0;
    while let Some(a) = args.get(i) {
        if !a.starts_with('-') {
            break;
        }
        i += if GLOBAL_VALUED.contains(&a.as_str()) {
            2
        } else {
            1
        };
    }
    match args.get(i).map(String::as_str) {
        Some("run") => i += 1,
        Some("container") if args.get(i + 1).is_some_and(|a| a == "run") => i += 2,
        _ => return None,
    }
    while let Some(a) = args.get(i) {
        if !a.starts_with('-') {
            break;
        }
        i += if RUN_VALUED.contains(&a.as_str()) {
            2
        } else {
            1
        };
    }
    let image = args.get(i)?;
    Some(Launch {
        ids: vec![Ident::Image(image_name(image))],
        rest: args[i + 1..].to_vec(),
        fetch: Some(Fetch {
            ecosystem: Ecosystem::Container,
            spec: image.clone(),
            from: None,
        }),
        via: Some(via.to_owned()),
    })
}

/// An image reference without tag or digest, with Docker Hub's implicit
/// prefixes removed: `docker.io/library/redis:7` → `redis`.
pub fn image_name(image: &str) -> String {
    let no_digest = image.split('@').next().unwrap_or(image);
    let slash = no_digest.rfind('/').map_or(0, |i| i + 1);
    let name = match no_digest[slash..].find(':') {
        Some(c) => &no_digest[..slash + c],
        None => no_digest,
    };
    let name = name
        .strip_prefix("docker.io/")
        .or_else(|| name.strip_prefix("index.docker.io/"))
        .unwrap_or(name);
    name.strip_prefix("library/").unwrap_or(name).to_owned()
}

/// Splits a shell command string into its simple commands (split at `;`,
/// `&&`, `||`, `|`, `&` and newlines), each as words with quotes removed.
/// Leading assignments and `exec` are dropped. Expansions stay verbatim.
pub fn shell_commands(s: &str) -> Vec<Vec<String>> {
    let mut commands = Vec::new();
    let mut words: Vec<String> = Vec::new();
    let mut word = String::new();
    let mut in_word = false;
    let mut chars = s.chars().peekable();
    let end_command = |words: &mut Vec<String>, commands: &mut Vec<Vec<String>>| {
        let mut w = std::mem::take(words);
        let skip = w
            .iter()
            .take_while(|x| is_assignment(x) || x.as_str() == "exec")
            .count();
        w.drain(..skip);
        if !w.is_empty() {
            commands.push(w);
        }
    };
    while let Some(c) = chars.next() {
        match c {
            '\'' => {
                in_word = true;
                for d in chars.by_ref() {
                    if d == '\'' {
                        break;
                    }
                    word.push(d);
                }
            }
            '"' => {
                in_word = true;
                while let Some(d) = chars.next() {
                    match d {
                        '"' => break,
                        '\\' if matches!(chars.peek(), Some('"' | '\\' | '$' | '`')) => {
                            word.push(chars.next().unwrap_or('\\'));
                        }
                        _ => word.push(d),
                    }
                }
            }
            '\\' => {
                in_word = true;
                match chars.next() {
                    Some('\n') | None => {}
                    Some(d) => word.push(d),
                }
            }
            ';' | '&' | '|' | '\n' => {
                if in_word {
                    words.push(std::mem::take(&mut word));
                    in_word = false;
                }
                end_command(&mut words, &mut commands);
            }
            c if c.is_whitespace() => {
                if in_word {
                    words.push(std::mem::take(&mut word));
                    in_word = false;
                }
            }
            c => {
                in_word = true;
                word.push(c);
            }
        }
    }
    if in_word {
        words.push(word);
    }
    end_command(&mut words, &mut commands);
    commands
}

/// Words of one command string (all of its simple commands run together).
fn split_words(s: &str) -> Vec<String> {
    shell_commands(s).into_iter().flatten().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn argv(s: &str) -> Vec<String> {
        s.split_whitespace().map(str::to_owned).collect()
    }

    fn one(s: &str) -> Launch {
        let mut l = launches(&argv(s));
        assert_eq!(l.len(), 1, "{s}: {l:?}");
        l.remove(0)
    }

    /// `cmd` runs one program, known as `ids` and given `rest`.
    fn runs(cmd: &str, ids: &[Ident], rest: &[&str]) -> Launch {
        let l = one(cmd);
        assert_eq!(l.ids, ids, "{cmd}");
        assert_eq!(l.rest, rest, "{cmd}");
        l
    }

    #[test]
    fn npx_forms() {
        let l = runs(
            "npx -y @modelcontextprotocol/server-filesystem@2025.8.21 /tmp /srv",
            &[Ident::Npm("@modelcontextprotocol/server-filesystem".into())],
            &["/tmp", "/srv"],
        );
        assert_eq!(
            l.fetch.unwrap().spec,
            "@modelcontextprotocol/server-filesystem@2025.8.21"
        );
        runs(
            "npx -y --package=@playwright/mcp@0.0.30 mcp-server-playwright --headless",
            &[
                Ident::Npm("@playwright/mcp".into()),
                Ident::Bin("mcp-server-playwright".into()),
            ],
            &["--headless"],
        );
        for cmd in [
            "npm exec -y -- mcp-remote https://x.invalid/sse",
            "pnpm dlx mcp-remote https://x.invalid/sse",
            "bunx mcp-remote https://x.invalid/sse",
            "yarn dlx mcp-remote https://x.invalid/sse",
            "bun x mcp-remote https://x.invalid/sse",
        ] {
            runs(
                cmd,
                &[Ident::Npm("mcp-remote".into())],
                &["https://x.invalid/sse"],
            );
        }
    }

    #[test]
    fn what_npx_execs() {
        // npm's process title, then the shell npm exec runs, then node.
        let title = vec![
            "npm exec @modelcontextprotocol/server-filesystem /tmp/fsroot".to_owned(),
            String::new(),
            String::new(),
        ];
        let l = launches(&title);
        assert_eq!(
            l[0].ids,
            [Ident::Npm("@modelcontextprotocol/server-filesystem".into())]
        );
        assert_eq!(l[0].rest, ["/tmp/fsroot"]);
        let sh = vec![
            "sh".to_owned(),
            "-c".to_owned(),
            "'mcp-server-filesystem' /tmp/fsroot".to_owned(),
        ];
        let l = launches(&sh);
        assert_eq!(l[0].ids, [Ident::Bin("mcp-server-filesystem".into())]);
        assert_eq!(l[0].rest, ["/tmp/fsroot"]);
        let l = one(
            "node /root/.npm/_npx/a3241bba59c344f5/node_modules/.bin/mcp-server-filesystem /tmp/fsroot",
        );
        assert!(l.ids.contains(&Ident::Bin("mcp-server-filesystem".into())));
        assert_eq!(l.rest, ["/tmp/fsroot"]);
        let l = one(
            "node /root/.npm/_npx/a3/node_modules/@modelcontextprotocol/server-filesystem/dist/index.js /tmp",
        );
        assert!(l.ids.contains(&Ident::Npm(
            "@modelcontextprotocol/server-filesystem".into()
        )));
        assert!(!l.ids.iter().any(|i| matches!(i, Ident::Bin(_))));
    }

    #[test]
    fn python_forms() {
        runs(
            "uvx mcp-server-fetch --ignore-robots-txt",
            &[
                Ident::Py("mcp-server-fetch".into()),
                Ident::Bin("mcp-server-fetch".into()),
            ],
            &["--ignore-robots-txt"],
        );
        let l = one("uvx --from git+https://github.com/o/r mcp-server-r --x");
        assert_eq!(
            l.fetch.as_ref().unwrap().from.as_deref(),
            Some("git+https://github.com/o/r")
        );
        assert_eq!(l.rest, ["--x"]);
        let l = one("/usr/bin/python3.12 -u -m mcp_server_fetch --x");
        assert_eq!(l.ids, [Ident::Py("mcp-server-fetch".into())]);
        let l = one(
            "/root/.cache/uv/archive-v0/h/bin/python /root/.cache/uv/archive-v0/h/bin/mcp-server-fetch",
        );
        assert!(l.ids.contains(&Ident::Bin("mcp-server-fetch".into())));
        let l = one("uv --directory /srv/weather run weather.py");
        assert_eq!(l.ids, [Ident::Path("/srv/weather/weather.py".into())]);
        let l = one("uv run --with mcp mcp run /srv/s.py");
        assert_eq!(l.ids[0], Ident::Path("/srv/s.py".into()));
        assert_eq!(
            one("uv tool run mcp-server-git").ids[0],
            Ident::Py("mcp-server-git".into())
        );
        assert_eq!(
            one("pipx run mcp-server-git").ids[0],
            Ident::Py("mcp-server-git".into())
        );
    }

    #[test]
    fn containers_and_wrappers() {
        runs(
            "docker run -i --rm -e GITHUB_PERSONAL_ACCESS_TOKEN ghcr.io/github/github-mcp-server:v1 stdio",
            &[Ident::Image("ghcr.io/github/github-mcp-server".into())],
            &["stdio"],
        );
        assert_eq!(image_name("docker.io/library/redis:7"), "redis");
        assert_eq!(
            image_name("localhost:5000/x/y@sha256:ab"),
            "localhost:5000/x/y"
        );
        let l = launches(&[
            "bash".into(),
            "-lc".into(),
            "cd /x && FOO=1 exec npx -y \"@scope/pkg\" 'a b'".into(),
        ]);
        assert_eq!(l.len(), 1);
        assert_eq!(l[0].ids, [Ident::Npm("@scope/pkg".into())]);
        assert_eq!(l[0].rest, ["a b"]);
        let l = one("cmd /c npx -y pkg");
        assert_eq!(l.ids, [Ident::Npm("pkg".into())]);
        let l = one("env FOO=1 -u BAR uvx mcp-x");
        assert_eq!(l.ids[0], Ident::Py("mcp-x".into()));
        let l = one("mcp-monitor launch --name fs -- npx -y pkg /a");
        assert_eq!(l.rest, ["/a"]);
        assert!(launches(&argv("node -e console.log(1)")).is_empty());
        assert!(launches(&argv("bash")).is_empty());
        assert!(launches(&argv("node")).is_empty());
        assert!(launches(&[]).is_empty());
    }

    #[test]
    fn names() {
        assert_eq!(npm_name("@s/p@1.2.3"), "@s/p");
        let opts = argv("--from=a --fromage=b --spec");
        let value = |i| option_value(&opts, i, &["--from", "--spec"]);
        assert_eq!(value(0), Some(Some("a")));
        assert_eq!(value(1), None);
        assert_eq!(value(2), Some(None));
        assert_eq!(npm_name("p@latest"), "p");
        assert_eq!(npm_name("github:o/r#abc"), "github:o/r#abc");
        assert_eq!(py_name("mcp-server-git==1.0"), "mcp-server-git");
        assert_eq!(py_name("x@1.0"), "x");
        assert_eq!(normalize_py("Mcp_Server..Git"), "mcp-server-git");
        assert_eq!(npm_package_in_path("/a/node_modules/.bin/x"), None);
        assert_eq!(
            npm_package_in_path("/a/node_modules/x/node_modules/@s/y/i.js").as_deref(),
            Some("@s/y")
        );
    }
}
