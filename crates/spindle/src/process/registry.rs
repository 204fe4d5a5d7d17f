// Layer 10 (process): worker processes, over the futures layer.
//! Task registration: the [`task!`](crate::task) macro, the typed [`TaskHandle`] it
//! defines, and the table of registered tasks a worker looks names up in.
//!
//! Every task is registered at link time (with `inventory`), so the parent and its
//! workers, being the same executable, hold the same table. A task travels as its name;
//! its argument and result as postcard bytes.

use std::collections::HashMap;
use std::fmt;
use std::marker::PhantomData;
use std::sync::OnceLock;

use serde::Serialize;
use serde::de::DeserializeOwned;

use super::wire::{self, EncodeError};

/// A function registered with [`task!`](crate::task), runnable in a worker process: it
/// takes an `A` and returns an `O`, both travelling as serde values.
///
/// The handle is a `const` the macro defines under the function's name, so a call site
/// can only submit a task that exists, with an argument of the right type.
///
/// ```
/// spindle::task! {
///     /// Doubles a number.
///     pub const DOUBLE = pub fn double(x: u64) -> u64 { x * 2 }
/// }
///
/// assert_eq!(DOUBLE.call(21), 42); // runs here, in this process
/// assert!(DOUBLE.name().ends_with("::double"));
/// ```
pub struct TaskHandle<A, O> {
    name: &'static str,
    run: fn(A) -> O,
    _types: PhantomData<fn(A) -> O>,
}

impl<A, O> TaskHandle<A, O> {
    /// Used by [`task!`](crate::task); not public API.
    #[doc(hidden)]
    pub const fn __new(name: &'static str, run: fn(A) -> O) -> Self {
        TaskHandle {
            name,
            run,
            _types: PhantomData,
        }
    }

    /// The task's registered name: its module path and function name.
    ///
    /// ```
    /// spindle::task! { const NOOP = fn noop(_x: ()) {} }
    /// assert!(NOOP.name().ends_with("::noop"));
    /// ```
    pub const fn name(&self) -> &'static str {
        self.name
    }

    /// Runs the task's function in the calling thread, as an ordinary call.
    ///
    /// ```
    /// spindle::task! { const LEN = fn len(s: String) -> usize { s.len() } }
    /// assert_eq!(LEN.call("four".to_owned()), 4);
    /// ```
    pub fn call(&self, arg: A) -> O {
        (self.run)(arg)
    }
}

impl<A, O> Clone for TaskHandle<A, O> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<A, O> Copy for TaskHandle<A, O> {}

impl<A, O> fmt::Debug for TaskHandle<A, O> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("TaskHandle").field(&self.name).finish()
    }
}

/// What a worker runs for a task name: decodes the argument, calls the function and
/// appends the encoded result to `out`, which it never lets grow past `max_len` bytes.
#[doc(hidden)]
pub type ErasedTask = fn(&[u8], &mut Vec<u8>, usize) -> Result<(), RunError>;

/// Why an erased task gave no result bytes (its panics are caught around it).
#[doc(hidden)]
#[derive(Debug)]
pub enum RunError {
    /// The argument did not decode, or the result did not encode: why.
    Failed(String),
    /// The result, encoded, would pass the frame limit: encoding stopped there.
    ResultTooLarge,
}

/// A type's name, as [`std::any::type_name`] gives it. A function, because `type_name`
/// cannot be called in the `const` the macro builds an entry in.
#[doc(hidden)]
pub type TypeName = fn() -> &'static str;

/// One registered task: an entry in the link-time table.
#[doc(hidden)]
pub struct TaskEntry {
    name: &'static str,
    run: ErasedTask,
    run_chunk: ErasedTask,
    argument_type: TypeName,
    result_type: TypeName,
}

impl TaskEntry {
    /// Used by [`task!`](crate::task); not public API.
    pub const fn new(
        name: &'static str,
        run: ErasedTask,
        run_chunk: ErasedTask,
        argument_type: TypeName,
        result_type: TypeName,
    ) -> Self {
        TaskEntry {
            name,
            run,
            run_chunk,
            argument_type,
            result_type,
        }
    }

