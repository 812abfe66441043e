//! User names by uid, for `user.name`: the password database, read again
//! when it changes (checked at most every few seconds), never through NSS
//! (a directory service must not sit on the event path).
use std::{
    collections::HashMap,
    path::PathBuf,
    time::{Duration, Instant, SystemTime},
};

/// How often the file's modification time is looked at.
const RECHECK: Duration = Duration::from_secs(5);

pub struct UserNames {
    path: PathBuf,
    names: HashMap<u32, String>,
    modified: Option<SystemTime>,
    checked: Option<Instant>,
}

impl Default for UserNames {
    fn default() -> Self {
        UserNames::from_file("/etc/passwd")
    }
}

impl UserNames {
    pub fn from_file(path: impl Into<PathBuf>) -> Self {
        UserNames {
            path: path.into(),
            names: HashMap::new(),
            modified: None,
            checked: None,
        }
    }

    /// The name of `uid`, or "" when the database does not have it.
    pub fn name(&mut self, uid: u32) -> String {
        self.refresh();
        self.names.get(&uid).cloned().unwrap_or_default()
    }

    fn refresh(&mut self) {
        if self.checked.is_some_and(|t| t.elapsed() < RECHECK) {
            return;
        }
        self.checked = Some(Instant::now());
        let modified = std::fs::metadata(&self.path)
            .and_then(|m| m.modified())
            .ok();
        if modified.is_some() && modified == self.modified {
            return;
        }
        self.modified = modified;
        let text = crate::textfile::read(&self.path, 16 << 20).unwrap_or_default();
        self.names = parse(&text);
    }
}

/// `name:x:uid:…` lines; the first name of a uid wins, as getpwuid's does.
fn parse(text: &str) -> HashMap<u32, String> {
    let mut names = HashMap::new();
    for line in text.lines() {
        let mut f = line.split(':');
        let (Some(name), _, Some(uid)) = (f.next(), f.next(), f.next()) else {
            continue;
        };
        if let Ok(uid) = uid.parse::<u32>()
            && !name.is_empty()
        {
            names.entry(uid).or_insert_with(|| name.to_owned());
        }
    }
    names
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_from_the_password_database() {
        let dir = std::env::temp_dir().join(format!("mm-users-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("passwd");
        std::fs::write(
            &file,
            "root:x:0:0:root:/root:/bin/bash\nbroken line\nnobody:x:65534:65534::/:/usr/sbin/nologin\ntoor:x:0:0::/:/bin/sh\n",
        )
        .unwrap();
        let mut users = UserNames::from_file(&file);
        assert_eq!(users.name(0), "root");
        assert_eq!(users.name(65534), "nobody");
        assert_eq!(users.name(1234), "");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
