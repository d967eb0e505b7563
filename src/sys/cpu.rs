//! Where a forked child starts.
//!
//! A process that forks many children in a row is their bottleneck: while it forks, reaps and
//! talks to Redis, a child queued on its CPU waits. Linux places a new child on the idlest CPU,
//! but a virtual machine's kernel may pack tasks onto as few vCPUs as it can (waking a halted
//! vCPU costs the host): on the 2-vCPU machine concur was measured on, 2 children in 3 started on
//! the parent's CPU and waited ~70 µs for it to block, against ~25 µs on the other one.
//!
//! [`Spread::away`] keeps a child off the CPU the parent runs on, so it starts elsewhere at once;
//! [`Spread::restore`] gives it back every CPU the parent may use: the child calls it as soon as
//! it runs (its work must see every CPU), and the parent again before it next waits, in case its
//! narrowing came after the child's restore (a long job must not stay confined to fewer CPUs).
//! Linux only; elsewhere both do nothing.

use nix::unistd::Pid;

/// The CPUs this process may run on, when there is more than one to choose from.
#[derive(Debug, Clone)]
pub struct Spread {
    #[cfg(target_os = "linux")]
    allowed: Option<nix::sched::CpuSet>,
}

impl Spread {
    /// This process's CPU mask, read once (`None` inside: a single CPU, or the mask unreadable).
    pub fn new() -> Spread {
        #[cfg(target_os = "linux")]
        {
            let allowed = nix::sched::sched_getaffinity(Pid::from_raw(0))
                .ok()
                .filter(|set| cpus(set).nth(1).is_some());
            Spread { allowed }
        }
        #[cfg(not(target_os = "linux"))]
        Spread {}
    }

    /// More than one CPU to spread children over.
    pub fn possible(&self) -> bool {
        #[cfg(target_os = "linux")]
        return self.allowed.is_some();
        #[cfg(not(target_os = "linux"))]
        false
    }

    /// Keep `child` (just forked, not reaped) off the CPU this process runs on now: that CPU, if
    /// its mask changed (then call [`Spread::restore`] for it before it is reaped).
    pub fn away(&self, child: Pid) -> Option<usize> {
        #[cfg(target_os = "linux")]
        {
            let allowed = self.allowed.as_ref()?;
            let here = nix::sched::sched_getcpu().ok()?;
            let mut others = *allowed;
            others.unset(here).ok()?;
            nix::sched::sched_setaffinity(child, &others).ok()?;
            Some(here)
        }
        #[cfg(not(target_os = "linux"))]
        {
            let _ = child;
            None
        }
    }

    /// Let `child` (not reaped yet: its pid is still its own; 0 for the calling process, as a
    /// child does once it runs) run on every CPU this process may.
    pub fn restore(&self, child: Pid) {
        #[cfg(target_os = "linux")]
        if let Some(allowed) = &self.allowed {
            let _ = nix::sched::sched_setaffinity(child, allowed);
        }
        #[cfg(not(target_os = "linux"))]
        let _ = child;
    }
}

/// The CPUs in `set`.
#[cfg(target_os = "linux")]
fn cpus(set: &nix::sched::CpuSet) -> impl Iterator<Item = usize> + '_ {
    (0..nix::sched::CpuSet::count()).filter(|&c| set.is_set(c).unwrap_or(false))
}

impl Default for Spread {
    fn default() -> Self {
        Spread::new()
    }
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;

    /// `pid`'s CPU mask, as a list of CPUs.
    fn cpus_of(pid: Pid) -> Vec<usize> {
        cpus(&nix::sched::sched_getaffinity(pid).unwrap()).collect()
    }

    /// A child sent away cannot run on the CPU its parent ran on until restored; then it may run
    /// on every CPU the parent may. (With one CPU there is nowhere else to go: nothing changes.)
    #[test]
    fn a_child_sent_away_leaves_the_parents_cpu_until_restored() {
        let spread = Spread::new();
        let mine = cpus_of(Pid::from_raw(0));
        let mut child = std::process::Command::new("sleep")
            .arg("30")
            .spawn()
            .unwrap();
        let pid = Pid::from_raw(child.id() as i32);
        match spread.away(pid) {
            None => assert!(
                mine.len() < 2,
                "{mine:?}: more than one CPU, yet not spread"
            ),
            Some(here) => {
                let away = cpus_of(pid);
                assert!(!away.contains(&here), "{away:?} still has CPU {here}");
                assert_eq!(away.len(), mine.len() - 1, "{away:?} against {mine:?}");
                spread.restore(pid);
                assert_eq!(cpus_of(pid), mine);
            }
        }
        child.kill().unwrap();
        child.wait().unwrap();
    }
}
