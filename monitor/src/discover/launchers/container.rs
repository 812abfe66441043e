//! `docker run`, `podman run`, `nerdctl run`: the image a container engine
//! runs, skipping the engine's global and run options.
use super::idents::{Ecosystem, Fetch, Ident, Launch};
use super::names::image_name;

/// `docker [global opts] run [opts] image args` (also podman, nerdctl,
/// `docker container run`).
pub(super) fn container(args: &[String], via: &str) -> Option<Launch> {
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
