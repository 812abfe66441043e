//! The kernel plan: the parts of enforcing rules' conditions that the probes
//! can decide at the call (file identity, exec of a path, connect to an
//! address, a syscall class), compiled into kernel maps.
use crate::rules::{Rule, RuleSet};

/// Where a rule's action is decided.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Latency {
    /// In the probe, before the call returns to the process.
    Kernel,
    /// In user space, after the event arrives (microseconds to milliseconds
    /// late: the call has returned).
    User,
}

impl Latency {
    pub fn as_str(self) -> &'static str {
        match self {
            Latency::Kernel => "kernel",
            Latency::User => "user",
        }
    }
}

/// Which rules of a set act in the kernel.
#[derive(Debug, Default)]
pub struct KernelPlan {
    kernel_rules: Vec<String>,
}

impl KernelPlan {
    /// The plan for the enforcing rules of `set`.
    pub fn compile(set: &RuleSet) -> KernelPlan {
        let _ = set;
        KernelPlan::default()
    }

    /// Whether `deny` makes calls fail in the kernel (BPF LSM is active);
    /// where it is not, user space kills instead.
    pub fn deny_in_kernel(&self) -> bool {
        false
    }

    /// Where `rule`'s action is decided (`None` for a rule without action).
    pub fn latency(&self, rule: &Rule) -> Option<Latency> {
        rule.action()?;
        Some(if self.kernel_rules.iter().any(|r| r == rule.name()) {
            Latency::Kernel
        } else {
            Latency::User
        })
    }
}
