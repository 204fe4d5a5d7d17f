// Layer 0 (foundations): uses no other part of spindle (the platform shims, plain data types, the report type).
//! What the primitives take from the platform: atomics, cells, parking, spinning and the
//! per-thread id. Real by default; under `--cfg loom`, models that [loom] can explore,
//! so that the primitives' own code (lock words, wake-up protocols) is model-checked
//! unchanged. The pattern is tokio's `src/loom/mod.rs`; every `cfg(loom)` of the crate
//! lives here, except the one line in `wait::park` that skips thread-state bookkeeping.
//!
//! The models run as tests (`tests/loom_*.rs`):
//!
//! ```text
//! RUSTFLAGS="--cfg loom" LOOM_MAX_PREEMPTIONS=2 CARGO_TARGET_DIR=target/loom \
//!     cargo test -p spindle --release --test loom_mutex
//! ```
//!
//! Under loom, time is not modelled: a park with a deadline may time out as soon as other
//! threads have had a chance to run (which is what a very short timeout does), and
//! `SpinWait` never spins (spinning only re-reads the lock word before parking).
//!
//! [loom]: https://docs.rs/loom

pub(crate) use imp::*;

/// Whether the code runs under loom: lets a structure shrink what a model would need
/// many steps to reach the end of (a block of slots, say).
pub(crate) const MODELLED: bool = cfg!(loom);

#[cfg(not(loom))]
mod imp {
    pub(crate) mod atomic {
        pub(crate) use std::sync::atomic::{AtomicPtr, AtomicU64, AtomicUsize, Ordering};
    }

    pub(crate) mod parking {
        pub(crate) use parking_lot_core::{park, unpark_filter};
    }

    pub(crate) use crossbeam_utils::Backoff;
    pub(crate) use parking_lot_core::SpinWait;

    pub(crate) mod cell {
        /// `std`'s `UnsafeCell` behind loom's closure-based interface, so that code written
        /// against it is checked for unsynchronised accesses when modelled.
        pub(crate) struct UnsafeCell<T>(std::cell::UnsafeCell<T>);

        impl<T> UnsafeCell<T> {
            pub(crate) const fn new(value: T) -> Self {
                UnsafeCell(std::cell::UnsafeCell::new(value))
            }

            #[inline]
            pub(crate) fn with<R>(&self, f: impl FnOnce(*const T) -> R) -> R {
                f(self.0.get())
            }

            #[inline]
            pub(crate) fn with_mut<R>(&self, f: impl FnOnce(*mut T) -> R) -> R {
                f(self.0.get())
            }
        }
    }

    /// The calling thread's id, for the lock fast paths (`registry::current_id`).
    pub(crate) mod thread_id {
        use std::cell::Cell;

        thread_local! {
            /// Has no destructor, so it stays readable while other thread-locals are
            /// being destroyed. 0 until the thread is registered.
            static ID: Cell<u64> = const { Cell::new(0) };
        }

        #[inline]
        pub(crate) fn get() -> u64 {
            ID.with(Cell::get)
        }

        #[inline]
        pub(crate) fn set(id: u64) {
            ID.with(|c| c.set(id));
        }
    }
}

#[cfg(loom)]
mod imp {
    pub(crate) mod atomic {
        //! Loom's atomics, constructible in `const fn`s as the primitives' are: each is
        //! created in the model on first use. Loom counts that creation as a plain write,
        //! so a model must use a primitive once before sharing it with other threads.
        //!
        //! Loom treats `SeqCst` accesses as `AcqRel` (see its README), which raises false
        //! alarms on the store-then-load pattern the semaphore and condition variable
        //! rely on (each side writes one counter, then reads the other's). `fence(SeqCst)`
        //! it models exactly, so here every `SeqCst` access is bracketed by two. That is a
        //! little stronger than a `SeqCst` access (it also orders the relaxed accesses
        //! around it): the models could miss a bug that needs one to pass the other.
        //!
        //! Loom also leaves a plain `store` unordered with a concurrent read-modify-write
        //! (tokio-rs/loom#282, #389), so a later load may return the older of the two even
        //! when the store happens before it, which no real execution can. The lock words'
        //! unlock paths store while other threads CAS, so here a `store` is a `swap`,
        //! which loom orders after the newest value. A swap also continues the release
        //! sequence that a plain store would end: again, a little stronger than real.

        use std::sync::OnceLock;
        pub(crate) use std::sync::atomic::Ordering;

        use loom::sync::atomic::fence;

