//! Atomics that record every operation under the model checker (`load → 100`,
//! `fetch_add +10: 100 → 110`, `compare_exchange 100 → 110 ✗ (is 90)`).
//!
//! Shuttle runs every interleaving of these operations, but as sequentially consistent ones:
//! weaker orderings (`Relaxed`) are accepted and checked as if they were `SeqCst`.

use crate::trace;
use std::fmt;

pub use std::sync::atomic::Ordering;

macro_rules! int_atomic {
    ($name:ident, $int:ty, $std:ty, $model:ty) => {
        /// The standard atomic of the same name, schedulable and drawn by the grader.
        pub struct $name {
            name: Option<String>,
            inner: Inner,
        }

        enum Inner {
            Real($std),
            Model($model),
        }

        macro_rules! dispatch {
            ($self:ident, $a:ident => $e:expr) => {
                match &$self.inner {
                    Inner::Real($a) => $e,
                    Inner::Model($a) => $e,
                }
            };
        }

        impl $name {
            /// A new atomic holding `v`.
            pub fn new(v: $int) -> $name {
                $name::build(trace::auto_name('a'), v)
            }

            /// A new atomic with a name for the lanes (`load balance → 100`).
            pub fn named(name: &str, v: $int) -> $name {
                $name::build(Some(name.to_owned()), v)
            }

            fn build(name: Option<String>, v: $int) -> $name {
                let inner = if trace::modelled() {
                    Inner::Model(<$model>::new(v))
                } else {
                    Inner::Real(<$std>::new(v))
                };
                $name { name, inner }
            }

            fn note(&self, text: String) {
                trace::record(self.name.as_deref(), text);
            }

            pub fn load(&self, order: Ordering) -> $int {
                let v = dispatch!(self, a => a.load(order));
                if trace::recording() {
                    self.note(format!("load → {v}"));
                }
                v
            }

            pub fn store(&self, v: $int, order: Ordering) {
                dispatch!(self, a => a.store(v, order));
                if trace::recording() {
                    self.note(format!("store ← {v}"));
                }
            }

            pub fn swap(&self, v: $int, order: Ordering) -> $int {
                let old = dispatch!(self, a => a.swap(v, order));
                if trace::recording() {
                    self.note(format!("swap ← {v} (was {old})"));
                }
                old
            }

            pub fn fetch_add(&self, v: $int, order: Ordering) -> $int {
                let old = dispatch!(self, a => a.fetch_add(v, order));
                if trace::recording() {
                    self.note(format!("fetch_add {v}: {old} → {}", old.wrapping_add(v)));
                }
                old
            }

            pub fn fetch_sub(&self, v: $int, order: Ordering) -> $int {
                let old = dispatch!(self, a => a.fetch_sub(v, order));
                if trace::recording() {
                    self.note(format!("fetch_sub {v}: {old} → {}", old.wrapping_sub(v)));
                }
                old
            }

            pub fn compare_exchange(
                &self,
                current: $int,
                new: $int,
                success: Ordering,
                failure: Ordering,
            ) -> Result<$int, $int> {
                let r = dispatch!(self, a => a.compare_exchange(current, new, success, failure));
                self.note_cas("compare_exchange", current, new, r);
                r
            }

            pub fn compare_exchange_weak(
                &self,
                current: $int,
                new: $int,
                success: Ordering,
                failure: Ordering,
            ) -> Result<$int, $int> {
                let r =
                    dispatch!(self, a => a.compare_exchange_weak(current, new, success, failure));
                self.note_cas("compare_exchange_weak", current, new, r);
                r
            }

            fn note_cas(&self, op: &str, current: $int, new: $int, r: Result<$int, $int>) {
                if trace::recording() {
                    self.note(match r {
                        Ok(_) => format!("{op} {current} → {new} ✓"),
                        Err(is) => format!("{op} {current} → {new} ✗ (is {is})"),
                    });
                }
            }

            pub fn fetch_update<F>(
                &self,
                set: Ordering,
                fetch: Ordering,
                f: F,
            ) -> Result<$int, $int>
            where
                F: FnMut($int) -> Option<$int>,
            {
                let r = dispatch!(self, a => a.fetch_update(set, fetch, f));
                if trace::recording() {
                    self.note(match r {
                        Ok(old) => format!("fetch_update: was {old}"),
                        Err(old) => format!("fetch_update ✗ (is {old})"),
                    });
                }
                r
            }

            pub fn into_inner(self) -> $int {
                match self.inner {
                    Inner::Real(a) => a.into_inner(),
                    Inner::Model(a) => a.into_inner(),
                }
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                // Never loads: printing must not be a step.
                f.debug_struct(stringify!($name))
                    .field("name", &self.name)
                    .finish_non_exhaustive()
            }
        }

        impl Default for $name {
            fn default() -> $name {
                $name::new(0)
            }
        }
    };
}

mod i64_ {
    use super::*;
    int_atomic!(
        AtomicI64,
        i64,
        std::sync::atomic::AtomicI64,
        shuttle::sync::atomic::AtomicI64
    );
}
mod u64_ {
    use super::*;
    int_atomic!(
        AtomicU64,
        u64,
        std::sync::atomic::AtomicU64,
        shuttle::sync::atomic::AtomicU64
    );
}
mod usize_ {
    use super::*;
    int_atomic!(
        AtomicUsize,
        usize,
        std::sync::atomic::AtomicUsize,
        shuttle::sync::atomic::AtomicUsize
    );
}

pub use i64_::AtomicI64;
pub use u64_::AtomicU64;
pub use usize_::AtomicUsize;

/// [`std::sync::atomic::AtomicBool`], schedulable and drawn by the grader.
pub struct AtomicBool {
    name: Option<String>,
    inner: BoolInner,
}

enum BoolInner {
    Real(std::sync::atomic::AtomicBool),
    Model(shuttle::sync::atomic::AtomicBool),
}

impl AtomicBool {
    pub fn new(v: bool) -> AtomicBool {
        let inner = if trace::modelled() {
            BoolInner::Model(shuttle::sync::atomic::AtomicBool::new(v))
        } else {
            BoolInner::Real(std::sync::atomic::AtomicBool::new(v))
        };
        AtomicBool {
            name: trace::auto_name('b'),
            inner,
        }
    }

    pub fn load(&self, order: Ordering) -> bool {
        let v = match &self.inner {
            BoolInner::Real(a) => a.load(order),
            BoolInner::Model(a) => a.load(order),
        };
        trace::record(self.name.as_deref(), format!("load → {v}"));
        v
    }

    pub fn store(&self, v: bool, order: Ordering) {
        match &self.inner {
            BoolInner::Real(a) => a.store(v, order),
            BoolInner::Model(a) => a.store(v, order),
        }
        trace::record(self.name.as_deref(), format!("store ← {v}"));
    }

    pub fn swap(&self, v: bool, order: Ordering) -> bool {
        let old = match &self.inner {
            BoolInner::Real(a) => a.swap(v, order),
            BoolInner::Model(a) => a.swap(v, order),
        };
        trace::record(self.name.as_deref(), format!("swap ← {v} (was {old})"));
        old
    }
}

impl fmt::Debug for AtomicBool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AtomicBool")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}
