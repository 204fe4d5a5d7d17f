//! API.md as code, `spindle::futures`: compiles only if every name and signature of that
//! section exists. Runs nothing. CI copies it into `crates/spindle/tests/` and builds it.
#![allow(
    dead_code,
    unused_variables,
    unused_must_use,
    unused_imports,
    clippy::all
)]
use std::time::Duration;
const D: Duration = Duration::from_millis(1);

use spindle::futures::{
    Future, ReturnWhen, TaskError, ThreadPoolExecutor, WaitResult, WaitTimeout, as_completed,
    as_completed_timeout, wait,
};

fn futures() {
    let ex = ThreadPoolExecutor::new(2);
    let ex2 = ThreadPoolExecutor::default();
    let _: usize = ex.max_workers();
    let f: Future<u32> = ex.submit(|| 2);
    let _: bool = f.wait_timeout(D);
    let _: (bool, bool, bool, bool) = (f.done(), f.running(), f.cancelled(), f.cancel());
    f.add_done_callback(|r: &Result<u32, TaskError>| {
        if let Err(TaskError::Panicked(p)) = r {
            let _: &str = p.message();
        }
    });
    let r: Result<u32, TaskError> = f.result();
    let results: Vec<Result<u64, TaskError>> = ex.map(|x: u64| x * 2, 0..10u64).collect();
    let fs: Vec<Future<u32>> = (0..3).map(|i| ex.submit(move || i)).collect();
    for f in as_completed(fs) {
        let _: Result<u32, TaskError> = f.result();
    }
    let fs: Vec<Future<u32>> = (0..3).map(|i| ex.submit(move || i)).collect();
    for f in as_completed_timeout(fs, D) {
        let _: Result<Future<u32>, WaitTimeout> = f;
    }
    let fs: Vec<Future<u32>> = (0..3).map(|i| ex.submit(move || i)).collect();
    let w: WaitResult = wait(&fs, ReturnWhen::FirstCompleted, Some(D));
    let _: (Vec<usize>, Vec<usize>) = (w.done, w.not_done);
    let _ = wait(&fs, ReturnWhen::FirstException, None);
    let _ = wait(&fs, ReturnWhen::AllCompleted, None);
    let _: &dyn std::error::Error = &TaskError::Cancelled;
    let _ = (TaskError::Timeout, TaskError::WorkerDied(String::new()));
    ex.shutdown(true, false);
    let b: ThreadPoolExecutor = ThreadPoolExecutor::builder()
        .max_workers(2)
        .thread_name_prefix("io")
        .initializer(|| ())
        .build();
}

fn awaitable(f: Future<u32>) -> impl std::future::Future<Output = Result<u32, TaskError>> {
    f
}

#[test]
fn api_surface_futures_compiles() {}