        /// Runs `op`, between `SeqCst` fences if any of `orders` is `SeqCst`.
        fn seq_cst<R>(orders: &[Ordering], op: impl FnOnce() -> R) -> R {
            if !orders.contains(&Ordering::SeqCst) {
                return op();
            }
            fence(Ordering::SeqCst);
            let r = op();
            fence(Ordering::SeqCst);
            r
        }

        macro_rules! modelled {
            ($name:ident, $int:ty) => {
                pub(crate) struct $name {
                    init: $int,
                    cell: OnceLock<loom::sync::atomic::$name>,
                }

                #[allow(dead_code)] // each primitive uses a few of these
                impl $name {
                    pub(crate) const fn new(init: $int) -> Self {
                        $name {
                            init,
                            cell: OnceLock::new(),
                        }
                    }
                    fn get(&self) -> &loom::sync::atomic::$name {
                        self.cell
                            .get_or_init(|| loom::sync::atomic::$name::new(self.init))
                    }
                    pub(crate) fn load(&self, o: Ordering) -> $int {
                        seq_cst(&[o], || self.get().load(o))
                    }
                    pub(crate) fn store(&self, v: $int, o: Ordering) {
                        seq_cst(&[o], || {
                            self.get().swap(v, o);
                        })
                    }
                    pub(crate) fn swap(&self, v: $int, o: Ordering) -> $int {
                        seq_cst(&[o], || self.get().swap(v, o))
                    }
                    pub(crate) fn compare_exchange(
                        &self,
                        current: $int,
                        new: $int,
                        success: Ordering,
                        failure: Ordering,
                    ) -> Result<$int, $int> {
                        seq_cst(&[success, failure], || {
                            self.get().compare_exchange(current, new, success, failure)
                        })
                    }
                    pub(crate) fn compare_exchange_weak(
                        &self,
                        current: $int,
                        new: $int,
                        success: Ordering,
                        failure: Ordering,
                    ) -> Result<$int, $int> {
                        seq_cst(&[success, failure], || {
                            self.get()
                                .compare_exchange_weak(current, new, success, failure)
                        })
                    }
                    pub(crate) fn fetch_add(&self, v: $int, o: Ordering) -> $int {
                        seq_cst(&[o], || self.get().fetch_add(v, o))
                    }
                    pub(crate) fn fetch_sub(&self, v: $int, o: Ordering) -> $int {
                        seq_cst(&[o], || self.get().fetch_sub(v, o))
                    }
                    pub(crate) fn fetch_and(&self, v: $int, o: Ordering) -> $int {
                        seq_cst(&[o], || self.get().fetch_and(v, o))
                    }
                    pub(crate) fn fetch_or(&self, v: $int, o: Ordering) -> $int {
                        seq_cst(&[o], || self.get().fetch_or(v, o))
                    }
                    pub(crate) fn fetch_max(&self, v: $int, o: Ordering) -> $int {
                        seq_cst(&[o], || self.get().fetch_max(v, o))
                    }
                    pub(crate) fn fetch_update(
                        &self,
                        set: Ordering,
                        fetch: Ordering,
                        f: impl FnMut($int) -> Option<$int>,
                    ) -> Result<$int, $int> {
                        seq_cst(&[set, fetch], || self.get().fetch_update(set, fetch, f))
                    }
                }
            };
        }

        modelled!(AtomicU64, u64);
        modelled!(AtomicUsize, usize);

        /// Loom's own: only loads, stores and swaps are used on pointers (no store races a
        /// read-modify-write, see above), and never `SeqCst`.
        pub(crate) use loom::sync::atomic::AtomicPtr;
    }

    pub(crate) mod parking {
        //! `parking_lot_core`'s four calls, modelled: one queue of parked threads (in
        //! park order) under a loom mutex, each woken through its own loom condvar.
        //! Callbacks run with the queue locked, as `parking_lot_core` runs them with the
        //! bucket locked. `be_fair` alternates, so both unlock paths get explored.

        use std::time::Instant;

        use loom::sync::{Arc, Condvar, Mutex};
        use parking_lot_core::{FilterOp, ParkResult, ParkToken, UnparkResult, UnparkToken};

        struct Wake {
            token: Mutex<Option<UnparkToken>>,
            cv: Condvar,
        }

        struct Parked {
            key: usize,
            token: ParkToken,
            wake: Arc<Wake>,
        }

        #[derive(Default)]
        struct Queue {
            parked: Vec<Parked>,
            unparks: usize,
        }

        impl Queue {
            fn has(&self, key: usize) -> bool {
                self.parked.iter().any(|p| p.key == key)
            }

            fn be_fair(&mut self) -> bool {
                self.unparks += 1;
                self.unparks % 2 == 0
            }
        }

