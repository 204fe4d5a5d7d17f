// Layer 0 (foundations): uses no other part of spindle (the platform shims, plain data types, the report type).
//! Descriptions of what threads wait on (`Mutex "accounts"`), made once per thread and
//! then shared.
//!
//! The trace hook hears a description with every state change and every lock acquired
//! after waiting; formatting it each time cost more than the rest of the event. Each
//! thread keeps the ones it has made in a small cache of its own, so looking one up
//! takes no lock and touches no line another thread writes.

use std::cell::RefCell;
use std::sync::Arc;

use rustc_hash::FxHashMap;

/// How many descriptions one thread keeps before it starts over (a program that waits
/// on ever new named primitives must not grow the cache without bound).
const LIMIT: usize = 512;

/// A description's key: its kind (address and length: a linker may store one string
/// literal inside another) and its subject's address (see [`cached`]).
type Key = (usize, usize, usize);

struct Entry {
    /// Keeps the subject's text alive, so that its address names it and no other.
    _subject: Option<Arc<str>>,
    text: Arc<str>,
}

thread_local! {
    /// Keys are two addresses: a fast hash does (nothing here is chosen by an attacker).
    static CACHE: RefCell<FxHashMap<Key, Entry>> = RefCell::new(FxHashMap::default());
}

/// The description of `subject` as a `kind`, made with `make` the first time the calling
/// thread asks for it.
///
/// `subject` identifies what is described: the address of a `'static` value (a source
/// location), or the text of `keep`, which the cache holds on to so that the address
/// cannot be reused by another text while the entry exists.
pub(crate) fn cached(
    kind: &'static str,
    subject: usize,
    keep: Option<&Arc<str>>,
    make: impl FnOnce() -> String,
) -> Arc<str> {
    let key = (kind.as_ptr() as usize, kind.len(), subject);
    let mut make = Some(make);
    let found = CACHE.try_with(|cache| {
        // Busy only if a `make` itself asked for a description: do without the cache.
        let mut cache = cache.try_borrow_mut().ok()?;
        if let Some(entry) = cache.get(&key) {
            return Some(Arc::clone(&entry.text));
        }
        if cache.len() >= LIMIT {
            cache.clear();
        }
        let text: Arc<str> = make.take()?().into();
        let entry = Entry {
            _subject: keep.cloned(),
            text: Arc::clone(&text),
        };
        cache.insert(key, entry);
        Some(text)
    });
    match (found, make) {
        (Ok(Some(text)), _) => text,
        // The thread's locals are being torn down, or the cache was busy.
        (_, Some(make)) => make().into(),
        (_, None) => unreachable!("`make` ran, so the description was returned"),
    }
}
