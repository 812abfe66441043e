//! The per-launcher parsers: what an argv without wrappers runs through npx,
//! npm exec, pnpm/yarn dlx, bunx, uvx, uv, pipx, node-like runtimes, python,
//! java, fastmcp and container engines, or as a program run directly.
use super::container::container;
use super::idents::{Ecosystem, Fetch, Ident, Launch};
use super::names::{
    GENERIC, basename, is_python, normalize_py, npm_name, program_name, py_dist_name, py_name,
    script,
};
use super::shell::split_words;

/// The command that runs, for one argv without wrappers.
pub(super) fn classify(argv: &[String]) -> Option<Launch> {
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
pub(super) fn option_value<'a>(
    args: &'a [String],
    i: usize,
    names: &[&str],
) -> Option<Option<&'a str>> {
    let a = args.get(i)?;
    if names.contains(&a.as_str()) {
        return Some(args.get(i + 1).map(String::as_str));
    }
    names
        .iter()
        .find_map(|n| a.strip_prefix(n)?.strip_prefix('='))
        .map(Some)
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