        loom::lazy_static! {
            static ref QUEUE: Mutex<Queue> = Mutex::new(Queue::default());
        }

        fn wake(woken: Vec<Parked>, token: UnparkToken) {
            for p in woken {
                *p.wake.token.lock().unwrap() = Some(token);
                p.wake.cv.notify_one();
            }
        }

        /// # Safety
        /// As `parking_lot_core::park` (nothing unsafe happens in the model).
        pub(crate) unsafe fn park(
            key: usize,
            validate: impl FnOnce() -> bool,
            before_sleep: impl FnOnce(),
            timed_out: impl FnOnce(usize, bool),
            token: ParkToken,
            deadline: Option<Instant>,
        ) -> ParkResult {
            let wake = Arc::new(Wake {
                token: Mutex::new(None),
                cv: Condvar::new(),
            });
            {
                let mut q = QUEUE.lock().unwrap();
                if !validate() {
                    return ParkResult::Invalid;
                }
                q.parked.push(Parked {
                    key,
                    token,
                    wake: Arc::clone(&wake),
                });
            }
            before_sleep();
            if deadline.is_some() {
                // Time is not modelled: let the others run, then time out unless woken.
                loom::thread::yield_now();
                let mut q = QUEUE.lock().unwrap();
                if let Some(i) = q.parked.iter().position(|p| Arc::ptr_eq(&p.wake, &wake)) {
                    q.parked.remove(i);
                    let was_last = !q.has(key);
                    timed_out(key, was_last);
                    return ParkResult::TimedOut;
                }
            }
            let mut got = wake.token.lock().unwrap();
            loop {
                if let Some(t) = *got {
                    return ParkResult::Unparked(t);
                }
                got = wake.cv.wait(got).unwrap();
            }
        }

        /// # Safety
        /// As `parking_lot_core::unpark_filter`.
        pub(crate) unsafe fn unpark_filter(
            key: usize,
            mut filter: impl FnMut(ParkToken) -> FilterOp,
            callback: impl FnOnce(UnparkResult) -> UnparkToken,
        ) -> UnparkResult {
            let mut q = QUEUE.lock().unwrap();
            let mut result = UnparkResult::default();
            let mut woken = Vec::new();
            let mut i = 0;
            while i < q.parked.len() {
                if q.parked[i].key != key {
                    i += 1;
                    continue;
                }
                match filter(q.parked[i].token) {
                    FilterOp::Unpark => woken.push(q.parked.remove(i)),
                    FilterOp::Skip => {
                        result.have_more_threads = true;
                        i += 1;
                    }
                    FilterOp::Stop => {
                        result.have_more_threads = true;
                        break;
                    }
                }
            }
            result.unparked_threads = woken.len();
            if !woken.is_empty() {
                result.be_fair = q.be_fair();
            }
            let token = callback(result);
            wake(woken, token);
            result
        }
    }

    pub(crate) mod cell {
        pub(crate) use loom::cell::UnsafeCell;
    }

    /// Yields to the model's other threads instead of spinning (a spin loop that waits for
    /// another thread must let it run), and counts as completed at once, so that a waiter
    /// goes straight on to parking.
    pub(crate) struct Backoff;

    #[allow(dead_code)] // each user needs a few of these
    impl Backoff {
        pub(crate) fn new() -> Self {
            Backoff
        }

        pub(crate) fn spin(&self) {
            loom::thread::yield_now();
        }

        pub(crate) fn snooze(&self) {
            loom::thread::yield_now();
        }

        pub(crate) fn is_completed(&self) -> bool {
            true
        }
    }

    /// Never spins: spinning only re-reads the lock word before parking, and each
    /// re-read would multiply the interleavings loom has to explore.
    pub(crate) struct SpinWait;

    impl SpinWait {
        pub(crate) fn new() -> Self {
            SpinWait
        }

        pub(crate) fn spin(&mut self) -> bool {
            false
        }

        pub(crate) fn reset(&mut self) {}
    }

    /// Each loom thread's own id. Loom's threads share their OS thread's std
    /// thread-locals, so the id lives in a loom thread-local, made on first use and
    /// kept: registering (which all loom threads of one OS thread share) leaves it be.
    /// Ids come from a counter of their own, far above any the registry gives.
    pub(crate) mod thread_id {
        use std::cell::Cell;
        use std::sync::atomic::AtomicU64;

        static NEXT: AtomicU64 = AtomicU64::new(1 << 40);

        loom::thread_local! {
            static ID: Cell<u64> = Cell::new(NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed));
        }

        pub(crate) fn get() -> u64 {
            ID.with(Cell::get)
        }

        pub(crate) fn set(_id: u64) {}
    }
}