    /// The task's name and types, `name(A) -> O`, with the types' full paths: what
    /// the cluster's default pool fingerprints, so that a build whose task of the same
    /// name takes or returns another type serves another pool.
    ///
    /// The type names are `std::any::type_name`'s, which a different compiler may
    /// spell differently: a program built by another compiler is another build.
    #[allow(dead_code)] // used only with the feature `cluster`
    pub(crate) fn signature(&self) -> String {
        format!(
            "{}({}) -> {}",
            self.name,
            (self.argument_type)(),
            (self.result_type)()
        )
    }
}

inventory::collect!(TaskEntry);

/// The body of every erased task: postcard in, call, postcard out.
#[doc(hidden)]
pub fn run_erased<A, O>(
    f: fn(A) -> O,
    input: &[u8],
    out: &mut Vec<u8>,
    max_len: usize,
) -> Result<(), RunError>
where
    A: DeserializeOwned,
    O: Serialize,
{
    let arg: A = postcard::from_bytes(input)
        .map_err(|e| RunError::Failed(format!("the argument does not decode: {e}")))?;
    let result = f(arg);
    encode_result(&result, out, max_len)
}

/// The body of every erased chunk: a sequence of arguments in, each run under
/// `catch_unwind`, the sequence of outcomes out (a panic as its message).
#[doc(hidden)]
pub fn run_chunk_erased<A, O>(
    f: fn(A) -> O,
    input: &[u8],
    out: &mut Vec<u8>,
    max_len: usize,
) -> Result<(), RunError>
where
    A: DeserializeOwned,
    O: Serialize,
{
    let args: Vec<A> = postcard::from_bytes(input)
        .map_err(|e| RunError::Failed(format!("the arguments do not decode: {e}")))?;
    let results: Vec<Result<O, String>> = args
        .into_iter()
        .map(|arg| {
            crate::thread::panic_hook::catch_reported(|| "process worker".to_owned(), || f(arg))
                .map_err(|panicked| panicked.message().to_owned())
        })
        .collect();
    encode_result(&results, out, max_len)
}

fn encode_result<O: Serialize + ?Sized>(
    result: &O,
    out: &mut Vec<u8>,
    max_len: usize,
) -> Result<(), RunError> {
    wire::encode_within(result, out, max_len).map_err(|e| match e {
        EncodeError::TooLarge => RunError::ResultTooLarge,
        EncodeError::Serde(e) => RunError::Failed(format!("the result does not encode: {e}")),
    })
}

/// The task registered under `name`, if any: its single and its chunked runner.
pub(crate) fn lookup(name: &str) -> Option<(ErasedTask, ErasedTask)> {
    static TABLE: OnceLock<HashMap<&'static str, (ErasedTask, ErasedTask)>> = OnceLock::new();
    TABLE
        .get_or_init(|| {
            inventory::iter::<TaskEntry>
                .into_iter()
                .map(|e| (e.name, (e.run, e.run_chunk)))
                .collect()
        })
        .get(name)
        .copied()
}

