//! [`FirstPanic`]: steps that must all run, as a drop's must, even when one panics.

use std::any::Any;
use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};

use crate::runtime::BoxFuture;

/// The first panic of several steps that must all run, as a drop's must: each step
/// runs under `catch_unwind`, and the first panic is raised again at the end.
#[derive(Default)]
pub(crate) struct FirstPanic(Option<Box<dyn Any + Send>>);

impl FirstPanic {
    /// Runs `step`, keeping its panic if it is the first; `false` if it panicked.
    pub(crate) fn run(&mut self, step: impl FnOnce()) -> bool {
        match catch_unwind(AssertUnwindSafe(step)) {
            Ok(()) => true,
            Err(payload) => {
                self.0.get_or_insert(payload);
                false
            }
        }
    }

    /// Raises the first panic again, unless one is already unwinding through here (a
    /// second would abort the process; the first is then dropped).
    pub(crate) fn raise(self) {
        if let Some(payload) = self.0 {
            if !std::thread::panicking() {
                resume_unwind(payload);
            }
        }
    }
}

/// Drops every future of `futures`, each even if dropping one before it panicked.
pub(crate) fn drop_each(panics: &mut FirstPanic, futures: impl IntoIterator<Item = BoxFuture>) {
    for future in futures {
        panics.run(|| drop(future));
    }
}
