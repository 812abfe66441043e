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
mod container;
mod idents;
mod names;
mod parsers;
mod shell;

pub use idents::{Ecosystem, Fetch, Ident, Launch};
pub use names::{basename, normalize_py, npm_package_in_path, path_idents};
use names::{is_known_program, is_shell, program_name, script};
use parsers::classify;
use shell::{is_assignment, shell_commands, split_words};

/// How deep wrappers (`sh -c`, `env`, `cmd /c`…) are unwrapped.
const MAX_DEPTH: usize = 4;

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

#[cfg(test)]
use {
    names::{image_name, npm_name, py_name},
    parsers::option_value,
};

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
