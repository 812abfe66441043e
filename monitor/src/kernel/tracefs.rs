//! Tracefs: where it is mounted, which tracepoints exist, and the layout of a
//! tracepoint's record as its `format` file describes it.
use std::fmt;
use std::path::{Path, PathBuf};

/// Where tracefs is looked for, in order.
pub const TRACEFS_PATHS: [&str; 2] = ["/sys/kernel/tracing", "/sys/kernel/debug/tracing"];
/// Where [`ensure_mounted`] mounts tracefs when it is not mounted anywhere.
pub const TRACEFS_MOUNT_POINT: &str = "/sys/kernel/tracing";

/// One field of a tracepoint record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Field {
    /// The field name (`filename`, `group_dead`, ...).
    pub name: String,
    /// The C declaration as tracefs prints it (`__data_loc char[] filename`).
    pub decl: String,
    /// Offset in bytes from the start of the record.
    pub offset: u32,
    /// Size in bytes.
    pub size: u32,
    pub signed: bool,
    /// A `__data_loc` field: a `u32` holding the payload's offset from the
    /// record start (low 16 bits) and length (high 16 bits).
    pub data_loc: bool,
    /// A `__rel_loc` field: like `__data_loc` but the offset is relative to
    /// the end of this field.
    pub rel_loc: bool,
}

/// A parsed `events/<category>/<name>/format` file.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Format {
    pub name: String,
    pub id: Option<u32>,
    /// Common fields (`common_type`, ...) and the event's own, in file order.
    pub fields: Vec<Field>,
}

impl Format {
    pub fn field(&self, name: &str) -> Option<&Field> {
        self.fields.iter().find(|f| f.name == name)
    }
}

/// Errors of this module.
#[derive(Debug)]
pub enum TracefsError {
    /// tracefs is mounted nowhere we look.
    NotMounted,
    /// tracefs is mounted there but this process may not read it.
    NotAccessible(PathBuf),
    /// Mounting tracefs failed.
    MountFailed(std::io::Error),
    /// The tracepoint has no format file (it does not exist on this kernel).
    NoSuchTracepoint { category: String, name: String },
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    /// A line of a format file could not be understood.
    Parse { line: String, why: &'static str },
}

impl fmt::Display for TracefsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TracefsError::NotMounted => write!(
                f,
                "tracefs is not mounted at {}: mount it with `mount -t tracefs tracefs {TRACEFS_MOUNT_POINT}`",
                TRACEFS_PATHS.join(" or ")
            ),
            TracefsError::NotAccessible(p) => write!(
                f,
                "tracefs at {} is not readable by this process: run as root",
                p.display()
            ),
            TracefsError::MountFailed(e) => write!(
                f,
                "tracefs is not mounted and mounting it at {TRACEFS_MOUNT_POINT} failed ({e}): \
                 run `mount -t tracefs tracefs {TRACEFS_MOUNT_POINT}` as root"
            ),
            TracefsError::NoSuchTracepoint { category, name } => {
                write!(
                    f,
                    "tracepoint {category}:{name} does not exist on this kernel"
                )
            }
            TracefsError::Io { path, source } => {
                write!(f, "cannot read {}: {source}", path.display())
            }
            TracefsError::Parse { line, why } => {
                write!(f, "bad tracepoint format line ({why}): {line:?}")
            }
        }
    }
}

impl std::error::Error for TracefsError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            TracefsError::MountFailed(e) | TracefsError::Io { source: e, .. } => Some(e),
            _ => None,
        }
    }
}

/// A mounted tracefs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Tracefs {
    root: PathBuf,
}

/// What [`ensure_mounted`] found or did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MountOutcome {
    /// tracefs was already mounted there.
    AlreadyMounted(PathBuf),
    /// tracefs was not mounted; it now is, there.
    Mounted(PathBuf),
}

impl fmt::Display for MountOutcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MountOutcome::AlreadyMounted(p) => write!(f, "tracefs is mounted at {}", p.display()),
            MountOutcome::Mounted(p) => write!(f, "mounted tracefs at {}", p.display()),
        }
    }
}

/// A directory is a usable tracefs when it has the `events` tree (the mount
/// point directory exists even when nothing is mounted on it).
fn is_tracefs(dir: &Path) -> bool {
    dir.join("events").is_dir()
}

