//! The daemon's rule set: loaded from where the configuration says, watched
//! for changes, and reloaded (SIGHUP or a rule file changed on disk) off the
//! event loop: a large set takes seconds to compile, and meanwhile the old
//! one keeps checking events. The loop swaps the new one in between two
//! events, or keeps the old one if the new files do not compile.
use std::io::IsTerminal as _;

use tokio::sync::oneshot;

use super::{LoadError, LoadOptions, RuleSet, Warning, ruleset::ReloadSummary};
use crate::watch::FileWatch;

/// What reading and compiling the rule files gave.
pub type Compiled = Result<(RuleSet, Vec<Warning>), LoadError>;

/// The rule set and where it came from.
pub struct Detector {
    opts: LoadOptions,
    set: RuleSet,
    files: FileWatch,
}

impl Detector {
    pub fn load(opts: LoadOptions) -> Result<(Detector, Vec<Warning>), LoadError> {
        let (set, warnings) = super::load_configured(&opts)?;
        let files = FileWatch::new(opts.rules_dir.iter().chain(&opts.extra).cloned().collect());
        Ok((Detector { opts, set, files }, warnings))
    }

    pub fn rules(&self) -> &RuleSet {
        &self.set
    }

    /// Starts a reload: takes note of the files as they are now, so a change
    /// from here on is seen by the next [`Detector::files_changed`], and
    /// returns the reading and compiling of the configured files. That owns
    /// all it needs, to run on another thread while the running set stays in
    /// use; hand a set it compiles to [`Detector::install`].
    pub fn reload_job(&mut self) -> impl FnOnce() -> Compiled + Send + 'static {
        self.files.changed();
        let opts = self.opts.clone();
        move || super::load_configured(&opts)
    }

    /// Swaps a newly compiled set in; returns what changed.
    pub fn install(&mut self, set: RuleSet) -> ReloadSummary {
        let summary = super::diff(&self.set, &set);
        self.set = set;
        summary
    }

    /// Loads from `opts` from now on (takes effect at the next reload); the
    /// same options again change nothing.
    pub fn reconfigure(&mut self, opts: LoadOptions) {
        if opts == self.opts {
            return;
        }
        self.files = FileWatch::new(opts.rules_dir.iter().chain(&opts.extra).cloned().collect());
        self.opts = opts;
    }

    /// Whether a rule file was added, removed or modified since the last look.
    pub fn files_changed(&mut self) -> bool {
        self.files.changed()
    }
}

/// Prints a failed load's errors the way `rules check` does.
pub fn report_load_error(e: &LoadError) {
    let colour = std::io::stderr().is_terminal();
    for d in &e.errors {
        eprint!("{}", d.render(colour));
    }
}

/// Rule reloads, read and compiled on a thread of their own: a large rule set
/// takes seconds, and meanwhile the event loop keeps draining the ring buffer
/// with the rules in force. One runs at a time; reloads asked for while one
/// runs make one more after it, however many they were, so the last change
/// is never missed.
#[derive(Default)]
pub struct Reloads {
    /// The one running, and why it was asked for.
    running: Option<(
        oneshot::Receiver<std::thread::Result<Compiled>>,
        &'static str,
    )>,
    /// Why one more was asked for while one was running (the latest reason).
    pub again: Option<&'static str>,
}

impl Reloads {
    pub fn running(&self) -> bool {
        self.running.is_some()
    }

    /// Starts a reload, or, while one runs, notes that one more is wanted.
    pub fn request(&mut self, detector: &mut Detector, why: &'static str) {
        if self.running() {
            self.again = Some(why);
            return;
        }
        let job = detector.reload_job();
        let (tx, rx) = oneshot::channel();
        let spawned = std::thread::Builder::new()
            .name("rules-reload".into())
            // A panic goes back to the loop, which re-raises it as before.
            .spawn(move || {
                let _ = tx.send(std::panic::catch_unwind(std::panic::AssertUnwindSafe(job)));
            });
        let rx = match spawned {
            Ok(_) => rx,
            Err(e) => {
                // No thread to be had: compile on the loop rather than not at all.
                log::warn!("compiling the rules on the event loop: no thread for it ({e})");
                let (tx, rx) = oneshot::channel();
                let _ = tx.send(Ok(detector.reload_job()()));
                rx
            }
        };
        self.running = Some((rx, why));
    }