/// Registers functions as process-pool tasks, each with a typed [`TaskHandle`].
///
/// Write `const HANDLE = fn name(arg: Arg) -> Out { body }`: the function stays an
/// ordinary function named `name`, and `HANDLE` is a `TaskHandle<Arg, Out>` const that
/// [`ProcessPoolExecutor::submit`] and [`ProcessPoolExecutor::map`] take. A function
/// takes one argument (a tuple or a struct for several; the pattern is a name or a
/// tuple pattern) of a type that is `Serialize + DeserializeOwned`, and returns such a
/// type, or nothing. Attributes (docs included) apply to the function; the const's
/// visibility is the one written before `const`, the function's the one before `fn`.
/// Use it at module level, or at the top of `main`.
///
/// The task is registered under the function's path (`my_crate::module::name`), at
/// link time: parent and workers, being the same program, agree on every name.
///
/// [`ProcessPoolExecutor::submit`]: crate::process::ProcessPoolExecutor::submit
/// [`ProcessPoolExecutor::map`]: crate::process::ProcessPoolExecutor::map
///
/// ```
/// use spindle::process::TaskHandle;
///
/// spindle::task! {
///     /// The sum of `0..n`.
///     pub const SUM_BELOW = pub fn sum_below(n: u64) -> u64 {
///         (0..n).sum()
///     }
///
///     /// Several arguments travel as a tuple.
///     const SCALE = fn scale((values, by): (Vec<f64>, f64)) -> Vec<f64> {
///         values.into_iter().map(|v| v * by).collect()
///     }
///
///     const LOG = fn log(line: String) {
///         eprintln!("{line}");
///     }
/// }
///
/// let handle: TaskHandle<u64, u64> = SUM_BELOW;
/// assert_eq!(sum_below(5), 10);        // still a plain function
/// assert_eq!(handle.call(5), 10);      // the same, through its handle
/// assert_eq!(SCALE.call((vec![1.0, 2.0], 3.0)), vec![3.0, 6.0]);
/// let _: TaskHandle<String, ()> = LOG;
/// ```
///
/// A call site cannot name a task that was not registered, nor pass the wrong type:
///
/// ```compile_fail
/// spindle::task! { const SQUARE = fn square(x: u64) -> u64 { x * x } }
///
/// let pool = spindle::process::ProcessPoolExecutor::new(1);
/// let f = pool.submit(SQUARE, "seven"); // error: expected `u64`, found `&str`
/// ```
///
/// ```compile_fail
/// let pool = spindle::process::ProcessPoolExecutor::new(1);
/// let f = pool.submit(CUBE, 3u64); // error: cannot find value `CUBE`
/// ```
#[macro_export]
macro_rules! task {
    () => {};
    (
        $(#[$attr:meta])*
        $hvis:vis const $handle:ident = $vis:vis fn $name:ident ($arg:tt : $A:ty) -> $O:ty $body:block
        $($rest:tt)*
    ) => {
        $crate::__task_one!{ $(#[$attr])* $hvis $handle $vis $name ($arg : $A) -> $O $body }
        $crate::task!{ $($rest)* }
    };
    (
        $(#[$attr:meta])*
        $hvis:vis const $handle:ident = $vis:vis fn $name:ident ($arg:tt : $A:ty) $body:block
        $($rest:tt)*
    ) => {
        $crate::__task_one!{ $(#[$attr])* $hvis $handle $vis $name ($arg : $A) -> () $body }
        $crate::task!{ $($rest)* }
    };
}

/// One function of [`task!`](crate::task); not public API.
#[doc(hidden)]
#[macro_export]
macro_rules! __task_one {
    (
        $(#[$attr:meta])*
        $hvis:vis $handle:ident $vis:vis $name:ident ($arg:tt : $A:ty) -> $O:ty $body:block
    ) => {
        $(#[$attr])*
        $vis fn $name($arg: $A) -> $O $body

        #[doc = ::core::concat!("Runs [`", ::core::stringify!($name), "`] in a process pool worker.")]
        $hvis const $handle: $crate::process::TaskHandle<$A, $O> = {
            const NAME: &str = ::core::concat!(::core::module_path!(), "::", ::core::stringify!($name));
            fn erased(
                input: &[u8],
                out: &mut $crate::process::__private::Vec<u8>,
                max_len: usize,
            ) -> ::core::result::Result<(), $crate::process::__private::RunError> {
                $crate::process::__private::run_erased($name, input, out, max_len)
            }
            fn erased_chunk(
                input: &[u8],
                out: &mut $crate::process::__private::Vec<u8>,
                max_len: usize,
            ) -> ::core::result::Result<(), $crate::process::__private::RunError> {
                $crate::process::__private::run_chunk_erased($name, input, out, max_len)
            }
            $crate::process::__private::inventory::submit! {
                $crate::process::__private::TaskEntry::new(
                    NAME,
                    erased,
                    erased_chunk,
                    ::core::any::type_name::<$A>,
                    ::core::any::type_name::<$O>,
                )
            }
            $crate::process::TaskHandle::__new(NAME, $name)
        };
    };
}