impl Tracefs {
    /// Finds a mounted tracefs, without mounting anything.
    pub fn find() -> Result<Tracefs, TracefsError> {
        let mut denied = None;
        for p in TRACEFS_PATHS.iter().map(Path::new) {
            if is_tracefs(p) {
                return Ok(Tracefs { root: p.to_owned() });
            }
            // tracefs is mode 0700: tell "mounted but not ours" from "absent".
            let err = std::fs::metadata(p.join("events"))
                .err()
                .or_else(|| std::fs::read_dir(p).err());
            if denied.is_none()
                && err.is_some_and(|e| e.kind() == std::io::ErrorKind::PermissionDenied)
            {
                denied = Some(p.to_owned());
            }
        }
        Err(denied.map_or(TracefsError::NotMounted, TracefsError::NotAccessible))
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    fn event_dir(&self, category: &str, name: &str) -> PathBuf {
        self.root.join("events").join(category).join(name)
    }

    /// Whether `category:name` exists on this kernel.
    pub fn tracepoint_exists(&self, category: &str, name: &str) -> bool {
        self.event_dir(category, name).join("format").is_file()
    }

    /// Reads and parses the tracepoint's format file.
    pub fn format(&self, category: &str, name: &str) -> Result<Format, TracefsError> {
        let path = self.event_dir(category, name).join("format");
        let text = std::fs::read_to_string(&path).map_err(|source| {
            if source.kind() == std::io::ErrorKind::NotFound {
                TracefsError::NoSuchTracepoint {
                    category: category.to_owned(),
                    name: name.to_owned(),
                }
            } else {
                TracefsError::Io { path, source }
            }
        })?;
        parse_format(&text)
    }

    /// Offset of `field` in the record of `category:name`; `None` when the
    /// tracepoint exists but has no such field.
    #[cfg(test)]
    pub fn field_offset(
        &self,
        category: &str,
        name: &str,
        field: &str,
    ) -> Result<Option<u32>, TracefsError> {
        Ok(self.format(category, name)?.field(field).map(|f| f.offset))
    }

    /// Whether `kprobe_events` exists (kernels built with kprobe events).
    pub fn has_kprobe_events(&self) -> bool {
        self.root.join("kprobe_events").exists()
    }
}

/// Finds tracefs and, if it is mounted nowhere, mounts it at
/// [`TRACEFS_MOUNT_POINT`] (as `mount -t tracefs tracefs /sys/kernel/tracing`).
pub fn ensure_mounted() -> Result<(Tracefs, MountOutcome), TracefsError> {
    match Tracefs::find() {
        Ok(t) => {
            let outcome = MountOutcome::AlreadyMounted(t.root.clone());
            return Ok((t, outcome));
        }
        Err(TracefsError::NotMounted) => {}
        Err(e) => return Err(e),
    }
    mount_tracefs(Path::new(TRACEFS_MOUNT_POINT))?;
    let root = PathBuf::from(TRACEFS_MOUNT_POINT);
    if !is_tracefs(&root) {
        return Err(TracefsError::MountFailed(std::io::Error::other(
            "mount succeeded but no events directory appeared",
        )));
    }
    Ok((Tracefs { root: root.clone() }, MountOutcome::Mounted(root)))
}

fn mount_tracefs(target: &Path) -> Result<(), TracefsError> {
    super::mount_pseudo_fs(c"tracefs", target).map_err(TracefsError::MountFailed)
}

/// Parses the text of a tracepoint `format` file.
pub fn parse_format(text: &str) -> Result<Format, TracefsError> {
    let mut format = Format::default();
    for line in text.lines() {
        let trimmed = line.trim();
        if let Some(name) = trimmed.strip_prefix("name:") {
            format.name = name.trim().to_owned();
        } else if let Some(id) = trimmed.strip_prefix("ID:") {
            format.id = id.trim().parse().ok();
        } else if trimmed.starts_with("field:") {
            format.fields.push(parse_field(trimmed)?);
        } else if trimmed.starts_with("print fmt:") {
            break;
        }
    }
    Ok(format)
}

fn parse_field(line: &str) -> Result<Field, TracefsError> {
    let err = |why| TracefsError::Parse {
        line: line.to_owned(),
        why,
    };
    let (mut decl, mut offset, mut size, mut signed) = (None, None, None, None);
    for part in line.split(';') {
        let Some((key, value)) = part.split_once(':') else {
            continue;
        };
        let value = value.trim();
        match key.trim() {
            "field" => decl = Some(value),
            "offset" => offset = Some(value.parse::<u32>().map_err(|_| err("bad offset"))?),
            "size" => size = Some(value.parse::<u32>().map_err(|_| err("bad size"))?),
            "signed" => signed = Some(value == "1"),
            _ => {}
        }
    }
    let decl = decl.ok_or_else(|| err("no field declaration"))?;
    let name = field_name(decl).ok_or_else(|| err("no field name"))?;
    let data_loc = decl.split_whitespace().next() == Some("__data_loc");
    let rel_loc = decl.split_whitespace().next() == Some("__rel_loc");
    Ok(Field {
        name: name.to_owned(),
        decl: decl.to_owned(),
        offset: offset.ok_or_else(|| err("no offset"))?,
        size: size.ok_or_else(|| err("no size"))?,
        signed: signed.unwrap_or(false),
        data_loc,
        rel_loc,
    })
}

/// The identifier a C declaration declares: the last identifier, after
/// dropping array suffixes (`char comm[16]` → `comm`).
fn field_name(decl: &str) -> Option<&str> {
    let mut d = decl.trim_end();
    while let Some(stripped) = d.strip_suffix(']') {
        let open = stripped.rfind('[')?;
        d = stripped[..open].trim_end();
    }
    let start = d
        .rfind(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .map_or(0, |i| i + 1);
    let name = &d[start..];
    (!name.is_empty() && !name.starts_with(|c: char| c.is_ascii_digit())).then_some(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    const EXEC: &str = "name: sched_process_exec
ID: 365
format:
\tfield:unsigned short common_type;\toffset:0;\tsize:2;\tsigned:0;
\tfield:unsigned char common_flags;\toffset:2;\tsize:1;\tsigned:0;
\tfield:unsigned char common_preempt_count;\toffset:3;\tsize:1;\tsigned:0;
\tfield:int common_pid;\toffset:4;\tsize:4;\tsigned:1;

\tfield:__data_loc char[] filename;\toffset:8;\tsize:4;\tsigned:0;
\tfield:pid_t pid;\toffset:12;\tsize:4;\tsigned:1;
\tfield:char comm[16];\toffset:16;\tsize:16;\tsigned:0;
\tfield:const char * path;\toffset:32;\tsize:8;\tsigned:0;
\tfield:__rel_loc u8[] buf;\toffset:40;\tsize:4;\tsigned:0;
\tfield:unsigned long args[6];\toffset:48;\tsize:48;\tsigned:0;

print fmt: \"filename=%s pid=%d\", __get_str(filename), REC->pid
";

    #[test]
    fn parses_synthetic_format() {
        let f = parse_format(EXEC).unwrap();
        assert_eq!(f.name, "sched_process_exec");
        assert_eq!(f.id, Some(365));
        assert_eq!(f.fields.len(), 10);
        let filename = f.field("filename").unwrap();
        assert_eq!(
            (filename.offset, filename.size, filename.data_loc),
            (8, 4, true)
        );
        assert_eq!(filename.decl, "__data_loc char[] filename");
        let pid = f.field("pid").unwrap();
        assert_eq!(
            (pid.offset, pid.size, pid.signed, pid.data_loc),
            (12, 4, true, false)
        );
        assert_eq!(f.field("comm").unwrap().size, 16);
        assert_eq!(f.field("path").unwrap().offset, 32);
        assert!(f.field("buf").unwrap().rel_loc);
        assert_eq!(f.field("args").unwrap().offset, 48);
        assert!(f.field("common_pid").unwrap().signed);
        assert!(f.field("nope").is_none());
    }

    #[test]
    fn bad_lines_are_errors() {
        assert!(parse_format("\tfield:int x;\toffset:zz;\tsize:4;\tsigned:1;\n").is_err());
        assert!(parse_format("\tfield:int x;\tsize:4;\tsigned:1;\n").is_err());
        assert!(parse_format("\tfield:[];\toffset:1;\tsize:4;\tsigned:1;\n").is_err());
        assert_eq!(parse_format("").unwrap(), Format::default());
    }

    #[test]
    fn field_names() {
        for (decl, name) in [
            ("int x", "x"),
            ("char comm[16]", "comm"),
            ("__data_loc char[] filename", "filename"),
            ("const char * filename", "filename"),
            ("const char *filename", "filename"),
            ("u8 a[2][3]", "a"),
        ] {
            assert_eq!(field_name(decl), Some(name), "{decl}");
        }
        assert_eq!(field_name("]"), None);
    }

    fn real() -> Option<Tracefs> {
        match Tracefs::find() {
            Ok(t) => Some(t),
            Err(e) => {
                eprintln!("skipping: {e}");
                None
            }
        }
    }

    #[test]
    fn real_tracepoint_formats() {
        let Some(t) = real() else { return };
        if !t.tracepoint_exists("sched", "sched_process_exec") {
            eprintln!("skipping: {} has no sched events", t.root().display());
            return;
        }
        let exec = t.format("sched", "sched_process_exec").unwrap();
        let filename = exec.field("filename").unwrap();
        assert!(filename.data_loc && filename.size == 4 && filename.offset >= 8);
        assert_eq!(exec.field("common_type").unwrap().offset, 0);
        let exit = t.format("sched", "sched_process_exit").unwrap();
        assert!(exit.field("pid").is_some());
        let off = t
            .field_offset("sched", "sched_process_exit", "group_dead")
            .unwrap();
        eprintln!(
            "sched_process_exit.group_dead = {off:?}, exec filename = {}",
            filename.offset
        );
        assert_eq!(
            t.field_offset("sched", "sched_process_exit", "no_such_field")
                .unwrap(),
            None
        );
        assert!(!t.tracepoint_exists("sched", "no_such_tracepoint"));
        assert!(matches!(
            t.format("sched", "no_such_tracepoint"),
            Err(TracefsError::NoSuchTracepoint { .. })
        ));
        if t.tracepoint_exists("syscalls", "sys_enter_openat") {
            let open = t.format("syscalls", "sys_enter_openat").unwrap();
            assert!(
                open.field("filename")
                    .is_some_and(|f| f.size == 8 && !f.data_loc)
            );
        }
        // Every format file under sched parses.
        for entry in std::fs::read_dir(t.root().join("events/sched"))
            .unwrap()
            .flatten()
        {
            if entry.path().join("format").is_file() {
                let name = entry.file_name().into_string().unwrap();
                t.format("sched", &name).unwrap();
            }
        }
    }
}