    /// The running reload's result and reason, once it is done. Cancel-safe:
    /// the loop polls it among its other work.
    pub async fn finished(&mut self) -> (Compiled, &'static str) {
        let Some((rx, why)) = &mut self.running else {
            return std::future::pending().await;
        };
        let why = *why;
        let done = rx.await;
        self.running = None;
        match done {
            Ok(Ok(compiled)) => (compiled, why),
            Ok(Err(panic)) => std::panic::resume_unwind(panic),
            Err(_) => panic!("the rules-reload thread ended without a result"),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::*;

    fn rule(name: &str) -> String {
        format!(
            "- rule: {name}\n  desc: d\n  condition: evt.type = openat\n  output: o\n  priority: warning\n"
        )
    }

    #[test]
    fn a_reload_compiles_on_another_thread() {
        fn off_thread<T: Send + 'static>() {}
        off_thread::<Compiled>();

        let dir = std::env::temp_dir().join(format!("mcpmon-detect-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file: PathBuf = dir.join("r.yaml");
        std::fs::write(&file, rule("one")).unwrap();
        let opts = LoadOptions {
            default_rules: false,
            rules_dir: None,
            extra: vec![file.clone()],
            ..LoadOptions::default()
        };
        let (mut detector, _) = Detector::load(opts).unwrap();
        std::fs::write(&file, rule("one") + &rule("two")).unwrap();

        let job = detector.reload_job();
        let (set, _) = std::thread::spawn(job).join().unwrap().unwrap();
        // The running set served until the new one is installed.
        assert_eq!(detector.rules().rules().len(), 1);
        let summary = detector.install(set);
        assert_eq!(summary.added, ["two"]);
        assert_eq!(detector.rules().rules().len(), 2);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    fn rules_text(n: usize) -> String {
        (0..n)
            .map(|i| {
                format!(
                    "- rule: r{i}\n  desc: d\n  condition: evt.type = openat and fd.name startswith /tmp/{i}\n  output: o\n  priority: warning\n"
                )
            })
            .collect()
    }

    #[tokio::test]
    async fn reloads_compile_off_the_loop_one_at_a_time_and_none_is_lost() {
        let dir = std::env::temp_dir().join(format!("mcpmon-reloads-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("r.yaml");
        std::fs::write(&file, rules_text(1)).unwrap();
        let (mut detector, _) = Detector::load(LoadOptions {
            default_rules: false,
            rules_dir: None,
            extra: vec![file.clone()],
            ..Default::default()
        })
        .unwrap();
        let mut reloads = Reloads::default();

        // Enough rules that compiling them takes a while.
        std::fs::write(&file, rules_text(1000)).unwrap();
        reloads.request(&mut detector, "first");
        // Asked for twice more while it runs: one more after it, for the latest reason.
        reloads.request(&mut detector, "second");
        reloads.request(&mut detector, "third");
        assert_eq!(reloads.again, Some("third"));

        // The loop keeps taking its turns while the rules compile.
        let mut turns = 0u64;
        let (compiled, why) = loop {
            tokio::select! {
                done = reloads.finished(), if reloads.running() => break done,
                () = tokio::task::yield_now() => turns += 1,
            }
        };
        assert!(turns > 0, "the loop waited for the compile");
        assert_eq!(why, "first");
        assert_eq!(
            detector.rules().rules().len(),
            1,
            "the old rules serve meanwhile"
        );
        detector.install(compiled.unwrap().0);
        assert_eq!(detector.rules().rules().len(), 1000);

        let why = reloads.again.take().unwrap();
        std::fs::write(&file, rules_text(2)).unwrap();
        reloads.request(&mut detector, why);
        let (compiled, why) = reloads.finished().await;
        assert_eq!(why, "third");
        detector.install(compiled.unwrap().0);
        assert_eq!(detector.rules().rules().len(), 2);
        assert!(!reloads.running() && reloads.again.is_none());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
