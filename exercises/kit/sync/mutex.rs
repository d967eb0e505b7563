//! A mutex that records `lock → value` and `unlock ← value` under the model checker.

use crate::trace;
use std::fmt::{self, Debug};
use std::ops::{Deref, DerefMut};
use std::sync::{LockResult, PoisonError, TryLockError, TryLockResult};

/// [`std::sync::Mutex`], schedulable and drawn by the grader.
pub struct Mutex<T> {
    name: Option<String>,
    /// Never drawn: the kit's own locks inside a given type (a database's), which draws its
    /// own steps instead.
    quiet: bool,
    inner: Inner<T>,
}

enum Inner<T> {
    Real(std::sync::Mutex<T>),
    Model(shuttle::sync::Mutex<T>),
}

impl<T> Mutex<T> {
    /// A new unlocked mutex holding `value`.
    pub fn new(value: T) -> Mutex<T> {
        Mutex::build(trace::auto_name('m'), value)
    }

    /// A new mutex with a name for the lanes (`lock A → 100`).
    pub fn named(name: &str, value: T) -> Mutex<T> {
        Mutex::build(Some(name.to_owned()), value)
    }

    /// A mutex that is scheduled but never drawn (for the kit's given types).
    pub fn quiet(value: T) -> Mutex<T> {
        Mutex {
            quiet: true,
            ..Mutex::build(None, value)
        }
    }

    fn build(name: Option<String>, value: T) -> Mutex<T> {
        let inner = if trace::modelled() {
            Inner::Model(shuttle::sync::Mutex::new(value))
        } else {
            Inner::Real(std::sync::Mutex::new(value))
        };
        Mutex {
            name,
            quiet: false,
            inner,
        }
    }

    /// The value, the mutex consumed (no lock needed: nobody else can hold it).
    pub fn into_inner(self) -> LockResult<T> {
        match self.inner {
            Inner::Real(m) => m.into_inner(),
            Inner::Model(m) => m.into_inner(),
        }
    }

    /// The value, through an exclusive borrow (no lock needed).
    pub fn get_mut(&mut self) -> LockResult<&mut T> {
        match &mut self.inner {
            Inner::Real(m) => m.get_mut(),
            Inner::Model(m) => m.get_mut(),
        }
    }
}

impl<T: Debug> Mutex<T> {
    /// Block until this thread holds the lock.
    pub fn lock(&self) -> LockResult<MutexGuard<'_, T>> {
        let name = self.name.as_deref();
        let drawn = !self.quiet;
        if drawn {
            trace::wait(name, "lock");
        }
        let (guard, poisoned) = match &self.inner {
            Inner::Real(m) => match m.lock() {
                Ok(g) => (Guard::Real(g), false),
                Err(p) => (Guard::Real(p.into_inner()), true),
            },
            Inner::Model(m) => match m.lock() {
                Ok(g) => (Guard::Model(g), false),
                Err(p) => (Guard::Model(p.into_inner()), true),
            },
        };
        if drawn {
            trace::unwait();
        }
        let guard = MutexGuard { guard, name, drawn };
        if drawn && trace::recording() {
            trace::record(name, format!("lock → {}", trace::short(&*guard)));
        }
        if poisoned {
            Err(PoisonError::new(guard))
        } else {
            Ok(guard)
        }
    }

    /// Take the lock if nobody holds it, else `Err(TryLockError::WouldBlock)` at once.
    pub fn try_lock(&self) -> TryLockResult<MutexGuard<'_, T>> {
        let name = self.name.as_deref();
        let drawn = !self.quiet;
        let got = match &self.inner {
            Inner::Real(m) => match m.try_lock() {
                Ok(g) => Ok((Guard::Real(g), false)),
                Err(TryLockError::Poisoned(p)) => Ok((Guard::Real(p.into_inner()), true)),
                Err(TryLockError::WouldBlock) => Err(()),
            },
            Inner::Model(m) => match m.try_lock() {
                Ok(g) => Ok((Guard::Model(g), false)),
                Err(TryLockError::Poisoned(p)) => Ok((Guard::Model(p.into_inner()), true)),
                Err(TryLockError::WouldBlock) => Err(()),
            },
        };
        match got {
            Ok((guard, poisoned)) => {
                let guard = MutexGuard { guard, name, drawn };
                if drawn && trace::recording() {
                    trace::record(name, format!("try_lock → {}", trace::short(&*guard)));
                }
                if poisoned {
                    Err(TryLockError::Poisoned(PoisonError::new(guard)))
                } else {
                    Ok(guard)
                }
            }
            Err(()) => {
                if drawn {
                    trace::record(name, "try_lock ✗ (held)");
                }
                Err(TryLockError::WouldBlock)
            }
        }
    }
}

impl<T> Debug for Mutex<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never locks: printing must not be a step.
        f.debug_struct("Mutex")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

impl<T: Default> Default for Mutex<T> {
    fn default() -> Mutex<T> {
        Mutex::new(T::default())
    }
}

enum Guard<'a, T> {
    Real(std::sync::MutexGuard<'a, T>),
    Model(shuttle::sync::MutexGuard<'a, T>),
}

/// The lock, held until this is dropped.
pub struct MutexGuard<'a, T: Debug> {
    guard: Guard<'a, T>,
    name: Option<&'a str>,
    drawn: bool,
}

impl<T: Debug> Deref for MutexGuard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        match &self.guard {
            Guard::Real(g) => g,
            Guard::Model(g) => g,
        }
    }
}

impl<T: Debug> DerefMut for MutexGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        match &mut self.guard {
            Guard::Real(g) => &mut *g,
            Guard::Model(g) => &mut *g,
        }
    }
}

impl<T: Debug> Drop for MutexGuard<'_, T> {
    fn drop(&mut self) {
        if self.drawn && trace::recording() {
            trace::record(self.name, format!("unlock ← {}", trace::short(&**self)));
        }
    }
}

impl<T: Debug> Debug for MutexGuard<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        (**self).fmt(f)
    }
}
